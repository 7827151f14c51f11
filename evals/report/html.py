"""A static HTML report of a results folder: the leaderboard table, metrics over time, the
accuracy-vs-cost Pareto front, latency distributions, cost-of-ownership curves with break-even volumes
and the recommendation for default constraints, as PNGs beside one `index.html`; plus the
knowledge-freshness table when `freshness.json` (from `evals freshness`) is there.

Works from `leaderboard.csv` and `history.csv` alone; uses `runs/<run_id>/items.jsonl` of the
leaderboard's runs, when present, for per-item latency distributions and the recommendation, read
with the run store's read-only reader (never written or locked; unreadable lines are skipped and
counted in `Report.skipped_lines` and on the page). Plots are drawn with matplotlib's Agg renderer
(no display needed); the page has no scripts and no external resources.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.decision.cost_model import BreakEven, CostAssumptions, MeasuredStrategy, break_evens, monthly_cost
from evals.decision.freshness import FRESHNESS_FILE, FreshnessResult, load_freshness, update_path_label
from evals.decision.recommend import (
    Constraints,
    Recommendation,
    load_cross_check,
    load_items,
    load_strategies,
    meaningful_break_evens,
    read_runs,
    recommend_strategy,
    usd,
)
from evals.decision.robustness import (
    ROBUSTNESS_FILE,
    RobustnessResult,
    SourceRisk,
    load_robustness,
    source_risks,
)
from evals.results.leaderboard import HISTORY_FILE, LEADERBOARD_FILE, panel_labels, read_table
from evals.results.run_store import ItemsReadout

QUALITY_METRICS = {"exact_match": "exact match", "f1": "F1", "faithfulness": "faithfulness"}
TABLE_METRICS = {**QUALITY_METRICS, "answer_contains_gold": "contains gold", "faithful_but_wrong": "faithful but wrong"}
"""Metrics shown with their 95% CI in the leaderboard tables."""
TREND_METRICS = {
    **QUALITY_METRICS,
    "latency_p95_s": "latency p95 (s)",
    "cost_per_query_usd": "cost per query (USD)",
}
LOG_SCALE_METRICS = {"latency_p95_s", "cost_per_query_usd"}
LatencySource = Literal["items", "leaderboard"]
TREND_KEY = ("config_hash", "dataset_fingerprint", "n_items")
"""What makes two history rows comparable run to run: the same suite configuration, test set and item count."""


class TrendSeries(BaseModel):
    """Which history rows of one dataset a trend panel joins: the latest configuration's, and what it left out."""

    dataset: str
    config_hash: str
    dataset_fingerprint: str
    n_items: int
    runs: int
    other_configurations: int
    rows_left_out: int
    failed: list[str] = []
    """Strategies with a run of this configuration that answered nothing (n_ok = 0): not plotted as 0."""

    def describe(self) -> str:
        text = (
            f"{self.dataset}: the latest configuration only (config {self.config_hash[:8]}, test set "
            f"{self.dataset_fingerprint[:8]}, n = {self.n_items}), {self.runs} run{'s' if self.runs != 1 else ''}"
        )
        if self.other_configurations:
            text += (
                f"; {self.rows_left_out} row(s) of {self.other_configurations} other configuration(s) or test set(s) "
                "not joined to it"
            )
        if self.failed:
            text += f"; not plotted, a run answered nothing: {', '.join(self.failed)}"
        return text


class Report(BaseModel):
    """What `build_report` wrote: the page, its plots (name → PNG path) and what they show."""

    directory: Path
    index_html: Path
    plots: dict[str, Path]
    run_ids: list[str]
    generated_at: datetime
    latency_source: LatencySource
    freshness: Path | None = None
    robustness: Path | None = None
    recommendations: dict[str, str | None] = {}
    skipped_lines: dict[str, int] = {}
    """Per run id, the unreadable lines of its items.jsonl that were skipped (only runs with some)."""
    trends: dict[str, str] = {}
    """Per dataset, which runs its trend plots join (`TrendSeries.describe`)."""


