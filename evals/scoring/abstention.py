"""Abstention on SQuAD 2.0-style unanswerable questions: does a system say "no answer" when it should?

An answer abstains when it normalizes (SQuAD normalization) to nothing, which the official v2.0 script
scores as the no-answer prediction, or when it contains one of `ABSTENTION_PHRASES`.
"""

from __future__ import annotations

import math
import re
from typing import ClassVar

from evals.core.types import Answer, QAItem
from evals.scoring.base import Scorer
from evals.scoring.squad import normalize_answer

ABSTENTION_PHRASES = (
    "unanswerable",
    "no answer",
    "cannot be answered",
    "can't be answered",
    "cannot answer",
    "not answerable",
    "not in the sources",
    "not in the source",
    "not in the context",
    "not in the provided context",
    "not mentioned in the",
    "not stated in the",
    "i don't know",
    "i do not know",
    "not enough information",
    "insufficient information",
)
"""Phrases that mark an abstention, matched as whole words after SQuAD normalization."""

_ABSTENTION = re.compile(r"\b(?:" + "|".join(re.escape(normalize_answer(p)) for p in ABSTENTION_PHRASES) + r")\b")


def abstained(text: str) -> bool:
    """True if `text` is empty after normalization or contains an abstention phrase."""
    normalized = normalize_answer(text)
    return not normalized or _ABSTENTION.search(normalized) is not None


class AbstentionScorer(Scorer):
    """Abstention metrics; each is NaN on the items it does not apply to.

    - `abstained`: 1 if the answer abstains (every item).
    - `correct_abstention`: on unanswerable items, 1 if abstained (the official v2.0 no-answer EM
      when abstentions are written as "").
    - `confident_answer_to_unanswerable`: on unanswerable items, 1 if it answered anyway.
    - `false_abstention`: on answerable items, 1 if it abstained.
    """

    metrics: ClassVar[tuple[str, ...]] = (
        "abstained",
        "correct_abstention",
        "confident_answer_to_unanswerable",
        "false_abstention",
    )

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        abstain = float(abstained(answer.text))
        return {
            "abstained": abstain,
            "correct_abstention": abstain if item.is_impossible else math.nan,
            "confident_answer_to_unanswerable": 1.0 - abstain if item.is_impossible else math.nan,
            "false_abstention": math.nan if item.is_impossible else abstain,
        }
