"""Hybrid: a query router sends standard questions to the fine-tuned model, complex ones to RAG,
and the rest to the fine-tuned model answering from retrieved sources. The route is recorded."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from evals.core.strategy import Strategy, UpdatePath
from evals.core.types import Answer, Document, QAItem, RunContext, SetupReport
from strategies.adapters import prepare_adapter, training_base, training_identity
from strategies.backends.base import ChatBackend
from strategies.backends.factory import make_backend
from strategies.finetuned import FinetunedParams
from strategies.generation import answer_closed_book, answer_with_sources, retrieve
from strategies.retrieval.config import RetrievalParams, build_retriever
from strategies.retrieval.embeddings import Embedder
from strategies.retrieval.hybrid_search import Retriever
from strategies.router import QueryRouter, RouterParams


class HybridParams(FinetunedParams):
    retrieval: RetrievalParams = Field(default_factory=RetrievalParams)
    router: RouterParams = Field(default_factory=RouterParams)


class Hybrid(Strategy):
    """Fine-tuned model, base-model RAG and fine-tuned RAG behind one router."""

    Params = HybridParams
    params: HybridParams
    routes = True

    def __init__(self, params: HybridParams | None = None, context: RunContext | None = None) -> None:
        super().__init__(params, context)
        self.base = make_backend(self.params.generator)
        self.max_concurrency = self.params.generator.max_concurrency()
        self.finetuned: ChatBackend | None = None
        self.retriever: Retriever | None = None
        self.embedder = Embedder()
        self.router = QueryRouter(
            self.params.router, self.embedder if self.params.router.mode == "similarity" else None
        )

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        adapter = prepare_adapter(
            training_base(self.params.generator, self.params.finetune),
            self.base.model_name,
            train,
            self.params.finetune,
            self.context.cache_dir,
        )
        started = time.perf_counter()
        self.retriever = build_retriever(self.params.retrieval, corpus, self.context.cache_dir, self.embedder).retriever
        self.router.fit(train)
        self.finetuned = make_backend(self.params.generator, adapter)
        self.finetuned.load()
        self.base.load()
        extra = time.perf_counter() - started
        return adapter.setup.model_copy(
            update={
                "seconds": adapter.setup.seconds + extra,
                "details": {**adapter.setup.details, "index_and_router_seconds": extra},
            }
        )

    def answer(self, item: QAItem) -> Answer:
        if self.finetuned is None or self.retriever is None:
            raise RuntimeError("prepare() must run before answer()")
        started = time.perf_counter()
        route, evidence = self.router.route(item.question)
        routing = time.perf_counter() - started
        generator = self.params.generator
        timings = {"route": routing}
        if route == "standard":
            answer = answer_closed_book(
                self.finetuned, item, generator.max_tokens, generator.temperature, worked_example=False
            )
        else:
            contexts, timings["retrieve"] = retrieve(self.retriever, item.question, self.params.retrieval.top_k)
            backend = self.base if route == "complex" else self.finetuned
            answer = answer_with_sources(backend, item, contexts, generator.max_tokens, generator.temperature)
        return answer.model_copy(
            update={
                "timings": {**timings, **answer.timings},
                "metadata": {**answer.metadata, "route": route, **evidence},
            }
        )

    def determinism(self) -> dict[str, str]:
        routing = (
            "deterministic on one CPU type: similarity to the train questions with the pinned embedder; a question "
            "within ~1e-7 of a threshold can route differently on another CPU type"
            if self.params.router.mode == "similarity"
            else "deterministic: rules on the question text"
        )
        return {
            "training": self.params.finetune.determinism(),
            "retrieval": self.params.retrieval.determinism(),
            "routing": routing,
            "generation": self.params.generator.determinism(),
        }

    def update_path(self) -> UpdatePath:
        return "retrain+reindex"

    def model_identity(self) -> dict[str, Any]:
        return self.base.identity() | training_identity(self.params.finetune)

    def close(self) -> None:
        self.base.close()
        if self.finetuned is not None:
            self.finetuned.close()
