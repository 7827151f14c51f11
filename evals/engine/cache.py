"""A content-addressed disk cache of answers: an unchanged re-run makes no model calls."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from evals.core.errors import EvalsError
from evals.core.types import Answer, QAItem, SetupReport
from evals.infra.atomic import atomic_write_text
from evals.infra.hashing import content_hash

CACHE_SCHEMA_VERSION = 1


class CachedAnswer(BaseModel):
    schema_version: int = CACHE_SCHEMA_VERSION
    key: str
    answer: Answer


def answer_key(strategy_identity: dict[str, Any], knowledge_fingerprint: str, item: QAItem, repeat: int = 0) -> str:
    """What determines an answer: the strategy (config and model), the data it was prepared on,
    the question, and which repeat of it (repeat 0 keys as an unrepeated run). Gold answers are left
    out: they must not influence the answer."""
    return content_hash(
        {
            "cache_schema": CACHE_SCHEMA_VERSION,
            "strategy": strategy_identity,
            "knowledge": knowledge_fingerprint,
            "item": item.model_dump(mode="json", exclude={"answers"}),
            **({"repeat": repeat} if repeat else {}),
        },
        length=32,
    )


ANSWERS_DB = "answers.sqlite3"
BUSY_TIMEOUT_S = 60.0
_INHERITED: list[sqlite3.Connection] = []


class AnswerCache:
    """Answers in one SQLite database, `<dir>/answers/answers.sqlite3`, keyed by `answer_key`; a row that does
    not parse counts as a miss.

    A lookup is one indexed read and a store one small transaction, where one file per answer cost an open
    (and, to store, a temporary file, an fsync and a rename) per item. Crash safety: the database is in WAL
    mode, so a killed process (kill -9) loses nothing it committed and never leaves it corrupt; with
    `synchronous = NORMAL` an OS crash or power loss can undo the last commits, and those answers are simply
    asked for again. Several processes may share the cache (SQLite locks it; writers wait up to
    `BUSY_TIMEOUT_S`). Answers cached by earlier versions, one JSON file each under
    `<dir>/answers/<key[:2]>/<key>.json`, are still found."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "answers"
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._legacy_files: bool | None = None

    def _db(self) -> sqlite3.Connection:
        """The connection, opened on first use (and again in a forked child, which must not share it)."""
        if self._connection is None or self._pid != os.getpid():
            if self._connection is not None:  # a forked child: never close (or free) the parent's connection,
                _INHERITED.append(self._connection)  # which would drop the parent's SQLite locks
            self.directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.directory / ANSWERS_DB, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, entry TEXT NOT NULL)")
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Answer | None:
        try:
            with self._lock:
                row = self._db().execute("SELECT entry FROM answers WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError:  # an unreadable entry (or database) is a miss; `put` names the problem
            return None
        if row is not None:
            try:
                return CachedAnswer.model_validate_json(row[0]).answer
            except ValidationError:
                return None
        return self._get_legacy(key)

    def has(self, key: str) -> bool:
        """Whether `get(key)` finds an answer, without reading it: a row whose entry is valid JSON, or an earlier
        version's file. (A valid JSON entry that is not an answer counts here and is a miss for `get`.)"""
        try:
            with self._lock:
                row = self._db().execute("SELECT json_valid(entry) FROM answers WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError:
            return False
        if row is not None:
            return bool(row[0])
        return self._get_legacy(key) is not None

    def _get_legacy(self, key: str) -> Answer | None:
        """An answer an earlier version cached in its own file (looked for only when such files exist)."""
        if self._legacy_files is None:
            self._legacy_files = any(path.is_dir() for path in self.directory.iterdir())
        if not self._legacy_files:
            return None
        try:
            return CachedAnswer.model_validate_json(self._path(key).read_text(encoding="utf-8")).answer
        except (FileNotFoundError, ValidationError, UnicodeDecodeError):
            return None

    def put(self, key: str, answer: Answer) -> None:
        entry = CachedAnswer(key=key, answer=answer).model_dump_json()
        try:
            with self._lock:
                self._db().execute("INSERT OR REPLACE INTO answers (key, entry) VALUES (?, ?)", (key, entry))
        except sqlite3.DatabaseError as error:
            raise EvalsError(
                f"the answer cache {self.directory / ANSWERS_DB} cannot be written ({error}); if it is damaged, "
                "delete it (its answers are asked for again) or choose another --cache-dir"
            ) from None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _setup_path(self, key: str) -> Path:
        return self.directory.parent / "setups" / f"{key}.json"

    def get_setup(self, key: str) -> SetupReport | None:
        """The setup report first measured for this strategy identity and dataset."""
        try:
            return SetupReport.model_validate_json(self._setup_path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValidationError, UnicodeDecodeError):
            return None

    def put_setup(self, key: str, report: SetupReport) -> None:
        atomic_write_text(self._setup_path(key), report.model_dump_json())
