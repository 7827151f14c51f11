"""The knowledge-freshness scenario: what each strategy answers after the knowledge changes, before and
after it takes its own update path.

Every strategy is prepared on the *before* snapshot (company-kb-v1 by default). The knowledge then
switches to the *after* snapshot (company-kb-v2), and the strategy is measured twice on its test split:

- **stale**: the strategy prepared on v1's train split and corpus answers v2's questions;
- **updated**: the strategy prepared on v2's train split and corpus (its declared update path: retrieval
  re-indexes, a fine-tuned strategy retrains, closed-book has nothing to learn) answers them.

Both phases are one suite run through the runner (answer cache, retries, resume, per-item errors), with two
datasets: `<after>~stale` (v1's knowledge, v2's questions) and `<after>`. Answers are scored with SQuAD EM/F1
against the v2 answers, split by `metadata["changed"]`: the facts whose value differs between the snapshots,
and the rest. A failed item scores 0, as everywhere (`evals.results.item_values`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from rich.console import Console

from evals.core.errors import EvalsError
from evals.core.strategy import UpdatePath
from evals.core.suite import StrategyEntry, Suite
from evals.core.types import QAItem
from evals.data import load_dataset
from evals.data.dataset import QADataset
from evals.engine.runner import RunSettings, run_suite
from evals.infra.model_files import load_model, save_model
from evals.results.item_values import metric_value
from evals.results.records import ItemResult, SetupRecord

FRESHNESS_FILE = "freshness.json"
FRESHNESS_SCHEMA_VERSION = 2
STALE_SUFFIX = "~stale"
Phase = Literal["stale", "updated"]
UPDATE_PATH_LABELS: dict[UpdatePath, str] = {
    "retrain": "retrain",
    "reindex": "re-index",
    "retrain+reindex": "retrain + re-index",
    "none": "none (nothing to update)",
}
DEFAULT_STRATEGIES = [
    StrategyEntry(name="closed_book"),
    StrategyEntry(name="rag"),
    StrategyEntry(name="finetuned", params={"finetune": {"epochs": 2, "max_steps": 30}}),  # 30 steps
    StrategyEntry(name="extractive_bm25"),
]


class SplitScore(BaseModel):
    """Mean EM and F1 over one group of test items (NaN-free: an empty group scores 0 with n = 0)."""

    n: int = 0
    exact_match: float = 0.0
    f1: float = 0.0


class PhaseScores(BaseModel):
    """One phase (stale or updated) scored on changed and unchanged facts."""

    changed: SplitScore
    unchanged: SplitScore
    answer_seconds: float = Field(description="wall time answering every test item")
    errors: int = Field(default=0, description="items that failed (recorded in the run); they score 0")


class StrategyFreshness(BaseModel):
    """One strategy through the scenario: its initial setup, its update and both phases' scores."""

    strategy: str
    strategy_type: str
    update_path: UpdatePath | None = Field(description="as the strategy declares it; None when undeclared")
    setup_seconds: float
    setup_cost_usd: float
    update_seconds: float
    update_cost_usd: float
    update_training_tokens: int = 0
    update_cached: bool = Field(
        default=False,
        description="the update reused a cached artifact (an adapter): its seconds and cost are those recorded "
        "when the artifact was built",
    )
    stale: PhaseScores
    updated: PhaseScores

    def phase(self, name: Phase) -> PhaseScores:
        return self.stale if name == "stale" else self.updated


class FreshnessResult(BaseModel):
    """The scenario's results for every strategy, as saved to `results/freshness.json`."""

    schema_version: int = FRESHNESS_SCHEMA_VERSION
    run_id: str = Field(description="the run (results/runs/<run_id>) holding every answer")
    before: str
    after: str
    before_fingerprint: str
    after_fingerprint: str
    n_test: int
    n_changed: int
    price_table_date: str
    generated_at: datetime
    strategies: list[StrategyFreshness]

    def save(self, path: Path) -> Path:
        return save_model(self, path)


def load_freshness(path: Path) -> FreshnessResult:
    """Read a saved result; errors name the file."""
    return load_model(FreshnessResult, path, "freshness results", "evals freshness")


