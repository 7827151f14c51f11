"""Tabular QA data: local JSON Lines (read line by line), CSV/Parquet and Hugging Face hub ids (read with HF
`datasets`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from evals.core.errors import DatasetError
from evals.core.types import Document, QAItem
from evals.data.clusters import CLUSTER_METADATA
from evals.data.question_store import QuestionStore

TableFormat = Literal["jsonl", "csv", "parquet"]
_HF_BUILDER = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}


class ColumnMapping(BaseModel):
    """Which column holds each QA field. `context` derives corpus documents from a passage column
    (as in the hub's `squad`), making each row's passage its gold document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "id"
    question: str = "question"
    answers: str = "answers"
    gold_doc_ids: str | None = None
    is_impossible: str | None = None
    context: str | None = None
    title: str | None = None
    cluster: str | None = None
    """The column grouping questions that share a source (a topic, a document): the unit of resampling."""
    metadata: tuple[str, ...] = ()
    """Extra columns kept as item metadata (e.g. a fact id, a `changed` flag)."""


class CorpusColumns(BaseModel):
    """Which columns of a corpus table hold document id, title and text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "id"
    title: str | None = "title"
    text: str = "text"


def table_format(path: Path) -> TableFormat:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".parquet"):
        return suffix[1:]  # type: ignore[return-value]
    raise DatasetError(
        f"{path}: cannot tell the format from the extension {suffix!r}; set format = jsonl|csv|parquet|squad"
    )


def read_rows(path: Path, fmt: TableFormat) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """Column names and rows of a local table; errors name the file and line.

    JSON Lines are read line by line with the standard library (a first pass checks every line and collects
    the columns, the second yields rows with every column, None where a line lacks one, as HF `datasets`
    would): rows stream, so reading holds no copy of the table. CSV and Parquet go through HF `datasets`."""
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: the file is empty (no rows)")
    if fmt == "jsonl":
        columns = _check_jsonl(path)
        return columns, _jsonl_rows(path, columns)
    if fmt == "csv":
        _check_utf8(path)
    import datasets  # heavy import, deferred until data is actually read

    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset(_HF_BUILDER[fmt], data_files=str(path), split="train")
    except Exception as error:  # pyarrow/datasets raise many types for unreadable files
        raise DatasetError(f"{path}: cannot read as {fmt}: {error}") from None
    return list(table.column_names), iter(table)


def read_hub_rows(hub_id: str, split: str, config: str | None) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """Column names and rows of a split of a Hugging Face hub dataset."""
    import datasets

    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset(hub_id, config, split=split)
    except Exception as error:
        raise DatasetError(f"hub dataset {hub_id!r} split {split!r}: cannot load: {error}") from None
    return list(table.column_names), iter(table)


def items_from_rows(
    columns: list[str], rows: Iterator[Mapping[str, Any]], mapping: ColumnMapping, where: str
) -> tuple[QuestionStore, list[Document]]:
    """Validate mapped rows into QA items, stored as they stream past, plus the documents a `context` column
    defines."""
    wanted = {
        name: column for name, column in mapping.model_dump().items() if column is not None and name != "metadata"
    }
    missing = sorted(column for name, column in wanted.items() if column not in columns and name != "title")
    missing += [column for column in mapping.metadata if column not in columns]
    if missing:
        raise DatasetError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))}; the file has {', '.join(columns)}. "
            'Map them with the dataset\'s `columns` table, e.g. columns = {question = "q"}'
        )
    documents: dict[str, Document] = {}

    def items() -> Iterator[QAItem]:
        for row_number, row in enumerate(rows, start=1):
            gold_doc_ids = _as_list(row[mapping.gold_doc_ids]) if mapping.gold_doc_ids else []
            if mapping.context:
                document = _context_document(row, mapping)
                documents.setdefault(document.id, document)
                gold_doc_ids = [document.id]
            if row[mapping.answers] is None and not mapping.is_impossible:
                raise DatasetError(
                    f"{where}: row {row_number}, column {mapping.answers!r} is missing; "
                    "give [] for an unanswerable question or map an is_impossible column"
                )
            answers = _answer_texts(row[mapping.answers], f"{where}: row {row_number}, column {mapping.answers!r}")
            try:
                yield QAItem(
                    id=str(row[mapping.id]),
                    question=row[mapping.question],
                    answers=answers,
                    gold_doc_ids=[str(doc_id) for doc_id in gold_doc_ids],
                    is_impossible=bool(row[mapping.is_impossible]) if mapping.is_impossible else not answers,
                    metadata=_metadata(row, mapping),
                )
            except ValidationError as error:
                first = error.errors()[0]
                field = str(first["loc"][0]) if first["loc"] else "row"
                column = wanted.get(field, field)
                raise DatasetError(f"{where}: row {row_number}, column {column!r}: {first['msg']}") from None

    stored = QuestionStore.from_items(items())  # consumes the rows, filling `documents`
    return stored, list(documents.values())


def _metadata(row: Mapping[str, Any], mapping: ColumnMapping) -> dict[str, Any]:
    """The mapped metadata columns, and the cluster column as `cluster` (a string id)."""
    metadata = {column: row[column] for column in mapping.metadata}
    if mapping.cluster is not None:
        metadata[CLUSTER_METADATA] = str(row[mapping.cluster])
    return metadata


def documents_from_rows(
    columns: list[str], rows: Iterator[Mapping[str, Any]], mapping: CorpusColumns, where: str
) -> list[Document]:
    """Validate a corpus table into documents."""
    missing = [column for column in (mapping.id, mapping.text) if column not in columns]
    if missing:
        raise DatasetError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))}; the file has {', '.join(columns)}"
        )
    documents = []
    for row_number, row in enumerate(rows, start=1):
        try:
            documents.append(
                Document(
                    id=str(row[mapping.id]),
                    title=str(row.get(mapping.title) or "") if mapping.title else "",
                    text=row[mapping.text],
                )
            )
        except ValidationError as error:
            first = error.errors()[0]
            raise DatasetError(f"{where}: row {row_number}, field {first['loc'][0]!r}: {first['msg']}") from None
    return documents


def _answer_texts(value: Any, where: str) -> list[str]:
    """Acceptable answers as a flat list of strings, from a string, a number, a list (nested lists of
    alternatives are flattened, as RGB ships them), or SQuAD-hub style {"text": [...]}. Any other shape is an
    error naming `where`, never a stringified object silently used as a gold answer."""
    if isinstance(value, Mapping):
        if "text" not in value:
            raise DatasetError(f"{where}: an answer object needs a 'text' field, got keys {sorted(value)}")
        value = value["text"]
    if isinstance(value, str) and value.lstrip().startswith("["):
        with contextlib.suppress(json.JSONDecodeError, RecursionError):
            value = json.loads(value)  # CSV cells holding a JSON list
    try:
        leaves = _flatten(value)
    except RecursionError:
        raise DatasetError(f"{where}: answers nested too deeply to read") from None
    texts = []
    for answer in leaves:
        if isinstance(answer, bool) or not isinstance(answer, str | int | float):
            raise DatasetError(f"{where}: expected answer text, a number or a list of them; found {answer!r}")
        if str(answer).strip():
            texts.append(str(answer))
    if leaves and not texts:
        raise DatasetError(
            f"{where}: every answer is blank ({value!r}); give [] to mark an unanswerable question, which switches "
            "the dataset to SQuAD 2.0 scoring"
        )
    return texts


def _flatten(value: Any) -> list[Any]:
    """Nested lists and tuples (and numpy arrays from Parquet) as one flat list; None as no answers."""
    if value is None:
        return []
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [leaf for element in value for leaf in _flatten(element)]
    return [value]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _context_document(row: Mapping[str, Any], mapping: ColumnMapping) -> Document:
    assert mapping.context is not None
    text = str(row[mapping.context])
    title = str(row.get(mapping.title, "")) if mapping.title is not None else ""
    doc_id = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Document(id=doc_id, title=title, text=text)


def _check_utf8(path: Path) -> None:
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DatasetError(f"{path}: line {line_number} is not valid UTF-8 (byte {error.start})") from None


def _check_jsonl(path: Path) -> list[str]:
    """Every line is a JSON object, or the first that is not is named; returns the columns (keys in order of
    first appearance)."""
    _check_utf8(path)
    columns: dict[str, None] = {}
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(
                    f"{path}: line {line_number}: broken JSON ({error.msg}, column {error.colno})"
                ) from None
            except RecursionError:
                raise DatasetError(f"{path}: line {line_number}: JSON nested too deeply to read") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path}: line {line_number}: expected a JSON object, got {type(record).__name__}")
            columns.update(dict.fromkeys(record))
    if not columns:
        raise DatasetError(f"{path}: no rows (only blank lines or empty objects)")
    return list(columns)


def _jsonl_rows(path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                yield {column: record.get(column) for column in columns}
