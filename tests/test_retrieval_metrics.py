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
