"""The viewer's one door to a results folder: leaderboard and history tables, the runs under `runs/`
(manifests through the run store, items through the item index). Read-only.

A run id from a URL is only ever used after it matched the id pattern *and* named a run folder that
is listed under `runs/`: nothing from a URL becomes part of a path otherwise.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.results.leaderboard import HISTORY_FILE, LEADERBOARD_FILE, read_table
from evals.results.records import RunCounts, RunManifest
from evals.results.run_store import MANIFEST_FILE, RunStore, runs_dir
from evals.view.item_index import ItemIndex, QuestionSource
from evals.view.questions import load_run_questions

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


class NotFound(Exception):
    """A run, item or page that does not exist (the app answers 404)."""


class RunListing(BaseModel):
    """A run as the runs table shows it; `problem` says why its manifest could not be read."""

    run_id: str
    suite: str = ""
    status: str = "unknown"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    counts: RunCounts = RunCounts()
    datasets: list[str] = []
    strategies: list[str] = []
    problem: str | None = None


class ResultsFolder:
    """`results_dir` as the viewer reads it; item indexes live in `index_dir` (never in results_dir)."""

    def __init__(self, results_dir: Path, index_dir: Path, questions: QuestionSource | None = load_run_questions):
        self.results_dir = results_dir
        self.index_dir = index_dir
        self.questions = questions
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # --- tables -----------------------------------------------------------------------------------

    def leaderboard(self) -> pd.DataFrame | None:
        return self._table(LEADERBOARD_FILE)

    def history(self) -> pd.DataFrame | None:
        return self._table(HISTORY_FILE)

    def _table(self, name: str) -> pd.DataFrame | None:
        path = self.results_dir / name
        if not path.is_file():
            return None
        try:
            return read_table(path)
        except EvalsError:
            return None

    # --- runs -------------------------------------------------------------------------------------

    def run_ids(self) -> list[str]:
        """Run folders with a manifest, newest first (run ids start with their UTC start time)."""
        folder = runs_dir(self.results_dir)
        if not folder.is_dir():
            return []
        found = [path.parent.name for path in folder.glob(f"*/{MANIFEST_FILE}")]
        return sorted((run_id for run_id in found if RUN_ID.fullmatch(run_id)), reverse=True)

    def store(self, run_id: str) -> RunStore:
        """The run's store; NotFound unless `run_id` is a well-formed id of a listed run."""
        if not RUN_ID.fullmatch(run_id) or ".." in run_id or run_id not in self.run_ids():
            raise NotFound(f"no run {run_id!r}")
        return RunStore(runs_dir(self.results_dir) / run_id)

    def manifest(self, run_id: str) -> RunManifest:
        try:
            return self.store(run_id).read_manifest()
        except EvalsError as error:
            raise NotFound(str(error)) from None

    def runs(self) -> list[RunListing]:
        listings = []
        for run_id in self.run_ids():
            try:
                manifest = self.store(run_id).read_manifest()
            except (EvalsError, NotFound) as error:
                listings.append(RunListing(run_id=run_id, problem=str(error)))
                continue
            listings.append(
                RunListing(
                    run_id=run_id,
                    suite=manifest.suite,
                    status=manifest.status,
                    started_at=manifest.started_at,
                    finished_at=manifest.finished_at,
                    counts=manifest.counts,
                    datasets=sorted(manifest.datasets),
                    strategies=sorted({setup.strategy for setup in manifest.setups}),
                )
            )
        return listings

    def index(self, run_id: str) -> ItemIndex:
        """The run's item index, brought up to date (built on first use; one builder per run at a time)."""
        store = self.store(run_id)
        with self._guard:
            lock = self._locks.setdefault(run_id, threading.Lock())
        with lock:
            return ItemIndex.open(store, self.index_dir, self.questions)
