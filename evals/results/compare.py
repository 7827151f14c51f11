"""Compare two evaluations (leaderboard/history CSVs or runs) and gate regressions.

Two runs are compared item by item (paired tests over the items both scored); anything else by its
aggregates (quality CIs must not overlap to count as a significant change). Gated metrics: quality
(every metric with a CI), `latency_p95_s` and `cost_per_query_usd`; every other metric common to
both sides is reported with its delta only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, computed_field

from evals.core.errors import EvalsError
from evals.results.item_values import answers_by_question, item_means
from evals.results.leaderboard import (
    CI_SUFFIXES,
    COLUMNS_ADDED_AFTER_VERSION_1,
    IDENTITY_COLUMNS,
    LEADERBOARD_SCHEMA_VERSION,
    PROVENANCE_COLUMNS,
    SE_SUFFIX,
    STATISTIC_SUFFIXES,
    build_rows,
    latest_rows,
    read_table,
)
from evals.results.records import ItemResult, RunManifest
from evals.results.run_store import MANIFEST_FILE, RunStore, runs_dir
from evals.stats.clustered import POWER, clustered_mean, minimum_detectable_effect
from evals.stats.paired import holm, mcnemar_exact, paired_bootstrap, wilcoxon_signed_rank
from evals.stats.summary import BOOTSTRAP_RESAMPLES, defined_mean

LATENCY_METRIC = "latency_p95_s"
COST_METRIC = "cost_per_query_usd"

Key = tuple[str, str]
Gate = Literal["quality", "latency", "cost"]
Verdict = Literal["regression", "improvement", "unchanged", "info"]
OTHER_GATES: dict[str, Gate] = {LATENCY_METRIC: "latency", COST_METRIC: "cost"}
"""Gated metrics besides quality (every score with a CI)."""


class Thresholds(BaseModel):
    """When a change counts: quality drops are absolute, latency and cost increases relative."""

    max_quality_drop: float = Field(default=0.02, ge=0)
    max_latency_increase: float = Field(default=0.25, ge=0)
    max_cost_increase: float = Field(default=0.25, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    power: float = Field(default=POWER, gt=0, lt=1)
    seed: int = 0
    resamples: int = Field(default=BOOTSTRAP_RESAMPLES, ge=100)


class MetricComparison(BaseModel):
    """One metric of one dataset × strategy: values, delta, the test behind the verdict, the verdict.

    `ci_low`/`ci_high` bound the paired mean difference (runs); `old_ci`/`new_ci` are each side's CI
    (CSVs). `p_holm` is Holm-adjusted across the metrics tested for the same dataset × strategy.
    `mde` is the smallest true change the comparison detects with `thresholds.power` at level
    `thresholds.alpha` (quality: absolute, from the clustered SE of the difference; latency and cost:
    relative); `powered` says whether it is within the gate's threshold, i.e. whether "unchanged" means
    that no change of the gated size happened rather than that none could have been seen.
    """

    metric: str
    gate: Gate | None = None
    old: float
    new: float
    delta: float
    relative_delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    old_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None
    test: str | None = None
    p_value: float | None = None
    p_holm: float | None = None
    significant: bool | None = None
    mde: float | None = None
    powered: bool | None = None
    verdict: Verdict = "info"
    reason: str = ""


class StrategyComparison(BaseModel):
    """A dataset × strategy: compared (in both), missing (only in OLD: a regression) or added (only in NEW)."""

    dataset: str
    strategy: str
    status: Literal["compared", "missing", "added"] = "compared"
    paired: bool = False
    n_old: int | None = None
    n_new: int | None = None
    n_paired: int | None = None
    metrics: list[MetricComparison] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Finding(BaseModel):
    dataset: str
    strategy: str
    metric: str | None
    reason: str


class ComparisonReport(BaseModel):
    """The whole comparison; `regressions` decides the exit code."""

    old: str
    new: str
    thresholds: Thresholds
    strategies: list[StrategyComparison]
    notes: list[str] = Field(default_factory=list)

    def _findings(self, verdict: Verdict) -> list[Finding]:
        found = [
            Finding(dataset=s.dataset, strategy=s.strategy, metric=m.metric, reason=m.reason)
            for s in self.strategies
            for m in s.metrics
            if m.verdict == verdict
        ]
        if verdict == "regression":
            found += [
                Finding(dataset=s.dataset, strategy=s.strategy, metric=None, reason="missing in NEW")
                for s in self.strategies
                if s.status == "missing"
            ]
        return found

    @computed_field  # type: ignore[prop-decorator]
    @property
    def regressions(self) -> list[Finding]:
        return self._findings("regression")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def improvements(self) -> list[Finding]:
        return self._findings("improvement")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def underpowered(self) -> list[Finding]:
        """Gated metrics judged "unchanged" although a change beyond the gate could have gone unseen."""
        return [
            Finding(dataset=s.dataset, strategy=s.strategy, metric=m.metric, reason=m.reason)
            for s in self.strategies
            for m in s.metrics
            if m.verdict == "unchanged" and m.powered is False
        ]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        """E.g. "2 regressions, 1 improvement, 10 unchanged, 1 added" (gated metrics and strategies)."""
        unchanged = sum(m.verdict == "unchanged" for s in self.strategies for m in s.metrics)
        added = sum(s.status == "added" for s in self.strategies)
        parts = [
            _plural(len(self.regressions), "regression"),
            _plural(len(self.improvements), "improvement"),
            f"{unchanged} unchanged",
        ]
        parts += [f"{added} added"] if added else []
        parts += [f"{len(self.underpowered)} underpowered"] if self.underpowered else []
        return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class _Row(BaseModel):
    """One side's aggregates for a dataset × strategy."""

    metrics: dict[str, float]
    fingerprint: str
    strategy_type: str
    strategy_config: str = ""
    suite: str = ""
    n_items: int


