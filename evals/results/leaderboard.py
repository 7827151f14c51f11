"""Aggregate item results into leaderboard rows; maintain `leaderboard.csv` and `history.csv`.

`history.csv` gains one row per run × dataset × strategy and is never rewritten except to add
columns; `leaderboard.csv` holds the latest history row per suite × dataset × strategy, so a pytest
suite or an experiment never replaces the default suite's rows. Each row names its strategy's
configuration (`strategy_config`, a hash of everything that determines its answers) so readers can
tell configurations apart. Both are written
atomically under a file lock, so concurrent runs never corrupt or lose rows. Column schema:
see `results/README.md` (`LEADERBOARD_SCHEMA_VERSION`).
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.core.strategy import UpdatePath
from evals.infra.atomic import atomic_write_text, locked
from evals.infra.hashing import content_hash
from evals.results.item_columns import ColumnCollector, ItemColumns
from evals.results.records import ItemResult, RunManifest, SetupRecord
from evals.stats.clustered import ClusteredMean, Clusters, clustered_mean
from evals.stats.summary import defined_mean, percentiles

LEADERBOARD_SCHEMA_VERSION = 3
LEADERBOARD_FILE = "leaderboard.csv"
HISTORY_FILE = "history.csv"
KEY_COLUMNS = ["dataset", "strategy"]
"""What rows of two leaderboards are matched on."""
ROW_KEY_COLUMNS = ["suite", *KEY_COLUMNS]
"""What `leaderboard.csv` keeps the latest row of."""
IDENTITY_COLUMNS = [
    "schema_version",
    "run_id",
    "finished_at",
    "suite",
    "dataset",
    "dataset_fingerprint",
    "strategy",
    "strategy_type",
    "strategy_config",
    "update_path",
    "routes",
    "n_items",
    "n_clusters",
    "repeats",
    "n_ok",
    "n_errors",
    "n_cached",
]
COLUMNS_ADDED_AFTER_VERSION_1 = ("update_path", "routes", "strategy_config", "n_clusters", "repeats")
"""Identity columns older rows lack (update_path, routes: version 2; strategy_config, n_clusters, repeats: 3);
readers treat them as unknown."""
SE_SUFFIX = "_se"
CI_SUFFIXES = ("_ci_low", "_ci_high")
STATISTIC_SUFFIXES = (SE_SUFFIX, *CI_SUFFIXES)
"""Columns that describe a quality metric's uncertainty rather than a metric of their own."""
PROVENANCE_COLUMNS = ["config_hash", "seed", "price_table_date", "git_commit"]
CORRECT_METRIC = "exact_match"
"""What `consistency`, `any_correct` and `all_correct` count as a right answer when questions repeat."""


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
    strategy_config: str = ""
    update_path: UpdatePath | None = None
    routes: bool = False
    n_items: int
    n_clusters: int
    repeats: int = 1
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


def build_rows(manifest: RunManifest, results: Iterable[ItemResult], seed: int) -> list[LeaderboardRow]:
    """One row per dataset × strategy present in the run. `results` are read once, one at a time, and only
    columns of numbers are kept (`evals.results.item_columns`): a run's items.jsonl can stream through."""
    collectors: dict[tuple[str, str], ColumnCollector] = {}
    for result in results:
        collectors.setdefault((result.dataset, result.strategy), ColumnCollector()).add(result)
    metric_names: dict[str, set[str]] = defaultdict(set)  # per dataset, so an all-failed strategy gets them too
    for (dataset, _), collector in collectors.items():
        metric_names[dataset] |= collector.metric_names
    setups = {(record.dataset, record.strategy): record for record in manifest.setups}
    rows = []
    for dataset, strategy in list(collectors):  # each pair's columns sorted by (item id, repeat): CIs must not
        items = collectors.pop((dataset, strategy)).columns()  # depend on the order items finished in
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
                strategy_config=content_hash(setup.identity, length=12) if setup else "",
                update_path=setup.update_path if setup else None,
                routes=setup.routes if setup else False,
                n_items=len(items),
                n_clusters=items.cluster_count(),
                repeats=int(items.repeats.max()) + 1,
                n_ok=int(items.ok.sum()),
                n_errors=int((~items.ok).sum()),
                n_cached=int(items.cached.sum()),
                metrics=aggregate_metrics(items, setup, seed, sorted(metric_names[dataset])),
                config_hash=manifest.config_hash,
                seed=manifest.seed,
                price_table_date=manifest.price_table_date,
                git_commit=manifest.git_commit,
            )
        )
    return sorted(rows, key=lambda row: (row.dataset, row.strategy))


