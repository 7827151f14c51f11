"""One strategy's items on one dataset as columns of numbers: what the leaderboard aggregates, without the
item results themselves.

An `ItemResult` carries its answer (text, contexts, metadata) and takes kilobytes in memory; aggregating a
100,000-item run by holding every one of them took hundreds of MB. `ColumnCollector` keeps, per item, its
question id, repeat and cluster, its status flags and the numbers the leaderboard reads (scores, latencies,
tokens, costs), one item at a time as items.jsonl streams past (`RunStore.iter_items`); `ItemColumns` is the
result, ordered by question.

Clusters are kept as numbers: a question that is its own cluster (`item:<id>`, the default without gold
documents) as `OWN_CLUSTER`, any other cluster as an index into its distinct names. `ItemColumns.cluster_keys`
holds one integer per question that sorts as the cluster names do, so the statistics (`evals.stats.clustered`)
see the clusters in the same order, and draw the same bootstrap, as from the names. Question ids are turned into
numbers too, so their strings are released before the statistics run.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evals.results.item_values import FloatArray, measured_values, question_means
from evals.results.records import ItemResult

BoolArray = npt.NDArray[np.bool_]


OWN_CLUSTER = -1
"""The item's cluster is `item:<its id>`: the question is its own cluster."""
NO_CLUSTER = -2
"""The item has no cluster (results written before clusters were recorded): its own, sorted first."""
_OWN_PREFIX = "item:"


@dataclass(frozen=True)
class ItemColumns:
    """One strategy's items on one dataset, one entry per item in every column, sorted by (item id, repeat).
    The answered-only columns (timings, tokens, costs) are NaN where an item has no answer. Questions are
    numbered 0, 1, ... in id order; their ids themselves are not kept."""

    question_codes: npt.NDArray[np.intp]
    """Each item's question."""
    cluster_keys: npt.NDArray[np.int64]
    """One key per question, its cluster's: equal for one cluster, ordered as the cluster names are."""
    repeats: npt.NDArray[np.int64]
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
        return len(self.question_codes)

    def metric_values(self, metric: str) -> FloatArray:
        """Each item's value for a score metric (`evals.results.item_values`, rules 1 to 3)."""
        scores = self.scores.get(metric, np.full(len(self), math.nan))
        return measured_values(np.where(self.ok, scores, 0.0), self.ok)

    def item_means(self, metric: str) -> FloatArray:
        """One value per question, in order (rule 4)."""
        return question_means(self.metric_values(metric), self.question_codes)

    def cluster_count(self) -> int:
        """Distinct clusters, a question without one counting as its own."""
        return int(np.unique(self.cluster_keys).size)


def _question_codes(ids: npt.NDArray[np.object_]) -> npt.NDArray[np.intp]:
    """0, 1, ... per question of sorted ids."""
    starts = np.ones(len(ids), dtype=bool)
    starts[1:] = ids[1:] != ids[:-1]
    return np.cumsum(starts) - 1


def _cluster_keys(
    questions: npt.NDArray[np.object_], codes: npt.NDArray[np.int64], cluster_names: list[str]
) -> npt.NDArray[np.int64]:
    """Per question (sorted ids, each with its cluster code), a key ordered as its cluster's name is: a question
    without a cluster is its own, named "\\0<its index>" as `evals.stats.clustered.cluster_sums` names it."""
    names = sorted(cluster_names)
    own = questions[codes == OWN_CLUSTER]  # sorted, as questions are: so are their names, "item:<id>"
    rank_of_name = {name: rank + _count_below(own, name) for rank, name in enumerate(names)}
    keys = np.empty(len(codes), dtype=np.int64)
    named = codes >= 0
    keys[named] = [rank_of_name[cluster_names[code]] for code in codes[named]]
    keys[codes == OWN_CLUSTER] = np.fromiter(
        (rank + bisect.bisect_left(names, _OWN_PREFIX + question) for rank, question in enumerate(own)),
        dtype=np.int64,
        count=len(own),
    )
    unclustered = np.flatnonzero(codes == NO_CLUSTER)
    keys[codes != NO_CLUSTER] += len(unclustered)  # every name sorts after the unclustered "\0<index>"
    by_name = sorted(range(len(unclustered)), key=lambda i: f"\0{unclustered[i]}")
    keys[unclustered[by_name]] = np.arange(len(unclustered))
    return keys


def _count_below(own: npt.NDArray[np.object_], name: str) -> int:
    """How many of the questions `own` (sorted ids, each its own cluster "item:<id>") have a name below `name`."""
    if name.startswith(_OWN_PREFIX):
        return bisect.bisect_left(own, name[len(_OWN_PREFIX) :])
    return 0 if name < _OWN_PREFIX else len(own)


class ColumnCollector:
    """Builds `ItemColumns` one item result at a time, keeping only the numbers (and each item's id)."""

    def __init__(self) -> None:
        self.item_ids: list[str] = []
        self.repeats = array("q")
        self.cluster_codes = array("q")
        self.cluster_names: dict[str, int] = {}
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
        self.repeats.append(item.repeat)
        self.cluster_codes.append(self._cluster_code(item.cluster, item.item_id))
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

    def _cluster_code(self, cluster: str | None, item_id: str) -> int:
        if cluster is None:
            return NO_CLUSTER
        if cluster.startswith(_OWN_PREFIX) and cluster[len(_OWN_PREFIX) :] == item_id:
            return OWN_CLUSTER
        return self.cluster_names.setdefault(cluster, len(self.cluster_names))

    def columns(self) -> ItemColumns:
        """The columns, sorted by (item id, repeat) (stable: equal keys keep the order added). Called once: the
        collector gives each column up as it is sorted, so the two are never held in full at once."""
        ids = np.array(self.item_ids, dtype=object)
        self.item_ids = []
        order = np.argsort(np.frombuffer(self.repeats, dtype=np.int64), kind="stable")
        order = order[np.argsort(ids[order], kind="stable")]

        def sorted_column(column: array[Any], dtype: type) -> npt.NDArray[Any]:
            values: npt.NDArray[Any] = np.frombuffer(column, dtype=dtype)  # a view: the copy is the sorted one
            return values[order]

        def floats(columns: dict[str, array[float]]) -> dict[str, FloatArray]:
            return {name: sorted_column(columns.pop(name), np.float64) for name in list(columns)}

        def flag(name: str) -> BoolArray:
            return sorted_column(self.flags.pop(name), np.int8).astype(bool)

        ids = ids[order]
        question_codes = _question_codes(ids)
        first = np.flatnonzero(np.diff(question_codes, prepend=-1))  # each question's first answer
        cluster_codes = sorted_column(self.cluster_codes, np.int64)[first]
        cluster_keys = _cluster_keys(ids[first], cluster_codes, list(self.cluster_names))
        del ids  # the id strings are released here, before the statistics run
        numbers = floats(self.numbers)
        return ItemColumns(
            question_codes=question_codes,
            cluster_keys=cluster_keys,
            repeats=sorted_column(self.repeats, np.int64),
            ok=flag("ok"),
            answered=flag("answered"),
            cached=flag("cached"),
            scores=floats(self.scores),
            timings=floats(self.timings),
            input_tokens=numbers["input_tokens"],
            output_tokens=numbers["output_tokens"],
            cost_usd=numbers["cost_usd"],
            judge_cost_usd=numbers["judge_cost_usd"],
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