def select_items(items: Sequence[QAItem], limit: int | None) -> list[QAItem]:
    """At most `limit` items, half changed and half unchanged facts where possible (in dataset order)."""
    if limit is None or limit >= len(items):
        return list(items)
    changed = [item for item in items if item.metadata.get("changed")]
    unchanged = [item for item in items if not item.metadata.get("changed")]
    n_changed = min(len(changed), max(limit // 2, limit - len(unchanged)))
    chosen = {item.id for item in [*changed[:n_changed], *unchanged[: limit - n_changed]]}
    return [item for item in items if item.id in chosen]


def update_path_label(path: UpdatePath | None, cached: bool = False) -> str:
    """How a report names an update path."""
    return (UPDATE_PATH_LABELS[path] if path is not None else "undeclared") + (" (cached)" if cached else "")


def stale_dataset(before: QADataset, after: QADataset, items: Sequence[QAItem]) -> QADataset:
    """`after`'s questions asked of a strategy that knows only `before` (its train split and corpus)."""
    return QADataset.build(
        name=after.name + STALE_SUFFIX,
        corpus=before.corpus,
        train=before.train,
        test=list(items),
        source=f"{after.source} (questions) with {before.source} (knowledge)",
    )


def run_freshness(
    strategies: Sequence[StrategyEntry] = DEFAULT_STRATEGIES,
    before: str = "company-kb-v1",
    after: str = "company-kb-v2",
    limit: int | None = None,
    settings: RunSettings | None = None,
    out: Path | None = None,
    console: Console | None = None,
) -> FreshnessResult:
    """Run the scenario for every strategy entry as one suite run; save to `out` when given.

    Runs are recorded in `settings.results_dir` (default: the folder of `out`) but never enter the
    leaderboard: their datasets are scenario compositions, not benchmarks."""
    if not strategies:
        raise EvalsError("no strategies to run the freshness scenario on")
    old, new = load_dataset(before), load_dataset(after)
    if [item.id for item in old.test] != [item.id for item in new.test]:
        raise EvalsError(f"{before} and {after} must share their test questions (same ids, same order)")
    items = select_items(new.test, limit)
    changed = {item.id: bool(item.metadata.get("changed")) for item in items}
    datasets = [stale_dataset(old, new, items), new.with_test(items)]
    suite = Suite(
        name="freshness",
        description=f"knowledge freshness: prepared on {before}, asked {after}",
        scorers=["squad"],
        datasets=[{"name": before}, {"name": after}],
        strategies=list(strategies),
    )
    base = settings or RunSettings(results_dir=out.parent if out else Path("results"), show_progress=False)
    outcome = run_suite(suite, base.model_copy(update={"update_leaderboard": False}), console, datasets)
    setups = {(record.dataset, record.strategy): record for record in outcome.manifest.setups}
    by_pair: dict[tuple[str, str], list[ItemResult]] = {}
    for item in outcome.items():
        by_pair.setdefault((item.dataset, item.strategy), []).append(item)
    stale_name = datasets[0].name
    result = FreshnessResult(
        run_id=outcome.manifest.run_id,
        before=old.name,
        after=new.name,
        before_fingerprint=old.fingerprint,
        after_fingerprint=new.fingerprint,
        n_test=len(items),
        n_changed=sum(changed.values()),
        price_table_date=outcome.manifest.price_table_date,
        generated_at=datetime.now(UTC).replace(microsecond=0),
        strategies=[
            _strategy_freshness(
                entry,
                setups[(stale_name, entry.name)],
                setups[(new.name, entry.name)],
                _phase(by_pair.get((stale_name, entry.name), []), changed),
                _phase(by_pair.get((new.name, entry.name), []), changed),
            )
            for entry in strategies
        ],
    )
    if out is not None:
        result.save(out)
    return result


def _strategy_freshness(
    entry: StrategyEntry, setup: SetupRecord, update: SetupRecord, stale: PhaseScores, updated: PhaseScores
) -> StrategyFreshness:
    return StrategyFreshness(
        strategy=entry.name,
        strategy_type=entry.type,
        update_path=update.update_path,
        setup_seconds=setup.setup.seconds,
        setup_cost_usd=setup.setup_cost_usd,
        update_seconds=update.setup.seconds,
        update_cost_usd=update.setup_cost_usd,
        update_training_tokens=update.setup.training_tokens,
        update_cached=update.setup.cached,
        stale=stale,
        updated=updated,
    )


def _phase(results: Sequence[ItemResult], changed: dict[str, bool]) -> PhaseScores:
    """One phase's items scored on changed and unchanged facts; failed items score 0."""

    def split(group: list[ItemResult]) -> SplitScore:
        if not group:
            return SplitScore()
        return SplitScore(
            n=len(group),
            exact_match=sum(metric_value(item, "exact_match") for item in group) / len(group),
            f1=sum(metric_value(item, "f1") for item in group) / len(group),
        )

    seconds = [item.answer.timings.get("total", math.nan) for item in results if item.answer is not None]
    return PhaseScores(
        changed=split([item for item in results if changed[item.item_id]]),
        unchanged=split([item for item in results if not changed[item.item_id]]),
        answer_seconds=sum(value for value in seconds if not math.isnan(value)),
        errors=sum(item.status == "error" for item in results),
    )