def aggregate_metrics(
    items: ItemColumns, setup: SetupRecord | None, seed: int, quality_names: Sequence[str]
) -> dict[str, float]:
    """Quality means with clustered standard errors and 95% cluster-bootstrap CIs (`evals.stats.clustered`),
    each item valued by the item-metric rule (`evals.results.item_values`: a failed item counts 0, an
    answered item without the metric is left out); latency percentiles per stage, mean tokens and per-query
    cost over answered items; setup cost. Undefined values are NaN."""
    metrics: dict[str, float] = {}
    clusters = items.cluster_keys
    for name in quality_names:
        metrics.update(_with_uncertainty(name, clustered_mean(items.item_means(name), clusters, seed=seed)))
    if items.repeats.any():
        metrics.update(repeat_metrics(items, quality_names, clusters, seed))
    answered = items.answered
    timings = {stage: seconds[answered] for stage, seconds in items.timings.items()}
    total = percentiles(timings.get("total", np.full(int(answered.sum()), math.nan)))
    metrics.update(latency_p50_s=total.p50, latency_p95_s=total.p95, latency_p99_s=total.p99, latency_mean_s=total.mean)
    for stage in sorted(stage for stage in timings if stage != "total"):
        stage_summary = percentiles(timings[stage])
        metrics.update({f"latency_{stage}_p50_s": stage_summary.p50, f"latency_{stage}_p95_s": stage_summary.p95})
    metrics["input_tokens_mean"] = defined_mean(items.input_tokens[answered])
    metrics["output_tokens_mean"] = defined_mean(items.output_tokens[answered])
    metrics["cost_per_query_usd"] = defined_mean(items.cost_usd[answered])
    judged = items.judge_cost_usd[answered & items.judged]
    if judged.size:
        metrics["judge_cost_per_query_usd"] = defined_mean(judged)
    metrics["setup_seconds"] = setup.setup.seconds if setup else math.nan
    metrics["setup_training_tokens"] = float(setup.setup.training_tokens) if setup else math.nan
    metrics["setup_cost_usd"] = setup.setup_cost_usd if setup else math.nan
    return metrics


def repeat_metrics(items: ItemColumns, quality_names: Sequence[str], clusters: Clusters, seed: int) -> dict[str, float]:
    """What repeated answers add: per quality metric, `<m>_repeat_sd`, the standard deviation across
    repeats of the metric's mean over one repeat's answers; and, on `exact_match` per question,
    `consistency` (all its answers agree), `any_correct` (pass@N: at least one is right) and
    `all_correct` (pass^N: every one is), each a mean over questions with its clustered SE and CI."""
    metrics: dict[str, float] = {}
    repeats = items.repeats
    for name in quality_names:
        values = items.metric_values(name)
        per_repeat = [defined_mean(values[repeats == r]) for r in np.unique(repeats)]
        metrics[f"{name}_repeat_sd"] = float(np.nanstd(per_repeat, ddof=1)) if len(per_repeat) > 1 else math.nan
    if CORRECT_METRIC in quality_names:
        answers = pd.DataFrame(
            {"question": items.question_codes, "correct": items.metric_values(CORRECT_METRIC)}
        ).groupby("question", sort=False)["correct"]
        best, worst = answers.max(), answers.min()  # NaN answers (undefined) are skipped; all NaN → NaN
        agree = (best == worst).astype(float).where(best.notna())
        for label, per_question in (("consistency", agree), ("any_correct", best), ("all_correct", worst)):
            metrics.update(_with_uncertainty(label, clustered_mean(per_question.to_numpy(), clusters, seed=seed)))
    return metrics


def _with_uncertainty(name: str, summary: ClusteredMean) -> dict[str, float]:
    return {
        name: summary.mean,
        f"{name}{SE_SUFFIX}": summary.se,
        f"{name}_ci_low": summary.ci_low,
        f"{name}_ci_high": summary.ci_high,
    }


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
        # a run finished twice (killed after its rows were written, completed on the next start) keeps one row
        combined = combined.drop_duplicates(subset=["run_id", *ROW_KEY_COLUMNS], keep="last")
        combined = combined[_ordered_columns(combined.columns)]
        latest = combined.drop_duplicates(subset=_row_key(combined), keep="last").sort_values(_row_key(combined))
        atomic_write_text(history_path, _to_csv(combined))
        atomic_write_text(results_dir / LEADERBOARD_FILE, _to_csv(latest))


def latest_rows(frame: pd.DataFrame, suite: str | None = None) -> pd.DataFrame:
    """One row per dataset × strategy of a leaderboard or history table: the most recent, or the most
    recent of `suite`; an EvalsError naming the suites there when `suite` has no rows."""
    if suite is not None:
        suites = sorted(frame["suite"].dropna().astype(str).unique())
        if suite not in suites:
            raise EvalsError(f"no rows of suite {suite!r}; the table has suite(s) {', '.join(suites) or 'none'}")
        frame = frame[frame["suite"].astype(str) == suite]
    ordered = frame.sort_values("finished_at", kind="stable") if "finished_at" in frame.columns else frame
    return ordered.drop_duplicates(subset=KEY_COLUMNS, keep="last").sort_values(KEY_COLUMNS, ignore_index=True)


def panel_labels(leaderboard: pd.DataFrame) -> pd.Series:
    """Each row's table and plot panel: its dataset, with its suite where the dataset has rows of several
    (suites measure their own configurations and are never mixed in one table or plot)."""
    if "suite" not in leaderboard.columns:  # written before rows were kept per suite
        return leaderboard["dataset"].astype(str)
    suite = leaderboard["suite"].fillna("").astype(str)  # a row without one is a suite of its own
    suites = suite.groupby(leaderboard["dataset"]).transform("nunique")
    with_suite = leaderboard["dataset"].astype(str) + " (suite " + suite + ")"
    return with_suite.where(suites > 1, leaderboard["dataset"].astype(str))


def _row_key(frame: pd.DataFrame) -> list[str]:
    return [column for column in ROW_KEY_COLUMNS if column in frame.columns]


def _ordered_columns(columns: Iterable[str]) -> list[str]:
    present = list(dict.fromkeys(columns))
    fixed = set(IDENTITY_COLUMNS) | set(PROVENANCE_COLUMNS)
    metrics = [column for column in present if column not in fixed]
    return [c for c in IDENTITY_COLUMNS if c in present] + metrics + [c for c in PROVENANCE_COLUMNS if c in present]


def _to_csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.6g", lineterminator="\n")
    return buffer.getvalue()
