"""The oracle router: for every item, the strategy that scored best (ties go to the cheapest answer).

It bounds what any router over the same strategies could reach. Compared with the hybrid's recorded
routes (`answer.metadata["route"]`) it gives the hybrid's regret (oracle quality − hybrid quality)
and, against always answering with RAG, what routing saved.

Items are valued by the item-metric rule of the leaderboard (`evals.results.item_values`): a failed
item counts 0; an answered item without the metric (NaN) is not counted as 0, it is not measured. So:

- on an item, a candidate without the metric is no choice (its quality there is unknown);
- an item where the hybrid, or every candidate, lacks the metric is left out of the comparison
  altogether (`n_unmeasured`), so the oracle and the hybrid are always compared on the same items;
- a strategy whose answered items all lack the metric does not measure it: it is never chosen.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.results.item_values import metric_values
from evals.results.records import ItemResult
from evals.stats.summary import defined_mean


class OracleReport(BaseModel):
    """Oracle router vs the hybrid's routes on the items every compared strategy answered (or failed)
    where the hybrid and at least one candidate measure the metric (`n_items`); `n_unmeasured` items
    answered by all were left out because the hybrid or every candidate left the metric undefined."""

    dataset: str
    metric: str
    hybrid: str
    rag: str | None
    candidates: list[str]
    n_items: int
    n_unmeasured: int = 0
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

    Items of one dataset only; only items answered (or failed) by all compared strategies count, and of
    those the ones the hybrid and some candidate measure `metric` on (see the module doc).
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
    common = sorted(set.intersection(*(set(by_strategy[name]) for name in compared)))
    if not common:
        raise EvalsError(f"no item was answered by all of {', '.join(compared)}")
    values = {
        name: dict(zip(common, metric_values((by_strategy[name][i] for i in common), metric), strict=True))
        for name in dict.fromkeys(compared)
    }
    picks: list[tuple[ItemResult, float]] = []
    hybrid_items: list[tuple[ItemResult, float]] = []
    for item_id in common:
        measured = [(by_strategy[name][item_id], values[name][item_id]) for name in names]
        measured = [(item, value) for item, value in measured if not math.isnan(value)]
        if not measured or math.isnan(values[hybrid][item_id]):
            continue
        picks.append(min(measured, key=lambda pick: (-pick[1], _cost(pick[0]))))
        hybrid_items.append((by_strategy[hybrid][item_id], values[hybrid][item_id]))
    if not picks:
        raise EvalsError(
            f"{metric} is undefined on every item for {hybrid} or for all of {', '.join(names)}: nothing to compare"
        )
    ids = [item.item_id for item, _ in hybrid_items]
    routes: dict[str, list[float]] = defaultdict(list)
    for item, value in hybrid_items:
        route = item.answer.metadata.get("route", "unknown") if item.answer else "failed"
        routes[str(route)].append(value)
    oracle_quality = defined_mean([value for _, value in picks])
    hybrid_quality = defined_mean([value for _, value in hybrid_items])
    hybrid_cost = _total_cost(item for item, _ in hybrid_items)
    rag_cost = _total_cost(by_strategy[rag][item_id] for item_id in ids) if rag else None
    return OracleReport(
        dataset=datasets.pop(),
        metric=metric,
        hybrid=hybrid,
        rag=rag,
        candidates=names,
        n_items=len(ids),
        n_unmeasured=len(common) - len(ids),
        oracle_quality=oracle_quality,
        hybrid_quality=hybrid_quality,
        regret=oracle_quality - hybrid_quality,
        oracle_choices=dict(Counter(item.strategy for item, _ in picks).most_common()),
        hybrid_routes={route: len(scores) for route, scores in sorted(routes.items())},
        hybrid_quality_by_route={route: defined_mean(scores) for route, scores in sorted(routes.items())},
        oracle_cost_usd=_total_cost(item for item, _ in picks),
        hybrid_cost_usd=hybrid_cost,
        rag_cost_usd=rag_cost,
        cost_saved_vs_rag_usd=None if rag_cost is None else rag_cost - hybrid_cost,
    )
