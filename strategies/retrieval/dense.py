"""Dense retrieval: a FAISS inner-product index over unit-length chunk embeddings, cached on disk.

An index lives in `<cache_dir>/indexes/<key>/` (``index.faiss`` + ``chunks.json``), where the key
hashes the embedder identity and every chunk's doc_id and text: it is built once per corpus
content and chunking, and reloaded afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss

from evals.core.types import RetrievedContext
from evals.infra.atomic import locked
from evals.infra.hashing import content_hash
from strategies.retrieval.chunking import Chunk
from strategies.retrieval.embeddings import Embedder
from strategies.retrieval.ranking import Hit, deterministic_top_k, first_depth

INDEX_FORMAT = 1
INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.json"
# A second process waits this long for another one's build before giving up.
BUILD_LOCK_TIMEOUT_S = 3600.0


def index_key(chunks: Sequence[Chunk], embedder_identity: dict[str, Any]) -> str:
    """The cache key of an index: embedder identity and each chunk's doc_id and text, in order."""
    return content_hash(
        {
            "format": INDEX_FORMAT,
            "embedder": embedder_identity,
            "chunks": [[chunk.doc_id, chunk.text] for chunk in chunks],
        },
        length=32,
    )


def _hits(positions: Any, scores: Any) -> list[Hit]:
    """One row of a FAISS search as (position, score) pairs; -1 marks an empty slot."""
    return [(int(position), float(score)) for position, score in zip(positions, scores, strict=True) if position >= 0]


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


class DenseRetriever:
    """Cosine-similarity search over chunks with an exact FAISS `IndexFlatIP`.

    With `cache_dir` None the index is built in memory only. `build_seconds` is the time spent
    building or loading the index; `built_from_cache` says which one happened.
    """

    def __init__(self, chunks: Sequence[Chunk], embedder: Embedder, cache_dir: Path | None = None) -> None:
        if not chunks:
            raise ValueError("cannot index an empty corpus")
        self.chunks = list(chunks)
        self.embedder = embedder
        self.key = index_key(self.chunks, embedder.identity())
        self.index_dir = cache_dir / "indexes" / self.key if cache_dir is not None else None
        self.built_from_cache = False
        started = time.perf_counter()
        self._index = self._build() if self.index_dir is None else self._load_or_build(self.index_dir)
        self.build_seconds = time.perf_counter() - started

    def _build(self) -> faiss.IndexFlatIP:
        vectors = self.embedder.embed([chunk.text for chunk in self.chunks])
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index

    def _stored_chunks(self) -> list[dict[str, Any]]:
        return [chunk.model_dump(mode="json") for chunk in self.chunks]

    def _load(self, directory: Path) -> faiss.Index | None:
        """The cached index, or None when it is missing, unreadable or not for these chunks."""
        try:
            stored = json.loads((directory / CHUNKS_FILE).read_text(encoding="utf-8"))
            if stored.get("chunks") != self._stored_chunks():
                return None
            index = faiss.read_index(str(directory / INDEX_FILE))
        except (OSError, ValueError, RuntimeError, AttributeError):
            return None
        return index if index.ntotal == len(self.chunks) else None

    def _load_or_build(self, directory: Path) -> faiss.Index:
        index = self._load(directory)
        if index is None:
            with locked(directory, timeout=BUILD_LOCK_TIMEOUT_S):
                index = self._load(directory)  # another process may have built it meanwhile
                if index is None:
                    shutil.rmtree(directory, ignore_errors=True)  # a damaged or mismatched entry
                    index = self._build()
                    self._save(index, directory)
                    return index
        self.built_from_cache = True
        return index

    def _save(self, index: faiss.Index, directory: Path) -> None:
        """Write into a temporary folder, then rename it into place: readers never see half."""
        temporary = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
        try:
            _write_synced(temporary / INDEX_FILE, faiss.serialize_index(index).tobytes())
            manifest = {"format": INDEX_FORMAT, "embedder": self.embedder.identity(), "chunks": self._stored_chunks()}
            _write_synced(temporary / CHUNKS_FILE, json.dumps(manifest, ensure_ascii=False).encode())
            os.replace(temporary, directory)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise

    def search(self, query: str, k: int) -> list[RetrievedContext]:
        """The `k` chunks most similar to `query`, best first, scored by cosine similarity.

        Ties (scores equal to `ranking.SCORE_DECIMALS` decimals) go to the chunk earlier in the corpus."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[RetrievedContext]]:
        """`search` for each query, embedding all queries in one batch."""
        if not queries:
            return []
        k = min(k, len(self.chunks))
        if k <= 0:
            return [[] for _ in queries]
        vectors = self.embedder.embed(queries)
        depth = first_depth(k, len(self.chunks))
        scores, positions = self._index.search(vectors, depth)  # one batched search serves the usual case
        results: list[list[RetrievedContext]] = []
        for row in range(len(queries)):
            first = _hits(positions[row], scores[row])

            def search(n: int, row: int = row, first: list[Hit] = first) -> list[Hit]:
                if n <= depth:
                    return first[:n]
                more_scores, more_positions = self._index.search(vectors[row : row + 1], n)  # ties past the margin
                return _hits(more_positions[0], more_scores[0])

            best = deterministic_top_k(search, k, len(self.chunks))
            results.append([self._context(position, score) for position, score in best])
        return results

    def _context(self, position: int, score: float) -> RetrievedContext:
        chunk = self.chunks[position]
        return RetrievedContext(doc_id=chunk.doc_id, text=chunk.text, score=score)