class Side(BaseModel):
    """One side of a comparison: its rows, and for a run its manifest and item results."""

    label: str
    rows: dict[Key, _Row]
    manifest: RunManifest | None = None
    items: list[ItemResult] | None = None
    notes: list[str] = Field(default_factory=list)


def load_side(reference: str, results_dir: Path, suite: str | None = None) -> Side:
    """A CSV path (its latest row per dataset × strategy, of `suite` if given), a run id under
    `<results_dir>/runs/`, or a run folder."""
    path = Path(reference)
    if path.is_file():
        return _csv_side(path, suite)
    run_dir = path if (path / MANIFEST_FILE).is_file() else runs_dir(results_dir) / reference
    if reference and (run_dir / MANIFEST_FILE).is_file():
        return _run_side(RunStore(run_dir))
    if path.suffix.lower() == ".csv":
        raise EvalsError(f"{path}: no such file")
    known = sorted(p.parent.name for p in runs_dir(results_dir).glob(f"*/{MANIFEST_FILE}"))
    hint = f"; runs there: {', '.join(known[-5:])}" if known else f"; {runs_dir(results_dir)} has no runs"
    raise EvalsError(f"{reference!r} is neither a CSV file nor a run id in {runs_dir(results_dir)}{hint}")


def _csv_side(path: Path, suite: str | None) -> Side:
    frame = read_table(path)
    missing = [c for c in IDENTITY_COLUMNS if c not in frame.columns and c not in COLUMNS_ADDED_AFTER_VERSION_1]
    if missing:
        raise EvalsError(f"{path}: not a leaderboard CSV (missing column(s) {', '.join(missing)})")
    versions = sorted({int(v) for v in frame["schema_version"].dropna()})
    if not versions or versions[-1] > LEADERBOARD_SCHEMA_VERSION:
        raise EvalsError(
            f"{path}: schema_version {', '.join(map(str, versions)) or 'missing'}; "
            f"this version of evals compares schema_version {LEADERBOARD_SCHEMA_VERSION} and older"
        )
    if frame.empty:
        raise EvalsError(f"{path}: no rows")
    fixed = set(IDENTITY_COLUMNS) | set(PROVENANCE_COLUMNS)
    metric_columns = [c for c in frame.columns if c not in fixed and pd.api.types.is_numeric_dtype(frame[c])]
    latest = latest_rows(frame, suite)  # a history CSV, or a leaderboard of several suites: the latest rows
    rows = {
        (str(record["dataset"]), str(record["strategy"])): _Row(
            metrics={column: float(record[column]) for column in metric_columns},
            fingerprint=str(record["dataset_fingerprint"]),
            strategy_type=str(record["strategy_type"]),
            strategy_config=_text(record.get("strategy_config")),
            suite=_text(record.get("suite")),
            n_items=int(record["n_items"]),
        )
        for record in latest.to_dict(orient="records")
    }
    return Side(label=str(path), rows=rows)


