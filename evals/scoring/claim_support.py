"""Lexical claim support: are an answer's words found, together, in its contexts? No model needed.

Each answer sentence is a claim; its words must be found *together* in one context passage (a sentence with
its predecessor, so "he"/"she" sentences keep their subject) as well as anywhere in the contexts. Words the
question already contains weigh less (restating the question claims little, which is how hallucinated answers
look supported), function words weigh little, and every number, proper name or negation the claim adds that no
context contains cuts the score hard. A small per-word risk makes a longer answer score below an equally
supported shorter one, so the score rarely ties.

Its constants were hand-tuned on the validation data in datasets/judge-validation/, so its figures there
flatter it; it is one feature of the fitted `faithfulness` score (evals/scoring/faithfulness_model.py) and is
available on its own as the `faithfulness_lexical` scorer.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

QUESTION_WEIGHT = 0.5
"""Weight of an answer word that the question already contains (a new content word weighs 1)."""
STOP_WEIGHT = 0.5
"""Weight of a function word ("the", "was", ...) relative to a content word."""
UNSUPPORTED_FACTOR = 0.2
"""A claim's support is multiplied by this for each number, name or negation that no context contains."""
RISK_PER_WORD = 0.002
"""Residual risk of each asserted (weighted) word that lexical matching cannot rule out: breaks ties in
favour of the answer that claims less. At 0.01 it validated marginally better (BEGIN AUC 0.959 vs 0.956)
but scored a verbatim 25-word quote of its source below 0.8; at 0.002 such a quote scores about 0.93."""

_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty"
)
NUMBER_WORDS = {word: str(value) for value, word in enumerate(_NUMBERS.split())}
NEGATIONS = frozenset({"not", "no", "never", "nor", "neither", "nobody", "nothing", "none", "without", "t"})
PERSONAL = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our", "you", "your", "yours"})
"""First and second person: statements about the speakers, never about the sources, so they weigh fully."""
STOP_WORDS = (ENGLISH_STOP_WORDS | {"yes", "did", "does", "s", "ve", "ll", "re", "d", "m"}) - NEGATIONS - PERSONAL

_WORD = re.compile(r"\w+")
# A sentence ends at . ! or ? (with closing quotes) before whitespace or a capitalized word: HaluEval
# knowledge joins passages without a space ("...1846).First for Women is").
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*(?:\s+|(?=[A-Z][a-z]))")
_SUFFIXES = ("ations", "ation", "ities", "ings", "ians", "ing", "ies", "ian", "ity", "ed", "es", "ly", "al", "s")


@dataclass(frozen=True)
class _Token:
    stem: str
    weight: float
    critical: bool
    """A number, a negation or a capitalized word not starting its sentence: must occur in the contexts."""


def _fold(text: str) -> str:
    """Strip accents so that "Muñoz" matches "Munoz"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _stem(word: str) -> str:
    """Number words become digits; a light suffix stripper makes "canadian"/"canada" and "kinds"/"kind" meet."""
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word.rstrip("aeiouy") if len(word) > 4 else word


def _sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(_fold(text)) if part.strip()]


def _tokens(sentence: str) -> list[_Token]:
    """Each distinct stem of one sentence, with its weight and whether it is critical."""
    tokens: dict[str, _Token] = {}
    for index, match in enumerate(_WORD.finditer(sentence)):
        word = match.group()
        lower = word.lower()
        stem = _stem(lower)
        if stem in tokens:
            continue
        stop = lower in STOP_WORDS
        critical = not stop and (stem.isdigit() or lower in NEGATIONS or (index > 0 and word[0].isupper()))
        tokens[stem] = _Token(stem, STOP_WEIGHT if stop else 1.0, critical)
    return list(tokens.values())


def _stems(text: str) -> set[str]:
    return {token.stem for sentence in _sentences(text) for token in _tokens(sentence)}


def claim_support(answer: str, contexts: Sequence[str], question: str | None = None) -> float:
    """Support of `answer` by `contexts` in [0, 1] (1 = every claim found together in one passage).

    NaN when the answer or every context is blank. An answer without content words ("yes") asserts only
    its question, so it is scored by how well the contexts support the question's terms.
    """
    if not answer.strip() or not any(context.strip() for context in contexts):
        return math.nan
    question_stems = _stems(question or "")
    passages: list[set[str]] = []
    for context in contexts:
        sentences = [_stems(sentence) for sentence in _sentences(context)]
        passages += [previous | current for previous, current in zip([set(), *sentences], sentences, strict=False)]
    everywhere = set().union(*passages)
    claims = [_tokens(sentence) for sentence in _sentences(answer)]
    vacuous = all(token.weight < 1.0 for claim in claims for token in claim)
    if vacuous:
        claims = [_tokens(sentence) for sentence in _sentences(question or "")]
        question_stems = set()
    supported, asserted = 0.0, 0.0
    for claim in claims:
        weights = {t.stem: t.weight * (QUESTION_WEIGHT if t.stem in question_stems else 1.0) for t in claim}
        if not weights:
            continue
        local = max(sum(w for stem, w in weights.items() if stem in passage) for passage in passages)
        found = sum(w for stem, w in weights.items() if stem in everywhere)
        missing = sum(t.critical and t.stem not in everywhere and t.stem not in question_stems for t in claim)
        supported += (local + found) / 2 * UNSUPPORTED_FACTOR**missing
        asserted += sum(weights.values())
    if not asserted:
        return math.nan
    return supported / asserted * math.exp(-RISK_PER_WORD * (0.0 if vacuous else asserted))


def unsupported_words(answer: str, contexts: Sequence[str], question: str | None = None) -> int:
    """Distinct content words (stems) of the answer that neither the question nor any context contains."""
    known = _stems(question or "").union(*(_stems(context) for context in contexts))
    return len({t.stem for s in _sentences(answer) for t in _tokens(s) if t.weight == 1.0} - known)
