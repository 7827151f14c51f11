"""Length-robust correctness next to EM/F1: does the answer contain an acceptable answer, and does it
say little else?

Token F1 rewards short answers: a terse wrong date can outscore a correct sentence ("April 29 2018"
scores 0.67 against "April 20, 2018", while "It was released on April 20, 2018." scores 0.43). These
metrics rank a verbose correct answer above a terse wrong one:

- `answer_contains_gold`: 1 when the normalised answer contains the normalised tokens of any acceptable
  answer as a contiguous run (SQuAD normalisation; the accuracy RGB and FlashRAG report).
- `concise_correct`: containment × concision, where concision = min(1, (g + SLACK_TOKENS) / n) for an
  answer of n tokens containing a gold answer of g tokens: a few words of framing are free, padding and
  extra claims cost in proportion.

Both are NaN for unanswerable (SQuAD 2.0) questions, which the `abstention` scorer scores.
"""

from __future__ import annotations

from typing import ClassVar

from evals.core.types import Answer, QAItem
from evals.scoring.base import Scorer
from evals.scoring.squad import normalize_answer

SLACK_TOKENS = 3
"""Answer tokens beyond the gold answer's that cost nothing ("it was", "in", a unit)."""


def _contains(answer_tokens: list[str], gold_tokens: list[str]) -> bool:
    width = len(gold_tokens)
    return any(answer_tokens[start : start + width] == gold_tokens for start in range(len(answer_tokens) - width + 1))


def contained_gold_length(answer: str, gold_answers: list[str]) -> int | None:
    """Token count of the shortest acceptable answer the answer contains; None when it contains none."""
    tokens = normalize_answer(answer).split()
    lengths = [
        len(gold_tokens)
        for gold in gold_answers
        if (gold_tokens := normalize_answer(gold).split()) and _contains(tokens, gold_tokens)
    ]
    return min(lengths) if lengths else None


def answer_contains_gold(answer: str, gold_answers: list[str]) -> float:
    """1.0 when the answer contains any acceptable answer (normalised, on token boundaries), else 0.0."""
    return float(contained_gold_length(answer, gold_answers) is not None)


def concise_correct(answer: str, gold_answers: list[str]) -> float:
    """Containment discounted by how much longer than the contained gold answer the answer is."""
    gold_length = contained_gold_length(answer, gold_answers)
    if gold_length is None:
        return 0.0
    return min(1.0, (gold_length + SLACK_TOKENS) / len(normalize_answer(answer).split()))


class CorrectnessScorer(Scorer):
    """`answer_contains_gold` and `concise_correct` (see the module doc); NaN for unanswerable questions."""

    metrics: ClassVar[tuple[str, ...]] = ("answer_contains_gold", "concise_correct")

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        if item.is_impossible or not item.answers:
            return dict.fromkeys(self.metrics, float("nan"))
        return {
            "answer_contains_gold": answer_contains_gold(answer.text, item.answers),
            "concise_correct": concise_correct(answer.text, item.answers),
        }
