"""The knowledge-freshness scenario: what each strategy answers after the knowledge changes, before and
after it takes its own update path.

Every strategy is prepared on the *before* snapshot (company-kb-v1 by default). The knowledge then
switches to the *after* snapshot (company-kb-v2), and the strategy is measured twice on its test split:

- **stale**: the v1-prepared strategy answers v2's questions without any update;
- **updated**: a fresh instance re-runs `prepare(v2.train, v2.corpus)`, timed and priced with the price
  table — retrieval re-indexes, a fine-tuned strategy retrains (its adapter cache is keyed by the
  training data, so v2 trains anew unless that exact data was trained before), closed-book has
  nothing to learn — then answers v2's questions.

Answers are scored (SQuAD EM/F1) against the v2 answers, split by `metadata["changed"]`: the facts
whose value differs between the snapshots, and the rest.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from evals.core.errors import EvalsError
from evals.core.strategy import STRATEGIES, Strategy
from evals.core.suite import StrategyEntry
from evals.core.types import QAItem, SetupReport
from evals.data import load_dataset
from evals.data.dataset import QADataset
from evals.scoring.cost import DEFAULT_PRICE_TABLE, PriceTable, load_price_table
from evals.scoring.squad import exact_match, f1_score

FRESHNESS_FILE = "freshness.json"
UpdateKind = Literal["retrain", "reindex", "none"]
Phase = Literal["stale", "updated"]
DEFAULT_STRATEGIES = [
    StrategyEntry(name="closed_book"),
    StrategyEntry(name="rag"),
    StrategyEntry(name="finetuned", params={"finetune": {"max_steps": 30}}),
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
    errors: int = Field(default=0, description="items whose answer() raised; scored as empty answers")


class StrategyFreshness(BaseModel):
    """One strategy through the scenario: its initial setup, its update and both phases' scores."""

    strategy: str
    strategy_type: str
    update_kind: UpdateKind
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

    schema_version: int = 1
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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


def load_freshness(path: Path) -> FreshnessResult:
    """Read a saved result; errors name the file."""
    try:
        return FreshnessResult.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalsError(f"{path}: no freshness results; run `evals freshness` first") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise EvalsError(f"{path}: unreadable freshness results: {error}") from None


def select_items(items: Sequence[QAItem], limit: int | None) -> list[QAItem]:
    """At most `limit` items, half changed and half unchanged facts where possible (in dataset order)."""
    if limit is None or limit >= len(items):
        return list(items)
    changed = [item for item in items if item.metadata.get("changed")]
    unchanged = [item for item in items if not item.metadata.get("changed")]
    n_changed = min(len(changed), max(limit // 2, limit - len(unchanged)))
    chosen = {item.id for item in [*changed[:n_changed], *unchanged[: limit - n_changed]]}
    return [item for item in items if item.id in chosen]


def update_kind(strategy_type: str, setup: SetupReport) -> UpdateKind:
    """What a knowledge update means for the strategy (as in `cost_model.MeasuredStrategy.maintenance`)."""
    if setup.training_tokens > 0:
        return "retrain"
    return "none" if strategy_type == "closed_book" else "reindex"


def _answer_text(strategy: Strategy, item: QAItem) -> str:
    result: Any = strategy.answer(item)
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return str(result.text)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def score_phase(strategy: Strategy, items: Sequence[QAItem]) -> PhaseScores:
    """Answer every item and score it against its gold answers, split by `metadata["changed"]`."""
    rows: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    errors = 0
    start = time.perf_counter()
    for item in items:
        try:
            text = _answer_text(strategy, item)
        except Exception:  # noqa: BLE001 - a failed answer scores 0, counted, rather than sinking the scenario
            text, errors = "", errors + 1
        rows[bool(item.metadata.get("changed"))].append((exact_match(text, item.answers), f1_score(text, item.answers)))
    seconds = time.perf_counter() - start

    def split(scores: list[tuple[float, float]]) -> SplitScore:
        if not scores:
            return SplitScore()
        return SplitScore(
            n=len(scores),
            exact_match=sum(em for em, _ in scores) / len(scores),
            f1=sum(f1 for _, f1 in scores) / len(scores),
        )

    return PhaseScores(changed=split(rows[True]), unchanged=split(rows[False]), answer_seconds=seconds, errors=errors)


def _build(entry: StrategyEntry) -> Strategy:
    return STRATEGIES.get(entry.type).from_config(entry.params, where=f"strategies.{entry.name}.params")


def _timed_prepare(strategy: Strategy, data: QADataset) -> SetupReport:
    """`prepare`, with the wall time measured here when the strategy reports none."""
    start = time.perf_counter()
    report = strategy.prepare(data.train, data.corpus)
    elapsed = time.perf_counter() - start
    return report if report.seconds > 0 or report.cached else report.model_copy(update={"seconds": elapsed})


def run_strategy(
    entry: StrategyEntry, before: QADataset, after: QADataset, items: Sequence[QAItem], prices: PriceTable
) -> StrategyFreshness:
    """One strategy through the scenario: prepare on `before`, answer stale, update on `after`, answer."""
    stale_strategy = _build(entry)
    try:
        setup = _timed_prepare(stale_strategy, before)
        stale = score_phase(stale_strategy, items)
    finally:
        stale_strategy.close()
    fresh_strategy = _build(entry)
    try:
        update = _timed_prepare(fresh_strategy, after)
        updated = score_phase(fresh_strategy, items)
    finally:
        fresh_strategy.close()
    return StrategyFreshness(
        strategy=entry.name,
        strategy_type=entry.type,
        update_kind=update_kind(entry.type, setup if setup.training_tokens else update),
        setup_seconds=setup.seconds,
        setup_cost_usd=prices.setup_cost(setup),
        update_seconds=update.seconds,
        update_cost_usd=prices.setup_cost(update),
        update_training_tokens=update.training_tokens,
        update_cached=update.cached,
        stale=stale,
        updated=updated,
    )


def run_freshness(
    strategies: Sequence[StrategyEntry] = DEFAULT_STRATEGIES,
    before: str = "company-kb-v1",
    after: str = "company-kb-v2",
    limit: int | None = None,
    price_table: Path = DEFAULT_PRICE_TABLE,
    out: Path | None = None,
) -> FreshnessResult:
    """Run the scenario for every strategy entry; save to `out` when given."""
    if not strategies:
        raise EvalsError("no strategies to run the freshness scenario on")
    old, new = load_dataset(before), load_dataset(after)
    if [item.id for item in old.test] != [item.id for item in new.test]:
        raise EvalsError(f"{before} and {after} must share their test questions (same ids, same order)")
    prices = load_price_table(price_table)
    for entry in strategies:
        _build(entry).close()  # validate every entry before paying for any model
    items = select_items(new.test, limit)
    result = FreshnessResult(
        before=old.name,
        after=new.name,
        before_fingerprint=old.fingerprint,
        after_fingerprint=new.fingerprint,
        n_test=len(items),
        n_changed=sum(bool(item.metadata.get("changed")) for item in items),
        price_table_date=prices.date,
        generated_at=datetime.now(UTC).replace(microsecond=0),
        strategies=[run_strategy(entry, old, new, items, prices) for entry in strategies],
    )
    if out is not None:
        result.save(out)
    return result
