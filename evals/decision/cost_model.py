"""Total cost of ownership per month, as a line in the monthly query volume, from measured leaderboard rows.

    monthly(q) = setup / horizon                 (setup amortised over `horizon_months`)
               + setup × updates_per_month       (maintenance: each knowledge update re-runs setup)
               + hosting_usd_per_hour × hours    (a dedicated server, only where configured)
               + cost_per_query × q

Maintenance follows the update path each strategy declares (`Strategy.update_path`, the leaderboard's
`update_path` column): retraining and/or re-indexing on every update, or nothing for a closed-book model
(which also never learns the update). Rows written before that column existed fall back to what the setup
did: training tokens mean retraining, retrieval metrics mean re-indexing. Re-running setup is assumed to cost
what the measured setup cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.core.strategy import UpdatePath

Role = Literal["closed_book", "finetuned", "rag", "finetuned_rag", "hybrid"]
ROLES: dict[UpdatePath, Role] = {
    "none": "closed_book",
    "retrain": "finetuned",
    "reindex": "rag",
    "retrain+reindex": "finetuned_rag",
}
SOURCE_METRICS = ("grounded", "faithfulness", "recall_at_k", "mrr")
HOURS_PER_MONTH = 730.0


def _update_path(value: Any) -> UpdatePath | None:
    """A CSV cell as an update path; None when absent (a row written before the column existed)."""
    text = str(value).strip() if value is not None else ""
    return next((path for path in ROLES if path == text), None)


def _number(value: Any) -> float | None:
    """A CSV cell as a float; None for empty/NaN cells (NaN means "not measured")."""
    if value is None or isinstance(value, str) and not value.strip():
        return None
    number = float(value)
    return None if math.isnan(number) else number


class MeasuredStrategy(BaseModel):
    """What the leaderboard measured for one strategy on one dataset."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    strategy: str
    strategy_type: str
    update_path: UpdatePath | None = None
    routes: bool = False
    run_id: str
    n_items: int
    metric: str
    quality: float
    quality_ci_low: float | None = None
    quality_ci_high: float | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_p99_s: float | None = None
    cost_per_query_usd: float = math.nan
    setup_seconds: float = 0.0
    setup_cost_usd: float = 0.0
    setup_training_tokens: int = 0
    price_table_date: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], metric: str = "f1") -> MeasuredStrategy:
        """Read one leaderboard row; `metric` is the quality measure that ranks strategies."""
        names = {str(column)[: -len("_ci_low")] for column in row if str(column).endswith("_ci_low")}
        names |= {name for name in (*SOURCE_METRICS, "cited_precision") if name in row}
        quality, cost = _number(row.get(metric)), _number(row.get("cost_per_query_usd"))
        return cls(
            dataset=str(row["dataset"]),
            strategy=str(row["strategy"]),
            strategy_type=str(row.get("strategy_type") or row["strategy"]),
            update_path=_update_path(row.get("update_path")),
            routes=str(row.get("routes")).strip().lower() == "true",
            run_id=str(row.get("run_id", "")),
            n_items=int(row.get("n_items") or 0),
            metric=metric,
            quality=0.0 if quality is None else quality,
            quality_ci_low=_number(row.get(f"{metric}_ci_low")),
            quality_ci_high=_number(row.get(f"{metric}_ci_high")),
            metrics={name: _number(row.get(name)) for name in sorted(names)},
            latency_p50_s=_number(row.get("latency_p50_s")),
            latency_p95_s=_number(row.get("latency_p95_s")),
            latency_p99_s=_number(row.get("latency_p99_s")),
            cost_per_query_usd=math.nan if cost is None else cost,
            setup_seconds=_number(row.get("setup_seconds")) or 0.0,
            setup_cost_usd=_number(row.get("setup_cost_usd")) or 0.0,
            setup_training_tokens=int(_number(row.get("setup_training_tokens")) or 0),
            price_table_date=None if row.get("price_table_date") is None else str(row["price_table_date"]),
        )

    @property
    def sourced(self) -> bool:
        """Whether answers come with retrieved sources (a source-based metric was measured)."""
        return any(self.metrics.get(name) is not None for name in SOURCE_METRICS)

    @property
    def trained(self) -> bool:
        return self.setup_training_tokens > 0

    @property
    def maintenance(self) -> UpdatePath:
        """What a knowledge update forces: as declared, else inferred from the setup (see the module doc)."""
        if self.update_path is not None:
            return self.update_path
        if self.trained:
            return "retrain+reindex" if self.sourced else "retrain"
        return "reindex" if self.sourced else "none"

    @property
    def role(self) -> Role:
        """Where the strategy sits between closed-book, fine-tuning and retrieval."""
        if self.routes:
            return "hybrid"
        return ROLES[self.maintenance]


