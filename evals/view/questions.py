"""The questions a run was scored on. Runs store answers and scores, not the questions, so the viewer
reloads each dataset the way the run did (from the suite file named in the manifest, else the shipped
dataset of that name) and uses it only when its fingerprint equals the one in the manifest: a
question shown next to an answer is the question that answer was given to.

Only local files are read: a dataset from the Hugging Face hub is not fetched (the viewer is offline).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.core.errors import EvalsError
from evals.core.suite import load_suite
from evals.core.types import QAItem
from evals.data import load_dataset
from evals.data.spec import DatasetSpec, shipped_datasets, shipped_spec
from evals.results.records import RunManifest


def load_run_questions(manifest: RunManifest | None) -> tuple[str, dict[str, Sequence[QAItem]]]:
    """(a note saying where the questions came from or why some are missing, test items per dataset)."""
    if manifest is None:
        return "no readable manifest: questions unknown", {}
    specs, note = _specs(manifest)
    found: dict[str, Sequence[QAItem]] = {}
    notes = [note] if note else []
    for name, recorded in manifest.datasets.items():
        spec = specs.get(name)
        if spec is None:
            notes.append(f"{name}: no dataset spec found")
            continue
        if spec.format == "hub":
            notes.append(f"{name}: a hub dataset, not fetched by the viewer")
            continue
        try:  # without the suite's `limit`: the fingerprint is the same, and all scored items are covered
            dataset = load_dataset(spec.model_copy(update={"limit": None}))
        except EvalsError as error:
            notes.append(f"{name}: {error}")
            continue
        if dataset.fingerprint != recorded.fingerprint:
            notes.append(f"{name}: its files changed since the run (fingerprint {dataset.fingerprint})")
            continue
        found[name] = dataset.test
        notes.append(f"{name}: {len(found[name])} questions from {dataset.source}")
    return "; ".join(notes), found


def _specs(manifest: RunManifest) -> tuple[dict[str, DatasetSpec], str]:
    """The run's dataset specs by name: from its suite file when it is still there, else shipped ones."""
    specs: dict[str, DatasetSpec] = {}
    note = ""
    if manifest.suite_path:
        try:
            specs = {spec.name: spec for spec in load_suite(Path(manifest.suite_path)).dataset_specs()}
        except EvalsError as error:
            note = f"suite file unreadable ({error})"
    shipped = shipped_datasets()
    for name in manifest.datasets:
        if name not in specs and name in shipped:
            try:
                specs[name] = shipped_spec(name)
            except EvalsError:
                continue
    return specs, note
