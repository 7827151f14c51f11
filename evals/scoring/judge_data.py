"""Human-labelled faithfulness data: HaluEval QA pairs and BEGIN attribution labels, read as labelled answers.

- HaluEval QA: each question has a right and a hallucinated answer over the same knowledge; both become
  labelled answers of one group (pair), so cross-validation keeps them in the same fold.
- BEGIN: responses labelled "Fully attributable" to their knowledge are the positives, "Not fully
  attributable" and "Generic" the negatives; the dialogue message stands in for the question.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from evals.core.errors import DatasetError

Format = Literal["halueval", "begin"]
FORMATS: tuple[Format, ...] = ("halueval", "begin")
BEGIN_LABELS = ("Fully attributable", "Not fully attributable", "Generic")
BEGIN_POSITIVE = "Fully attributable"
HALUEVAL_SOURCE = "halueval"

Metric = Callable[[str, Sequence[str], str | None], float]
"""(answer, contexts, question) → support in [0, 1]; NaN when undefined."""


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
    data_source: str = "begin"


class LabelledAnswer(BaseModel):
    """One answer with its contexts and a human verdict: is it supported by them?"""

    model_config = ConfigDict(frozen=True)

    answer: str
    contexts: tuple[str, ...]
    question: str
    supported: bool
    source: str
    """Where the row comes from (BEGIN's data_source column; "halueval" for HaluEval)."""
    group: int
    """Rows of one group (a HaluEval pair) are never split between folds."""


@runtime_checkable
class Fittable(Protocol):
    """A metric with constants to choose: `fit` chooses them on labelled answers and returns the metric."""

    def fit(self, rows: Sequence[LabelledAnswer]) -> Metric: ...


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
    """BEGIN TSV rows (header with knowledge, message, response, begin_label and optionally data_source)."""
    reader = csv.DictReader((line for _, line in _lines(path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    missing = {"knowledge", "message", "response", "begin_label"} - set(reader.fieldnames or ())
    if missing:
        raise DatasetError(f"{path}:1: not a BEGIN TSV header; missing column(s) {', '.join(sorted(missing))}")
    rows: list[BeginRow] = []
    for record in reader:
        number = reader.line_num
        if None in record.values() or None in record:
            raise DatasetError(f"{path}:{number}: expected {len(reader.fieldnames or ())} tab-separated fields")
        source = (record.get("data_source") or "").strip() or "begin"
        row = BeginRow.model_validate({**record, "begin_label": record["begin_label"].strip(), "data_source": source})
        if row.begin_label not in BEGIN_LABELS:
            raise DatasetError(
                f"{path}:{number}: unknown begin_label {row.begin_label!r}; expected one of {BEGIN_LABELS}"
            )
        rows.append(row)
    if not rows:
        raise DatasetError(f"{path}: no BEGIN rows")
    return rows


def load_labelled(path: Path, format: Format) -> list[LabelledAnswer]:
    """The file's rows as labelled answers (a HaluEval row gives its right and its hallucinated answer)."""
    if format == "halueval":
        return [
            LabelledAnswer(
                answer=answer,
                contexts=(row.knowledge,),
                question=row.question,
                supported=supported,
                source=HALUEVAL_SOURCE,
                group=index,
            )
            for index, row in enumerate(read_halueval(path))
            for answer, supported in ((row.right_answer, True), (row.hallucinated_answer, False))
        ]
    return [
        LabelledAnswer(
            answer=row.response,
            contexts=(row.knowledge,),
            question=row.message,
            supported=row.begin_label == BEGIN_POSITIVE,
            source=row.data_source,
            group=index,
        )
        for index, row in enumerate(read_begin(path))
    ]
