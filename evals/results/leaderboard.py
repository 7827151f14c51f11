"""Aggregate item results into leaderboard rows; maintain `leaderboard.csv` and `history.csv`.

`history.csv` gains one row per run × dataset × strategy and is never rewritten except to add
columns; `leaderboard.csv` holds the latest history row per dataset × strategy. Both are written
atomically under a file lock, so concurrent runs never corrupt or lose rows. Column schema:
see `results/README.md` (`LEADERBOARD_SCHEMA_VERSION`).
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.core.strategy import UpdatePath
from evals.infra.atomic import atomic_write_text, locked
from evals.results.item_values import metric_values
from evals.results.records import ItemResult, RunManifest, SetupRecord
from evals.stats.summary import bootstrap_mean, defined_mean, percentiles

LEADERBOARD_SCHEMA_VERSION = 2
LEADERBOARD_FILE = "leaderboard.csv"
HISTORY_FILE = "history.csv"
KEY_COLUMNS = ["dataset", "strategy"]
IDENTITY_COLUMNS = [
    "schema_version",
    "run_id",
    "finished_at",
    "suite",
    "dataset",
    "dataset_fingerprint",
    "strategy",
    "strategy_type",
    "update_path",
    "routes",
    "n_items",
    "n_ok",
    "n_errors",
    "n_cached",
]
COLUMNS_ADDED_AFTER_VERSION_1 = ("update_path", "routes")
"""Identity columns rows of schema_version 1 lack; readers treat them as unknown."""
PROVENANCE_COLUMNS = ["config_hash", "seed", "price_table_date", "git_commit"]


class LeaderboardRow(BaseModel):
    """One dataset × strategy of one run. `metrics` become columns in a stable order."""

    schema_version: int = LEADERBOARD_SCHEMA_VERSION
    run_id: str
    finished_at: str
    suite: str
    dataset: str
    dataset_fingerprint: str
    strategy: str
    strategy_type: str
    update_path: UpdatePath | None = None
    routes: bool = False
    n_items: int
    n_ok: int
    n_errors: int
    n_cached: int
    metrics: dict[str, float]
    config_hash: str
    seed: int
    price_table_date: str
    git_commit: str | None

    def to_record(self) -> dict[str, object]:
        record = self.model_dump(exclude={"metrics"})
        return {
            **{k: record[k] for k in IDENTITY_COLUMNS},
            **self.metrics,
            **{k: record[k] for k in PROVENANCE_COLUMNS},
        }


def build_rows(manifest: RunManifest, results: Sequence[ItemResult], seed: int) -> list[LeaderboardRow]:
    """One row per dataset × strategy present in the run."""
    groups: dict[tuple[str, str], list[ItemResult]] = defaultdict(list)
    for result in results:
        groups[(result.dataset, result.strategy)].append(result)
    setups = {(record.dataset, record.strategy): record for record in manifest.setups}
    metric_names: dict[str, set[str]] = defaultdict(set)  # per dataset, so an all-failed strategy gets them too
    for result in results:
        metric_names[result.dataset].update(result.scores)
    rows = []
    for (dataset, strategy), unordered in groups.items():
        items = sorted(unordered, key=lambda item: item.item_id)  # bootstrap CIs must not depend on finish order
        setup = setups.get((dataset, strategy))
        rows.append(
            LeaderboardRow(
                run_id=manifest.run_id,
                finished_at=(manifest.finished_at or manifest.started_at).isoformat(timespec="seconds"),
                suite=manifest.suite,
                dataset=dataset,
                dataset_fingerprint=manifest.datasets[dataset].fingerprint,
                strategy=strategy,
                strategy_type=setup.strategy_type if setup else strategy,
                update_path=setup.update_path if setup else None,
                routes=setup.routes if setup else False,
                n_items=len(items),
                n_ok=sum(item.status == "ok" for item in items),
                n_errors=sum(item.status == "error" for item in items),
                n_cached=sum(item.cached for item in items),
                metrics=aggregate_metrics(items, setup, seed, sorted(metric_names[dataset])),
                config_hash=manifest.config_hash,
                seed=manifest.seed,
                price_table_date=manifest.price_table_date,
                git_commit=manifest.git_commit,
            )
        )
    return sorted(rows, key=lambda row: (row.dataset, row.strategy))


def aggregate_metrics(
    items: Sequence[ItemResult], setup: SetupRecord | None, seed: int, quality_names: Sequence[str]
) -> dict[str, float]:
    """Quality means with 95% bootstrap CIs, each item valued by the item-metric rule
    (`evals.results.item_values`: a failed item counts 0, an answered item without the metric is left
    out); latency percentiles per stage, mean tokens and per-query cost over answered items; setup cost.
    Undefined values are NaN."""
    metrics: dict[str, float] = {}
    for name in quality_names:
        summary = bootstrap_mean(metric_values(items, name), seed=seed)
        metrics.update({name: summary.mean, f"{name}_ci_low": summary.ci_low, f"{name}_ci_high": summary.ci_high})
    answered = [(item, item.answer) for item in items if item.status == "ok" and item.answer is not None]
    stages = sorted({stage for _, answer in answered for stage in answer.timings if stage != "total"})
    total = percentiles([answer.timings.get("total", math.nan) for _, answer in answered])
    metrics.update(latency_p50_s=total.p50, latency_p95_s=total.p95, latency_p99_s=total.p99, latency_mean_s=total.mean)
    for stage in stages:
        stage_summary = percentiles([answer.timings.get(stage, math.nan) for _, answer in answered])
        metrics.update({f"latency_{stage}_p50_s": stage_summary.p50, f"latency_{stage}_p95_s": stage_summary.p95})
    metrics["input_tokens_mean"] = defined_mean([answer.usage.input_tokens for _, answer in answered])
    metrics["output_tokens_mean"] = defined_mean([answer.usage.output_tokens for _, answer in answered])
    metrics["cost_per_query_usd"] = defined_mean(
        [item.cost_usd if item.cost_usd is not None else math.nan for item, _ in answered]
    )
    judged = [item.judge_cost_usd for item, _ in answered if item.judge_cost_usd is not None]
    if judged:
        metrics["judge_cost_per_query_usd"] = defined_mean(judged)
    metrics["setup_seconds"] = setup.setup.seconds if setup else math.nan
    metrics["setup_training_tokens"] = float(setup.setup.training_tokens) if setup else math.nan
    metrics["setup_cost_usd"] = setup.setup_cost_usd if setup else math.nan
    return metrics


def read_table(path: Path) -> pd.DataFrame:
    """A leaderboard or history CSV; a clear error when it is not one."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise EvalsError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise EvalsError(f"{path}: not a readable CSV: {error}") from None
    missing = [column for column in (*KEY_COLUMNS, "schema_version", "run_id") if column not in frame.columns]
    if missing:
        raise EvalsError(f"{path}: not a leaderboard CSV (missing column(s) {', '.join(missing)})")
    return frame


