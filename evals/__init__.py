"""Evaluate RAG, fine-tuning and hybrid QA strategies on shared datasets, with measured evidence.

The public API; implementation modules are free to change behind it.
"""

import os

# Idle OpenMP threads (torch, for embeddings and fine-tuning) otherwise busy-wait and steal the
# cores llama.cpp generates on: measured 50x slower single-query embedding on 2 cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The harness draws its own progress bars; model libraries' per-file bars only add noise.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

from evals.data import DatasetSpec, QADataset, load_dataset
from evals.errors import ConfigError, DatasetError, EvalsError, SuiteError, TransientError
from evals.runner import RunOutcome, RunSettings, run_suite
from evals.scoring.base import SCORERS, Scorer
from evals.strategy import STRATEGIES, Strategy, StrategyParams
from evals.suite import Suite, load_suite
from evals.types import Answer, Document, QAItem, RetrievedContext, SetupReport, TokenUsage

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
    "load_dataset",
    "load_suite",
    "run_suite",
]
