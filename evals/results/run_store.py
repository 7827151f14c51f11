"""One run's folder: `results/runs/<run_id>/items.jsonl` (appended as items finish) and `manifest.json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from evals.core.errors import EvalsError
from evals.infra.atomic import append_line, atomic_write_text, locked
from evals.results.records import ItemResult, RunManifest

ITEMS_FILE = "items.jsonl"
MANIFEST_FILE = "manifest.json"


def new_run_id(config_hash: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{config_hash[:8]}"


class RunStore:
    """Reads and writes one run's folder. Appends are fsynced; a torn last line is discarded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.items_path = directory / ITEMS_FILE
        self.manifest_path = directory / MANIFEST_FILE

    @property
    def run_id(self) -> str:
        return self.directory.name

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
        """All complete records, first one per key; drops (and truncates away) a torn final line."""
        if not self.items_path.exists():
            return []
        with locked(self.items_path):
            raw = self.items_path.read_bytes()
            complete, _, torn = raw.rpartition(b"\n")
            if torn:
                self.items_path.write_bytes(complete + b"\n" if complete else b"")
        results: dict[tuple[str, str, str], ItemResult] = {}
        for number, line in enumerate(complete.splitlines(), start=1):
            try:
                result = ItemResult.model_validate_json(line)
            except ValidationError as error:
                raise EvalsError(
                    f"{self.items_path}: line {number} is not a valid item result: {error.errors()[0]['msg']}"
                ) from None
            results.setdefault(result.key, result)
        return list(results.values())


def runs_dir(results_dir: Path) -> Path:
    return results_dir / "runs"


def find_resumable(results_dir: Path, config_hash: str) -> RunStore | None:
    """The newest unfinished run of the same configuration, if any."""
    candidates = []
    for manifest_path in sorted(runs_dir(results_dir).glob(f"*/{MANIFEST_FILE}")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if manifest.get("config_hash") == config_hash and manifest.get("status") != "complete":
            candidates.append(manifest_path.parent)
    return RunStore(candidates[-1]) if candidates else None
