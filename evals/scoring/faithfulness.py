"""Offline faithfulness: is an answer supported by the contexts it was given? No judge model needed.

The answer is split into claims (sentences) and content words; words the question already contains are
discounted, since restating the question claims little. Each claim must be found *together* in one context
passage (a sentence with its predecessor, so "he"/"she" sentences keep their subject), not scattered over the
contexts, and every number and proper name it adds must occur in the contexts, else the score is cut hard.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from evals.scoring.base import Scorer
from evals.types import Answer, QAItem

QUESTION_WEIGHT = 0.25
"""Weight of an answer word the question already contains (a new word weighs 1)."""
UNSUPPORTED_NAME_FACTOR = 0.2
"""The score is multiplied by this for each number or proper name that no context contains."""
SUPPORT_THRESHOLD = 0.5
"""`grounded` and `cited_precision` count an answer as supported from this score on."""

_STOP_WORDS = ENGLISH_STOP_WORDS | {"yes", "did", "does", "doesn", "isn", "wasn", "s", "t"}
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*(?:\s+|(?=[A-Z][a-z]))")
_SUFFIXES = ("ations", "ation", "ities", "ings", "ians", "ing", "ies", "ian", "ity", "ed", "es", "ly", "al", "s")


@dataclass(frozen=True)
class _Token:
    stem: str
    name: bool
    """A number or a capitalized word not at the start of its sentence."""


def _fold(text: str) -> str:
    """Strip accents so "Muñoz" matches "Munoz"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _stem(word: str) -> str:
    """A light suffix stripper: "canadian" and "canada", "mathematician" and "mathematical" meet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word.rstrip("aeiouy") if len(word) > 4 else word


def _sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(text) if part.strip()]


def _tokens(text: str) -> list[_Token]:
    """Content tokens of a text, first occurrence of each stem only."""
    tokens: dict[str, _Token] = {}
    for sentence in _sentences(_fold(text)):
        for index, match in enumerate(_WORD.finditer(sentence)):
            word = match.group()
            lower = word.lower()
            if lower in _STOP_WORDS:
                continue
            name = word.isdigit() or (index > 0 and word[0].isupper())
            tokens.setdefault(_stem(lower), _Token(_stem(lower), name))
    return list(tokens.values())


def _stems(text: str) -> set[str]:
    return {token.stem for token in _tokens(text)}


def faithfulness_score(answer: str, contexts: Sequence[str], question: str | None = None) -> float:
    """Support of `answer` by `contexts` in [0, 1]; NaN when either side has no text."""
    if not answer.strip() or not any(context.strip() for context in contexts):
        return math.nan
    question_stems = _stems(question or "")
    passages: list[set[str]] = []
    for context in contexts:
        sentences = [_stems(sentence) for sentence in _sentences(_fold(context))]
        passages += [previous | current for previous, current in zip([set(), *sentences], sentences, strict=False)]
    everywhere = set().union(*passages)
    claims = [_tokens(claim) for claim in _sentences(answer)]
    claims = [claim for claim in claims if claim]
    if not claims:  # "yes", "no": the answer claims nothing beyond its question, whose terms must be in the contexts
        claims = [_tokens(question or "")]
        question_stems = set()
    score, total = 0.0, 0.0
    for claim in claims:
        weights = {t.stem: QUESTION_WEIGHT if t.stem in question_stems else 1.0 for t in claim}
        weight = sum(weights.values())
        local = max(sum(w for stem, w in weights.items() if stem in passage) for passage in passages)
        found = sum(w for stem, w in weights.items() if stem in everywhere)
        missing_names = sum(t.name and t.stem not in everywhere and t.stem not in question_stems for t in claim)
        score += (local + found) / 2 * UNSUPPORTED_NAME_FACTOR**missing_names
        total += weight
    return score / total if total else math.nan
