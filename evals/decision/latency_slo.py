"""Latency targets: which share of a strategy's answers arrive within a target time.

From a run's items the share is exact (per-item `answer.timings["total"]`; a failed item never
meets the target). From a leaderboard only percentiles are known, so a strategy meets a target
when its latency at the smallest recorded percentile covering `required_share` (p50, p95, p99) is
within it, and the share is bounded instead of measured.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.decision.cost_model import MeasuredStrategy
from evals.results.records import ItemResult
from evals.stats.summary import percentiles


class LatencyCheck(BaseModel):
    """Whether one strategy meets a latency target, and the evidence."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    target_s: float
    required_share: float = Field(ge=0, le=1)
    source: Literal["items", "leaderboard"]
    meets: bool
    share_within: float | None = Field(default=None, description="measured share of answers within the target")
    share_at_least: float = Field(default=0.0, description="lower bound of that share (the share itself from items)")
    n_items: int | None = None
    p50_s: float | None = None
    p95_s: float | None = None

    def describe(self) -> str:
        """One line of evidence, e.g. "97% of answers within 1 s (p95 0.91 s)"."""
        p95 = f"p95 {self.p95_s:.2f} s" if self.p95_s is not None else "p95 unknown"
        if self.share_within is not None:
            return f"{self.share_within:.0%} of answers within {self.target_s:g} s ({p95})"
        if self.p50_s is None:
            return "latency not measured"
        if self.share_at_least > 0:
            return f"at least {self.share_at_least:.0%} of answers within {self.target_s:g} s ({p95})"
        return f"under half of answers within {self.target_s:g} s (p50 {self.p50_s:.2f} s)"


def latency_from_items(
    items: Iterable[ItemResult], target_s: float, required_share: float = 0.95
) -> dict[str, LatencyCheck]:
    """Per strategy: the share of items answered within `target_s` seconds."""
    totals: dict[str, list[float | None]] = defaultdict(list)
    for item in items:
        ok = item.status == "ok" and item.answer is not None and "total" in item.answer.timings
        totals[item.strategy].append(item.answer.timings["total"] if ok and item.answer else None)
    checks = {}
    for strategy, values in totals.items():
        measured = [value for value in values if value is not None]
        share = sum(value <= target_s for value in measured) / len(values)
        spread = percentiles(measured) if measured else None
        checks[strategy] = LatencyCheck(
            strategy=strategy,
            target_s=target_s,
            required_share=required_share,
            source="items",
            meets=share >= required_share,
            share_within=share,
            share_at_least=share,
            n_items=len(values),
            p50_s=spread.p50 if spread else None,
            p95_s=spread.p95 if spread else None,
        )
    return checks


def latency_from_leaderboard(
    strategies: Sequence[MeasuredStrategy], target_s: float, required_share: float = 0.95
) -> dict[str, LatencyCheck]:
    """Per strategy: whether its recorded percentiles put `required_share` of answers within `target_s`."""
    checks = {}
    for strategy in strategies:
        spread = {0.5: strategy.latency_p50_s, 0.95: strategy.latency_p95_s, 0.99: strategy.latency_p99_s}
        recorded = [(share, value) for share, value in spread.items() if value is not None]
        covering = [value for share, value in recorded if share >= required_share]
        at_least = max((share for share, value in recorded if value <= target_s), default=0.0)
        checks[strategy.strategy] = LatencyCheck(
            strategy=strategy.strategy,
            target_s=target_s,
            required_share=required_share,
            source="leaderboard",
            meets=bool(covering) and covering[0] <= target_s,
            share_at_least=at_least,
            n_items=strategy.n_items,
            p50_s=strategy.latency_p50_s,
            p95_s=strategy.latency_p95_s,
        )
    return checks
