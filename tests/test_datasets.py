"""Dataset loading: SQuAD JSON, local tables with column mappings, hub-style folders, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import SHARED

from evals.core.errors import DatasetError
from evals.data import DatasetSpec, load_dataset
from evals.data.dataset import split_items

ROWS = [
    {"qid": "q1", "q": "Who wrote Hamlet?", "a": ["Shakespeare", "William Shakespeare"], "doc": "d1"},
    {"qid": "q2", "q": "What is the capital of France?", "a": ["Paris"], "doc": "d2"},
    {"qid": "q3", "q": "Who painted the Mona Lisa?", "a": ["Leonardo da Vinci"], "doc": "d3"},
]
CORPUS = [
    {"id": "d1", "title": "Hamlet", "text": "Hamlet is a tragedy written by William Shakespeare."},
    {"id": "d2", "title": "France", "text": "Paris is the capital and largest city of France."},
    {"id": "d3", "title": "Mona Lisa", "text": "The Mona Lisa is a portrait painted by Leonardo da Vinci."},
]
MAPPING = {"id": "qid", "question": "q", "answers": "a", "gold_doc_ids": "doc"}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def spec(tmp_path: Path, **fields) -> DatasetSpec:
    return DatasetSpec.model_validate({"name": "toy", "base_dir": tmp_path, **fields})


def test_shipped_squad_mini_is_split_deterministically_over_one_corpus() -> None:
    dataset = load_dataset("squad-mini")
    assert (len(dataset.corpus), len(dataset.train), len(dataset.test)) == (270, 1157, 140)
    assert not {item.id for item in dataset.train} & {item.id for item in dataset.test}
    corpus_ids = {document.id for document in dataset.corpus}
    assert all(item.gold_doc_ids[0] in corpus_ids for item in dataset.test)
    assert dataset.squad_version == "1.1"
    assert load_dataset("squad-mini").fingerprint == dataset.fingerprint
    assert dataset.card and "CC BY-SA 4.0" in dataset.card


def test_split_does_not_depend_on_row_order() -> None:
    items = load_dataset("squad-mini").train
    train, test = (list(part) for part in split_items(items, 0.5))
    train_reversed, test_reversed = (list(part) for part in split_items(list(reversed(items)), 0.5))
    assert {item.id for item in test} == {item.id for item in test_reversed}
    assert 0 < len(test) < len(items) and len(train) + len(test) == len(items)


def test_squad_v2_keeps_unanswerable_questions(tmp_path: Path) -> None:
    fixture = json.loads((SHARED / "data/squad/fixture_v2.0_1article.json").read_text())
    path = tmp_path / "v2.json"
    path.write_text(json.dumps({"version": "v2.0", "data": fixture["data"]}))
    dataset = load_dataset(spec(tmp_path, source="v2.json", test_fraction=0.5))
    items = [*dataset.train, *dataset.test]
    impossible = [item for item in items if item.is_impossible]
    assert len(items) == 192 and impossible and all(not item.answers for item in impossible)
    assert dataset.squad_version == "2.0"


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_local_tables_with_column_mapping(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(ROWS)
    if suffix == "jsonl":
        write_jsonl(tmp_path / "qa.jsonl", ROWS)
    elif suffix == "csv":
        frame.assign(a=frame["a"].map(json.dumps)).to_csv(tmp_path / "qa.csv", index=False)
    else:
        frame.to_parquet(tmp_path / "qa.parquet")
    write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    dataset = load_dataset(spec(tmp_path, test=f"qa.{suffix}", corpus="corpus.jsonl", columns=MAPPING))
    by_id = {item.id: item for item in dataset.test}
    assert by_id["q1"].answers == ["Shakespeare", "William Shakespeare"]
    assert by_id["q2"].gold_doc_ids == ["d2"]
    assert len(dataset.corpus) == 3


def test_context_column_defines_the_corpus_as_on_the_hub(tmp_path: Path) -> None:
    """The hub's `squad` layout: context column, answers as {"text": [...], "answer_start": [...]}."""
    rows = [
        {
            "id": f"s{i}",
            "title": "T",
            "context": CORPUS[i]["text"],
            "question": ROWS[i]["q"],
            "answers": {"text": ROWS[i]["a"], "answer_start": [0] * len(ROWS[i]["a"])},
        }
        for i in range(3)
    ]
    folder = tmp_path / "hub_like"
    folder.mkdir()
    write_jsonl(folder / "validation.jsonl", rows)
    dataset = load_dataset(
        spec(
            tmp_path,
            format="hub",
            source=str(folder) + ":validation",
            test_fraction=0.99,
            columns={"context": "context", "title": "title"},
        )
    )
    items = [*dataset.train, *dataset.test]
    assert len(items) == 3 and len(dataset.corpus) == 3
    assert {doc.id for doc in dataset.corpus} == {item.gold_doc_ids[0] for item in items}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"qid": "q1", "q": "Who?", "a": ["x"]}\n{"qid": "q2", "q": "What?", "a": ["y"]\n', "line 2: broken JSON"),
        ('{"qid": "q1", "q": "", "a": ["x"]}\n', "row 1, column 'q'"),
        ('{"qid": "q1", "q": 7, "a": ["x"]}\n', "row 1, column 'q'"),
        ('{"qid": "q1", "q": "Who?", "a": ["x"]}\n{"qid": "q1", "q": "Again?", "a": ["y"]}\n', "duplicate id 'q1'"),
        ('{"qid": "q1", "q": "Who?", "a": ["x"]}\n{"qid": "q2", "q": "Who?"}\n', "row 2, column 'a' is missing"),
        ("[1, 2]\n", "line 1: expected a JSON object"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "bad.jsonl").write_text(content, encoding="utf-8")
    mapping = {"id": "qid", "question": "q", "answers": "a"}
    with pytest.raises(DatasetError, match="bad.jsonl") as error:
        load_dataset(spec(tmp_path, test="bad.jsonl", columns=mapping))
    assert expected in str(error.value)


def test_missing_column_lists_the_columns_present(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "qa.jsonl", ROWS)
    with pytest.raises(
        DatasetError, match=r"missing column\(s\) 'answers', 'id', 'question'; the file has qid, q, a, doc"
    ):
        load_dataset(spec(tmp_path, test="qa.jsonl"))


def test_non_utf8_and_unknown_gold_documents(tmp_path: Path) -> None:
    (tmp_path / "latin1.jsonl").write_bytes(
        '{"id": "q1", "question": "Caf\xe9?", "answers": ["x"]}\n'.encode("latin-1")
    )
    with pytest.raises(DatasetError, match="line 1 is not valid UTF-8"):
        load_dataset(spec(tmp_path, test="latin1.jsonl"))
    write_jsonl(tmp_path / "qa.jsonl", ROWS)
    with pytest.raises(DatasetError, match="gold document"):
        load_dataset(spec(tmp_path, test="qa.jsonl", columns=MAPPING))


def test_broken_squad_json_names_line(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"data": [\n  {"title": "x",\n}', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"broken.json: broken JSON at line 3"):
        load_dataset(spec(tmp_path, source="broken.json"))
    (tmp_path / "shape.json").write_text('{"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}')
    with pytest.raises(DatasetError, match=r"data\[0\].paragraphs\[0\]: missing field 'context'"):
        load_dataset(spec(tmp_path, source="shape.json"))


def test_unknown_shipped_dataset_lists_known_ones() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*squad-mini"):
        load_dataset("nope")


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_nested_acceptable_answers_are_flattened_not_stringified(tmp_path: Path, suffix: str) -> None:
    """RGB ships acceptable answers as lists of alternatives: every alternative is a gold answer."""
    rows = [
        {"id": "q1", "question": "When?", "answers": [["Sep 20, 2019", "September 20 2019"], ["20 Sep 2019"]]},
        {"id": "q2", "question": "Who?", "answers": [["Ada Lovelace"]]},
        {"id": "q3", "question": "How many?", "answers": [1815]},
    ]
    if suffix == "jsonl":
        write_jsonl(tmp_path / "qa.jsonl", rows)
    else:
        pd.DataFrame(rows[:2]).to_parquet(tmp_path / "qa.parquet")
    by_id = {item.id: item for item in load_dataset(spec(tmp_path, test=f"qa.{suffix}")).test}
    assert by_id["q1"].answers == ["Sep 20, 2019", "September 20 2019", "20 Sep 2019"]
    assert by_id["q2"].answers == ["Ada Lovelace"]
    if suffix == "jsonl":
        assert by_id["q3"].answers == ["1815"]


@pytest.mark.parametrize("answers", [[{"value": "x"}], {"value": "x"}, [True], [["x", {"nested": "object"}]]], ids=str)
def test_gold_answers_of_an_unexpected_shape_name_row_and_column(tmp_path: Path, answers: object) -> None:
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"id": "q1", "question": "Q?", "answers": ["fine"]}, {"id": "q2", "question": "Q?", "answers": answers}],
    )
    with pytest.raises(DatasetError, match=r"qa.jsonl.*row 2, column 'answers'"):
        load_dataset(spec(tmp_path, test="qa.jsonl"))


def test_a_json_table_that_is_not_squad_suggests_jsonl(tmp_path: Path) -> None:
    (tmp_path / "qa.json").write_text(json.dumps([{"id": "q1", "question": "Q?", "answers": ["a"]}]))
    with pytest.raises(DatasetError, match=r'qa.json: not SQuAD format.*format = "jsonl"'):
        load_dataset(spec(tmp_path, source="qa.json"))
