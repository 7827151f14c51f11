"""`evals recommend` does not quietly prefer a strategy on F1 when containment disagrees beyond the CIs: a verbose
correct strategy and a terse wrong one, run for real on a generated dataset; F1 ranks the terse one first, the
length-robust metrics the verbose one, and the recommendation says it is contested (terminal and JSON)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from evals import RunSettings, load_suite, run_suite

COLOURS = ["amber", "cobalt", "crimson", "jade", "ivory", "scarlet", "umber", "violet"]
ANIMALS = ["falcon", "otter", "heron", "lynx", "marten", "badger", "wren", "stoat"]


def write_dataset(folder: Path, count: int = 40) -> Path:
    """`count` questions whose gold answers are two words (e.g. "jade heron"), one alternative each."""
    rng = random.Random(0)
    rows = [
        {
            "id": f"q{index:02d}",
            "question": f"What is the call sign of relay station {index}?",
            "answers": [f"{rng.choice(COLOURS)} {rng.choice(ANIMALS)}"],
        }
        for index in range(count)
    ]
    path = folder / "stations.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("disagreement")
    write_dataset(folder)
    suite = folder / "suite.toml"
    suite.write_text(
        'name = "verbosity"\nscorers = ["squad", "correctness"]\n'
        '[[datasets]]\nname = "stations"\ntest = "stations.jsonl"\n'
        '[[strategies]]\nname = "verbose_correct"\n[[strategies]]\nname = "terse_wrong"\n',
        encoding="utf-8",
    )
    settings = RunSettings(results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False)
    outcome = run_suite(load_suite(suite), settings)
    assert len(list(outcome.items())) == 80 and all(result.status == "ok" for result in outcome.items())
    return folder / "results"


def test_f1_and_the_length_robust_metrics_rank_the_two_strategies_oppositely(results_dir: Path) -> None:
    board = pd.read_csv(results_dir / "leaderboard.csv").set_index("strategy")
    verbose, terse = board.loc["verbose_correct"], board.loc["terse_wrong"]
    assert terse["f1"] > verbose["f1"]  # half the words right beats a correct sentence on token F1
    assert verbose["answer_contains_gold"] == 1.0 and terse["answer_contains_gold"] == 0.0
    assert verbose["concise_correct"] > terse["concise_correct"]  # the length-robust ranking is the right one
    assert verbose["answer_contains_gold_ci_low"] > terse["answer_contains_gold_ci_high"]  # beyond the CIs


def test_recommend_by_f1_reports_the_disagreement(results_dir: Path) -> None:
    result = run_cli("recommend", "--results-dir", str(results_dir), "--json", cwd=results_dir.parent)
    assert result.returncode == 0, result.stderr
    recommendation = json.loads(result.stdout)
    assert recommendation["choice"] == "terse_wrong" and recommendation["contested"] is True
    ranking = recommendation["ranking"]
    assert ranking["metric"] == "f1" and "rewards short answers" in ranking["reason"]
    assert ranking["cross_check_metric"] == "answer_contains_gold" and ranking["cross_checked"] is True
    (disagreement,) = recommendation["disagreements"]
    assert (disagreement["chosen"], disagreement["other"]) == ("terse_wrong", "verbose_correct")
    assert disagreement["chosen_check_ci"][1] < disagreement["other_check_ci"][0]
    assert disagreement["chosen_ranking"] > disagreement["other_ranking"]
    assert recommendation["reasons"][0].startswith("CONTESTED: terse_wrong ranks first on f1")

    terminal = run_cli("recommend", "--results-dir", str(results_dir), cwd=results_dir.parent)
    assert terminal.returncode == 0, terminal.stderr
    assert "Recommendation for stations: terse_wrong (by f1) — CONTESTED: verbose_correct is better on " in (
        terminal.stdout
    )
    assert "--metric answer_contains_gold" in terminal.stdout


def test_recommend_by_a_length_robust_metric_picks_the_correct_strategy(results_dir: Path) -> None:
    result = run_cli(
        "recommend", "--results-dir", str(results_dir), "--metric", "concise_correct", "--json", cwd=results_dir.parent
    )
    assert result.returncode == 0, result.stderr
    recommendation = json.loads(result.stdout)
    assert recommendation["choice"] == "verbose_correct"
    assert recommendation["ranking"]["metric"] == "concise_correct"
    # the other way round: checked against F1, which prefers the terse answers beyond the CIs, so it says so too
    assert recommendation["ranking"]["cross_check_metric"] == "f1" and recommendation["contested"] is True
    (disagreement,) = recommendation["disagreements"]
    assert (disagreement["other"], disagreement["check_metric"]) == ("terse_wrong", "f1")
    assert "--metric f1" in recommendation["reasons"][0]