class CostAssumptions(BaseModel):
    """The inputs of the cost model that are not measured."""

    model_config = ConfigDict(frozen=True)

    horizon_months: float = Field(default=12.0, gt=0, description="months the initial setup is amortised over")
    updates_per_month: float = Field(default=0.0, ge=0, description="knowledge updates per month")
    hours_per_month: float = Field(default=HOURS_PER_MONTH, gt=0)
    hosting_usd_per_hour: dict[str, float] = Field(
        default_factory=dict, description="strategy -> $/hour of a dedicated server (absent: pay per use)"
    )


class MonthlyCost(BaseModel):
    """One strategy's monthly cost at one query volume, by component (USD)."""

    strategy: str
    queries_per_month: float
    setup: float
    maintenance: float
    hosting: float
    queries: float

    @property
    def fixed(self) -> float:
        return self.setup + self.maintenance + self.hosting

    @property
    def total(self) -> float:
        return self.fixed + self.queries


class BreakEven(BaseModel):
    """Query volume at which two strategies cost the same per month; None when the lines never cross above 0.

    `cheaper_below` is the cheaper strategy under that volume, `cheaper_above` over it (or everywhere
    when there is no crossing)."""

    a: str
    b: str
    queries_per_month: float | None
    cheaper_below: str | None
    cheaper_above: str | None


def fixed_monthly_cost(strategy: MeasuredStrategy, assumptions: CostAssumptions) -> MonthlyCost:
    """The volume-independent part of the monthly cost (queries = 0)."""
    return monthly_cost(strategy, assumptions, 0.0)


def monthly_cost(strategy: MeasuredStrategy, assumptions: CostAssumptions, queries_per_month: float) -> MonthlyCost:
    """Monthly cost of ownership at `queries_per_month`."""
    updates = assumptions.updates_per_month if strategy.maintenance != "none" else 0.0
    return MonthlyCost(
        strategy=strategy.strategy,
        queries_per_month=queries_per_month,
        setup=strategy.setup_cost_usd / assumptions.horizon_months,
        maintenance=strategy.setup_cost_usd * updates,
        hosting=assumptions.hosting_usd_per_hour.get(strategy.strategy, 0.0) * assumptions.hours_per_month,
        queries=strategy.cost_per_query_usd * queries_per_month,
    )


def break_even(a: MeasuredStrategy, b: MeasuredStrategy, assumptions: CostAssumptions) -> BreakEven:
    """Solve fixed_a + q·c_a = fixed_b + q·c_b for q > 0."""
    fixed_a, fixed_b = fixed_monthly_cost(a, assumptions).total, fixed_monthly_cost(b, assumptions).total
    slope_a, slope_b = a.cost_per_query_usd, b.cost_per_query_usd
    if any(math.isnan(value) for value in (fixed_a, fixed_b, slope_a, slope_b)):
        return BreakEven(a=a.strategy, b=b.strategy, queries_per_month=None, cheaper_below=None, cheaper_above=None)
    crossing = (fixed_b - fixed_a) / (slope_a - slope_b) if slope_a != slope_b else None
    at_large = a if (slope_a, fixed_a) < (slope_b, fixed_b) else b  # cheaper for large volumes
    if crossing is None or crossing <= 0:  # one line lies below the other for every q > 0
        name = None if (fixed_a, slope_a) == (fixed_b, slope_b) else at_large.strategy
        return BreakEven(a=a.strategy, b=b.strategy, queries_per_month=None, cheaper_below=name, cheaper_above=name)
    at_small = b if at_large is a else a
    return BreakEven(
        a=a.strategy,
        b=b.strategy,
        queries_per_month=crossing,
        cheaper_below=at_small.strategy,
        cheaper_above=at_large.strategy,
    )


def break_evens(strategies: Sequence[MeasuredStrategy], assumptions: CostAssumptions) -> list[BreakEven]:
    """Break-even volume of every pair of strategies."""
    return [break_even(a, b, assumptions) for a, b in combinations(strategies, 2)]
