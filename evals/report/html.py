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
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.decision.cost_model import BreakEven, CostAssumptions, MeasuredStrategy, break_evens, monthly_cost
from evals.decision.freshness import FRESHNESS_FILE, FreshnessResult, load_freshness, update_path_label
from evals.decision.recommend import (
    Constraints,
    Recommendation,
    load_items,
    load_strategies,
    read_runs,
    recommend_strategy,
    usd,
)
from evals.results.leaderboard import HISTORY_FILE, LEADERBOARD_FILE, read_table
from evals.results.run_store import ItemsReadout

QUALITY_METRICS = {"exact_match": "exact match", "f1": "F1", "faithfulness": "faithfulness"}
TREND_METRICS = {
    **QUALITY_METRICS,
    "latency_p95_s": "latency p95 (s)",
    "cost_per_query_usd": "cost per query (USD)",
}
LOG_SCALE_METRICS = {"latency_p95_s", "cost_per_query_usd"}
LatencySource = Literal["items", "leaderboard"]


class Report(BaseModel):
    """What `build_report` wrote: the page, its plots (name → PNG path) and what they show."""

    directory: Path
    index_html: Path
    plots: dict[str, Path]
    run_ids: list[str]
    generated_at: datetime
    latency_source: LatencySource
    freshness: Path | None = None
    recommendations: dict[str, str | None] = {}
    skipped_lines: dict[str, int] = {}
    """Per run id, the unreadable lines of its items.jsonl that were skipped (only runs with some)."""


def build_report(results_dir: Path, out: Path | None = None) -> Report:
    """Write `index.html` and its PNGs to `out` (default `<results_dir>/report`) and describe them."""
    leaderboard_path = results_dir / LEADERBOARD_FILE
    if not leaderboard_path.exists():
        raise EvalsError(f"{leaderboard_path}: no leaderboard to report on; run `evals run` first")
    leaderboard = read_table(leaderboard_path).sort_values(["dataset", "strategy"], ignore_index=True)
    if leaderboard.empty:
        raise EvalsError(f"{leaderboard_path}: the leaderboard has no rows; run `evals run` first")
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
    for metric in TREND_METRICS:
        if metric in history.columns and history[metric].notna().any():
            plots[f"trend_{metric}"] = plot_trend(history, metric, directory / f"trend_{metric}.png")
    assumptions = CostAssumptions()
    measured = {
        str(dataset): [MeasuredStrategy.from_row(row) for row in rows.to_dict(orient="records")]
        for dataset, rows in leaderboard.groupby("dataset", sort=True)
    }
    plots["cost_curves"] = plot_cost_curves(measured, assumptions, directory / "cost_curves.png")
    recommendations = {dataset: _recommend(results_dir, dataset, runs) for dataset in measured}
    freshness_path = results_dir / FRESHNESS_FILE
    freshness = load_freshness(freshness_path) if freshness_path.is_file() else None

    report = Report(
        directory=directory,
        index_html=directory / "index.html",
        plots=plots,
        run_ids=sorted(leaderboard["run_id"].astype(str).unique()),
        generated_at=datetime.now(UTC).replace(microsecond=0),
        latency_source="items" if latencies is not None else "leaderboard",
        freshness=freshness_path if freshness else None,
        recommendations={d: r.choice if isinstance(r, Recommendation) else None for d, r in recommendations.items()},
        skipped_lines={run_id: readout.skipped for run_id, readout in runs.items() if readout.skipped},
    )
    sections = [
        *(_recommendation_html(dataset, found) for dataset, found in recommendations.items()),
        *(_break_even_html(dataset, break_evens(rows, assumptions)) for dataset, rows in measured.items()),
        *([_freshness_html(freshness)] if freshness else []),
    ]
    report.index_html.write_text(render_html(leaderboard, report, sections), encoding="utf-8")
    return report


def _recommend(results_dir: Path, dataset: str, runs: Mapping[str, ItemsReadout]) -> Recommendation | str:
    """The recommendation for default constraints, or why there is none."""
    try:
        strategies = load_strategies(results_dir, dataset)
        run_items = load_items(results_dir, strategies, runs)
        return recommend_strategy(strategies, Constraints(), run_items.items, run_items.notes)
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
    """Per-item total latency (s) of answered items, dataset → strategy → values, from the runs (run id →
    their items, see `recommend.read_runs`) that produced the leaderboard rows; None unless every row
    has some."""
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
        latencies.setdefault(dataset, {})[strategy] = values
    return latencies


