"""What each page shows, gathered from the results folder into plain models the templates render:
the leaderboard, the runs, one run's item table, one item, the trends. (Diffs: `evals.view.diff`.)"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel

from evals.core.types import RetrievedContext
from evals.results.leaderboard import (
    CI_SUFFIXES,
    IDENTITY_COLUMNS,
    PROVENANCE_COLUMNS,
    STATISTIC_SUFFIXES,
    panel_labels,
)
from evals.results.records import ItemResult, RunManifest
from evals.view.charts import Chart, Point, Series, line_chart
from evals.view.item_index import (
    MAIN_METRICS,
    GroupSummary,
    IndexedItem,
    IndexState,
    ItemFilter,
    ItemPage,
    Question,
    order_metrics,
)
from evals.view.results_folder import NotFound, ResultsFolder, RunListing

DEFAULT_COLUMNS = (
    "exact_match",
    "f1",
    "answer_contains_gold",
    "faithfulness",
    "latency_p95_s",
    "cost_per_query_usd",
    "setup_cost_usd",
)
LABELS = {
    "exact_match": "EM",
    "f1": "F1",
    "latency_p50_s": "p50 latency",
    "latency_p95_s": "p95 latency",
    "latency_p99_s": "p99 latency",
    "latency_mean_s": "mean latency",
    "cost_per_query_usd": "$/query",
    "setup_cost_usd": "setup $",
    "judge_cost_per_query_usd": "judge $/query",
}
TREND_EXTRA = ("latency_p95_s", "cost_per_query_usd")
RUN_TABLE_METRICS = 3
"""How many metrics the run table shows (the main ones, plus a filtered-on metric)."""


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def kind(metric: str) -> str:
    """How a metric is formatted: quality (0-1, 3 decimals), seconds, usd or general."""
    if metric.endswith("_usd"):
        return "usd"
    if metric.startswith("latency_") or metric.endswith("_seconds"):
        return "seconds"
    return "general"


# --- leaderboard -------------------------------------------------------------------------------------


class Column(BaseModel):
    name: str
    label: str
    kind: str
    has_ci: bool
    shown: bool


class Cell(BaseModel):
    value: float | None
    low: float | None = None
    high: float | None = None


class BoardRow(BaseModel):
    dataset: str
    strategy: str
    strategy_type: str
    n_items: int | None
    n_errors: int | None
    run_id: str
    run_known: bool
    finished_at: str
    cells: dict[str, Cell]


class Leaderboard(BaseModel):
    columns: list[Column]
    datasets: dict[str, list[BoardRow]]
    runs: list[RunListing]
    note: str | None = None


def leaderboard_page(folder: ResultsFolder, chosen: Sequence[str] = ()) -> Leaderboard:
    """One table per dataset (and suite, where a dataset has rows of several: `panel_labels`); `chosen` metric
    columns shown (default: the main ones present)."""
    runs = folder.runs()
    frame = folder.leaderboard()
    if frame is None or frame.empty:
        note = f"no leaderboard in {folder.results_dir}: run `evals run` first"
        return Leaderboard(columns=[], datasets={}, runs=runs, note=note)
    metrics = _metric_columns(frame)
    shown = [m for m in chosen if m in metrics] or [m for m in DEFAULT_COLUMNS if m in metrics] or metrics[:5]
    columns = [
        Column(
            name=name,
            label=label(name),
            kind="quality" if _has_ci(frame, name) else kind(name),
            has_ci=_has_ci(frame, name),
            shown=name in shown,
        )
        for name in metrics
    ]
    known = {listing.run_id for listing in runs}
    datasets: dict[str, list[BoardRow]] = {}
    frame = frame.assign(panel=panel_labels(frame))
    for record in frame.sort_values(["dataset", "panel", "strategy"]).to_dict(orient="records"):
        cells = {
            column.name: Cell(
                value=_float(record.get(column.name)),
                low=_float(record.get(f"{column.name}_ci_low")) if column.has_ci else None,
                high=_float(record.get(f"{column.name}_ci_high")) if column.has_ci else None,
            )
            for column in columns
        }
        datasets.setdefault(str(record["panel"]), []).append(
            BoardRow(
                dataset=str(record["dataset"]),
                strategy=str(record["strategy"]),
                strategy_type=str(record.get("strategy_type", "")),
                n_items=_int(record.get("n_items")),
                n_errors=_int(record.get("n_errors")),
                run_id=str(record["run_id"]),
                run_known=str(record["run_id"]) in known,
                finished_at=str(record.get("finished_at", "")),
                cells=cells,
            )
        )
    return Leaderboard(columns=columns, datasets=datasets, runs=runs)


def _metric_columns(frame: pd.DataFrame) -> list[str]:
    fixed = set(IDENTITY_COLUMNS) | set(PROVENANCE_COLUMNS)
    names = [
        column
        for column in frame.columns
        if column not in fixed
        and not column.endswith(STATISTIC_SUFFIXES)
        and pd.api.types.is_numeric_dtype(frame[column])
        and frame[column].notna().any()
    ]
    quality = [name for name in names if _has_ci(frame, name)]
    return order_metrics(quality) + [name for name in names if name not in quality]


def _has_ci(frame: pd.DataFrame, name: str) -> bool:
    return all(f"{name}{suffix}" in frame.columns for suffix in CI_SUFFIXES)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


# --- one run -----------------------------------------------------------------------------------------


class StrategyPair(BaseModel):
    dataset: str
    old: str
    new: str


class RunPage(BaseModel):
    run_id: str
    manifest: RunManifest
    state: IndexState
    summary: list[GroupSummary]
    summary_metrics: list[str]
    facets: dict[str, list[str]]
    metrics: list[str]
    shown_metrics: list[str]
    wanted: ItemFilter
    page: ItemPage
    other_runs: list[str]
    pairs: list[StrategyPair]


def run_page(folder: ResultsFolder, run_id: str, wanted: ItemFilter) -> RunPage:
    manifest = folder.manifest(run_id)
    index = folder.index(run_id)
    metrics = index.metrics()
    main = [name for name in metrics if name in MAIN_METRICS][:RUN_TABLE_METRICS] or metrics[:RUN_TABLE_METRICS]
    shown = main + ([wanted.metric] if wanted.metric in metrics and wanted.metric not in main else [])
    summary = index.summary(main)
    by_dataset: dict[str, list[str]] = {}
    for group in summary:
        by_dataset.setdefault(group.dataset, []).append(group.strategy)
    pairs = [
        StrategyPair(dataset=dataset, old=old, new=new)
        for dataset, strategies in by_dataset.items()
        for i, old in enumerate(strategies)
        for new in strategies[i + 1 :]
    ]
    return RunPage(
        run_id=run_id,
        manifest=manifest,
        state=index.state(),
        summary=summary,
        summary_metrics=main,
        facets=index.facets(),
        metrics=metrics,
        shown_metrics=shown,
        wanted=wanted,
        page=index.query(wanted, shown),
        other_runs=[other for other in folder.run_ids() if other != run_id],
        pairs=pairs,
    )


# --- one item ----------------------------------------------------------------------------------------


class ContextView(BaseModel):
    rank: int
    doc_id: str
    text: str
    score: float | None
    gold: bool
    cited: bool


class MetricRow(BaseModel):
    """A metric of the item: as aggregates count it (item-metric rule) and as its scorer recorded it."""

    name: str
    counted: float | None
    recorded: float | None


class ItemPageView(BaseModel):
    run_id: str
    line: int
    record: ItemResult
    question: Question | None
    questions_note: str
    contexts: list[ContextView]
    metric_rows: list[MetricRow]
    metadata: list[tuple[str, str]]
    same_item: list[IndexedItem]
    same_metrics: list[str]


def item_page(folder: ResultsFolder, run_id: str, line: int) -> ItemPageView:
    index = folder.index(run_id)
    record = index.record(line)
    if record is None:
        raise NotFound(f"run {run_id} has no item on line {line}")
    question = index.question(record.dataset, record.item_id)
    answer = record.answer
    gold = set(question.gold_doc_ids) if question else set()
    cited = set(answer.metadata.get("cited_doc_ids") or []) if answer else set()
    contexts = [
        _context(rank, context, gold, cited) for rank, context in enumerate(answer.contexts if answer else [], 1)
    ]
    counted = index.values(line)
    metrics = list(counted)
    rows = [MetricRow(name=name, counted=counted[name], recorded=_float(record.scores.get(name))) for name in metrics]
    metadata = [(key, _text(value)) for key, value in sorted(answer.metadata.items())] if answer else []
    same_metrics = metrics[:RUN_TABLE_METRICS]
    return ItemPageView(
        run_id=run_id,
        line=line,
        record=record,
        question=question,
        questions_note=index.state().questions,
        contexts=contexts,
        metric_rows=rows,
        metadata=metadata,
        same_item=index.same_item(record.dataset, record.item_id, same_metrics),
        same_metrics=same_metrics,
    )


def _context(rank: int, context: RetrievedContext, gold: set[str], cited: set[str]) -> ContextView:
    return ContextView(
        rank=rank,
        doc_id=context.doc_id,
        text=context.text,
        score=context.score,
        gold=context.doc_id in gold,
        cited=context.doc_id in cited,
    )


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


# --- trends ------------------------------------------------------------------------------------------


class TrendChart(BaseModel):
    metric: str
    label: str
    dataset: str
    chart: Chart
    runs: list[str]
    table: list[tuple[str, str, str, float | None, float | None, float | None]]


class Trends(BaseModel):
    metrics: list[str]
    chosen: str | None
    charts: list[TrendChart]
    note: str | None = None


def trends_page(folder: ResultsFolder, chosen: str | None = None) -> Trends:
    """Every quality metric with CIs, latency p95 and cost per query over history.csv, per dataset."""
    history = folder.history()
    if history is None or history.empty:
        return Trends(metrics=[], chosen=None, charts=[], note=f"no history.csv in {folder.results_dir}")
    names = _metric_columns(history)
    metrics = [n for n in names if _has_ci(history, n)] + [n for n in TREND_EXTRA if n in names]
    default = next((m for m in ("f1", "exact_match") if m in metrics), metrics[0] if metrics else None)
    charts = []
    for dataset, rows in history.groupby("dataset", sort=True):
        order = rows.drop_duplicates("run_id").sort_values(["finished_at", "run_id"])["run_id"].astype(str).tolist()
        position = {run_id: i for i, run_id in enumerate(order)}
        dates = rows.drop_duplicates("run_id").set_index("run_id")["finished_at"].astype(str).to_dict()
        for metric in metrics:
            series, table = [], []
            for strategy, strategy_rows in rows.groupby("strategy", sort=True):
                points = []
                for record in strategy_rows.to_dict(orient="records"):
                    value = _float(record.get(metric))
                    if value is None:
                        continue
                    low = _float(record.get(f"{metric}_ci_low"))
                    high = _float(record.get(f"{metric}_ci_high"))
                    run_id = str(record["run_id"])
                    points.append(
                        Point(
                            x=position[run_id],
                            value=value,
                            low=math.nan if low is None else low,
                            high=math.nan if high is None else high,
                            label=dates.get(run_id, run_id)[:16],
                        )
                    )
                    table.append((str(strategy), run_id, dates.get(run_id, ""), value, low, high))
                if points:
                    series.append(Series(name=str(strategy), points=sorted(points, key=lambda p: p.x)))
            chart = line_chart(series, [dates.get(run_id, run_id)[:10] for run_id in order])
            if chart is not None:
                charts.append(
                    TrendChart(
                        metric=metric, label=label(metric), dataset=str(dataset), chart=chart, runs=order, table=table
                    )
                )
    return Trends(metrics=metrics, chosen=chosen if chosen in metrics else default, charts=charts)