def build_report(results_dir: Path, out: Path | None = None) -> Report:
    """Write `index.html` and its PNGs to `out` (default `<results_dir>/report`) and describe them."""
    leaderboard_path = results_dir / LEADERBOARD_FILE
    if not leaderboard_path.exists():
        raise EvalsError(f"{leaderboard_path}: no leaderboard to report on; run `evals run` first")
    leaderboard = read_table(leaderboard_path)
    leaderboard = leaderboard.assign(suite=leaderboard.get("suite", pd.Series("", index=leaderboard.index)))
    leaderboard = leaderboard.assign(suite=leaderboard["suite"].fillna("").astype(str))
    leaderboard = leaderboard.sort_values(["dataset", "suite", "strategy"], ignore_index=True)
    missing = {column: math.nan for column in PLOTTED_COLUMNS if column not in leaderboard.columns}
    leaderboard = leaderboard.assign(**missing)  # a run where every item failed measured none of them
    if leaderboard.empty:
        raise EvalsError(f"{leaderboard_path}: the leaderboard has no rows; run `evals run` first")
    leaderboard = pd.concat([leaderboard, panel_labels(leaderboard).rename("panel")], axis=1)
    history_path = results_dir / HISTORY_FILE
    history = read_table(history_path) if history_path.exists() else leaderboard
    directory = out or results_dir / "report"
    directory.mkdir(parents=True, exist_ok=True)

    plots = {"pareto": plot_pareto(leaderboard, directory / "pareto.png")}
    runs = read_runs(results_dir, leaderboard["run_id"].astype(str))
    latencies = item_latencies(runs, leaderboard)
    latency_path = directory / "latency.png"
    if latencies is not None:
        plots["latency"] = plot_latency_distributions(latencies, latency_path)
    else:
        plots["latency"] = plot_latency_percentiles(leaderboard, latency_path)
    trend_frame, trends = trend_rows(history)
    for metric in TREND_METRICS:
        if metric in trend_frame.columns and trend_frame[metric].notna().any():
            plots[f"trend_{metric}"] = plot_trend(history, metric, directory / f"trend_{metric}.png")
    assumptions = CostAssumptions()
    groups = {str(label): rows for label, rows in leaderboard.groupby("panel", sort=True)}
    measured = {
        label: [MeasuredStrategy.from_row(row) for row in rows.to_dict(orient="records")]
        for label, rows in groups.items()
    }
    plots["cost_curves"] = plot_cost_curves(measured, assumptions, directory / "cost_curves.png")
    freshness_path = results_dir / FRESHNESS_FILE
    freshness = load_freshness(freshness_path) if freshness_path.is_file() else None
    robustness_path = results_dir / ROBUSTNESS_FILE
    robustness = load_robustness(robustness_path) if robustness_path.is_file() else None
    risks = source_risks(robustness) if robustness else {}
    recommendations = {
        label: _recommend(results_dir, str(rows["dataset"].iloc[0]), str(rows["suite"].iloc[0]), runs, risks)
        for label, rows in groups.items()
    }

    report = Report(
        directory=directory,
        index_html=directory / "index.html",
        plots=plots,
        run_ids=sorted(leaderboard["run_id"].astype(str).unique()),
        generated_at=datetime.now(UTC).replace(microsecond=0),
        latency_source="items" if latencies is not None else "leaderboard",
        freshness=freshness_path if freshness else None,
        robustness=robustness_path if robustness else None,
        recommendations={d: r.choice if isinstance(r, Recommendation) else None for d, r in recommendations.items()},
        skipped_lines={run_id: readout.skipped for run_id, readout in runs.items() if readout.skipped},
        trends={dataset: series.describe() for dataset, series in trends.items()},
    )
    sections = [
        *(_recommendation_html(dataset, found) for dataset, found in recommendations.items()),
        *(_break_even_html(dataset, break_evens(rows, assumptions)) for dataset, rows in measured.items()),
        *([_freshness_html(freshness)] if freshness else []),
        *([_robustness_html(robustness)] if robustness else []),
    ]
    report.index_html.write_text(render_html(groups, report, sections), encoding="utf-8")
    return report


