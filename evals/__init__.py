"""Evaluate RAG, fine-tuning and hybrid QA strategies on shared datasets, with measured evidence.

The public API; implementation modules are free to change behind it.
"""

from evals.core.errors import ConfigError, DatasetError, EvalsError, SuiteError, TransientError
from evals.core.strategy import STRATEGIES, Strategy, StrategyParams, UpdatePath
from evals.core.suite import Suite, load_suite
from evals.core.types import Answer, Document, QAItem, RetrievedContext, RunContext, SetupReport, TokenUsage
from evals.data import DatasetSpec, QADataset, load_dataset
from evals.engine.runner import RunOutcome, RunSettings, run_suite
from evals.scoring.base import SCORERS, Scorer

__all__ = [
    "SCORERS",
    "STRATEGIES",
    "Answer",
    "ConfigError",
    "DatasetError",
    "DatasetSpec",
    "Document",
    "EvalsError",
    "QADataset",
    "QAItem",
    "RetrievedContext",
    "RunContext",
    "RunOutcome",
    "RunSettings",
    "Scorer",
    "SetupReport",
    "Strategy",
    "StrategyParams",
    "Suite",
    "SuiteError",
    "TokenUsage",
    "TransientError",
    "UpdatePath",
    "load_dataset",
    "load_suite",
    "run_suite",
]
