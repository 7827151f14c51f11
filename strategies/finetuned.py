"""Fine-tuned: the base model with a LoRA adapter trained on the train split, answering closed-book."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator

from evals.core.strategy import Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, RunContext, SetupReport
from strategies.adapters import FinetuneParams, prepare_adapter
from strategies.backends.base import ChatBackend
from strategies.backends.factory import GeneratorParams, make_backend, make_local_backend
from strategies.generation import answer_closed_book


class FinetunedParams(StrategyParams):
    generator: GeneratorParams = Field(default_factory=GeneratorParams)
    finetune: FinetuneParams = Field(default_factory=FinetuneParams)

    @field_validator("generator")
    @classmethod
    def _local_only(cls, generator: GeneratorParams) -> GeneratorParams:
        if generator.backend != "llama_cpp":
            raise ValueError("local fine-tuning needs the llama_cpp backend; use openai_finetuned for OpenAI")
        return generator


class Finetuned(Strategy):
    """Trains a LoRA adapter in `prepare` (cached by content hash) and serves it on llama.cpp."""

    Params = FinetunedParams
    params: FinetunedParams
    max_concurrency = 1

    def __init__(self, params: FinetunedParams | None = None, context: RunContext | None = None) -> None:
        super().__init__(params, context)
        self.base = make_local_backend(self.params.generator)
        self.backend: ChatBackend | None = None

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        adapter = prepare_adapter(
            self.base.model_path, self.base.model_name, train, self.params.finetune, self.context.cache_dir
        )
        self.backend = make_backend(self.params.generator, lora_path=adapter.path)
        self.backend.load()
        return adapter.setup

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
        return self.base.identity()

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
