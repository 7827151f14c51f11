"""Group commit of a run's items.jsonl and the SQLite answer cache: appends reach the file at once (a kill -9
loses nothing), fsyncs come in bounded groups, everything is durable when the run ends (normally or not), and
the streaming readers give what the list readers give."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evals.core.errors import EvalsError
from evals.core.types import Answer
from evals.engine.cache import ANSWERS_DB, AnswerCache, CachedAnswer
from evals.results import run_store
from evals.results.records import ItemResult, RunManifest
from evals.results.run_store import GroupCommit, RunStore

FORK = multiprocessing.get_context("fork")


def item(number: int, text: str = "x") -> ItemResult:
    return ItemResult(dataset="d", strategy="s", item_id=f"q{number:05d}", status="ok", answer=Answer(text=text))


class FsyncCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.real = os.fsync
        monkeypatch.setattr(run_store.os, "fsync", self)

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.real(fd)


def test_appends_within_a_run_are_in_the_file_at_once_and_synced_in_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs = FsyncCounter(monkeypatch)
    store = RunStore(tmp_path / "run")
    with store.sole_writer(GroupCommit(max_records=100, max_delay_s=60)):
        for number in range(1000):
            store.append(item(number))
            if number == 499:  # readers (and a crash) see every append before any fsync of it
                assert len(store.read_items_readonly().items) == 500
        time.sleep(0.2)  # let the syncer catch up with the last full group
        assert fsyncs.calls <= 12, "at most one fsync per 100 records (plus a spare), not one per record"
    assert fsyncs.calls >= 1
    assert [r.item_id for r in store.read_items()] == [f"q{n:05d}" for n in range(1000)]


def test_a_lone_append_is_synced_within_the_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs = FsyncCounter(monkeypatch)
    store = RunStore(tmp_path / "run")
    with store.sole_writer(GroupCommit(max_records=1000, max_delay_s=0.05)):
        store.append(item(1))
        deadline = time.monotonic() + 5
        while fsyncs.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fsyncs.calls == 1, "a record must not wait for a full group beyond max_delay_s"


def test_an_exception_flushes_releases_the_lock_and_later_appends_sync_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(tmp_path / "run")
    with pytest.raises(RuntimeError), store.sole_writer(GroupCommit(max_records=10_000, max_delay_s=3600)):
        store.append(item(1))
        fsyncs = FsyncCounter(monkeypatch)
        raise RuntimeError("the run failed")
    assert fsyncs.calls == 1, "the group was synced when the run ended"
    with store.sole_writer():  # the lock was released
        pass
    calls = fsyncs.calls
    store.append(item(2))
    assert fsyncs.calls == calls + 1
    assert [r.item_id for r in store.read_items()] == ["q00001", "q00002"]


def test_the_manifest_is_written_after_the_items_it_counts_are_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(tmp_path / "run")
    order: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        order.append("items" if os.readlink(f"/proc/self/fd/{fd}").endswith("items.jsonl") else "other")
        real_fsync(fd)

    with store.sole_writer(GroupCommit(max_records=10_000, max_delay_s=3600)):
        store.append(item(1))
        monkeypatch.setattr(run_store.os, "fsync", fsync)
        monkeypatch.setattr(
            run_store, "atomic_write_text", lambda path, text: order.append("manifest") or path.write_text(text)
        )
        store.write_manifest(_manifest())
    assert order[:2] == ["items", "manifest"]


def _manifest() -> RunManifest:
    return RunManifest(
        run_id="run",
        suite="s",
        suite_path=None,
        config_hash="h",
        started_at=datetime.now(UTC),
        seed=0,
        price_table_date="2026-01-01",
        price_table_sha256="x",
        git_commit=None,
        git_dirty=None,
        packages={},
        python="3.11",
        host="test",
    )


def _append_then_die(directory: Path, count: int) -> None:
    store = RunStore(directory)
    with store.sole_writer(GroupCommit(max_records=1_000_000, max_delay_s=3600)):
        for number in range(count):
            store.append(item(number))
        os.kill(os.getpid(), signal.SIGKILL)


def test_kill_9_loses_no_appended_record_and_a_torn_line_is_cut(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    child = FORK.Process(target=_append_then_die, args=(directory, 300))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    store = RunStore(directory)
    with store.items_path.open("ab") as stream:
        stream.write(b'{"schema_version": 1, "dataset": "d", "strat')  # a line torn by a crash
    assert store.read_items_readonly().skipped_lines == [301]
    with store.sole_writer():  # a second writer can take over: the dead one's lock is gone
        assert len(store.read_items()) == 300
        store.append(item(300))
    assert len(store.read_items()) == 301 and store.read_items_readonly().skipped_lines == []


def test_streaming_readers_match_the_list_readers(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    for number, text in ((1, "first"), (2, "x"), (1, "again"), (3, "x")):  # of two records of q00001, the first
        store.append(item(number, text))  # one counts
    with store.items_path.open("ab") as stream:
        stream.write(b"not json\n" + item(4).model_dump_json().encode() + b"\n" + b'{"torn')
    skipped: list[int] = []
    streamed = list(store.iter_items_readonly(skipped))
    readout = store.read_items_readonly()
    assert [r.key for r in streamed] == [r.key for r in readout.items]
    assert [r.item_id for r in streamed] == ["q00001", "q00002", "q00003", "q00004"]
    assert streamed[0].answer is not None and streamed[0].answer.text == "first"
    assert skipped == readout.skipped_lines == [5, 7]
    with pytest.raises(EvalsError, match="line 5 is not a valid item result"):
        list(store.iter_items())  # the writer's reader: the torn line is cut, an invalid line is an error
    assert store.items_path.read_bytes().endswith(b"\n")


def test_a_missing_file_streams_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "none")
    assert list(store.iter_items()) == [] and list(store.iter_items_readonly()) == []


# ------------------------------------------------------------------------------------------ answer cache


def test_the_answer_cache_round_trips_and_treats_bad_rows_as_misses(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path)
    assert cache.get("k1") is None
    cache.put("k1", Answer(text="Paris", timings={"total": 0.5}))
    assert cache.get("k1") == Answer(text="Paris", timings={"total": 0.5})
    cache.put("k1", Answer(text="Lyon"))
    assert cache.get("k1") == Answer(text="Lyon")
    with sqlite3.connect(tmp_path / "answers" / ANSWERS_DB) as db:
        db.execute("INSERT INTO answers VALUES ('bad', '{not json')")
    assert cache.get("bad") is None
    assert cache.has("k1") and not cache.has("bad") and not cache.has("absent"), "has() agrees with get()"
    assert AnswerCache(tmp_path).get("k1") == Answer(text="Lyon"), "a second instance (or process) shares it"


def test_answers_cached_one_file_each_by_earlier_versions_are_still_found(tmp_path: Path) -> None:
    legacy = tmp_path / "answers" / "ab" / "abcdef.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(CachedAnswer(key="abcdef", answer=Answer(text="old")).model_dump_json(), encoding="utf-8")
    (tmp_path / "answers" / "cd").mkdir()
    (tmp_path / "answers" / "cd" / "cdef.json").write_text("{torn", encoding="utf-8")
    cache = AnswerCache(tmp_path)
    assert cache.get("abcdef") == Answer(text="old")
    assert cache.get("cdef") is None and cache.get("absent") is None
    assert cache.has("abcdef") and not cache.has("cdef") and not cache.has("absent")


def _put_then_die(cache: AnswerCache) -> None:
    """In a forked child, with the parent's cache object: it must open its own connection."""
    cache.put("killed", Answer(text="committed before the kill"))
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_cache_put_survives_kill_9_and_a_forked_child_reopens_the_database(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path)
    cache.put("parent", Answer(text="p"))
    child = FORK.Process(target=_put_then_die, args=(cache,))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    assert cache.get("killed") == Answer(text="committed before the kill")
    assert cache.get("parent") == Answer(text="p")
    cache.put("after", Answer(text="the parent's connection still works"))
    assert AnswerCache(tmp_path).get("after") is not None


def test_a_damaged_cache_database_reads_as_misses_and_says_so_when_written(tmp_path: Path) -> None:
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / ANSWERS_DB).write_bytes(b"this is not a database" * 200)
    cache = AnswerCache(tmp_path)
    assert cache.get("k") is None and not cache.has("k")
    with pytest.raises(EvalsError, match="cannot be written.*delete it"):
        cache.put("k", Answer(text="x"))
