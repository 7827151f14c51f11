"""The shipped `fleet-multihop` dataset: regenerates byte for byte, loads with its nested answers and several
gold documents per question, runs the retrieval strategies, and refuses fine-tuning (no train split) up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from evals import RunSettings, load_suite, run_suite
from evals.core.errors import SuiteError
from evals.data import load_dataset, shipped_datasets

FOLDER = REPO / "datasets" / "fleet-multihop"
FILES = ["corpus.jsonl", "test.jsonl", "dataset.toml"]


def test_regenerating_writes_the_committed_bytes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(FOLDER / "generate.py"), "--out", str(tmp_path)], check=True)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (FOLDER / name).read_bytes(), name


def test_loads_with_nested_answers_several_gold_documents_and_no_train_split() -> None:
    assert "fleet-multihop" in shipped_datasets()
    dataset = load_dataset("fleet-multihop")
    assert (len(dataset.train), len(dataset.test), len(dataset.corpus)) == (0, 48, 36)
    assert dataset.card and "Greyhaven Maritime" in dataset.card
    raw = {row["id"]: row for row in map(json.loads, (FOLDER / "test.jsonl").read_text().splitlines())}
    corpus = {document.id for document in dataset.corpus}
    for item in dataset.test:
        nested = raw[item.id]["answers"]
        assert all(isinstance(group, list) for group in nested)  # the file nests its alternatives
        assert item.answers == [answer for group in nested for answer in group]  # the loader flattens them
        assert len(item.gold_doc_ids) == 2 and set(item.gold_doc_ids) <= corpus
    assert len({dataset.cluster_of(item) for item in dataset.test}) == 12  # one cluster per vessel
    assert {item.metadata["kind"] for item in dataset.test} == {"region", "captain-joined", "harbour-master", "older"}


def test_evals_list_shows_it(tmp_path: Path) -> None:
    listed = run_cli("list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "fleet-multihop" in listed.stdout


def test_fine_tuning_is_refused_before_any_work(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text('name = "fleet-ft"\n[[datasets]]\nname = "fleet-multihop"\n[[strategies]]\nname = "finetuned"\n')
    with pytest.raises(SuiteError, match="'finetuned' trains on the train split, but dataset 'fleet-multihop'"):
        run_suite(load_suite(suite), RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache"))
    assert not (tmp_path / "results").exists()  # nothing was started
    result = run_cli("run", str(suite), "--results-dir", "results", cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "has no answerable train questions" in result.stderr, result.stderr
    assert not (tmp_path / "results").exists()


def test_bm25_runs_and_hit_rate_exceeds_recall_on_two_gold_documents(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "fleet"\nscorers = ["squad", "correctness", "retrieval"]\n[[datasets]]\nname = "fleet-multihop"\n'
        '[[strategies]]\nname = "extractive_bm25"\n',
        encoding="utf-8",
    )
    outcome = run_suite(
        load_suite(suite),
        RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False),
    )
    assert len(list(outcome.items())) == 48 and all(result.status == "ok" for result in outcome.items())
    (row,) = outcome.rows
    assert 0 < row.metrics["recall_at_k"] < row.metrics["hit_at_k"] <= 1
    # a question whose two gold documents were both retrieved scores the same on both; one of two, half recall
    halves = [r.scores for r in outcome.items() if r.scores["hit_at_k"] == 1 and r.scores["recall_at_k"] == 0.5]
    assert halves
