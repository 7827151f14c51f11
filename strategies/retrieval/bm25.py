"""Lexical retrieval with BM25 (the `bm25s` package)."""

from __future__ import annotations

from collections.abc import Sequence

import bm25s

from evals.core.types import RetrievedContext
from strategies.retrieval.chunking import Chunk
from strategies.retrieval.ranking import Hit, deterministic_top_k


class BM25Retriever:
    """BM25 over chunks; English stop words removed."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            raise ValueError("cannot index an empty corpus")
        self.chunks = list(chunks)
        self._index = bm25s.BM25()
        self._index.index(
            bm25s.tokenize([chunk.text for chunk in self.chunks], stopwords="en", show_progress=False),
            show_progress=False,
        )

    def search(self, query: str, k: int) -> list[RetrievedContext]:
        """The `k` best chunks for `query`, best first; chunks that match no query term are left out.

        Ties (scores equal to `ranking.SCORE_DECIMALS` decimals) go to the chunk earlier in the corpus."""
        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        if not tokens[0]:
            return []

        def search(depth: int) -> list[Hit]:
            positions, scores = self._index.retrieve(tokens, k=depth, show_progress=False)
            return [(int(p), float(s)) for p, s in zip(positions[0], scores[0], strict=True) if s > 0]

        return [
            RetrievedContext(doc_id=self.chunks[position].doc_id, text=self.chunks[position].text, score=score)
            for position, score in deterministic_top_k(search, k, len(self.chunks))
        ]