def plot_trend(history: pd.DataFrame, metric: str, path: Path) -> Path:
    """One line per strategy of `metric` against `finished_at`, one panel per dataset; quality metrics
    with their 95% CI as a band. A strategy keeps its colour in every trend plot."""
    frame = history.assign(finished_at=pd.to_datetime(history["finished_at"], utc=True)).sort_values("finished_at")
    datasets = sorted(frame["dataset"].unique())
    colors = {strategy: f"C{i % 10}" for i, strategy in enumerate(sorted(frame["strategy"].unique()))}
    figure, axes = _figure(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        for strategy, group in frame[frame["dataset"] == dataset].groupby("strategy", sort=True):
            rows = group[group[metric].notna()]
            if rows.empty:
                continue
            color = colors[str(strategy)]
            ax.plot(rows["finished_at"], rows[metric], marker="o", color=color, label=strategy)
            low, high = f"{metric}_ci_low", f"{metric}_ci_high"
            if metric in QUALITY_METRICS and {low, high} <= set(rows.columns):
                ax.fill_between(rows["finished_at"], rows[low], rows[high], color=color, alpha=0.15)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        if metric in LOG_SCALE_METRICS:
            _log_scale(ax, "y", frame.loc[frame["dataset"] == dataset, metric])
        ax.set_title(f"{TREND_METRICS[metric]} over time — {dataset}")
        ax.set_xlabel("run finished (UTC)")
        ax.set_ylabel(TREND_METRICS[metric])
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return _save(figure, path)


def plot_pareto(leaderboard: pd.DataFrame, path: Path) -> Path:
    """F1 against cost per query (log scale), one panel per dataset; Pareto-optimal strategies
    highlighted and joined. Strategies without a positive cost or an F1 are listed, not plotted."""
    datasets = sorted(leaderboard["dataset"].unique())
    figure, axes = _figure(len(datasets), height=4.5)
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = leaderboard[leaderboard["dataset"] == dataset]
        plotted = rows[(rows["cost_per_query_usd"] > 0) & rows["f1"].notna()]
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
        omitted = sorted(set(rows["strategy"]) - set(plotted["strategy"]))
        note = f"\nnot plotted (no positive cost or no F1): {', '.join(omitted)}" if omitted else ""
        _log_scale(ax, "x", costs)
        ax.set_title(f"accuracy vs cost — {dataset}")
        ax.set_xlabel(f"cost per query (USD, log scale){note}")
        ax.set_ylabel("F1 (95% CI)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return _save(figure, path)


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
    """Grouped bars of latency p50/p95/p99 per strategy (log scale), one panel per dataset."""
    datasets = sorted(leaderboard["dataset"].unique())
    figure, axes = _figure(len(datasets))
    columns = {"latency_p50_s": "p50", "latency_p95_s": "p95", "latency_p99_s": "p99"}
    width = 0.8 / len(columns)
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = leaderboard[leaderboard["dataset"] == dataset]
        positions = range(len(rows))
        for offset, (column, label) in enumerate(columns.items()):
            ax.bar([p + (offset - 1) * width for p in positions], rows[column], width, label=label)
        ax.set_xticks(list(positions), rows["strategy"].tolist(), rotation=20)
        _log_scale(ax, "y", rows[list(columns)].to_numpy().ravel())
        ax.set_title(f"latency percentiles — {dataset} (per-item results not on disk)")
        ax.set_ylabel("answer() wall time (s, log scale)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return _save(figure, path)


def plot_cost_curves(measured: dict[str, list[MeasuredStrategy]], assumptions: CostAssumptions, path: Path) -> Path:
    """Monthly cost of ownership against monthly query volume (log-log), one line per strategy and one
    panel per dataset; break-even volumes marked. Strategies without a known cost are listed, not drawn."""
    figure, axes = _figure(len(measured), height=4.5)
    for ax, (dataset, strategies) in zip(axes, sorted(measured.items()), strict=True):
        known = [m for m in strategies if not math.isnan(m.cost_per_query_usd) and not math.isnan(m.setup_cost_usd)]
        crossings = [p for p in break_evens(known, assumptions) if p.queries_per_month is not None]
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
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return _save(figure, path)


def _figure(panels: int, height: float = 3.8) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(9, height * panels), layout="constrained")
    return figure, list(figure.subplots(panels, 1, squeeze=False)[:, 0])


def _log_scale(ax: Axes, axis: Literal["x", "y"], values: Iterable[float]) -> None:
    """Log scale when some value is positive (matplotlib refuses to log-scale none)."""
    if any(value > 0 for value in values):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=110, metadata={"Software": None})  # no version stamp: regenerating changes nothing
    return path


TABLE_COLUMNS = [
    ("strategy", "strategy"),
    ("n_items", "n"),
    ("exact_match", "EM [95% CI]"),
    ("f1", "F1 [95% CI]"),
    ("faithfulness", "faithfulness [95% CI]"),
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
        f"trend_{metric}": f"{label[0].upper()}{label[1:]} of each strategy, run by run"
        + (" (band: 95% CI)." if metric in QUALITY_METRICS else " (log scale).")
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


def render_html(leaderboard: pd.DataFrame, report: Report, sections: Sequence[str] = ()) -> str:
    """The self-contained page: provenance, the leaderboard per dataset, `sections` (HTML), then every plot."""
    e = html.escape
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
    for dataset, rows in leaderboard.groupby("dataset", sort=True):
        on_front = _pareto_strategies(rows)
        parts += [f"<h2>Leaderboard — {e(str(dataset))}</h2>", '<div class="scroll"><table>', "<thead><tr>"]
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
    for name, path in report.plots.items():
        caption = PLOT_CAPTIONS[name] + (f" Source: {source}." if name == "latency" else "")
        parts.append(
            f'<figure><img src="{e(path.name)}" alt="{e(name)}"><figcaption class="meta">{e(caption)}</figcaption>'
            "</figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _pareto_strategies(rows: pd.DataFrame) -> set[str]:
    plotted = rows[(rows["cost_per_query_usd"] > 0) & rows["f1"].notna()]
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
    if column in QUALITY_METRICS:
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
    reasons = "".join(f"<li>{e(reason)}</li>" for reason in found.reasons)
    notes = "".join(f'<p class="meta">Note: {e(note)}</p>' for note in found.notes)
    return f'{head}<p>Recommended: {choice}</p><ul>{reasons}</ul><p class="meta">{assumptions}</p>{notes}'


def _break_even_html(dataset: str, pairs: Sequence[BreakEven]) -> str:
    """The break-even volumes marked on the cost curves."""
    e = html.escape
    crossings = sorted((p for p in pairs if p.queries_per_month is not None), key=lambda p: p.queries_per_month or 0)
    head = f"<h2>Break-even volumes — {e(dataset)}</h2>"
    if not crossings:
        return head + '<p class="meta">No two strategies\' monthly costs cross at a positive volume.</p>'
    rows = "".join(
        f'<tr><td class="name">{e(p.a)} · {e(p.b)}</td><td>{p.queries_per_month:,.0f}</td>'
        f'<td class="name">{e(str(p.cheaper_below))}</td><td class="name">{e(str(p.cheaper_above))}</td></tr>'
        for p in crossings
    )
    return (
        f'{head}<div class="scroll"><table><thead><tr><th>strategies</th><th>queries / month</th>'
        f"<th>cheaper below</th><th>cheaper above</th></tr></thead><tbody>{rows}</tbody></table></div>"
        '<p class="meta">Default cost assumptions (setup amortised over 12 months, no updates, pay per use).</p>'
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
    rows = []
    for row in result.strategies:
        kind = update_path_label(row.update_path, row.update_cached)
        cells = [
            f'<td class="name">{e(row.strategy)}</td>',
            f'<td class="name">{e(kind)}</td>',
            f"<td>{row.update_seconds:.3g}</td>",
            f"<td>{e(usd(row.update_cost_usd))}</td>",
            f"<td>{row.stale.changed.f1:.3f}</td>",
            f"<td>{row.updated.changed.f1:.3f}</td>",
            f"<td>{row.stale.changed.exact_match:.3f} → {row.updated.changed.exact_match:.3f}</td>",
            f"<td>{row.stale.unchanged.f1:.3f}</td>",
            f"<td>{row.updated.unchanged.f1:.3f}</td>",
        ]
        rows.append('<tr class="freshness">' + "".join(cells) + "</tr>")
    header = "".join(f"<th>{e(column)}</th>" for column in columns)
    return (
        f'{head}<div class="scroll"><table id="freshness"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
