"""One item's value for one metric: the single rule every aggregate (leaderboard, compare, oracle,
recommend, report, freshness) applies.

- A **failed** item (no answer, or its scoring failed) counts **0**: to the user a failure is a wrong answer.
- An **answered** item whose scorers left the metric undefined (NaN or absent: e.g. faithfulness of an
  answer with no retrieved contexts) is **NaN**: it is left out of that metric's mean and n.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from evals.results.records import ItemResult


def metric_value(item: ItemResult, metric: str) -> float:
    """`item`'s value for `metric` under the rule above."""
    if item.status != "ok":
        return 0.0
    value = item.scores.get(metric)
    return math.nan if value is None else float(value)


def metric_values(items: Iterable[ItemResult], metric: str) -> np.ndarray:
    """`metric_value` of every item, in order, as a float array (NaN where undefined)."""
    return np.fromiter((metric_value(item, metric) for item in items), dtype=float)
