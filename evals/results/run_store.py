"""One run's folder: `results/runs/<run_id>/items.jsonl` (appended as items finish) and `manifest.json`.

`RunStore` is the only code that reads or writes these files. items.jsonl is read in one of two modes:

- `read_items()`, the writer's (the runner, resuming a run): under the file lock, it truncates a torn last
  line away so the next append starts on a line of its own, and a complete line that is not an item result
  is an error (a corrupt run must not be resumed as if the item had never been tried);
- `read_items_readonly()`, the readers' (compare, recommend, report): it never writes and never takes the
  lock, so it can read a run that is still being written or that lies in a read-only folder; it skips a
  torn last line and any line that is not an item result, and says which (`ItemsReadout.skipped_lines`).

Both keep the first record per (dataset, strategy, item id), as the runner does when it resumes. Each has a
streaming form, `iter_items()` and `iter_items_readonly()`, that parses one line at a time, so a reader that
aggregates as it goes holds one record, not the whole run, in memory (the runner resumes and aggregates a run
that way, and `RunOutcome.items()` reads one back).

Appends. Outside a run, `append()` writes and fsyncs each line. Inside `sole_writer()` (a run), appends are
group-committed: each line is written to the file at once (one write(2), so a kill -9 of the writer loses
nothing it appended), and a background thread fsyncs them together, at the latest `GroupCommit.max_delay_s`
after the oldest unsynced line or as soon as `GroupCommit.max_records` are waiting. What an OS crash or power
loss can take is therefore bounded (that window), and taking it is safe: a torn last line is discarded, and the
records lost are answered again when the run resumes. `flush()` (called before every manifest write and when
the run ends, normally or not) makes every appended line durable.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout
from pydantic import BaseModel, ValidationError

from evals.core.errors import EvalsError
from evals.infra.atomic import append_line, atomic_write_text, locked
from evals.results.records import ItemResult, RunManifest

ITEMS_FILE = "items.jsonl"
MANIFEST_FILE = "manifest.json"
WRITER_LOCK_FILE = ".writer.lock"


def new_run_id(config_hash: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{config_hash[:8]}"


class ItemsReadout(BaseModel):
    """What a read-only pass over items.jsonl found: the item results (first record per key) and the
    1-based numbers of the lines it skipped (a torn last line, or a line that is not an item result)."""

    items: list[ItemResult]
    skipped_lines: list[int] = []

    @property
    def skipped(self) -> int:
        return len(self.skipped_lines)

    def skipped_note(self, run_id: str) -> str | None:
        """E.g. "run X: 1 unreadable line of items.jsonl skipped (line 21)"; None when none was skipped."""
        if not self.skipped_lines:
            return None
        shown = ", ".join(map(str, self.skipped_lines[:5])) + (", ..." if self.skipped > 5 else "")
        plural = "line" if self.skipped == 1 else "lines"
        return f"run {run_id}: {self.skipped} unreadable {plural} of {ITEMS_FILE} skipped ({plural} {shown})"


@dataclass(frozen=True)
class GroupCommit:
    """How the run's appends are fsynced: together, at most `max_delay_s` after the oldest unsynced line, or
    as soon as `max_records` lines wait."""

    max_records: int = 512
    max_delay_s: float = 0.2


class _GroupCommitWriter:
    """items.jsonl open for appending: each line written at once, fsyncs grouped by a background thread."""

    def __init__(self, path: Path, policy: GroupCommit) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.policy = policy
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._state = threading.Condition()
        self._unsynced = 0
        self._oldest = 0.0  # monotonic time of the oldest unsynced line
        self._closing = False
        self._error: OSError | None = None
        self._syncer = threading.Thread(target=self._sync_loop, name="evals-items-fsync", daemon=True)
        self._syncer.start()

    def append(self, line: bytes) -> None:
        with self._state:
            self._raise_error()
            _write_all(self._fd, line)
            self._unsynced += 1
            if self._unsynced == 1:
                self._oldest = time.monotonic()
                self._state.notify()
            elif self._unsynced >= self.policy.max_records:
                self._state.notify()

    def flush(self) -> None:
        """Make every line appended so far durable (fsync now, in the caller's thread)."""
        with self._state:
            self._raise_error()
            self._unsynced = 0
            os.fsync(self._fd)

    def close(self) -> None:
        with self._state:
            self._closing = True
            self._state.notify()
        self._syncer.join()
        try:
            self.flush()
        finally:
            os.close(self._fd)

    def _sync_loop(self) -> None:
        with self._state:
            while True:
                while not self._unsynced and not self._closing:
                    self._state.wait()
                if self._closing:
                    return  # close() syncs what is left
                deadline = self._oldest + self.policy.max_delay_s
                while self._unsynced < self.policy.max_records and not self._closing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._state.wait(remaining)
                self._unsynced = 0
                self._state.release()  # appends go on while the disk syncs; they count towards the next group
                try:
                    os.fsync(self._fd)
                except OSError as error:
                    self._error = error
                finally:
                    self._state.acquire()
                if self._error is not None:
                    return

    def _raise_error(self) -> None:
        if self._error is not None:
            raise EvalsError(f"items.jsonl could not be synced to disk: {self._error}") from self._error


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class RunStore:
    """Reads and writes one run's folder. Appends are fsynced (group-committed within a run); a torn last line
    is discarded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.items_path = directory / ITEMS_FILE
        self.manifest_path = directory / MANIFEST_FILE
        self._writer: _GroupCommitWriter | None = None

    @property
    def run_id(self) -> str:
        return self.directory.name

    @contextmanager
    def sole_writer(self, group_commit: GroupCommit | None = GroupCommit()) -> Iterator[None]:  # noqa: B008 - frozen
        """Hold the run's writer lock for the whole run: one process writes a run folder at a time. A second
        `evals run` of the same suite meets this lock and stops with a clear message instead of answering
        every item a second time (the lock file goes when the OS releases it, even after kill -9).

        Meanwhile appends are group-committed (`group_commit`; None: each one fsynced), and made durable
        when the block ends, normally or by an exception."""
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.directory / WRITER_LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise EvalsError(
                f"run {self.run_id} is being written by another evals process; wait for it to finish "
                "(then run again to reuse its answers), or start a separate run with --fresh"
            ) from None
        try:
            if group_commit is not None:
                self._writer = _GroupCommitWriter(self.items_path, group_commit)
            try:
                yield
            finally:
                self.close()
        finally:
            lock.release()

    def flush(self) -> None:
        """Make every appended record durable now (a no-op outside a group-committed run)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and stop group-committing: later appends are fsynced one by one."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def write_manifest(self, manifest: RunManifest) -> None:
        """Replace the manifest atomically, after the items it may count are durable."""
        self.flush()
        atomic_write_text(self.manifest_path, manifest.model_dump_json(indent=2))

    def read_manifest(self) -> RunManifest:
        try:
            return RunManifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EvalsError(f"{self.manifest_path}: no such run") from None
        except ValidationError as error:
            raise EvalsError(f"{self.manifest_path}: unreadable manifest: {error.errors()[0]['msg']}") from None

    def append(self, result: ItemResult) -> None:
        line = result.model_dump_json() + "\n"
        if self._writer is not None:  # within the run: this process is the sole writer, no lock per line
            self._writer.append(line.encode())
            return
        with locked(self.items_path):
            append_line(self.items_path, line)

    def read_items(self) -> list[ItemResult]:
        """For the writer: all complete records, first one per key; drops (and truncates away) a torn
        final line; a complete line that is not an item result is an `EvalsError`."""
        return list(self.iter_items())

    def iter_items(self) -> Iterator[ItemResult]:
        """`read_items()` one record at a time (the torn last line is truncated away before the first)."""
        if not self.items_path.exists():
            return
        self.flush()
        with locked(self.items_path), self.items_path.open("rb+") as stream:
            size = stream.seek(0, os.SEEK_END)
            end = _last_newline_end(stream, size)
            if end < size:  # a torn last line: cut it, so the next append starts on a line of its own
                stream.truncate(end)
                stream.flush()
                os.fsync(stream.fileno())
        yield from _scan(self.items_path, strict=True, skipped=[])

    def read_items_readonly(self) -> ItemsReadout:
        """For readers: the complete, valid records, first one per key, without writing or locking;
        a torn last line and invalid lines are skipped and listed. No items.jsonl: no items."""
        skipped: list[int] = []
        items = list(self.iter_items_readonly(skipped))
        return ItemsReadout(items=items, skipped_lines=skipped)

    def iter_items_readonly(self, skipped_lines: list[int] | None = None) -> Iterator[ItemResult]:
        """`read_items_readonly()` one record at a time; the numbers of the lines it skips are appended to
        `skipped_lines` as it goes (complete once the iterator is exhausted)."""
        return _scan(self.items_path, strict=False, skipped=skipped_lines if skipped_lines is not None else [])


def _last_newline_end(stream: BinaryIO, size: int) -> int:
    """The offset just after the file's last newline (0 when it has none), searching back from the end."""
    position = size
    while position > 0:
        start = max(position - (1 << 20), 0)
        stream.seek(start)
        block = stream.read(position - start)
        index = block.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0


def _scan(path: Path, strict: bool, skipped: list[int]) -> Iterator[ItemResult]:
    """The item results of items.jsonl, line by line, first record per key. A line without its newline (the
    torn last one) is skipped; an invalid complete line raises (`strict`) or is skipped; skipped line numbers
    go to `skipped`. Only the keys seen are kept, not the records: per dataset, strategy and repeat, the set of
    question ids (the strings the records carry, which a reader keeping them shares), about 40 bytes a record
    where a set of whole keys took 200."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return
    seen: dict[tuple[str, str, int], set[str]] = {}
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.endswith(b"\n"):
                skipped.append(number)  # torn: the writer was stopped mid-line, or is still writing it
                break
            try:
                result = ItemResult.model_validate_json(line)
            except ValidationError as error:
                if strict:
                    raise EvalsError(
                        f"{path}: line {number} is not a valid item result: {error.errors()[0]['msg']}"
                    ) from None
                skipped.append(number)
                continue
            questions = seen.setdefault((result.dataset, result.strategy, result.repeat), set())
            if result.item_id not in questions:
                questions.add(result.item_id)
                yield result


def runs_dir(results_dir: Path) -> Path:
    return results_dir / "runs"


def find_resumable(results_dir: Path, config_hash: str) -> RunStore | None:
    """The newest unfinished run of the same configuration, if any. A run folder whose manifest was lost
    (deleted, or never written) but whose items.jsonl survives is found by the configuration-hash suffix
    of its run id; the runner then writes it a new manifest."""
    candidates = []
    for folder in sorted(path for path in runs_dir(results_dir).glob("*") if path.is_dir()):
        manifest_path = folder / MANIFEST_FILE
        if not manifest_path.exists():
            if folder.name.endswith(f"-{config_hash[:8]}") and (folder / ITEMS_FILE).exists():
                candidates.append(folder)
            continue
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if manifest.get("config_hash") == config_hash and manifest.get("status") != "complete":
            candidates.append(folder)
    return RunStore(candidates[-1]) if candidates else None
