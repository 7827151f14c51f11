"""A model-free baseline: answer with the corpus sentence that best matches the question (BM25)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import Field

from evals.core.strategy import Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, SetupReport
from strategies.retrieval.bm25 import BM25Retriever
from strategies.retrieval.chunking import ChunkingParams, chunk_documents
from strategies.retrieval.ranking import TIE_RULE


class ExtractiveParams(StrategyParams):
    contexts: int = Field(default=3, ge=1, description="retrieved sentences recorded as contexts")


class ExtractiveBM25(Strategy):
    """Retrieves sentences with BM25 and answers with the best one, verbatim.

    It needs no model, so the whole pipeline runs anywhere; it sets a floor every model-backed
    strategy should clear (high recall of the answer span, low exact match).
    """

    Params = ExtractiveParams
    params: ExtractiveParams

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        started = time.perf_counter()
        self.retriever = BM25Retriever(chunk_documents(corpus, ChunkingParams(mode="sentence")))
        return SetupReport(seconds=time.perf_counter() - started, details={"sentences": len(self.retriever.chunks)})

    def answer(self, item: QAItem) -> Answer:
        started = time.perf_counter()
        contexts = self.retriever.search(item.question, self.params.contexts)
        elapsed = time.perf_counter() - started
        return Answer(text=contexts[0].text if contexts else "", contexts=contexts, timings={"retrieve": elapsed})

    def determinism(self) -> dict[str, str]:
        return {"retrieval": f"deterministic: BM25 over sentences, {TIE_RULE}; the answer is the best sentence"}

    def update_path(self) -> UpdatePath:
        return "reindex"
