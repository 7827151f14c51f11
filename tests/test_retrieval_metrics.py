"""Retrieval metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from evals.core.types import Answer, QAItem, RetrievedContext
from evals.data.dataset import QADataset
from evals.scoring.retrieval import RetrievalScorer

DATASET = QADataset.build("tiny", corpus=[], train=[], test=[], source="test")


def _score(gold: list[str], retrieved: list[str]) -> dict[str, float]:
    item = QAItem(id="q", question="?", answers=["a"], gold_doc_ids=gold)
    answer = Answer(text="a", contexts=[RetrievedContext(doc_id=d, text=f"text {d}") for d in retrieved])
    return RetrievalScorer(DATASET).score(item, answer)


def test_hand_computed_values_with_duplicate_chunks() -> None:
    # ranking after dropping the repeated "x": x, g1, y, g2 (k = 4); gold g1, g2, g3
    scores = _score(["g1", "g2", "g3"], ["x", "g1", "x", "y", "g2"])
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    expected = {
        "hit_at_1": 0.0,
        "hit_at_5": 1.0,
        "hit_at_k": 1.0,
        "recall_at_1": 0.0,
        "recall_at_5": 2 / 3,
        "recall_at_k": 2 / 3,
        "precision_at_5": 2 / 5,
        "precision_at_k": 2 / 4,
        "mrr": 1 / 2,
        "ndcg_at_5": dcg / ideal,
        "ndcg_at_k": dcg / ideal,
    }
    assert set(scores) == set(RetrievalScorer.metrics)
    assert scores == pytest.approx(expected)


def test_perfect_and_missed_retrieval() -> None:
    assert _score(["g"], ["g", "x"]) == pytest.approx(
        {
            "hit_at_1": 1,
            "hit_at_5": 1,
            "hit_at_k": 1,
            "recall_at_1": 1,
            "recall_at_5": 1,
            "recall_at_k": 1,
            "precision_at_5": 0.2,
            "precision_at_k": 0.5,
            "mrr": 1,
            "ndcg_at_5": 1,
            "ndcg_at_k": 1,
        }
    )
    missed = _score(["g"], ["x", "y"])
    assert all(value == 0.0 for value in missed.values())


@pytest.mark.parametrize(("gold", "retrieved"), [([], ["x"]), (["g"], [])])
def test_undefined_without_gold_or_contexts(gold: list[str], retrieved: list[str]) -> None:
    assert all(math.isnan(value) for value in _score(gold, retrieved).values())


def test_hit_is_any_gold_document_and_recall_the_fraction_found() -> None:
    # three gold documents, one of them at rank 2: a hit at 5 and at k, but only a third of the gold recalled
    scores = _score(["g1", "g2", "g3"], ["x", "g2", "y"])
    assert scores["hit_at_1"] == 0.0 and scores["hit_at_5"] == 1.0 and scores["hit_at_k"] == 1.0
    assert scores["recall_at_5"] == pytest.approx(1 / 3) and scores["recall_at_k"] == pytest.approx(1 / 3)
    # the first gold document past rank 5: k = 6 reaches it, @5 does not
    late = _score(["g"], ["a", "b", "c", "d", "e", "g"])
    assert (late["hit_at_5"], late["hit_at_k"]) == (0.0, 1.0)
    assert (late["recall_at_5"], late["recall_at_k"]) == (0.0, 1.0)
    # with a single gold document hit and recall agree at every cut-off
    single = _score(["g"], ["x", "g"])
    assert [single[f"hit_at_{n}"] for n in ("1", "5", "k")] == [single[f"recall_at_{n}"] for n in ("1", "5", "k")]
