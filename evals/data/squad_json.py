"""SQuAD-format JSON (v1.1 and v2.0): one document per paragraph, one item per question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evals.core.errors import DatasetError
from evals.core.types import Document, QAItem
from evals.data.dataset import check_unique_ids


def read_json(path: Path) -> Any:
    """Parse a JSON file; a syntax or encoding error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not valid UTF-8 (byte {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: broken JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise DatasetError(f"{path}: JSON nested too deeply to read (thousands of levels)") from None


def load_squad_json(path: Path) -> tuple[list[Document], list[QAItem]]:
    """Read an official SQuAD JSON file into (corpus, items).

    Paragraph ids are ``<title>/<paragraph index>`` (``<title>#<article index>/...`` for a second article
    with the same title); each question's gold document is its paragraph.
    Unanswerable v2.0 questions are kept with `is_impossible=True` and no answers.
    """
    payload = read_json(path)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise DatasetError(
            f"{path}: not SQuAD format (expected an object with a 'data' list of articles); for a table of "
            'question/answer records, save it as JSON Lines and set format = "jsonl" in the dataset entry'
        )
    corpus: list[Document] = []
    items: list[QAItem] = []
    titles: set[str] = set()
    for article_index, article in enumerate(payload["data"]):
        where = f"{path}: data[{article_index}]"
        title = _field(article, "title", where, str)
        article_id = title if title not in titles else f"{title}#{article_index}"  # two articles, one title
        titles.add(title)
        for paragraph_index, paragraph in enumerate(_field(article, "paragraphs", where, list)):
            paragraph_where = f"{where}.paragraphs[{paragraph_index}]"
            doc_id = f"{article_id}/{paragraph_index}"
            try:
                corpus.append(Document(id=doc_id, title=title, text=_field(paragraph, "context", paragraph_where, str)))
                for qa_index, qa in enumerate(_field(paragraph, "qas", paragraph_where, list)):
                    items.append(_item(qa, doc_id, f"{paragraph_where}.qas[{qa_index}]"))
            except ValidationError as error:
                first = error.errors()[0]
                field = ".".join(str(part) for part in first["loc"])
                raise DatasetError(f"{paragraph_where}: field {field!r}: {first['msg']}") from None
    check_unique_ids(f"{path}: questions", items)
    return corpus, items


def _item(qa: Any, doc_id: str, where: str) -> QAItem:
    is_impossible = bool(qa.get("is_impossible", False)) if isinstance(qa, dict) else False
    answers = [_field(answer, "text", f"{where}.answers", str) for answer in _field(qa, "answers", where, list)]
    if not answers and not is_impossible:
        raise DatasetError(f"{where}: question {qa.get('id')!r} has no answers and is not marked is_impossible")
    return QAItem(
        id=_field(qa, "id", where, str),
        question=_field(qa, "question", where, str),
        answers=answers,
        gold_doc_ids=[doc_id],
        is_impossible=is_impossible,
    )


def _field(record: Any, name: str, where: str, kind: type) -> Any:
    if not isinstance(record, dict) or name not in record:
        raise DatasetError(f"{where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, kind):
        raise DatasetError(f"{where}.{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value
