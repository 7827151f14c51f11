"""Evaluate RAG, fine-tuning and hybrid QA strategies on shared datasets, with measured evidence.

The public API; implementation modules are free to change behind it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evals.core.errors import ConfigError, DatasetError, EvalsError, SuiteError, TransientError
    from evals.core.strategy import STRATEGIES, Strategy, StrategyParams, UpdatePath
    from evals.core.suite import Suite, load_suite
    from evals.core.types import Answer, Document, QAItem, RetrievedContext, RunContext, SetupReport, TokenUsage
    from evals.data import DatasetSpec, QADataset, load_dataset
    from evals.engine.runner import RunOutcome, RunSettings, run_suite
    from evals.scoring.base import SCORERS, Scorer

# Imported on first use (PEP 562), so `import evals.scoring.squad` or `evals --help` does not load the
# runner and its statistics stack.
_LAZY = {
    "evals.core.errors": ("ConfigError", "DatasetError", "EvalsError", "SuiteError", "TransientError"),
    "evals.core.strategy": ("STRATEGIES", "Strategy", "StrategyParams", "UpdatePath"),
    "evals.core.suite": ("Suite", "load_suite"),
    "evals.core.types": ("Answer", "Document", "QAItem", "RetrievedContext", "RunContext", "SetupReport", "TokenUsage"),
    "evals.data": ("DatasetSpec", "QADataset", "load_dataset"),
    "evals.engine.runner": ("RunOutcome", "RunSettings", "run_suite"),
    "evals.scoring.base": ("SCORERS", "Scorer"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'evals' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
