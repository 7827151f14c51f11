"""Closed-book: the base model answers from what it learned in pretraining, with no context."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from evals.core.strategy import ReplicaResources, Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, RunContext, SetupReport
from strategies.backends.factory import GeneratorParams, make_backend
from strategies.generation import answer_closed_book


class ClosedBookParams(StrategyParams):
    generator: GeneratorParams = Field(default_factory=GeneratorParams)


class ClosedBook(Strategy):
    """The baseline every other strategy must beat: the model alone."""

    Params = ClosedBookParams
    params: ClosedBookParams

    def __init__(self, params: ClosedBookParams | None = None, context: RunContext | None = None) -> None:
        super().__init__(params, context)
        self.backend = make_backend(self.params.generator)
        self.max_concurrency = self.params.generator.max_concurrency()

    def replica_resources(self) -> ReplicaResources:
        """A local model needs a CPU per replica; a remote endpoint waits on the network: four per CPU."""
        return ReplicaResources(num_cpus=1.0 if self.params.generator.backend == "llama_cpp" else 0.25)

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        started = time.perf_counter()
        self.backend.load()
        return SetupReport(seconds=time.perf_counter() - started, model=self.backend.model_name)

    def answer(self, item: QAItem) -> Answer:
        generator = self.params.generator
        return answer_closed_book(self.backend, item, generator.max_tokens, generator.temperature)

    def determinism(self) -> dict[str, str]:
        return {"generation": self.params.generator.determinism()}

    def update_path(self) -> UpdatePath:
        return "none"

    def model_identity(self) -> dict[str, Any]:
        return self.backend.identity()

    def close(self) -> None:
        self.backend.close()