def update_leaderboard(results_dir: Path, rows: Sequence[LeaderboardRow]) -> None:
    """Append rows to history.csv and refresh leaderboard.csv, atomically and under one lock."""
    if not rows:
        return
    history_path = results_dir / HISTORY_FILE
    new = pd.DataFrame([row.to_record() for row in rows])
    with locked(results_dir / ".leaderboard"):
        history = read_table(history_path) if history_path.exists() else new.iloc[0:0]
        combined = pd.concat([history, new], ignore_index=True) if len(history) else new
        combined = combined[_ordered_columns(combined.columns)]
        latest = combined.drop_duplicates(subset=KEY_COLUMNS, keep="last").sort_values(KEY_COLUMNS)
        atomic_write_text(history_path, _to_csv(combined))
        atomic_write_text(results_dir / LEADERBOARD_FILE, _to_csv(latest))


def _ordered_columns(columns: Iterable[str]) -> list[str]:
    present = list(dict.fromkeys(columns))
    fixed = set(IDENTITY_COLUMNS) | set(PROVENANCE_COLUMNS)
    metrics = [column for column in present if column not in fixed]
    return [c for c in IDENTITY_COLUMNS if c in present] + metrics + [c for c in PROVENANCE_COLUMNS if c in present]


def _to_csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.6g", lineterminator="\n")
    return buffer.getvalue()
