"""Leaderboard rows know their suite and configuration: another suite with the same strategy names never
replaces a row, and `evals compare` says when it compares two configurations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evals import RunSettings, run_suite
from evals.core.errors import EvalsError
from evals.core.suite import Suite
from evals.results.compare import compare_references
from evals.results.leaderboard import latest_rows, read_table


def bm25_suite(name: str, contexts: int) -> Suite:
    return Suite.model_validate(
        {
            "name": name,
            "datasets": [{"name": "squad-mini", "limit": 10}],
            "strategies": [{"name": "reader", "type": "extractive_bm25", "params": {"contexts": contexts}}],
        }
    )


def test_suites_keep_their_own_rows_and_configuration_changes_are_named(tmp_path: Path) -> None:
    settings = RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False)
    default = run_suite(bm25_suite("default", contexts=1), settings)
    experiment = run_suite(bm25_suite("experiment", contexts=3), settings)
    board = read_table(tmp_path / "results" / "leaderboard.csv")
    assert sorted(board["suite"]) == ["default", "experiment"]  # the experiment did not replace the default row
    configs = dict(zip(board["suite"], board["strategy_config"], strict=True))
    assert configs["default"] != configs["experiment"] and all(len(c) == 12 for c in configs.values())
    assert latest_rows(board, "default")["strategy_config"].tolist() == [configs["default"]]
    assert latest_rows(board)["suite"].tolist() == ["experiment"]  # the most recent row by default
    with pytest.raises(EvalsError, match="suite 'nightly'.*default, experiment"):
        latest_rows(board, "nightly")

    report = compare_references(default.manifest.run_id, experiment.manifest.run_id, tmp_path / "results")
    (strategy,) = report.strategies
    assert any(note.startswith("configuration changed (strategy_config") for note in strategy.notes)
    assert "rows of different suites: default → experiment" in strategy.notes
    same = run_suite(bm25_suite("default", contexts=1), settings.model_copy(update={"resume": False}))
    unchanged = compare_references(default.manifest.run_id, same.manifest.run_id, tmp_path / "results")
    assert not any("configuration changed" in note for note in unchanged.strategies[0].notes)
    history = pd.read_csv(tmp_path / "results" / "history.csv")
    assert len(history) == 3 and history["strategy_config"].nunique() == 2
