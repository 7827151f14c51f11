"""An item's value for a score metric: the one rule every aggregate of item scores applies (the
leaderboard, compare, the oracle router, recommend and the report through them, freshness, and the
pytest plugin's per-item explanations).

The rule, for a score metric m (exact_match, f1, faithfulness, mrr, ...):

1. A **failed** item (status "error": no answer, or its scoring failed) counts **0** on m: to the user
   a failure is a wrong answer.
2. An **answered** item whose scorers left m undefined (NaN, written to items.jsonl as null, or absent:
   e.g. faithfulness of an answer with no retrieved contexts, retrieval metrics of a question without
   gold documents) is **NaN**: it is left out of m's mean and of its n. It never counts as 0.
3. Over one strategy's items on one dataset (`metric_values`): when some items were answered but none
   of them has m defined, the strategy does not measure m and every value is NaN, so its failures
   alone do not make a mean of 0. A strategy whose every item failed scores 0.
4. A question answered several times (a suite's `repeats`) is valued by the mean of its repeats'
   defined values (`item_means`): statistics treat the question, not the answer, as the unit.

m's mean is the mean of the defined values (`metric_mean`), NaN when there is none. Latency, tokens
and cost are not scores: they are aggregated over answered items only (`evals.results.leaderboard`).

Rules 3 and 4 are also given on arrays (`measured_values`, `question_means`), for aggregates that keep
columns of numbers rather than item results (`evals.results.item_columns`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from evals.results.records import ItemResult
from evals.stats.summary import defined_mean

FloatArray = npt.NDArray[np.float64]


def metric_value(item: ItemResult, metric: str) -> float:
    """`item`'s value for `metric` under rules 1 and 2: 0 when it failed, NaN when it was answered
    but `metric` is undefined for it, else its score."""
    if item.status != "ok":
        return 0.0
    value = item.scores.get(metric)
    return math.nan if value is None else float(value)


def metric_values(items: Iterable[ItemResult], metric: str) -> FloatArray:
    """`metric_value` of each of one strategy's items (on one dataset), in order, as a float array;
    all NaN when the strategy does not measure `metric` (rule 3)."""
    listed = list(items)
    values = np.fromiter((metric_value(item, metric) for item in listed), dtype=np.float64, count=len(listed))
    answered = np.fromiter((item.status == "ok" for item in listed), dtype=bool, count=len(listed))
    return measured_values(values, answered)


def measured_values(values: FloatArray, answered: npt.NDArray[np.bool_]) -> FloatArray:
    """Rule 3 on one strategy's values (rules 1 and 2 already applied) and which of its items were answered:
    all NaN when some were answered but none has the metric defined; else the values."""
    if answered.any() and np.isnan(values[answered]).all():
        return np.full_like(values, math.nan)
    return values


def item_means(items: Sequence[ItemResult], metric: str) -> FloatArray:
    """One value per question (in first-seen order): the mean of its repeats' `metric_values` that are
    defined, NaN when none is. Without repeats, the same as `metric_values`."""
    return question_means(metric_values(items, metric), question_codes(item.item_id for item in items))


def question_means(values: FloatArray, codes: npt.NDArray[np.intp]) -> FloatArray:
    """Rule 4: per question code (0, 1, ... in first-seen order), the mean of its defined values; NaN when
    none is."""
    defined = ~np.isnan(values)
    sums = np.bincount(codes, weights=np.where(defined, values, 0.0))
    counts = np.bincount(codes, weights=defined.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), math.nan)


def answers_by_question(items: Iterable[ItemResult]) -> dict[str, list[ItemResult]]:
    """Answers grouped per question id (first-seen order), each group in repeat order."""
    grouped: dict[str, list[ItemResult]] = {}
    for item in items:
        grouped.setdefault(item.item_id, []).append(item)
    return {question: sorted(answers, key=lambda item: item.repeat) for question, answers in grouped.items()}


def question_codes(item_ids: Iterable[str]) -> npt.NDArray[np.intp]:
    """Each answer's question as a code: 0, 1, ... in first-seen order (the order of `item_means`)."""
    order: dict[str, int] = {}
    return np.fromiter((order.setdefault(item_id, len(order)) for item_id in item_ids), dtype=np.intp)


def metric_mean(items: Iterable[ItemResult], metric: str) -> float:
    """Mean of `metric_values` over the items where it is defined; NaN when it is defined for none."""
    return defined_mean(metric_values(items, metric))
