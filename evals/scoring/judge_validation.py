"""Validate offline faithfulness metrics against human-labelled hallucination and attribution data.

- HaluEval QA: each question has a right and a hallucinated answer over the same knowledge; a metric
  passes a pair when it scores the right answer strictly higher (ties fail).
- BEGIN (Wizard of Wikipedia dev): responses labelled "Fully attributable" to their knowledge are the
  positives, "Not fully attributable" and "Generic" the negatives; the figure is ROC AUC.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel, ValidationError
from sklearn.metrics import roc_auc_score

from evals.core.errors import DatasetError, EvalsError
from evals.scoring.faithfulness import faithfulness_score
from evals.scoring.ragas_judge import ragas_faithfulness
from evals.scoring.squad import normalize_answer

Metric = Callable[[str, Sequence[str], str | None], float]
"""(answer, contexts, question) → support in [0, 1]; NaN when undefined."""

BEGIN_LABELS = ("Fully attributable", "Not fully attributable", "Generic")
BEGIN_POSITIVE = "Fully attributable"


def lexical_overlap(answer: str, contexts: Sequence[str], question: str | None = None) -> float:
    """Baseline: share of the answer's normalized tokens that occur anywhere in the contexts."""
    tokens = normalize_answer(answer).split()
    if not tokens:
        return math.nan
    known = set(normalize_answer(" ".join(contexts)).split())
    return sum(token in known for token in tokens) / len(tokens)


METRICS: dict[str, Metric] = {
    "faithfulness": faithfulness_score,
    "lexical_overlap": lexical_overlap,
    "ragas_faithfulness": ragas_faithfulness,  # needs a judge endpoint: EVALS_JUDGE_MODEL, EVALS_JUDGE_BASE_URL
}


def get_metric(name: str) -> Metric:
    """The metric registered as `name`; an EvalsError listing the known names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise EvalsError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}") from None


class HaluEvalRow(BaseModel):
    knowledge: str
    question: str
    right_answer: str
    hallucinated_answer: str


class BeginRow(BaseModel):
    knowledge: str
    message: str
    response: str
    begin_label: str


class PairwiseResult(BaseModel):
    """Share of HaluEval pairs whose right answer the metric scores strictly above the hallucinated one."""

    metric: str
    n: int
    pairwise_accuracy: float
    ties: int


class RocAucResult(BaseModel):
    """ROC AUC of the metric separating fully attributable BEGIN responses from the rest."""

    metric: str
    n: int
    n_positive: int
    roc_auc: float


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 file; missing or undecodable files raise DatasetError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise DatasetError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not valid UTF-8 (byte {error.start})") from None
    yield from enumerate(text.splitlines(), start=1)


def read_halueval(path: Path) -> list[HaluEvalRow]:
    """HaluEval QA JSONL rows; a broken line raises DatasetError naming the file and line."""
    rows: list[HaluEvalRow] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            rows.append(HaluEvalRow.model_validate(json.loads(line)))
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}:{number}: not valid JSON ({error.msg}, column {error.colno})") from None
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, e["loc"])) or "row" for e in error.errors())
            raise DatasetError(
                f"{path}:{number}: not a HaluEval QA row (needs string fields knowledge, question, "
                f"right_answer, hallucinated_answer; bad: {fields})"
            ) from None
    if not rows:
        raise DatasetError(f"{path}: no HaluEval rows")
    return rows


def read_begin(path: Path) -> list[BeginRow]:
    """BEGIN TSV rows (header with knowledge, message, response, begin_label); errors name file and line."""
    reader = csv.DictReader((line for _, line in _lines(path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    missing = {"knowledge", "message", "response", "begin_label"} - set(reader.fieldnames or ())
    if missing:
        raise DatasetError(f"{path}:1: not a BEGIN TSV header; missing column(s) {', '.join(sorted(missing))}")
    rows: list[BeginRow] = []
    for record in reader:
        number = reader.line_num
        if None in record.values() or None in record:
            raise DatasetError(f"{path}:{number}: expected {len(reader.fieldnames or ())} tab-separated fields")
        row = BeginRow.model_validate({**record, "begin_label": record["begin_label"].strip()})
        if row.begin_label not in BEGIN_LABELS:
            raise DatasetError(
                f"{path}:{number}: unknown begin_label {row.begin_label!r}; expected one of {BEGIN_LABELS}"
            )
        rows.append(row)
    if not rows:
        raise DatasetError(f"{path}: no BEGIN rows")
    return rows


def _resolve(metric: str | Metric) -> tuple[str, Metric]:
    return (metric, get_metric(metric)) if isinstance(metric, str) else (getattr(metric, "__name__", "custom"), metric)


def halueval_pairwise_accuracy(path: Path, metric: str | Metric = "faithfulness") -> PairwiseResult:
    """Score both answers of each HaluEval row against its knowledge and question; NaN and ties fail."""
    name, score = _resolve(metric)
    rows = read_halueval(path)
    wins = ties = 0
    for row in rows:
        right = score(row.right_answer, [row.knowledge], row.question)
        hallucinated = score(row.hallucinated_answer, [row.knowledge], row.question)
        wins += right > hallucinated
        ties += right == hallucinated
    return PairwiseResult(metric=name, n=len(rows), pairwise_accuracy=wins / len(rows), ties=ties)


def begin_roc_auc(path: Path, metric: str | Metric = "faithfulness") -> RocAucResult:
    """ROC AUC of the metric (response vs knowledge, message as question); an undefined score counts as 0."""
    name, score = _resolve(metric)
    rows = read_begin(path)
    labels = [row.begin_label == BEGIN_POSITIVE for row in rows]
    if all(labels) or not any(labels):
        raise DatasetError(f"{path}: ROC AUC needs both fully attributable and other responses")
    scores = [score(row.response, [row.knowledge], row.message) for row in rows]
    scores = [0.0 if math.isnan(value) else value for value in scores]
    return RocAucResult(metric=name, n=len(rows), n_positive=sum(labels), roc_auc=float(roc_auc_score(labels, scores)))
