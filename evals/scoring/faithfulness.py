"""Offline faithfulness and source attribution: is an answer supported by its contexts? No judge model needed.

- `faithfulness`: P(a person calls the answer supported by the retrieved contexts), a logistic regression
  over lexical features fitted on human labels (evals/scoring/faithfulness_model.py).
- `faithfulness_lexical`: the hand-tuned lexical claim support it builds on (evals/scoring/claim_support.py).
- `attribution`: `grounded`, `cited_precision` and `faithful_but_wrong`, all from the same support decision
  (`faithfulness` ≥ SUPPORT_THRESHOLD).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from evals.core.types import Answer, QAItem
from evals.scoring.base import Scorer
from evals.scoring.claim_support import claim_support
from evals.scoring.correctness import answer_contains_gold
from evals.scoring.faithfulness_model import faithfulness_score

SUPPORT_THRESHOLD = 0.5
"""An answer counts as supported when `faithfulness`, a probability, is at least this: more likely than not."""


class FaithfulnessScorer(Scorer):
    """How well the retrieved contexts support the answer; NaN for closed-book or empty answers."""

    metrics: ClassVar[tuple[str, ...]] = ("faithfulness",)

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        contexts = [context.text for context in answer.contexts]
        return {"faithfulness": faithfulness_score(answer.text, contexts, item.question)}


class LexicalFaithfulnessScorer(Scorer):
    """The hand-tuned lexical claim support alone (the `faithfulness` scorer before it was fitted)."""

    metrics: ClassVar[tuple[str, ...]] = ("faithfulness_lexical",)

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        contexts = [context.text for context in answer.contexts]
        return {"faithfulness_lexical": claim_support(answer.text, contexts, item.question)}


class AttributionScorer(Scorer):
    """Source attribution: do the cited documents support the answer, and is it grounded at all?

    `cited_precision`: share of the cited doc ids (answer.metadata["cited_doc_ids"]) whose retrieved
    contexts support the answer; a cited id that was not retrieved supports nothing. NaN without citations.
    `grounded`: 1.0 if the retrieved contexts support the answer, 0.0 if it came from the model's own
    memory; NaN without contexts or answer text.
    `faithful_but_wrong`: 1.0 if the answer is grounded yet contains no gold answer (it faithfully repeats
    a wrong or irrelevant source), else 0.0; NaN when `grounded` is, or the item has no gold answer.
    """

    metrics: ClassVar[tuple[str, ...]] = ("cited_precision", "grounded", "faithful_but_wrong")

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        grounded = _supported(answer.text, [c.text for c in answer.contexts], item.question)
        return {
            "cited_precision": self._cited_precision(item, answer),
            "grounded": grounded,
            "faithful_but_wrong": _faithful_but_wrong(grounded, item, answer),
        }

    @staticmethod
    def _cited_precision(item: QAItem, answer: Answer) -> float:
        cited = list(dict.fromkeys(answer.metadata.get("cited_doc_ids") or []))
        if not cited or not answer.text.strip():
            return math.nan
        hits = [
            _supported(answer.text, [c.text for c in answer.contexts if c.doc_id == doc_id], item.question) == 1.0
            for doc_id in cited
        ]
        return sum(hits) / len(hits)


def _supported(answer: str, contexts: Sequence[str], question: str) -> float:
    """1.0 if `contexts` support `answer`, 0.0 if not, NaN when either side is empty."""
    value = faithfulness_score(answer, contexts, question)
    return value if math.isnan(value) else float(value >= SUPPORT_THRESHOLD)


def _faithful_but_wrong(grounded: float, item: QAItem, answer: Answer) -> float:
    if math.isnan(grounded) or item.is_impossible or not item.answers:
        return math.nan
    return float(grounded == 1.0 and not answer_contains_gold(answer.text, item.answers))
