"""Retrieval settings shared by the RAG and hybrid strategies, and building a retriever from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.core.types import Document
from strategies.retrieval.bm25 import BM25Retriever
from strategies.retrieval.chunking import ChunkingParams, chunk_documents
from strategies.retrieval.dense import DenseRetriever
from strategies.retrieval.embeddings import EMBEDDING_THREADS, Embedder
from strategies.retrieval.hybrid_search import HybridRetriever, Retriever
from strategies.retrieval.ranking import TIE_RULE


class RetrievalParams(BaseModel):
    """`dense` (all-MiniLM-L6-v2 + FAISS), `bm25`, or `hybrid` (both, reciprocal-rank fused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retriever: Literal["dense", "bm25", "hybrid"] = "dense"
    top_k: int = Field(default=2, ge=1, le=20)
    chunking: ChunkingParams = Field(default_factory=lambda: ChunkingParams(mode="words", size=80, overlap=20))

    def determinism(self) -> str:
        """How reproducible the retrieved chunks are, for `Strategy.determinism`."""
        if self.retriever == "bm25":
            return f"deterministic: BM25, {TIE_RULE}"
        dense = (
            f"all-MiniLM-L6-v2 on {EMBEDDING_THREADS} torch threads and exact FAISS search, {TIE_RULE}; "
            "another CPU instruction set can move a score across the rounding"
        )
        if self.retriever == "dense":
            return f"deterministic on one CPU type: {dense}"
        return f"deterministic on one CPU type: reciprocal-rank fusion of BM25 and {dense}"


@dataclass(frozen=True)
class BuiltRetriever:
    """A retriever ready to search, and whether its dense index was loaded from the cache rather than built."""

    retriever: Retriever
    index_from_cache: bool


def build_retriever(
    params: RetrievalParams, corpus: Sequence[Document], cache_dir: Path, embedder: Embedder | None = None
) -> BuiltRetriever:
    """Chunk the corpus and index it; dense indexes are cached on disk by content.

    Pass the `embedder` a caller already holds, so the model is loaded once per process."""
    chunks = chunk_documents(corpus, params.chunking)
    if params.retriever == "bm25":
        return BuiltRetriever(BM25Retriever(chunks), index_from_cache=False)
    dense = DenseRetriever(chunks, embedder or Embedder(), cache_dir=cache_dir)
    if params.retriever == "dense":
        return BuiltRetriever(dense, index_from_cache=dense.built_from_cache)
    return BuiltRetriever(HybridRetriever(BM25Retriever(chunks), dense), index_from_cache=dense.built_from_cache)