def _recommend(
    results_dir: Path, dataset: str, suite: str, runs: Mapping[str, ItemsReadout], risks: Mapping[str, SourceRisk]
) -> Recommendation | str:
    """The recommendation for default constraints (robustness figures as evidence), or why there is none."""
    try:
        strategies = load_strategies(results_dir, dataset, suite=suite)
        run_items = load_items(results_dir, strategies, runs)
        checks = load_cross_check(results_dir, dataset, Constraints().metric, suite)
        return recommend_strategy(strategies, Constraints(), run_items.items, run_items.notes, checks, risks)
    except EvalsError as error:
        return str(error)


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indexes of the points no other point beats (cost no higher and score no lower, one strictly),
    ordered by cost."""
    points = list(zip(costs, scores, strict=True))
    front = [
        i
        for i, (cost, score) in enumerate(points)
        if not any(c <= cost and s >= score and (c, s) != (cost, score) for c, s in points)
    ]
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def item_latencies(
    runs: Mapping[str, ItemsReadout], leaderboard: pd.DataFrame
) -> dict[str, dict[str, list[float]]] | None:
    """Per-item total latency (s) of answered items, panel (`panel_labels`) → strategy → values, from the runs
    (run id → their items, see `recommend.read_runs`) that produced the leaderboard rows; None unless every
    row has some."""
    latencies: dict[str, dict[str, list[float]]] = {}
    for row in leaderboard.itertuples():
        run_id, dataset, strategy = str(row.run_id), str(row.dataset), str(row.strategy)
        readout = runs.get(run_id)
        values = [
            seconds
            for item in (readout.items if readout else [])
            if (item.dataset, item.strategy) == (dataset, strategy) and item.status == "ok" and item.answer
            for seconds in [item.answer.timings.get("total", math.nan)]
            if not math.isnan(seconds)
        ]
        if not values:
            return None
        latencies.setdefault(str(row.panel), {})[strategy] = values
    return latencies


def trend_rows(history: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, TrendSeries]]:
    """The history rows trend plots join, and per panel (dataset, and suite where several measured it:
    `panel_labels`) what they are: only rows of the panel's latest configuration (`TREND_KEY`: suite
    configuration, test set and item count, those of its most recent row), since a metric moving between two
    configurations is not a trend; and of those only the runs that answered something (a run with n_ok = 0 has
    quality 0 and no latency or cost: a failure, not a measurement)."""
    frame = (
        history.copy()
        .assign(  # copy(): one block per dtype, however the table was built
            finished_at=pd.to_datetime(history["finished_at"], utc=True), panel=panel_labels(history)
        )
        .sort_values("finished_at", kind="stable")
    )
    records = frame.to_dict(orient="records")
    key = pd.Series([tuple(str(row.get(c, "")) for c in TREND_KEY) for row in records], index=frame.index)
    answered = pd.to_numeric(frame.get("n_ok", pd.Series(1, index=frame.index)), errors="coerce").fillna(1) > 0
    keep = pd.Series(False, index=frame.index)
    series: dict[str, TrendSeries] = {}
    for dataset, rows in frame.groupby("panel", sort=True):
        latest = key[rows.index[-1]]
        same = key[rows.index] == latest
        chosen = rows[same]
        usable = chosen[answered[chosen.index]]
        keep[usable.index] = True
        config, fingerprint, n_items = latest
        series[str(dataset)] = TrendSeries(
            dataset=str(dataset),
            config_hash=config,
            dataset_fingerprint=fingerprint,
            n_items=int(float(n_items)) if n_items.replace(".", "", 1).isdigit() else 0,
            runs=int(chosen["run_id"].nunique()),
            other_configurations=int(key[rows.index][~same].nunique()),
            rows_left_out=int((~same).sum()),
            failed=sorted(set(chosen.loc[~answered[chosen.index], "strategy"].astype(str))),
        )
    return frame[keep], series


def plot_trend(history: pd.DataFrame, metric: str, path: Path) -> Path:
    """`trend_figure` saved as a PNG."""
    return _save(trend_figure(history, metric), path)


def trend_figure(history: pd.DataFrame, metric: str) -> Figure:
    """One line per strategy of `metric` against `finished_at`, one panel per dataset, over the rows
    `trend_rows` keeps (the latest configuration's runs that answered something); quality metrics with their
    95% CI (bars, and a band once there are two runs) on a 0–1 axis. A strategy keeps its colour in every
    trend plot; a panel with one run shows its points on a day-wide axis."""
    frame, series = trend_rows(history)
    datasets = sorted(series)
    colors = {strategy: f"C{i % 10}" for i, strategy in enumerate(sorted(history["strategy"].astype(str).unique()))}
    figure, axes = _figure(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        panel = frame[frame["panel"] == dataset]
        for strategy, group in panel.groupby("strategy", sort=True):
            rows = group[group[metric].notna()] if metric in group else group.iloc[0:0]
            if rows.empty:
                continue
            color = colors[str(strategy)]
            ax.plot(rows["finished_at"], rows[metric], marker="o", color=color, label=strategy)
            low, high = f"{metric}_ci_low", f"{metric}_ci_high"
            if metric in QUALITY_METRICS and {low, high} <= set(rows.columns):
                errors = [(rows[metric] - rows[low]).clip(lower=0), (rows[high] - rows[metric]).clip(lower=0)]
                ax.errorbar(rows["finished_at"], rows[metric], yerr=errors, fmt="none", ecolor=color, capsize=3)
                if len(rows) > 1:
                    ax.fill_between(rows["finished_at"], rows[low], rows[high], color=color, alpha=0.15)
        times = panel["finished_at"].dropna().unique()
        if len(times) == 1:  # one run: a day either side, not an axis spanning microseconds
            middle = date2num(pd.Timestamp(times[0]).to_pydatetime())
            ax.set_xlim(middle - 1, middle + 1)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        if metric in LOG_SCALE_METRICS:
            _log_scale(ax, "y", panel[metric].dropna() if metric in panel else [])
        elif metric in QUALITY_METRICS:
            ax.set_ylim(-0.02, 1.02)
        chosen = series[dataset]
        ax.set_title(
            f"{TREND_METRICS[metric]} over time — {dataset}\nlatest configuration {chosen.config_hash[:8]} "
            f"(n = {chosen.n_items}, {chosen.runs} run{'s' if chosen.runs != 1 else ''})",
            fontsize="medium",
        )
        failed = f"\nnot plotted (answered nothing): {', '.join(chosen.failed)}" if chosen.failed else ""
        ax.set_xlabel(f"run finished (UTC){failed}")
        ax.set_ylabel(TREND_METRICS[metric])
        _legend(ax)
    return figure


def plot_pareto(leaderboard: pd.DataFrame, path: Path) -> Path:
    """F1 against cost per query (log scale), one panel per dataset (and suite, `panel_labels`); Pareto-optimal
    strategies highlighted and joined. Strategies without a positive cost or an F1 are listed, not plotted."""
    datasets = sorted(leaderboard["panel"].unique())
    figure, axes = _figure(len(datasets), height=4.5)
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = leaderboard[leaderboard["panel"] == dataset]
        plotted = rows[_priced(rows) & rows["f1"].notna() & _answered(rows)]
        costs, scores = plotted["cost_per_query_usd"].tolist(), plotted["f1"].tolist()
        front = pareto_front(costs, scores)
        errors = [
            (plotted["f1"] - plotted["f1_ci_low"]).clip(lower=0).tolist(),
            (plotted["f1_ci_high"] - plotted["f1"]).clip(lower=0).tolist(),
        ]
        ax.errorbar(costs, scores, yerr=errors, fmt="none", ecolor="0.75", capsize=3, zorder=1)
        dominated = [i for i in range(len(costs)) if i not in front]
        ax.scatter([costs[i] for i in dominated], [scores[i] for i in dominated], color="0.55", label="dominated")
        front_costs, front_scores = [costs[i] for i in front], [scores[i] for i in front]
        ax.plot(front_costs, front_scores, color="tab:red", marker="o", markersize=8, label="Pareto front", zorder=3)
        for cost, score, strategy in zip(costs, scores, plotted["strategy"], strict=True):
            ax.annotate(strategy, (cost, score), xytext=(5, 5), textcoords="offset points", fontsize="small")
        failed = sorted(set(rows.loc[~_answered(rows), "strategy"].astype(str)))
        omitted = sorted(set(rows["strategy"].astype(str)) - set(plotted["strategy"].astype(str)) - set(failed))
        note = f"\nnot plotted (no positive finite cost, or no F1): {', '.join(omitted)}" if omitted else ""
        note += f"\nnot plotted (answered nothing): {', '.join(failed)}" if failed else ""
        _log_scale(ax, "x", costs)
        ax.set_title(f"accuracy vs cost — {dataset}")
        ax.set_xlabel(f"cost per query (USD, log scale){note}")
        ax.set_ylabel("F1 (95% CI)")
        _legend(ax)
    return _save(figure, path)


def _priced(rows: pd.DataFrame) -> pd.Series:
    """Rows with a positive, finite cost per query: the only ones a log-scale cost axis can place."""
    costs = pd.to_numeric(rows["cost_per_query_usd"], errors="coerce")
    return (costs > 0) & np.isfinite(costs)


def _answered(rows: pd.DataFrame) -> pd.Series:
    """Rows whose strategy answered at least one item (n_ok > 0; rows without the column count as answered)."""
    return pd.to_numeric(rows.get("n_ok", pd.Series(1, index=rows.index)), errors="coerce").fillna(1) > 0


def plot_latency_distributions(latencies: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """Box plots of per-item total latency per strategy (log scale), one panel per dataset."""
    figure, axes = _figure(len(latencies))
    for ax, (dataset, by_strategy) in zip(axes, sorted(latencies.items()), strict=True):
        strategies = sorted(by_strategy)
        ax.boxplot([by_strategy[s] for s in strategies], tick_labels=strategies, showfliers=True)
        _log_scale(ax, "y", [seconds for values in by_strategy.values() for seconds in values])
        ax.set_title(f"per-item latency — {dataset} (n = {sum(map(len, by_strategy.values()))} answers)")
        ax.set_ylabel("answer() wall time (s, log scale)")
        ax.tick_params(axis="x", labelrotation=20)
    return _save(figure, path)


def plot_latency_percentiles(leaderboard: pd.DataFrame, path: Path) -> Path:
    """Grouped bars of latency p50/p95/p99 per strategy (log scale), one panel per dataset (and suite)."""
    datasets = sorted(leaderboard["panel"].unique())
    figure, axes = _figure(len(datasets))
    columns = {"latency_p50_s": "p50", "latency_p95_s": "p95", "latency_p99_s": "p99"}
    width = 0.8 / len(columns)
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = leaderboard[leaderboard["panel"] == dataset]
        positions = range(len(rows))
        for offset, (column, label) in enumerate(columns.items()):
            ax.bar([p + (offset - 1) * width for p in positions], rows[column], width, label=label)
        ax.set_xticks(list(positions), rows["strategy"].tolist(), rotation=20)
        _log_scale(ax, "y", rows[list(columns)].to_numpy().ravel())
        ax.set_title(f"latency percentiles — {dataset} (per-item results not on disk)")
        ax.set_ylabel("answer() wall time (s, log scale)")
        _legend(ax)
    return _save(figure, path)


def plot_cost_curves(measured: dict[str, list[MeasuredStrategy]], assumptions: CostAssumptions, path: Path) -> Path:
    """Monthly cost of ownership against monthly query volume (log-log), one line per strategy and one
    panel per dataset; break-even volumes marked. Strategies without a known cost are listed, not drawn."""
    figure, axes = _figure(len(measured), height=4.5)
    for ax, (dataset, strategies) in zip(axes, sorted(measured.items()), strict=True):
        known = [m for m in strategies if not math.isnan(m.cost_per_query_usd) and not math.isnan(m.setup_cost_usd)]
        crossings, _ = meaningful_break_evens(break_evens(known, assumptions))
        marks = [p.queries_per_month for p in crossings if p.queries_per_month is not None]
        low = min([1e2, *(q / 10 for q in marks)])
        high = max([1e7, *(q * 10 for q in marks)])
        volumes = np.logspace(math.log10(low), math.log10(high), 200)
        by_name = {m.strategy: m for m in known}
        for index, strategy in enumerate(known):
            totals = np.array([monthly_cost(strategy, assumptions, float(q)).total for q in volumes])
            visible = totals > 0
            ax.plot(volumes[visible], totals[visible], color=f"C{index % 10}", label=strategy.strategy)
        points = [
            (q, monthly_cost(by_name[p.a], assumptions, q).total)
            for p in crossings
            for q in [p.queries_per_month]
            if q is not None
        ]
        points = [(q, cost) for q, cost in points if cost > 0]
        if points:
            ax.scatter(
                [q for q, _ in points],
                [cost for _, cost in points],
                marker="o",
                facecolors="none",
                edgecolors="k",
                s=50,
                zorder=3,
                label="break-even",
            )
        ax.set_xscale("log")
        _log_scale(ax, "y", [monthly_cost(m, assumptions, float(high)).total for m in known])
        omitted = sorted({m.strategy for m in strategies} - set(by_name))
        note = f"\nnot drawn (cost unknown): {', '.join(omitted)}" if omitted else ""
        ax.set_title(f"monthly cost of ownership — {dataset}")
        ax.set_xlabel(f"queries per month (log scale){note}")
        ax.set_ylabel("USD per month (log scale)")
        _legend(ax)
    return _save(figure, path)


def _figure(panels: int, height: float = 3.8) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(9, height * panels), layout="constrained")
    return figure, list(figure.subplots(panels, 1, squeeze=False)[:, 0])


def _legend(ax: Axes) -> None:
    """The legend beside the panel, when anything was drawn with a label."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")


