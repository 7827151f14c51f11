"""Length-robust correctness: containment of an acceptable answer, discounted for padding."""

from __future__ import annotations

import math

import pytest

from evals.core.types import Answer, QAItem
from evals.data.dataset import QADataset
from evals.scoring.base import SCORERS
from evals.scoring.correctness import answer_contains_gold, concise_correct
from evals.scoring.squad import f1_score

GOLD = ["April 20, 2018"]


def test_a_verbose_right_answer_beats_a_terse_wrong_one_where_f1_does_not() -> None:
    right, wrong = "It was released on April 20, 2018.", "April 29 2018"
    assert f1_score(wrong, GOLD) > f1_score(right, GOLD)  # the failure mode these metrics exist for
    assert answer_contains_gold(right, GOLD) == 1.0 and answer_contains_gold(wrong, GOLD) == 0.0
    assert concise_correct(right, GOLD) > concise_correct(wrong, GOLD) == 0.0


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("April 20, 2018", 1.0),
        ("the answer is april 20 2018", 1.0),  # 5 tokens after normalisation: 3 gold + 2 of slack
        ("it was first released in theatres on april 20 2018 worldwide", 6 / 11),  # (3 + 3) / 11 tokens
        ("April 2018", 0.0),
        ("", 0.0),
    ],
)
def test_concision_discounts_padding_beyond_a_few_words(answer: str, expected: float) -> None:
    assert concise_correct(answer, GOLD) == pytest.approx(expected)


def test_containment_respects_token_boundaries_and_any_alternative() -> None:
    assert answer_contains_gold("Parisian cafes", ["Paris"]) == 0.0
    assert answer_contains_gold("in Paris, France", ["Lyon", "Paris"]) == 1.0
    assert concise_correct("Paris", ["Paris", "Paris, France"]) == 1.0


def test_the_registered_scorer_leaves_unanswerable_questions_to_abstention() -> None:
    scorer = SCORERS.get("correctness")(QADataset.build("d", [], [], [], source="test"))
    impossible = QAItem(id="q", question="Q?", is_impossible=True)
    assert all(math.isnan(value) for value in scorer.score(impossible, Answer(text="x")).values())
    answerable = QAItem(id="q2", question="Q?", answers=GOLD)
    assert scorer.score(answerable, Answer(text="April 20, 2018")) == {
        "answer_contains_gold": 1.0,
        "concise_correct": 1.0,
    }
