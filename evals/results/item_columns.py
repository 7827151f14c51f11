"""One strategy's items on one dataset as columns of numbers: what the leaderboard aggregates, without the
item results themselves.

An `ItemResult` carries its answer (text, contexts, metadata) and takes kilobytes in memory; aggregating a
100,000-item run by holding every one of them took hundreds of MB. `ColumnCollector` keeps, per item, its
question id, repeat and cluster, its status flags and the numbers the leaderboard reads (scores, latencies,
tokens, costs), one item at a time as items.jsonl streams past (`RunStore.iter_items`); `ItemColumns` is the
result, ordered by question.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evals.results.item_values import FloatArray, measured_values, question_codes, question_means
from evals.results.records import ItemResult

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ItemColumns:
    """One strategy's items on one dataset, one entry per item in every column, sorted by (item id, repeat).
    The answered-only columns (timings, tokens, costs) are NaN where an item has no answer."""

    item_ids: list[str]
    repeats: npt.NDArray[np.int64]
    clusters: list[str | None]
    ok: BoolArray
    """Status "ok": the item-metric rule's answered items."""
    answered: BoolArray
    """Status "ok" with an answer: what latency, tokens and cost are aggregated over."""
    cached: BoolArray
    scores: dict[str, FloatArray]
    """Metric → each item's score, NaN where it has none."""
    timings: dict[str, FloatArray]
    """Stage (and "total") → each answer's seconds, NaN where it has none."""
    input_tokens: FloatArray
    output_tokens: FloatArray
    cost_usd: FloatArray
    judge_cost_usd: FloatArray
    judged: BoolArray
    """The item has a judge cost (None: no judge was called)."""

    def __len__(self) -> int:
        return len(self.item_ids)

    def metric_values(self, metric: str) -> FloatArray:
        """Each item's value for a score metric (`evals.results.item_values`, rules 1 to 3)."""
        scores = self.scores.get(metric, np.full(len(self), math.nan))
        return measured_values(np.where(self.ok, scores, 0.0), self.ok)

    def item_means(self, metric: str) -> FloatArray:
        """One value per question, in order (rule 4)."""
        return question_means(self.metric_values(metric), question_codes(self.item_ids))

    def question_clusters(self) -> list[str | None]:
        """The cluster of each question (its first answer's), in the order of `item_means`."""
        first: dict[str, str | None] = {}
        for item_id, cluster in zip(self.item_ids, self.clusters, strict=True):
            first.setdefault(item_id, cluster)
        return list(first.values())

    def cluster_count(self) -> int:
        """Distinct clusters, a question without one counting as its own."""
        questions = dict.fromkeys(self.item_ids)
        clusters = self.question_clusters()
        return len({cluster or f"item:{question}" for question, cluster in zip(questions, clusters, strict=True)})


class ColumnCollector:
    """Builds `ItemColumns` one item result at a time, keeping only the numbers."""

    def __init__(self) -> None:
        self.item_ids: list[str] = []
        self.clusters: list[str | None] = []
        self.repeats = array("q")
        self.flags = {name: array("b") for name in ("ok", "answered", "cached", "judged")}
        self.numbers = {name: array("d") for name in ("input_tokens", "output_tokens", "cost_usd", "judge_cost_usd")}
        self.scores: dict[str, array[float]] = {}
        self.timings: dict[str, array[float]] = {}

    @property
    def metric_names(self) -> set[str]:
        """Every score metric some item has."""
        return set(self.scores)

    def add(self, item: ItemResult) -> None:
        answer = item.answer if item.status == "ok" else None
        _append(self.scores, item.scores, len(self.item_ids))
        _append(self.timings, answer.timings if answer is not None else {}, len(self.item_ids))  # answered: stages
        self.item_ids.append(item.item_id)
        self.clusters.append(item.cluster)
        self.repeats.append(item.repeat)
        flags = {
            "ok": item.status == "ok",
            "answered": answer is not None,
            "cached": item.cached,
            "judged": item.judge_cost_usd is not None,
        }
        for name, flag in flags.items():
            self.flags[name].append(flag)
        numbers = {
            "input_tokens": answer.usage.input_tokens if answer is not None else math.nan,
            "output_tokens": answer.usage.output_tokens if answer is not None else math.nan,
            "cost_usd": item.cost_usd if item.cost_usd is not None else math.nan,
            "judge_cost_usd": item.judge_cost_usd if item.judge_cost_usd is not None else math.nan,
        }
        for name, number in numbers.items():
            self.numbers[name].append(number)

    def columns(self) -> ItemColumns:
        """The columns so far, sorted by (item id, repeat) (stable: equal keys keep the order added)."""
        order = np.array(
            sorted(range(len(self.item_ids)), key=lambda index: (self.item_ids[index], self.repeats[index])),
            dtype=np.intp,
        )

        def floats(column: array[float]) -> FloatArray:
            return np.asarray(column, dtype=np.float64)[order]

        def flag(name: str) -> BoolArray:
            return np.asarray(self.flags[name], dtype=bool)[order]

        return ItemColumns(
            item_ids=[self.item_ids[index] for index in order],
            repeats=np.asarray(self.repeats, dtype=np.int64)[order],
            clusters=[self.clusters[index] for index in order],
            ok=flag("ok"),
            answered=flag("answered"),
            cached=flag("cached"),
            scores={name: floats(column) for name, column in self.scores.items()},
            timings={name: floats(column) for name, column in self.timings.items()},
            input_tokens=floats(self.numbers["input_tokens"]),
            output_tokens=floats(self.numbers["output_tokens"]),
            cost_usd=floats(self.numbers["cost_usd"]),
            judge_cost_usd=floats(self.numbers["judge_cost_usd"]),
            judged=flag("judged"),
        )


def _append(columns: dict[str, array[float]], values: Mapping[str, float], count: int) -> None:
    """One item's values appended to per-name columns holding `count` items so far; NaN where it has none,
    and a name seen for the first time gets NaN for the earlier items."""
    for name in values.keys() - columns.keys():
        columns[name] = array("d", [math.nan]) * count
    for name, column in columns.items():
        value = values.get(name)
        column.append(math.nan if value is None else value)