def _text(value: object) -> str:
    """A CSV cell as text; empty for a missing value (a column older rows lack)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _run_side(store: RunStore) -> Side:
    manifest = store.read_manifest()
    readout = store.read_items_readonly()
    if not readout.items:
        raise EvalsError(f"run {store.run_id} has no item results ({store.items_path})")
    skipped = readout.skipped_note(store.run_id)
    return Side(
        label=store.run_id,
        rows=_rows(manifest, readout.items),
        manifest=manifest,
        items=readout.items,
        notes=[skipped] if skipped else [],
    )


def _rows(manifest: RunManifest, items: Sequence[ItemResult]) -> dict[Key, _Row]:
    return {
        (row.dataset, row.strategy): _Row(
            metrics=row.metrics,
            fingerprint=row.dataset_fingerprint,
            strategy_type=row.strategy_type,
            strategy_config=row.strategy_config,
            suite=row.suite,
            n_items=row.n_items,
        )
        for row in build_rows(manifest, items, seed=manifest.seed)
    }


def compare_sides(old: Side, new: Side, thresholds: Thresholds | None = None) -> ComparisonReport:
    """Compare every dataset × strategy of OLD with NEW; paired item-level tests when both are runs."""
    thresholds = thresholds or Thresholds()
    common = sorted(old.rows.keys() & new.rows.keys())
    if not common:
        raise EvalsError(f"no dataset × strategy in common: OLD has {_keys(old.rows)}; NEW has {_keys(new.rows)}")
    strategies = [
        StrategyComparison(dataset=d, strategy=s, status="missing", n_old=old.rows[(d, s)].n_items)
        for d, s in sorted(old.rows.keys() - new.rows.keys())
    ]
    strategies += [
        StrategyComparison(dataset=d, strategy=s, status="added", n_new=new.rows[(d, s)].n_items)
        for d, s in sorted(new.rows.keys() - old.rows.keys())
    ]
    for key in common:
        if old.items is not None and new.items is not None and old.manifest and new.manifest:
            strategies.append(_compare_paired(key, old, new, thresholds))
        else:
            strategies.append(_compare_aggregates(key, old.rows[key], new.rows[key], thresholds))
    strategies.sort(key=lambda s: (s.dataset, s.strategy))
    notes = [
        f"{name} run {side.label} is {side.manifest.status}, not complete"
        for name, side in (("OLD", old), ("NEW", new))
        if side.manifest and side.manifest.status != "complete"
    ]
    notes += [f"{name} {note}" for name, side in (("OLD", old), ("NEW", new)) for note in side.notes]
    return ComparisonReport(old=old.label, new=new.label, thresholds=thresholds, strategies=strategies, notes=notes)


def compare_references(
    old: str,
    new: str,
    results_dir: Path = Path("results"),
    thresholds: Thresholds | None = None,
    suite: str | None = None,
) -> ComparisonReport:
    """`compare_sides` of two references (CSV paths or run ids; of a CSV, the rows of `suite` if given)."""
    return compare_sides(load_side(old, results_dir, suite), load_side(new, results_dir, suite), thresholds)


def _keys(rows: Iterable[Key]) -> str:
    return ", ".join(f"{d}/{s}" for d, s in sorted(rows)) or "nothing"


def _row_notes(old: _Row, new: _Row) -> list[str]:
    notes = []
    if old.fingerprint != new.fingerprint:
        notes.append(f"dataset content differs (fingerprint {old.fingerprint} → {new.fingerprint})")
    if old.strategy_type != new.strategy_type:
        notes.append(f"strategy type changed: {old.strategy_type} → {new.strategy_type}")
    elif old.strategy_config and new.strategy_config and old.strategy_config != new.strategy_config:
        notes.append(
            f"configuration changed (strategy_config {old.strategy_config} → {new.strategy_config}): the "
            "difference measures the new configuration, not a regression of the old one"
        )
    if old.suite and new.suite and old.suite != new.suite:
        notes.append(f"rows of different suites: {old.suite} → {new.suite}")
    return notes


def _gate(metric: str, quality: set[str]) -> Gate | None:
    if metric in quality:
        return "quality"
    return OTHER_GATES.get(metric)


def _base_metrics(metrics: Iterable[str]) -> list[str]:
    return [m for m in metrics if not m.endswith(STATISTIC_SUFFIXES)]


def _comparison(metric: str, gate: Gate | None, old: float, new: float, **fields: object) -> MetricComparison:
    relative = (new - old) / old if old and not math.isnan(old) and not math.isnan(new) else None
    return MetricComparison(
        metric=metric, gate=gate, old=old, new=new, delta=new - old, relative_delta=relative, **fields
    )


def _compare_aggregates(key: Key, old: _Row, new: _Row, thresholds: Thresholds) -> StrategyComparison:
    """Deltas of every metric in both rows; quality is significant only when the two CIs do not overlap."""
    names = [m for m in _base_metrics(old.metrics) if m in new.metrics]
    quality = {m for m in names if all(f"{m}{suffix}" in row.metrics for suffix in CI_SUFFIXES for row in (old, new))}
    metrics = []
    for name in names:
        a, b = old.metrics[name], new.metrics[name]
        if math.isnan(a) and math.isnan(b):
            continue
        gate = _gate(name, quality)
        fields: dict[str, object] = {}
        if gate == "quality":
            old_ci = (old.metrics[f"{name}_ci_low"], old.metrics[f"{name}_ci_high"])
            new_ci = (new.metrics[f"{name}_ci_low"], new.metrics[f"{name}_ci_high"])
            measured = not any(math.isnan(v) for v in (*old_ci, *new_ci))
            disjoint = measured and (old_ci[1] < new_ci[0] or new_ci[1] < old_ci[0])
            se = math.hypot(_standard_error(old, name), _standard_error(new, name))
            fields = {
                "old_ci": old_ci,
                "new_ci": new_ci,
                "test": "CI overlap",
                "significant": disjoint,
                "mde": _finite(minimum_detectable_effect(se, thresholds.alpha, thresholds.power)),
            }
        metrics.append(_judge(_comparison(name, gate, a, b, **fields), thresholds, needs_test=gate == "quality"))
    return StrategyComparison(
        dataset=key[0],
        strategy=key[1],
        n_old=old.n_items,
        n_new=new.n_items,
        metrics=metrics,
        notes=_row_notes(old, new),
    )


def _compare_paired(key: Key, old: Side, new: Side, thresholds: Thresholds) -> StrategyComparison:
    """Item-level tests over the questions both runs scored, each valued by the mean of its repeats:
    cluster-bootstrap CI of the mean difference for every score (McNemar's exact p for 0/1 scores without
    clusters), Wilcoxon signed-rank for latency (first answers), Holm across them."""
    assert old.items is not None and new.items is not None and old.manifest and new.manifest
    old_by_id = answers_by_question(item for item in old.items if (item.dataset, item.strategy) == key)
    new_by_id = answers_by_question(item for item in new.items if (item.dataset, item.strategy) == key)
    shared = sorted(old_by_id.keys() & new_by_id.keys())
    notes = _row_notes(old.rows[key], new.rows[key])
    if not shared:
        comparison = _compare_aggregates(key, old.rows[key], new.rows[key], thresholds)
        comparison.notes += ["no items in common: compared aggregates"]
        return comparison
    old_answers = [answer for i in shared for answer in old_by_id[i]]
    new_answers = [answer for i in shared for answer in new_by_id[i]]
    pairs = [(old_by_id[i][0], new_by_id[i][0]) for i in shared]  # first answers: latency and cost
    if len(shared) < max(len(old_by_id), len(new_by_id)):
        notes.append(f"compared on the {len(shared)} items in both runs (OLD {len(old_by_id)}, NEW {len(new_by_id)})")
    old_row = _rows(old.manifest, old_answers)[key]
    new_row = _rows(new.manifest, new_answers)[key]
    quality = sorted(_score_names(old.items, key[0]) | _score_names(new.items, key[0]))
    clusters = [b.cluster or a.cluster for a, b in pairs]
    metrics = [_paired_quality(name, old_answers, new_answers, clusters, thresholds) for name in quality]
    tested = [m for m in metrics if m.p_value is not None]
    for name in _base_metrics(old_row.metrics):
        if name in quality or name not in new_row.metrics:
            continue
        a, b = old_row.metrics[name], new_row.metrics[name]
        if math.isnan(a) and math.isnan(b):
            continue
        fields: dict[str, object] = {}
        if name == LATENCY_METRIC:
            old_seconds, new_seconds, latency_clusters = _latency_pairs(pairs)
            p = wilcoxon_signed_rank(old_seconds, new_seconds)
            fields = {
                "test": "Wilcoxon signed-rank",
                "p_value": None if math.isnan(p) else p,
                "mde": _relative_mde(np.log(new_seconds) - np.log(old_seconds), latency_clusters, thresholds),
            }
        elif name == COST_METRIC:
            fields = {"mde": _cost_mde(pairs, clusters, a, thresholds)}
        metrics.append(_comparison(name, _gate(name, set()), a, b, **fields))
        if metrics[-1].p_value is not None:
            tested.append(metrics[-1])
    p_values = [m.p_value if m.p_value is not None else math.nan for m in tested]
    for metric, adjusted in zip(tested, holm(p_values), strict=True):
        metric.p_holm = adjusted
        metric.significant = adjusted < thresholds.alpha
    metrics = [_judge(m, thresholds, needs_test=m.gate in ("quality", "latency")) for m in metrics]
    return StrategyComparison(
        dataset=key[0],
        strategy=key[1],
        paired=True,
        n_old=len(old_by_id),
        n_new=len(new_by_id),
        n_paired=len(shared),
        metrics=metrics,
        notes=notes,
    )


def _score_names(items: Iterable[ItemResult], dataset: str) -> set[str]:
    return {name for item in items if item.dataset == dataset for name in item.scores}


def _paired_quality(
    name: str,
    old_answers: Sequence[ItemResult],
    new_answers: Sequence[ItemResult],
    clusters: Sequence[str | None],
    thresholds: Thresholds,
) -> MetricComparison:
    """Means, difference and tests over the complete pairs of per-question values (the mean of a
    question's repeats; NaN on a side that did not measure it). Pairs are resampled by cluster;
    McNemar's exact test is used for 0/1 values only when every pair is its own cluster (it assumes
    independent pairs)."""
    a = item_means(old_answers, name)
    b = item_means(new_answers, name)
    boot = paired_bootstrap(
        a, b, clusters, seed=thresholds.seed, resamples=thresholds.resamples, alpha=thresholds.alpha
    )
    if boot.n == 0:
        return _comparison(name, "quality", defined_mean(a), defined_mean(b))
    complete = [(x, y) for x, y in zip(a, b, strict=True) if not (math.isnan(x) or math.isnan(y))]
    binary = all(value in (0.0, 1.0) for pair in complete for value in pair)
    if binary and boot.n_clusters == boot.n:
        test, p_value = "McNemar exact", mcnemar_exact(a, b).p_value
    else:
        test = "paired bootstrap" if boot.n_clusters == boot.n else "paired cluster bootstrap"
        p_value = boot.p_value
    old_mean, new_mean = defined_mean([x for x, _ in complete]), defined_mean([y for _, y in complete])
    return _comparison(
        name,
        "quality",
        old_mean,
        new_mean,
        ci_low=boot.ci_low,
        ci_high=boot.ci_high,
        test=test,
        p_value=None if math.isnan(p_value) else p_value,
        mde=_finite(boot.mde),
    )


def _standard_error(row: _Row, name: str) -> float:
    """A CSV row's SE of `name`: its `_se` column, or (rows before schema 3) its CI's half-width / 1.96."""
    se = row.metrics.get(f"{name}{SE_SUFFIX}", math.nan)
    if math.isnan(se):
        se = (row.metrics[f"{name}_ci_high"] - row.metrics[f"{name}_ci_low"]) / (2 * 1.959964)
    return se


def _relative_mde(log_ratios: np.ndarray, clusters: Sequence[str | None], thresholds: Thresholds) -> float | None:
    """MDE of a relative change, from per-pair log(new/old) and their clustered SE."""
    summary = clustered_mean(log_ratios, clusters, resamples=100)
    mde = minimum_detectable_effect(summary.se, thresholds.alpha, thresholds.power)
    return _finite(math.expm1(mde)) if math.isfinite(mde) else None


def _cost_mde(
    pairs: Sequence[tuple[ItemResult, ItemResult]],
    clusters: Sequence[str | None],
    old_mean: float,
    thresholds: Thresholds,
) -> float | None:
    """MDE of the relative change in cost per query, from per-pair cost differences."""
    differences = [
        (b.cost_usd - a.cost_usd) if a.cost_usd is not None and b.cost_usd is not None else math.nan for a, b in pairs
    ]
    summary = clustered_mean(differences, clusters, resamples=100)
    if not old_mean or math.isnan(old_mean):
        return None
    return _finite(minimum_detectable_effect(summary.se, thresholds.alpha, thresholds.power) / old_mean)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _latency_pairs(
    pairs: Sequence[tuple[ItemResult, ItemResult]],
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Per-item total seconds for the items both runs answered in positive time, and their clusters."""
    both = [
        (a.answer.timings.get("total", math.nan), b.answer.timings.get("total", math.nan), b.cluster or a.cluster)
        for a, b in pairs
        if a.status == "ok" and b.status == "ok" and a.answer and b.answer
    ]
    both = [(x, y, cluster) for x, y, cluster in both if x > 0 and y > 0]
    return np.array([x for x, _, _ in both]), np.array([y for _, y, _ in both]), [c for _, _, c in both]


