"""The test split held as JSON lines (`QuestionStore`): same questions back, in order, at a fraction of the memory."""

from __future__ import annotations

import json
import pickle
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evals.core.types import QAItem
from evals.data import load_dataset
from evals.data import question_store as module
from evals.data.dataset import QADataset
from evals.data.question_store import QuestionStore
from evals.data.spec import DatasetSpec


def questions(n: int, impossible_at: int | None = None) -> list[QAItem]:
    return [
        QAItem(
            id=f"q{i}",
            question=f"Question {i} about the café?",
            answers=[] if i == impossible_at else [f"answer {i}", "ünïcode"],
            is_impossible=i == impossible_at,
            metadata={"position": i, "nested": {"tags": ["a", i]}},
        )
        for i in range(n)
    ]


def test_questions_come_back_equal_and_in_order() -> None:
    items = questions(50)
    store = QuestionStore.from_items(iter(items))  # a generator is consumed once, as it streams
    assert len(store) == 50 and list(store) == items and store == items
    assert store[0] == items[0] and store[-1] == items[-1] and store[17] == items[17]
    assert [line.rstrip(b"\n").decode() for line in store.lines()] == [item.model_dump_json() for item in items]
    with pytest.raises(IndexError):
        store[50]


def test_head_is_a_view_and_other_slices_are_lists() -> None:
    items = questions(20, impossible_at=12)
    store = QuestionStore.from_items(items)
    head = store[:5]
    assert isinstance(head, QuestionStore) and list(head) == items[:5] and not head.has_impossible
    assert store.head(13).has_impossible and store.has_impossible
    assert store[3:9] == items[3:9] and store[::7] == items[::7]
    assert len(store.head(1000)) == 20 and len(store[:0]) == 0


def test_reading_across_blocks_and_from_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SPOOL_BYTES the lines go to a file on disk; iteration reads blocks of READ_BYTES."""
    monkeypatch.setattr(module, "SPOOL_BYTES", 1_000)
    monkeypatch.setattr(module, "READ_BYTES", 700)  # smaller than some lines: a block then holds one
    items = questions(300)
    store = QuestionStore.from_items(items)
    assert list(store) == items and store[299] == items[299]
    with ThreadPoolExecutor(8) as pool:  # reads share one file position: they must not interleave
        assert list(pool.map(store.__getitem__, range(300))) == items


def test_a_store_pickles_with_its_questions() -> None:
    store = QuestionStore.from_items(questions(30, impossible_at=4))
    copy = pickle.loads(pickle.dumps(store))
    assert copy == store and copy.has_impossible


def test_holding_questions_costs_bytes_not_objects() -> None:
    """20,000 questions as objects take 16 MB (traced); stored, their JSON and offsets."""
    tracemalloc.start()
    try:
        store = QuestionStore.from_items(
            QAItem(id=f"q{i:07d}", question="the of a river king city war music science paris water?", answers=["x"])
            for i in range(20_000)
        )
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(store) == 20_000
    assert held < 4_500_000, f"{held:,} bytes held for 20,000 stored questions"
    assert peak < 6_000_000, f"{peak:,} bytes at peak while storing"


def test_a_dataset_stores_a_list_and_limits_keep_the_full_fingerprint() -> None:
    items = questions(10, impossible_at=8)
    direct = QADataset(name="d", corpus=[], train=[], test=items, source="test")
    assert isinstance(direct.test, QuestionStore) and direct.test == items
    full = QADataset.build("d", [], [], items, "test")
    limited = QADataset.build("d", [], [], iter(items), "test", limit=4)
    assert limited.fingerprint == full.fingerprint and limited.n_test_total == 10 and len(limited.test) == 4
    assert (full.squad_version, limited.squad_version) == ("2.0", "1.1")  # the limit cuts the unanswerable one
    asked = full.with_test(items[:2])
    assert asked.test == items[:2] and asked.fingerprint == full.fingerprint


def test_loading_a_large_jsonl_holds_no_list_of_questions(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        for i in range(20_000):
            record = {"id": f"q{i:07d}", "question": "which river runs north of the city?", "answers": ["x", "y"]}
            stream.write(json.dumps(record) + "\n")
    load_dataset(DatasetSpec(name="big", test=str(path)))  # imports and caches warmed up outside the trace
    tracemalloc.start()
    try:
        dataset = load_dataset(DatasetSpec(name="big", test=str(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(dataset.test) == 20_000 and dataset.test[-1].id == "q0019999"
    assert peak < 12_000_000, f"{peak:,} bytes at peak loading 20,000 questions (as objects: 16 MB)"
