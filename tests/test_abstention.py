"""Abstention metrics against the official SQuAD v2.0 no-answer scores of three systems on the shared fixture."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from evals.core.types import Answer, Document, QAItem
from evals.data.dataset import QADataset
from evals.scoring.abstention import AbstentionScorer, abstained
from evals.scoring.squad import evaluate_predictions

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "fixture_v2.0_1article.json"


def _fixture() -> dict[str, Any]:
    if not FIXTURE.is_file():
        pytest.skip(f"SQuAD v2.0 fixture not found at {FIXTURE}")
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _items(fixture: dict[str, Any]) -> list[QAItem]:
    return [
        QAItem(
            id=qa["id"],
            question=qa["question"],
            answers=[answer["text"] for answer in qa["answers"]],
            is_impossible=qa.get("is_impossible", False),
        )
        for article in fixture["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


def _scorer(items: list[QAItem]) -> AbstentionScorer:
    corpus = [Document(id="d", text="unused")]
    return AbstentionScorer(QADataset.build("fixture", corpus, [], items, source=str(FIXTURE)))


def _mean(values: list[float]) -> float:
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined)


def test_correct_abstention_equals_official_no_answer_exact() -> None:
    fixture = _fixture()
    items = _items(fixture)
    gold = {item.id: item.answers for item in items}
    scorer = _scorer(items)
    assert fixture["predictions"] and any(item.is_impossible for item in items)
    for system, predictions in fixture["predictions"].items():
        official = evaluate_predictions(gold, predictions, "2.0")
        scores = [scorer.score(item, Answer(text=predictions[item.id])) for item in items]
        correct = _mean([score["correct_abstention"] for score in scores])
        assert correct == pytest.approx(official["NoAns_exact"] / 100, abs=1e-12), system
        confident = _mean([score["confident_answer_to_unanswerable"] for score in scores])
        assert confident == pytest.approx(1 - correct, abs=1e-12), system
        false = _mean([score["false_abstention"] for score in scores])
        answerable = [item for item in items if not item.is_impossible]
        assert false == pytest.approx(sum(predictions[i.id] == "" for i in answerable) / len(answerable)), system


def test_metrics_apply_only_to_their_items() -> None:
    answerable = QAItem(id="a", question="q?", answers=["Paris"])
    impossible = QAItem(id="b", question="q?", is_impossible=True)
    scorer = _scorer([answerable, impossible])
    on_answerable = scorer.score(answerable, Answer(text="Paris"))
    assert on_answerable["abstained"] == 0.0 and on_answerable["false_abstention"] == 0.0
    assert math.isnan(on_answerable["correct_abstention"]) and math.isnan(
        on_answerable["confident_answer_to_unanswerable"]
    )
    on_impossible = scorer.score(impossible, Answer(text="Paris"))
    assert on_impossible["correct_abstention"] == 0.0 and on_impossible["confident_answer_to_unanswerable"] == 1.0
    assert math.isnan(on_impossible["false_abstention"])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "The.",
        "Unanswerable.",
        "No answer",
        "This question cannot be answered from the sources.",
        "That is not in the sources.",
        "I don't know.",
        "There is not enough information.",
    ],
)
def test_abstentions_are_recognized(text: str) -> None:
    assert abstained(text)


@pytest.mark.parametrize("text", ["Paris", "1968", "Answering machines", "Unanswered letters", "The river Nile"])
def test_answers_are_not_abstentions(text: str) -> None:
    assert not abstained(text)
