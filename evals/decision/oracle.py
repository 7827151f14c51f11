"""The oracle router: for every item, the strategy that scored best (ties go to the cheapest answer).

It bounds what any router over the same strategies could reach. Compared with the hybrid's recorded
routes (`answer.metadata["route"]`) it gives the hybrid's regret (oracle quality − hybrid quality)
and, against always answering with RAG, what routing saved.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.results.records import ItemResult


class OracleReport(BaseModel):
    """Oracle router vs the hybrid's routes on the items every compared strategy answered."""

    dataset: str
    metric: str
    hybrid: str
    rag: str | None
    candidates: list[str]
    n_items: int
    oracle_quality: float
    hybrid_quality: float
    regret: float
    oracle_choices: dict[str, int]
    hybrid_routes: dict[str, int]
    hybrid_quality_by_route: dict[str, float]
    oracle_cost_usd: float
    hybrid_cost_usd: float
    rag_cost_usd: float | None
    cost_saved_vs_rag_usd: float | None


def _score(item: ItemResult, metric: str) -> float:
    """An item's score; a failed or unscored item counts 0, as on the leaderboard."""
    value = item.scores.get(metric) if item.status == "ok" else None
    return 0.0 if value is None or math.isnan(value) else value


def _cost(item: ItemResult) -> float:
    return math.inf if item.cost_usd is None or math.isnan(item.cost_usd) else item.cost_usd


def _total_cost(items: Iterable[ItemResult]) -> float:
    return sum(0.0 if item.cost_usd is None else item.cost_usd for item in items)


def oracle_report(
    items: Iterable[ItemResult],
    hybrid: str = "hybrid",
    rag: str | None = "rag",
    metric: str = "f1",
    candidates: Sequence[str] | None = None,
) -> OracleReport:
    """Compare the oracle over `candidates` (default: every strategy but the hybrid) with the hybrid.

    Items of one dataset only; only items answered (or failed) by all compared strategies count.
    """
    by_strategy: dict[str, dict[str, ItemResult]] = defaultdict(dict)
    datasets = set()
    for item in items:
        by_strategy[item.strategy][item.item_id] = item
        datasets.add(item.dataset)
    if len(datasets) != 1:
        raise EvalsError(f"the oracle compares items of one dataset, got {sorted(datasets) or 'none'}")
    if hybrid not in by_strategy:
        raise EvalsError(f"no items of the hybrid strategy {hybrid!r}; strategies: {', '.join(sorted(by_strategy))}")
    names = list(candidates) if candidates is not None else sorted(set(by_strategy) - {hybrid})
    unknown = [name for name in names if name not in by_strategy]
    if unknown or not names:
        raise EvalsError(f"no items of candidate strategies {unknown or names}")
    rag = rag if rag in by_strategy else None
    compared = [hybrid, *names, *([rag] if rag else [])]
    ids = sorted(set.intersection(*(set(by_strategy[name]) for name in compared)))
    if not ids:
        raise EvalsError(f"no item was answered by all of {', '.join(compared)}")
    picks = [
        min((by_strategy[name][item_id] for name in names), key=lambda item: (-_score(item, metric), _cost(item)))
        for item_id in ids
    ]
    hybrid_items = [by_strategy[hybrid][item_id] for item_id in ids]
    routes: dict[str, list[float]] = defaultdict(list)
    for item in hybrid_items:
        route = item.answer.metadata.get("route", "unknown") if item.answer else "failed"
        routes[str(route)].append(_score(item, metric))
    oracle_quality = sum(_score(item, metric) for item in picks) / len(ids)
    hybrid_quality = sum(_score(item, metric) for item in hybrid_items) / len(ids)
    hybrid_cost = _total_cost(hybrid_items)
    rag_cost = _total_cost(by_strategy[rag][item_id] for item_id in ids) if rag else None
    return OracleReport(
        dataset=datasets.pop(),
        metric=metric,
        hybrid=hybrid,
        rag=rag,
        candidates=names,
        n_items=len(ids),
        oracle_quality=oracle_quality,
        hybrid_quality=hybrid_quality,
        regret=oracle_quality - hybrid_quality,
        oracle_choices=dict(Counter(item.strategy for item in picks).most_common()),
        hybrid_routes={route: len(scores) for route, scores in sorted(routes.items())},
        hybrid_quality_by_route={route: sum(scores) / len(scores) for route, scores in sorted(routes.items())},
        oracle_cost_usd=_total_cost(picks),
        hybrid_cost_usd=hybrid_cost,
        rag_cost_usd=rag_cost,
        cost_saved_vs_rag_usd=None if rag_cost is None else rag_cost - hybrid_cost,
    )