def _log_scale(ax: Axes, axis: Literal["x", "y"], values: Iterable[float]) -> None:
    """Log scale when some value is positive and finite (matplotlib refuses to log-scale none)."""
    if any(0 < value < math.inf for value in values):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=110, metadata={"Software": None})  # no version stamp: regenerating changes nothing
    return path


PLOTTED_COLUMNS = [
    *(f"{metric}{suffix}" for metric in ("f1", "exact_match") for suffix in ("", "_ci_low", "_ci_high")),
    "cost_per_query_usd",
    "setup_cost_usd",
    "setup_seconds",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
]
"""Columns the plots and tables read; NaN (not plotted, shown as —) where the leaderboard lacks them."""
TABLE_COLUMNS = [
    ("strategy", "strategy"),
    ("n_items", "n"),
    ("exact_match", "EM [95% CI]"),
    ("f1", "F1 [95% CI]"),
    ("answer_contains_gold", "contains gold [95% CI]"),
    ("faithfulness", "faithfulness [95% CI]"),
    ("faithful_but_wrong", "faithful but wrong [95% CI]"),
    ("latency_p50_s", "latency p50 (s)"),
    ("latency_p95_s", "latency p95 (s)"),
    ("cost_per_query_usd", "cost / query (USD)"),
    ("setup_cost_usd", "setup cost (USD)"),
]
PLOT_CAPTIONS = {
    "pareto": "Accuracy vs cost per query. Red: Pareto-optimal strategies (nothing else is both cheaper and "
    "more accurate); bars: 95% bootstrap CI of F1.",
    "latency": "Latency of each answer.",
    "cost_curves": "Monthly cost of ownership against query volume (log-log) with the default cost assumptions: "
    "setup amortised over 12 months, no knowledge updates, pay per use. Circles: break-even volumes.",
    **{
        f"trend_{metric}": f"{label[0].upper()}{label[1:]} of each strategy, run by run, over the runs of each "
        "dataset's latest configuration and test set only"
        + (" (bars and band: 95% CI)." if metric in QUALITY_METRICS else " (log scale).")
        for metric, label in TREND_METRICS.items()
    },
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; white-space: normal; }
.scroll { overflow-x: auto; } td:first-child, th:first-child, td.name { text-align: left; }
tr.pareto td.name { font-weight: bold; }
figure { margin: 1.5rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
.meta { color: #555; font-size: 0.9rem; } code { font-size: 0.85rem; }
"""


def render_html(groups: Mapping[str, pd.DataFrame], report: Report, sections: Sequence[str] = ()) -> str:
    """The self-contained page: provenance, the leaderboard per panel (`panel_labels`), `sections`
    (HTML), then every plot."""
    e = html.escape
    leaderboard = pd.concat(list(groups.values()))
    price_dates = ", ".join(sorted(leaderboard["price_table_date"].astype(str).unique()))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>rag-or-finetune report</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>rag-or-finetune: evaluation report</h1>",
        '<p class="meta">',
        f"Generated {e(report.generated_at.isoformat())} · price table dated {e(price_dates)} · run ids: ",
        ", ".join(f"<code>{e(run_id)}</code>" for run_id in report.run_ids),
        "</p>",
    ]
    if report.skipped_lines:
        skipped = ", ".join(f"<code>{e(run_id)}</code>: {count}" for run_id, count in report.skipped_lines.items())
        parts.append(f'<p class="meta">Unreadable lines of items.jsonl skipped (torn or invalid): {skipped}.</p>')
    for label, rows in groups.items():
        on_front = _pareto_strategies(rows)
        parts += [f"<h2>Leaderboard — {e(label)}</h2>", '<div class="scroll"><table>', "<thead><tr>"]
        parts += [f"<th>{e(label)}</th>" for column, label in TABLE_COLUMNS if column in rows.columns]
        parts += ["</tr></thead>", "<tbody>"]
        for record in rows.to_dict(orient="records"):
            strategy = str(record["strategy"])
            css = ' class="pareto"' if strategy in on_front else ""
            cells = [_cell(record, column) for column, _ in TABLE_COLUMNS if column in rows.columns]
            parts.append(f"<tr{css}>" + "".join(cells) + "</tr>")
        parts += ["</tbody></table></div>", '<p class="meta">Bold: on the accuracy-vs-cost Pareto front.</p>']
    parts += sections
    source = "per-item results of the runs above" if report.latency_source == "items" else "the leaderboard"
    parts.append("<h2>Plots</h2>")
    if report.trends:
        parts.append(
            '<p class="meta">Trend plots join only comparable runs (same suite configuration, test set and '
            "item count):</p><ul>" + "".join(f"<li>{e(text)}</li>" for text in report.trends.values()) + "</ul>"
        )
    for name, path in report.plots.items():
        caption = PLOT_CAPTIONS[name] + (f" Source: {source}." if name == "latency" else "")
        parts.append(
            f'<figure><img src="{e(path.name)}" alt="{e(name)}"><figcaption class="meta">{e(caption)}</figcaption>'
            "</figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _pareto_strategies(rows: pd.DataFrame) -> set[str]:
    plotted = rows[_priced(rows) & rows["f1"].notna() & _answered(rows)]
    front = pareto_front(plotted["cost_per_query_usd"].tolist(), plotted["f1"].tolist())
    return {str(plotted["strategy"].iloc[i]) for i in front}


def _cell(record: dict[str, Any], column: str) -> str:
    value = record[column]
    if column == "strategy":
        return f'<td class="name">{html.escape(str(value))}</td>'
    if column == "n_items":
        failed = int(record.get("n_errors", 0))
        return f"<td>{int(value)}{f' ({failed} failed)' if failed else ''}</td>"
    number = float(value)
    if math.isnan(number):
        return "<td>—</td>"
    if column in TABLE_METRICS:
        low, high = record.get(f"{column}_ci_low", math.nan), record.get(f"{column}_ci_high", math.nan)
        return f"<td>{number:.3f} [{low:.2f}, {high:.2f}]</td>"
    return f"<td>{number:.3g}</td>"


def _recommendation_html(dataset: str, found: Recommendation | str) -> str:
    """The recommendation for default constraints and its reasons."""
    e = html.escape
    head = f"<h2>Recommendation — {e(dataset)}</h2>"
    if isinstance(found, str):
        return head + f'<p class="meta">No recommendation: {e(found)}</p>'
    c = found.constraints
    assumptions = (
        f"Default constraints of <code>evals recommend</code>: {c.updates_per_month:g} knowledge updates/month, "
        f"{c.monthly_queries:,.0f} queries/month, latency target {c.latency_target_s:g} s for "
        f"{c.required_share:.0%} of answers, sources {'required' if c.need_sources else 'not required'}, "
        f"ties within {c.quality_tolerance:g} {e(c.metric)} broken by cost."
    )
    choice = f"<strong>{e(found.choice)}</strong>" if found.choice else "<strong>none</strong>"
    if found.contested:
        choice += " — <strong>contested</strong>: " + "; ".join(e(d.message) for d in found.disagreements)
    reasons = "".join(f"<li>{e(reason)}</li>" for reason in found.reasons)
    notes = "".join(f'<p class="meta">Note: {e(note)}</p>' for note in found.notes)
    return f'{head}<p>Recommended: {choice}</p><ul>{reasons}</ul><p class="meta">{assumptions}</p>{notes}'


def _break_even_html(dataset: str, pairs: Sequence[BreakEven]) -> str:
    """The break-even volumes marked on the cost curves; crossings at no workload's volume (below one query a
    month, or beyond any real traffic) are left out and listed with the reason."""
    e = html.escape
    shown, left_out = meaningful_break_evens(pairs)
    crossings = sorted(shown, key=lambda p: p.queries_per_month or 0)
    head = f"<h2>Break-even volumes — {e(dataset)}</h2>"
    omitted = "".join(f'<p class="meta">Left out: {e(reason)}.</p>' for reason in left_out)
    if not crossings:
        return head + '<p class="meta">No two strategies\' monthly costs cross at a real query volume.</p>' + omitted
    rows = "".join(
        f'<tr><td class="name">{e(p.a)} · {e(p.b)}</td><td>{p.queries_per_month:,.0f}</td>'
        f'<td class="name">{e(str(p.cheaper_below))}</td><td class="name">{e(str(p.cheaper_above))}</td></tr>'
        for p in crossings
    )
    return (
        f'{head}<div class="scroll"><table><thead><tr><th>strategies</th><th>queries / month</th>'
        f"<th>cheaper below</th><th>cheaper above</th></tr></thead><tbody>{rows}</tbody></table></div>"
        '<p class="meta">Default cost assumptions (setup amortised over 12 months, no updates, pay per use).</p>'
        + omitted
    )


def _freshness_html(result: FreshnessResult) -> str:
    """The knowledge-freshness table: each strategy stale and after its own update, changed vs unchanged facts."""
    e = html.escape
    unchanged = result.n_test - result.n_changed
    head = (
        f"<h2>Knowledge freshness — {e(result.before)} → {e(result.after)}</h2>"
        f'<p class="meta">Prepared on {e(result.before)}, then asked {result.n_test} questions of '
        f"{e(result.after)} ({result.n_changed} on changed facts, {unchanged} unchanged), scored against the "
        f"new answers: <em>stale</em> without any update, <em>updated</em> after the strategy's own update "
        f"(re-index, retrain or nothing). Update cost from the price table dated {e(result.price_table_date)}; "
        f"generated {e(result.generated_at.isoformat())}.</p>"
    )
    columns = [
        "strategy",
        "update path",
        "update time (s)",
        "update cost (USD)",
        "changed: F1 stale",
        "changed: F1 updated",
        "changed: EM stale → updated",
        "unchanged: F1 stale",
        "unchanged: F1 updated",
    ]
    rows = [
        [
            e(row.strategy),
            e(update_path_label(row.update_path, row.update_cached)),
            f"{row.update_seconds:.3g}",
            e(usd(row.update_cost_usd)),
            f"{row.stale.changed.f1:.3f}",
            f"{row.updated.changed.f1:.3f}",
            f"{row.stale.changed.exact_match:.3f} → {row.updated.changed.exact_match:.3f}",
            f"{row.stale.unchanged.f1:.3f}",
            f"{row.updated.unchanged.f1:.3f}",
        ]
        for row in result.strategies
    ]
    return head + _table_html("freshness", columns, rows, names=2)


def _robustness_html(result: RobustnessResult) -> str:
    """The misleading-sources table (`evals robustness`): how often a planted wrong document steers each
    strategy, whether it abstains when no document has the answer, and its accuracy as noise grows."""
    e = html.escape
    low_rate, high_rate = result.noise_rates[0], result.noise_rates[-1]
    head = (
        f"<h2>Misleading and noisy sources — {e(result.dataset)}</h2>"
        f'<p class="meta">{result.n_test} questions ({result.n_clusters} clusters), pools of {result.pool_size} '
        f"retrieved candidates: <em>misled</em> is the share of answers repeating a planted wrong value when a "
        f"counterfactual document is retrieved, <em>rejection</em> the share of abstentions when no document "
        f"has the answer, <em>accuracy</em> (contains gold) at noise rate {low_rate:g} and {high_rate:g}. "
        f"95% cluster-bootstrap CIs; generated {e(result.generated_at.isoformat())} "
        f"(<code>evals robustness</code>). <code>evals recommend --untrusted-sources</code> excludes strategies "
        "that read the corpus and are misled too often.</p>"
    )
    columns = [
        "strategy",
        "reads corpus",
        "misled",
        "rejection",
        f"accuracy at {low_rate:g}",
        f"accuracy at {high_rate:g}",
        "accuracy drop",
    ]
    rows = [
        [
            e(row.strategy),
            "yes" if row.reads_corpus else "no",
            row.counterfactual.misled_rate.text(),
            row.absent.rejection_rate.text(),
            row.noise[0].accuracy.text(),
            row.noise[-1].accuracy.text(),
            row.accuracy_drop.text(),
        ]
        for row in result.strategies
    ]
    return head + _table_html("robustness", columns, rows, names=2)


def _table_html(table_id: str, columns: Sequence[str], rows: Sequence[Sequence[str]], names: int) -> str:
    """A scrolling table with id `table_id` and that class on its rows; the first `names` cells of a row
    (HTML, already escaped) are left-aligned names, the rest numbers."""
    header = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = "".join(
        f'<tr class="{table_id}">'
        + "".join(f'<td class="name">{cell}</td>' if i < names else f"<td>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
