"""RAG: retrieve the top-k chunks, answer from numbered sources and cite them.

With `finetune` set, the fine-tuned model answers from the sources (the fine-tuned + RAG mode).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from evals.core.strategy import ReplicaResources, Strategy, StrategyParams, UpdatePath
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
from strategies.generation import answer_with_sources, retrieve
from strategies.retrieval.config import RetrievalParams, build_retriever
from strategies.retrieval.embeddings import MODEL_NAME as EMBEDDING_MODEL
from strategies.retrieval.hybrid_search import Retriever


class RagParams(StrategyParams):
    generator: GeneratorParams = Field(default_factory=GeneratorParams)
    retrieval: RetrievalParams = Field(default_factory=RetrievalParams)
    finetune: FinetuneParams | None = None

    @model_validator(mode="after")
    def _finetune_trainable(self) -> RagParams:
        if self.finetune is not None and (reason := untrainable_reason(self.generator, self.finetune)) is not None:
            raise ValueError(reason)
        return self


class Rag(Strategy):
    """Retrieval-augmented generation over the dataset's corpus."""

    Params = RagParams
    params: RagParams

    def __init__(self, params: RagParams | None = None, context: RunContext | None = None) -> None:
        super().__init__(params, context)
        self.backend: ChatBackend = make_backend(self.params.generator)
        self.base_identity = self.backend.identity()
        """The base model's identity: `prepare` may swap in a fine-tuned backend, the answers' key stays."""
        self.max_concurrency = self.params.generator.max_concurrency()
        self.retriever: Retriever | None = None

    def replica_resources(self) -> ReplicaResources:
        """A local model needs a CPU per replica; with a remote endpoint only query embedding runs here: two
        per CPU."""
        return ReplicaResources(num_cpus=1.0 if self.params.generator.backend == "llama_cpp" else 0.5)

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        started = time.perf_counter()
        built = build_retriever(self.params.retrieval, corpus, self.context.cache_dir)
        self.retriever = built.retriever
        indexing = time.perf_counter() - started
        report = SetupReport(
            seconds=indexing, model=EMBEDDING_MODEL, cached=built.index_from_cache, details={"index_seconds": indexing}
        )
        if self.params.finetune is not None:
            generator = self.params.generator
            adapter = prepare_adapter(
                training_base(generator, self.params.finetune),
                self.backend.model_name,
                train,
                self.params.finetune,
                self.context.cache_dir,
            )
            self.backend = make_backend(generator, adapter)
            report = adapter.setup.model_copy(
                update={
                    "seconds": adapter.setup.seconds + indexing,
                    "details": {**adapter.setup.details, "index_seconds": indexing},
                }
            )
        self.backend.load()
        return report

    def answer(self, item: QAItem) -> Answer:
        if self.retriever is None:
            raise RuntimeError("prepare() must run before answer()")
        contexts, seconds = retrieve(self.retriever, item.question, self.params.retrieval.top_k)
        generator = self.params.generator
        answer = answer_with_sources(self.backend, item, contexts, generator.max_tokens, generator.temperature)
        return answer.model_copy(update={"timings": {"retrieve": seconds, **answer.timings}})

    def determinism(self) -> dict[str, str]:
        notes = {"retrieval": self.params.retrieval.determinism(), "generation": self.params.generator.determinism()}
        if self.params.finetune is not None:
            notes["training"] = self.params.finetune.determinism()
        return notes

    def update_path(self) -> UpdatePath:
        return "reindex" if self.params.finetune is None else "retrain+reindex"

    def model_identity(self) -> dict[str, Any]:
        """The base model's identity (and the fine-tuning inputs beyond the dataset), fixed before `prepare`."""
        if self.params.finetune is None:
            return self.base_identity
        return self.base_identity | training_identity(self.params.finetune)

    def close(self) -> None:
        self.backend.close()
