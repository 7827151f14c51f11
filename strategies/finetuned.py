"""Fine-tuned: the base model with a LoRA adapter trained on the train split, answering closed-book.

The adapter trains on a GGUF file or a Hugging Face folder (CPU or CUDA) and is served on the generator's runtime:
in-process llama.cpp, a llama.cpp or vLLM server the strategy starts, or a running OpenAI-compatible server.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from evals.core.strategy import Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, RunContext, SetupReport
from strategies.adapters import (
    FinetuneParams,
    prepare_adapter,
    training_base,
    training_identity,
    untrainable_reason,
)
from strategies.backends.base import ChatBackend
from strategies.backends.factory import GeneratorParams, make_backend
from strategies.generation import answer_closed_book


class FinetunedParams(StrategyParams):
    generator: GeneratorParams = Field(default_factory=GeneratorParams)
    finetune: FinetuneParams = Field(default_factory=FinetuneParams)

    @model_validator(mode="after")
    def _trainable(self) -> FinetunedParams:
        if (reason := untrainable_reason(self.generator, self.finetune)) is not None:
            raise ValueError(reason)
        return self


class Finetuned(Strategy):
    """Trains a LoRA adapter in `prepare` (cached by content hash) and serves it on the generator's runtime."""

    Params = FinetunedParams
    params: FinetunedParams

    def __init__(self, params: FinetunedParams | None = None, context: RunContext | None = None) -> None:
        super().__init__(params, context)
        self.base = make_backend(self.params.generator)
        self.backend: ChatBackend | None = None
        self.max_concurrency = self.params.generator.max_concurrency()

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        generator = self.params.generator
        adapter = prepare_adapter(
            training_base(generator, self.params.finetune),
            self.base.model_name,
            train,
            self.params.finetune,
            self.context.cache_dir,
        )
        started = time.perf_counter()
        self.backend = make_backend(generator, adapter)
        self.backend.load()
        return adapter.setup.model_copy(
            update={
                "details": {
                    **adapter.setup.details,
                    "serving": generator.backend,
                    "serving_start_seconds": time.perf_counter() - started,
                }
            }
        )

    def answer(self, item: QAItem) -> Answer:
        if self.backend is None:
            raise RuntimeError("prepare() must run before answer()")
        generator = self.params.generator
        return answer_closed_book(self.backend, item, generator.max_tokens, generator.temperature, worked_example=False)

    def determinism(self) -> dict[str, str]:
        return {"training": self.params.finetune.determinism(), "generation": self.params.generator.determinism()}

    def update_path(self) -> UpdatePath:
        return "retrain"

    def model_identity(self) -> dict[str, Any]:
        return self.base.identity() | training_identity(self.params.finetune)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
