"""One run's folder: `results/runs/<run_id>/items.jsonl` (appended as items finish) and `manifest.json`.

`RunStore` is the only code that reads or writes these files. items.jsonl is read in one of two modes:

- `read_items()`, the writer's (the runner, resuming a run): under the file lock, it truncates a torn last
  line away so the next append starts on a line of its own, and a complete line that is not an item result
  is an error (a corrupt run must not be resumed as if the item had never been tried);
- `read_items_readonly()`, the readers' (compare, recommend, report): it never writes and never takes the
  lock, so it can read a run that is still being written or that lies in a read-only folder; it skips a
  torn last line and any line that is not an item result, and says which (`ItemsReadout.skipped_lines`).

Both keep the first record per (dataset, strategy, item id), as the runner does when it resumes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout
from pydantic import BaseModel, ValidationError

from evals.core.errors import EvalsError
from evals.infra.atomic import append_line, atomic_write_text, locked
from evals.results.records import ItemKey, ItemResult, RunManifest

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


class RunStore:
    """Reads and writes one run's folder. Appends are fsynced; a torn last line is discarded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.items_path = directory / ITEMS_FILE
        self.manifest_path = directory / MANIFEST_FILE

    @property
    def run_id(self) -> str:
        return self.directory.name

    @contextmanager
    def sole_writer(self) -> Iterator[None]:
        """Hold the run's writer lock for the whole run: one process writes a run folder at a time. A second
        `evals run` of the same suite meets this lock and stops with a clear message instead of answering
        every item a second time (the lock file goes when the OS releases it, even after kill -9)."""
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
            yield
        finally:
            lock.release()

    def write_manifest(self, manifest: RunManifest) -> None:
        atomic_write_text(self.manifest_path, manifest.model_dump_json(indent=2))

    def read_manifest(self) -> RunManifest:
        try:
            return RunManifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EvalsError(f"{self.manifest_path}: no such run") from None
        except ValidationError as error:
            raise EvalsError(f"{self.manifest_path}: unreadable manifest: {error.errors()[0]['msg']}") from None

    def append(self, result: ItemResult) -> None:
        with locked(self.items_path):
            append_line(self.items_path, result.model_dump_json())

    def read_items(self) -> list[ItemResult]:
        """For the writer: all complete records, first one per key; drops (and truncates away) a torn
        final line; a complete line that is not an item result is an `EvalsError`."""
        if not self.items_path.exists():
            return []
        with locked(self.items_path):
            raw = self.items_path.read_bytes()
            complete, _, torn = raw.rpartition(b"\n")
            if torn:
                self.items_path.write_bytes(complete + b"\n" if complete else b"")
        results: dict[ItemKey, ItemResult] = {}
        for number, line in enumerate(complete.splitlines(), start=1):
            try:
                result = ItemResult.model_validate_json(line)
            except ValidationError as error:
                raise EvalsError(
                    f"{self.items_path}: line {number} is not a valid item result: {error.errors()[0]['msg']}"
                ) from None
            results.setdefault(result.key, result)
        return list(results.values())

    def read_items_readonly(self) -> ItemsReadout:
        """For readers: the complete, valid records, first one per key, without writing or locking;
        a torn last line and invalid lines are skipped and listed. No items.jsonl: no items."""
        try:
            raw = self.items_path.read_bytes()
        except FileNotFoundError:
            return ItemsReadout(items=[])
        lines = raw.split(b"\n")  # the last element is b"" when the file ends in a newline, else a torn line
        results: dict[ItemKey, ItemResult] = {}
        skipped = []
        for number, line in enumerate(lines[:-1], start=1):
            try:
                result = ItemResult.model_validate_json(line)
            except ValidationError:
                skipped.append(number)
                continue
            results.setdefault(result.key, result)
        if lines[-1]:
            skipped.append(len(lines))
        return ItemsReadout(items=list(results.values()), skipped_lines=skipped)


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
