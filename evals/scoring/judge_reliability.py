"""Judge reliability: score an item several times and see whether the judge agrees with itself.

Repeats must reach the judge (disable its cache, e.g. `RagasJudge(use_cache=False)`). A score at or above
`THRESHOLD` is a positive verdict; an item *flips* when its repeats give both verdicts. Variance is the
population variance of the repeats; NaN scores (invalid judge replies) are left out of every figure.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel

THRESHOLD = 0.5


class JudgeReliability(BaseModel):
    """One item's repeated scores and how much they agree."""

    scores: list[float]
    n: int
    mean: float
    variance: float
    flipped: bool


class ReliabilityReport(BaseModel):
    """Agreement of the judge with itself over many items."""

    items: dict[str, JudgeReliability]
    flipping_items: list[str]
    flip_rate: float
    mean_variance: float


def summarize(scores: Sequence[float]) -> JudgeReliability:
    """Mean, variance and flip of repeated scores of one item."""
    valid = [score for score in scores if not math.isnan(score)]
    return JudgeReliability(
        scores=list(scores),
        n=len(scores),
        mean=statistics.fmean(valid) if valid else math.nan,
        variance=statistics.pvariance(valid) if valid else math.nan,
        flipped=len({score >= THRESHOLD for score in valid}) > 1,
    )


def judge_repeatedly(judge: Callable[[], float], n: int) -> JudgeReliability:
    """Call `judge` `n` times (n >= 1) and summarize its scores."""
    if n < 1:
        raise ValueError(f"judge_repeatedly needs n >= 1, got {n}")
    return summarize([judge() for _ in range(n)])


def reliability_report(scores_per_item: Mapping[str, Sequence[float]]) -> ReliabilityReport:
    """Per-item reliability, the ids of items whose verdict flipped, and the mean per-item variance."""
    items = {item_id: summarize(scores) for item_id, scores in scores_per_item.items()}
    variances = [item.variance for item in items.values() if not math.isnan(item.variance)]
    flipping = [item_id for item_id, item in items.items() if item.flipped]
    return ReliabilityReport(
        items=items,
        flipping_items=flipping,
        flip_rate=len(flipping) / len(items) if items else math.nan,
        mean_variance=statistics.fmean(variances) if variances else math.nan,
    )
