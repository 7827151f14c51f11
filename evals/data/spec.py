"""Dataset specs (from a suite or a shipped `datasets/<name>/dataset.toml`) and loading them."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.core.errors import DatasetError
from evals.core.types import Document, QAItem
from evals.data.clusters import ClusterBy
from evals.data.dataset import QADataset, check_unique_ids, split_items
from evals.data.squad_json import load_squad_json
from evals.data.tables import (
    ColumnMapping,
    CorpusColumns,
    documents_from_rows,
    items_from_rows,
    read_hub_rows,
    read_rows,
    table_format,
)

DatasetFormat = Literal["squad", "jsonl", "csv", "parquet", "hub"]
DATASET_FILE = "dataset.toml"


def datasets_dir() -> Path:
    """The `datasets/` folder of this checkout, where shipped datasets live."""
    return Path(__file__).resolve().parents[2] / "datasets"


class DatasetSpec(BaseModel):
    """Where a dataset's questions and corpus come from and how to split them.

    Either `test` (and optionally `train`) name separate files/splits, or `source` names one
    file/hub id that is split by hashing question ids (`test_fraction`). Relative paths are
    resolved against `base_dir` (the suite's or the dataset card's folder).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    format: DatasetFormat | None = None
    source: str | None = None
    train: str | None = None
    test: str | None = None
    corpus: str | None = None
    columns: ColumnMapping = Field(default_factory=ColumnMapping)
    corpus_columns: CorpusColumns = Field(default_factory=CorpusColumns)
    hub_config: str | None = None
    test_fraction: float = Field(default=0.1, gt=0, lt=1)
    limit: int | None = Field(default=None, gt=0)
    cluster_by: ClusterBy = "auto"
    card: str | None = None
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @model_validator(mode="after")
    def _has_questions(self) -> DatasetSpec:
        if not (self.source or self.test):
            raise ValueError("give `source` (one file or hub id, split by test_fraction) or `test`")
        if self.cluster_by == "column" and self.columns.cluster is None:
            raise ValueError('cluster_by = "column" needs the column named: columns = {cluster = "<column>"}')
        return self

    def path(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()


def shipped_datasets() -> dict[str, Path]:
    """Names of the datasets shipped in `datasets/`, mapped to their spec files."""
    root = datasets_dir()
    return {spec.parent.name: spec for spec in sorted(root.glob(f"*/{DATASET_FILE}"))}


def shipped_spec(name: str) -> DatasetSpec:
    """The spec of a dataset shipped in `datasets/<name>/`."""
    shipped = shipped_datasets()
    if name not in shipped:
        known = ", ".join(shipped) or "none"
        raise DatasetError(f"unknown dataset {name!r}; shipped datasets: {known} (or give a source in the suite)")
    return read_spec_file(shipped[name], name)


def read_spec_file(path: Path, name: str) -> DatasetSpec:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DatasetError(f"{path}: unreadable dataset spec: {error}") from None
    return validate_spec({"name": name, **raw}, path.parent, str(path))


def validate_spec(raw: dict, base_dir: Path, where: str) -> DatasetSpec:
    """Validate a spec table; errors name the field."""
    try:
        return DatasetSpec.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'dataset'}: {e['msg']}" for e in error.errors())
        raise DatasetError(f"{where}: invalid dataset spec: {problems}") from None


def load_dataset(spec: DatasetSpec | str) -> QADataset:
    """Load a dataset by shipped name or from a spec.

    Test questions stream into a `QuestionStore` as they are read and checked (unique ids, known gold
    documents), so loading holds no list of them."""
    if isinstance(spec, str):
        spec = shipped_spec(spec)
    test: Iterable[QAItem]
    every_item: Iterable[QAItem]
    if spec.source:
        corpus, items, source = _load_source(spec, spec.source)
        train, test = split_items(items, spec.test_fraction)
        every_item = items
    else:
        assert spec.test is not None
        corpus, items, source = _load_source(spec, spec.test)
        train = []
        if spec.train:
            train_corpus, train_items, _ = _load_source(spec, spec.train)
            corpus, train = _merge_corpora(corpus, train_corpus), list(train_items)
        check_unique_ids(f"dataset {spec.name!r}: train and test together", train, items)
        test, every_item = items, chain(train, items)
    if spec.corpus:
        corpus = _merge_corpora(corpus, _load_corpus(spec, spec.corpus))
    _check_gold_documents(spec.name, every_item, corpus)
    card = _read_card(spec.path(spec.card)) if spec.card else None
    dataset = QADataset.build(spec.name, corpus, train, test, source, card, spec.limit, spec.cluster_by)
    if not dataset.test:
        raise DatasetError(f"dataset {spec.name!r}: the test split is empty ({source})")
    return dataset


def _read_card(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read the dataset card: {error}") from None


def _load_source(spec: DatasetSpec, location: str) -> tuple[list[Document], Sequence[QAItem], str]:
    """Items and any corpus a file or hub split defines, plus a printable description of it. Table rows are
    stored as they stream (a `QuestionStore`); SQuAD JSON is parsed whole anyway, and its list is kept."""
    if spec.format == "hub":
        hub_id, _, split = location.partition(":")
        columns, rows = read_hub_rows(hub_id, split or "validation", spec.hub_config)
        where = f"hub dataset {hub_id!r} split {split or 'validation'!r}"
        items, corpus = items_from_rows(columns, rows, spec.columns, where)
        check_unique_ids(where, items)
        return corpus, items, f"hf:{location}"
    path = spec.path(location)
    fmt = spec.format or ("squad" if path.suffix == ".json" else table_format(path))
    if fmt == "squad":
        corpus, questions = load_squad_json(path)
        return corpus, questions, str(path)
    columns, rows = read_rows(path, fmt)
    items, corpus = items_from_rows(columns, rows, spec.columns, str(path))
    check_unique_ids(str(path), items)
    return corpus, items, str(path)


def _load_corpus(spec: DatasetSpec, location: str) -> list[Document]:
    path = spec.path(location)
    columns, rows = read_rows(path, table_format(path))
    documents = documents_from_rows(columns, rows, spec.corpus_columns, str(path))
    check_unique_ids(f"{path}: corpus", documents)
    return documents


def _merge_corpora(first: list[Document], second: list[Document]) -> list[Document]:
    known = {document.id for document in first}
    return [*first, *(document for document in second if document.id not in known)]


def _check_gold_documents(name: str, items: Iterable[QAItem], corpus: list[Document]) -> None:
    known = {document.id for document in corpus}
    for item in items:
        unknown = [doc_id for doc_id in item.gold_doc_ids if doc_id not in known]
        if unknown:
            raise DatasetError(
                f"dataset {name!r}: question {item.id!r} names gold document(s) {unknown} that are not in the corpus"
            )
