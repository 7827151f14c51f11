"""The scorer contract and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from evals.core.registry import Registry
from evals.core.types import Answer, QAItem, RunContext
from evals.data.dataset import QADataset


class Scorer(ABC):
    """Scores one answer against its item; returns metric name → value in [0, 1] (NaN if undefined).

    A scorer is built once per dataset, with the run's context (its cache folder). The leaderboard reports
    each metric's mean with a 95% bootstrap CI; a failed item counts as 0 (a missing answer is a wrong answer).
    """

    metrics: ClassVar[tuple[str, ...]]

    def __init__(self, dataset: QADataset, context: RunContext | None = None) -> None:
        self.dataset = dataset
        self.context = context if context is not None else RunContext()

    @abstractmethod
    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        """Metric values for one answer."""

    def judge_model(self) -> str | None:
        """The price-table name of the LLM judge this scorer calls, if any. Such a scorer reports the
        judge's tokens per item as `judge_input_tokens`/`judge_output_tokens`; the runner prices them."""
        return None


SCORERS: Registry[Scorer] = Registry("scorer", "evals.scorers", Scorer)