def _judge(m: MetricComparison, thresholds: Thresholds, needs_test: bool) -> MetricComparison:
    """Set the verdict of a gated metric: beyond its threshold and (where tested) significant."""
    if m.gate is None:
        return m
    if math.isnan(m.old) or math.isnan(m.new):
        side = "OLD" if math.isnan(m.old) else "NEW"
        lost = m.gate == "quality" and side == "NEW"
        return m.model_copy(update={"verdict": "regression" if lost else "info", "reason": f"not measured in {side}"})
    if m.gate == "quality":
        change, limit, shown = m.delta, thresholds.max_quality_drop, f"{m.delta:+.3f}"
    else:
        change = m.relative_delta if m.relative_delta is not None else (math.inf if m.new > m.old else 0.0)
        limit = thresholds.max_latency_increase if m.gate == "latency" else thresholds.max_cost_increase
        shown = f"{change:+.0%}"
    worse = -change if m.gate == "quality" else change
    beyond = abs(change) > limit
    confirmed = m.significant is True or not needs_test
    evidence = _evidence(m)
    powered = None if m.mde is None else m.mde <= limit
    if beyond and confirmed:
        verdict: Verdict = "regression" if worse > 0 else "improvement"
        reason = f"{m.metric} {shown} (beyond {limit:g}{evidence})"
    elif beyond:
        verdict, reason = "unchanged", f"{m.metric} {shown} but not significant{evidence}"
    else:
        verdict, reason = "unchanged", f"{m.metric} {shown} within {limit:g}"
    if verdict == "unchanged" and powered is False and m.mde is not None:
        detectable = f"{m.mde:.3f}" if m.gate == "quality" else f"+{m.mde:.0%}"
        change_kind = "drops" if m.gate == "quality" else "increases"
        reason += f"; could only detect {change_kind} ≥ {detectable} (80% power, α={thresholds.alpha:g})"
    return m.model_copy(update={"verdict": verdict, "reason": reason, "powered": powered})


def _evidence(m: MetricComparison) -> str:
    if m.p_holm is not None:
        return f", Holm p={m.p_holm:.2g}"
    if m.test == "CI overlap":
        return ", CIs disjoint" if m.significant else ", CIs overlap"
    return ""
