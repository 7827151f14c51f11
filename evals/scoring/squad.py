"""Exact match and F1 as computed by the official SQuAD v1.1 and v2.0 evaluation scripts.

Both scripts normalize answers the same way; they differ in how they treat gold answers
that normalize to nothing and in F1 when a side has no tokens:

- v1.1 scores every gold answer as given; F1 is 0 whenever no token is shared, so an
  empty prediction never gets F1 credit, even against an empty gold answer.
- v2.0 drops gold answers that normalize to "", uses [""] (abstain) when none remain,
  and gives F1 = 1.0 if both sides have no tokens, 0.0 if only one side has none.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

from evals.core.types import Answer, QAItem, RunContext
from evals.data.dataset import QADataset, SquadVersion
from evals.scoring.base import Scorer

_PUNCTUATION = frozenset(string.punctuation)
# v1.1 writes r"\b(a|an|the)\b" and v2.0 adds re.UNICODE; for str patterns Python 3
# matches Unicode by default, so both scripts strip articles identically.
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation and the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _gold_for_version(gold_answers: Sequence[str], version: SquadVersion) -> list[str]:
    """Return the gold answers the given script's max-over-golds would iterate over."""
    if version == "2.0":
        kept = [answer for answer in gold_answers if normalize_answer(answer)]
        return kept or [""]
    if not gold_answers:
        raise ValueError("SQuAD v1.1 scoring needs at least one gold answer per question")
    return list(gold_answers)


def _f1_single(prediction: str, gold: str, version: SquadVersion) -> float:
    """F1 over normalized tokens of one prediction and one gold answer."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if version == "2.0" and (not pred_tokens or not gold_tokens):
        return float(pred_tokens == gold_tokens)
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def exact_match(prediction: str, gold_answers: Sequence[str], version: SquadVersion = "1.1") -> float:
    """1.0 if the normalized prediction equals any (version-filtered) normalized gold answer."""
    normalized = normalize_answer(prediction)
    golds = _gold_for_version(gold_answers, version)
    return max(float(normalized == normalize_answer(gold)) for gold in golds)


def f1_score(prediction: str, gold_answers: Sequence[str], version: SquadVersion = "1.1") -> float:
    """Best token-level F1 of the prediction against the (version-filtered) gold answers."""
    golds = _gold_for_version(gold_answers, version)
    return max(_f1_single(prediction, gold, version) for gold in golds)


def _percent(scores: Mapping[str, tuple[float, float]], metric: int, qids: Sequence[str], total: int) -> float:
    """Sum of one metric (0: EM, 1: F1) over `qids`, in their order, as a percentage of `total` questions."""
    return 100.0 * sum(scores[q][metric] for q in qids) / total


def evaluate_predictions(
    gold: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    version: SquadVersion = "1.1",
) -> dict[str, float]:
    """Dataset scores (0-100) with the keys the official script of `version` prints.

    `gold` maps question id to its gold answer texts (empty for unanswerable v2.0
    questions); predictions for ids not in `gold` are ignored, as the scripts do.

    - v1.1: {"exact_match", "f1"}; a missing prediction scores 0 and still counts.
    - v2.0: {"exact", "f1", "total"}, then "HasAns_exact", "HasAns_f1", "HasAns_total"
      when some question has answers and "NoAns_*" likewise when some has none (the
      output without an na_prob file). The v2.0 script fails on a missing prediction;
      this raises ValueError instead.
    """
    if not gold:
        raise ValueError("cannot score SQuAD predictions against an empty gold set")
    qids = list(gold)
    scores = {q: exact_match_and_f1(predictions[q], gold[q], version) for q in qids if q in predictions}
    if version == "1.1":
        answered = [q for q in qids if q in predictions]
        return {
            "exact_match": _percent(scores, 0, answered, len(qids)),
            "f1": _percent(scores, 1, answered, len(qids)),
        }
    missing = [q for q in qids if q not in predictions]
    if missing:
        raise ValueError(
            f"SQuAD v2.0 scoring needs a prediction for every question; {len(missing)} missing, e.g. {missing[:3]}"
        )
    result: dict[str, float] = {}
    groups = (
        ("", qids),
        ("HasAns_", [q for q in qids if gold[q]]),
        ("NoAns_", [q for q in qids if not gold[q]]),
    )
    for prefix, group in groups:
        if group:
            n = len(group)
            result[f"{prefix}exact"] = _percent(scores, 0, group, n)
            result[f"{prefix}f1"] = _percent(scores, 1, group, n)
            result[f"{prefix}total"] = n
    return result


_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _normalized_tokens(text: str) -> list[str]:
    """`normalize_answer(text).split()`, computed faster: `translate` deletes the same ASCII punctuation the
    character filter drops, and splitting the article-stripped text gives the tokens that joining and
    re-splitting would (tests/test_bench_scale.py checks the scorer against the metrics)."""
    return _ARTICLES.sub(" ", text.lower().translate(_DELETE_PUNCTUATION)).split()


def _shared_tokens(pred_tokens: list[str], pred_set: set[str], gold_tokens: list[str]) -> int:
    """`sum((Counter(pred_tokens) & Counter(gold_tokens)).values())`: with no repeated token on either side
    (the usual short answer) that is the size of the sets' intersection, without building two Counters."""
    gold_set = set(gold_tokens)
    if len(pred_set) == len(pred_tokens) and len(gold_set) == len(gold_tokens):
        return len(pred_set & gold_set)
    return sum((Counter(pred_tokens) & Counter(gold_tokens)).values())


class SquadScorer(Scorer):
    """EM and F1 under the dataset's SQuAD rules (v2.0 when it has unanswerable questions).

    Gives exactly `exact_match` and `f1_score` (through `exact_match_and_f1`), and looks the dataset's SQuAD
    version up once, not per item."""

    metrics = ("exact_match", "f1")

    def __init__(self, dataset: QADataset, context: RunContext | None = None) -> None:
        super().__init__(dataset, context)
        self.version: SquadVersion = dataset.squad_version

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        exact, f1 = exact_match_and_f1(answer.text, item.answers, self.version)
        return {"exact_match": exact, "f1": f1}


def exact_match_and_f1(prediction: str, gold_answers: Sequence[str], version: SquadVersion) -> tuple[float, float]:
    """`exact_match` and `f1_score` together, exactly (the same floats), with the prediction and each gold answer
    normalized once for both metrics (the functions do it per metric and per gold)."""
    pred_tokens = _normalized_tokens(prediction)
    normalized = " ".join(pred_tokens)
    pred_set = set(pred_tokens)
    exact, f1 = 0.0, 0.0
    for gold in _gold_for_version(gold_answers, version):
        gold_tokens = _normalized_tokens(gold)
        if normalized == " ".join(gold_tokens):
            exact = 1.0
        # `_f1_single` on the tokens: the same operations in the same order, so the same float
        if version == "2.0" and (not pred_tokens or not gold_tokens):
            f1 = max(f1, float(not pred_tokens and not gold_tokens))
            continue
        num_same = _shared_tokens(pred_tokens, pred_set, gold_tokens)
        if num_same:
            precision = num_same / len(pred_tokens)
            recall = num_same / len(gold_tokens)
            f1 = max(f1, (2 * precision * recall) / (precision + recall))
    return exact, f1
