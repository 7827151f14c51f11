"""Diffs for the viewer: two runs, or two strategies of one run, with the paired statistics of
`evals.results.compare` (the same numbers `evals compare` prints) and the items that flipped.

An item *flipped* when its value of the chosen metric (`metric_values`: a failed item counts 0) is
at least `threshold` on one side and below it on the other; items with the metric undefined on
either side are not counted. Two strategies of one run are compared by giving both the same label,
so `compare_sides` pairs their items by (dataset, item id) exactly as it pairs two runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.results.compare import ComparisonReport, Side, Thresholds, compare_sides, load_side
from evals.results.item_values import metric_values
from evals.results.leaderboard import build_rows
from evals.results.records import ItemKey, ItemResult
from evals.view.item_index import ItemIndex, Question, order_metrics
from evals.view.results_folder import NotFound, ResultsFolder

MAX_FLIPS_SHOWN = 200
DEFAULT_THRESHOLD = 0.5


class FlippedItem(BaseModel):
    """One item that is right on one side and wrong on the other, both answers side by side."""

    dataset: str
    item_id: str
    old_strategy: str
    new_strategy: str
    old_value: float
    new_value: float
    old_answer: str
    new_answer: str
    old_error: str | None
    new_error: str | None
    old_line: int | None
    new_line: int | None
    question: Question | None


class Diff(BaseModel):
    """A comparison and its flipped items (`worse`: right → wrong, `better`: wrong → right)."""

    title: str
    old_run: str
    new_run: str
    old_label: str
    new_label: str
    dataset: str | None = None
    report: ComparisonReport
    metric: str | None
    metrics: list[str]
    threshold: float
    worse: list[FlippedItem]
    better: list[FlippedItem]
    n_worse: int
    n_better: int
    n_paired: int


def run_diff(folder: ResultsFolder, old_run: str, new_run: str, metric: str | None, threshold: float | None) -> Diff:
    """OLD run against NEW run, every dataset × strategy they share."""
    old = _load(folder, old_run)
    new = _load(folder, new_run)
    report = compare_sides(old, new, Thresholds())
    pairs = _pairs(old.items or [], new.items or [], by_strategy=True)
    return _diff(
        folder,
        title=f"{old_run} → {new_run}",
        runs=(old_run, new_run),
        labels=(old_run, new_run),
        dataset=None,
        report=report,
        pairs=pairs,
        metric=metric,
        threshold=threshold,
    )


def strategy_diff(
    folder: ResultsFolder, run_id: str, dataset: str, old: str, new: str, metric: str | None, threshold: float | None
) -> Diff:
    """Strategy `old` against strategy `new` on one dataset of one run, paired by item id."""
    side = _load(folder, run_id)
    items = side.items or []
    present = {(item.dataset, item.strategy) for item in items}
    for strategy in (old, new):
        if (dataset, strategy) not in present:
            raise NotFound(f"run {run_id} has no {strategy!r} on {dataset!r}")
    label = f"{old} vs {new}"
    report = compare_sides(_relabelled(side, dataset, old, label), _relabelled(side, dataset, new, label), Thresholds())
    report = report.model_copy(update={"old": f"{run_id} · {old}", "new": f"{run_id} · {new}"})
    chosen = [item for item in items if item.dataset == dataset]
    pairs = _pairs(
        [item for item in chosen if item.strategy == old],
        [item for item in chosen if item.strategy == new],
        by_strategy=False,
    )
    return _diff(
        folder,
        title=f"{old} → {new} on {dataset}",
        runs=(run_id, run_id),
        labels=(old, new),
        dataset=dataset,
        report=report,
        pairs=pairs,
        metric=metric,
        threshold=threshold,
    )


def _load(folder: ResultsFolder, run_id: str) -> Side:
    store = folder.store(run_id)  # NotFound for anything but a listed run
    try:
        return load_side(str(store.directory), folder.results_dir)
    except EvalsError as error:
        raise NotFound(str(error)) from None


def _relabelled(side: Side, dataset: str, strategy: str, label: str) -> Side:
    """`side` reduced to one dataset × strategy, renamed `label` (items, setup and leaderboard row)."""
    assert side.manifest is not None and side.items is not None
    items = [
        item.model_copy(update={"strategy": label})
        for item in side.items
        if item.dataset == dataset and item.strategy == strategy
    ]
    setups = [
        setup.model_copy(update={"strategy": label})
        for setup in side.manifest.setups
        if setup.dataset == dataset and setup.strategy == strategy
    ]
    manifest = side.manifest.model_copy(update={"setups": setups})
    rows = {
        (row.dataset, row.strategy): {
            "metrics": row.metrics,
            "fingerprint": row.dataset_fingerprint,
            "strategy_type": row.strategy_type,
            "n_items": row.n_items,
        }
        for row in build_rows(manifest, items, seed=manifest.seed)
    }
    return Side.model_validate(
        {"label": f"{side.label} · {strategy}", "rows": rows, "manifest": manifest, "items": items}
    )


def _pairs(
    old: Sequence[ItemResult], new: Sequence[ItemResult], by_strategy: bool
) -> list[tuple[ItemResult, ItemResult]]:
    """Items present on both sides, keyed by (dataset, strategy, item) or (dataset, item)."""

    def key(item: ItemResult) -> tuple[str | int, ...]:
        return item.key if by_strategy else (item.dataset, item.item_id)

    old_by_key: dict[tuple[str | int, ...], ItemResult] = {}
    for item in old:
        old_by_key.setdefault(key(item), item)
    paired: dict[tuple[str | int, ...], tuple[ItemResult, ItemResult]] = {}
    for item in new:
        if key(item) in old_by_key:
            paired.setdefault(key(item), (old_by_key[key(item)], item))
    return [paired[k] for k in sorted(paired)]


def _diff(
    folder: ResultsFolder,
    title: str,
    runs: tuple[str, str],
    labels: tuple[str, str],
    dataset: str | None,
    report: ComparisonReport,
    pairs: Sequence[tuple[ItemResult, ItemResult]],
    metric: str | None,
    threshold: float | None,
) -> Diff:
    metrics = order_metrics({name for pair in pairs for item in pair for name in item.scores})
    chosen = metric if metric in metrics else (metrics[0] if metrics else None)
    cut = DEFAULT_THRESHOLD if threshold is None or math.isnan(threshold) else threshold
    worse: list[tuple[ItemResult, ItemResult, float, float]] = []
    better: list[tuple[ItemResult, ItemResult, float, float]] = []
    if chosen is not None:
        old_values = _values([old for old, _ in pairs], chosen)
        new_values = _values([new for _, new in pairs], chosen)
        for old, new in pairs:
            a, b = old_values[old.key], new_values[new.key]
            if math.isnan(a) or math.isnan(b):
                continue
            if a >= cut > b:
                worse.append((old, new, a, b))
            elif b >= cut > a:
                better.append((old, new, a, b))
    indexes = {run_id: folder.index(run_id) for run_id in set(runs)}
    old_index, new_index = indexes[runs[0]], indexes[runs[1]]
    return Diff(
        title=title,
        old_run=runs[0],
        new_run=runs[1],
        old_label=labels[0],
        new_label=labels[1],
        dataset=dataset,
        report=report,
        metric=chosen,
        metrics=metrics,
        threshold=cut,
        worse=[_flipped(old_index, new_index, *flip) for flip in worse[:MAX_FLIPS_SHOWN]],
        better=[_flipped(old_index, new_index, *flip) for flip in better[:MAX_FLIPS_SHOWN]],
        n_worse=len(worse),
        n_better=len(better),
        n_paired=len(pairs),
    )


def _values(items: Sequence[ItemResult], metric: str) -> dict[ItemKey, float]:
    """Each item's value under the item-metric rule, applied per dataset × strategy as aggregates do."""
    groups: dict[tuple[str, str], list[ItemResult]] = {}
    for item in items:
        groups.setdefault((item.dataset, item.strategy), []).append(item)
    return {
        item.key: float(value)
        for group in groups.values()
        for item, value in zip(group, metric_values(group, metric), strict=True)
    }


def _flipped(
    old_index: ItemIndex, new_index: ItemIndex, old: ItemResult, new: ItemResult, a: float, b: float
) -> FlippedItem:
    return FlippedItem(
        dataset=old.dataset,
        item_id=old.item_id,
        old_strategy=old.strategy,
        new_strategy=new.strategy,
        old_value=a,
        new_value=b,
        old_answer=old.answer.text if old.answer else "",
        new_answer=new.answer.text if new.answer else "",
        old_error=f"{old.error.type}: {old.error.message}" if old.error else None,
        new_error=f"{new.error.type}: {new.error.message}" if new.error else None,
        old_line=old_index.line_of(old.dataset, old.strategy, old.item_id),
        new_line=new_index.line_of(new.dataset, new.strategy, new.item_id),
        question=old_index.question(old.dataset, old.item_id) or new_index.question(new.dataset, new.item_id),
    )
