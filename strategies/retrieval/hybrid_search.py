"""Hybrid retrieval: BM25 and dense results merged by reciprocal-rank fusion (RRF)."""

from __future__ import annotations

from typing import Protocol

from evals.core.types import RetrievedContext

FUSED_SCORE_DECIMALS = 12
"""Fused scores equal to this many decimals tie (float addition noise is around 1e-18)."""


class Retriever(Protocol):
    def search(self, query: str, k: int) -> list[RetrievedContext]: ...


class HybridRetriever:
    """Fuses two retrievers: a chunk scores ``sum(1 / (k_rrf + rank))`` over the lists it is in.

    Each retriever is asked for `max(k, candidates)` chunks; chunks are matched by doc_id and text.
    """

    def __init__(self, bm25: Retriever, dense: Retriever, k_rrf: int = 60, candidates: int = 50) -> None:
        if k_rrf < 0 or candidates < 1:
            raise ValueError("k_rrf must be >= 0 and candidates >= 1")
        self.bm25 = bm25
        self.dense = dense
        self.k_rrf = k_rrf
        self.candidates = candidates

    def search(self, query: str, k: int) -> list[RetrievedContext]:
        """The `k` best chunks by fused score, best first; ties keep dense-then-BM25 order."""
        if k <= 0:
            return []
        depth = max(k, self.candidates)
        fused: dict[tuple[str, str], float] = {}
        for ranking in (self.dense.search(query, depth), self.bm25.search(query, depth)):
            seen: set[tuple[str, str]] = set()
            for rank, context in enumerate(ranking, start=1):
                key = (context.doc_id, context.text)
                if key not in seen:  # a repeated chunk counts once per list, at its best rank
                    seen.add(key)
                    fused[key] = fused.get(key, 0.0) + 1.0 / (self.k_rrf + rank)
        # Fused scores are sums of exact reciprocals: equal sums can differ in the last bit, so compare
        # them rounded; the stable sort then keeps the dense-then-BM25 order of equal scores.
        best = sorted(fused.items(), key=lambda entry: -round(entry[1], FUSED_SCORE_DECIMALS))[:k]
        return [RetrievedContext(doc_id=doc_id, text=text, score=score) for (doc_id, text), score in best]
