"""Decide between RAG, fine-tuning and hybrids from measurements: cost of ownership, latency targets,
the oracle router and the five-question recommendation."""

from evals.decision.cost_model import (
    BreakEven,
    CostAssumptions,
    MeasuredStrategy,
    MonthlyCost,
    break_even,
    monthly_cost,
)
from evals.decision.latency_slo import LatencyCheck, latency_from_items, latency_from_leaderboard
from evals.decision.oracle import OracleReport, oracle_report
from evals.decision.recommend import Constraints, Recommendation, load_measurements, recommend_strategy

__all__ = [
    "BreakEven",
    "Constraints",
    "CostAssumptions",
    "LatencyCheck",
    "MeasuredStrategy",
    "MonthlyCost",
    "OracleReport",
    "Recommendation",
    "break_even",
    "latency_from_items",
    "latency_from_leaderboard",
    "load_measurements",
    "monthly_cost",
    "oracle_report",
    "recommend_strategy",
]
