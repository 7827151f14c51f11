"""Repeated sampling (`repeats = N`): every repeat answered, cached and kept; pass@N, pass^N and
consistency against their closed forms; compare on per-question means; bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from example_evals_plugin import success_probability

from evals import RunSettings, run_suite
from evals.core.suite import Suite
from evals.data.spec import load_dataset
from evals.results.compare import compare_references

REPEATS = 4
QUESTIONS = 100


def coin_suite(repeats: int, seed: int = 0) -> Suite:
    return Suite.model_validate(
        {
            "name": "coin",
            "repeats": repeats,
            "datasets": [{"name": "squad-mini", "limit": QUESTIONS}],
            "strategies": [{"name": "coin", "params": {"seed": seed}}],
        }
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("repeats") / "results"


def settings(results: Path) -> RunSettings:
    return RunSettings(results_dir=results, cache_dir=results.parent / "cache", show_progress=False)


def test_pass_at_n_and_pass_hat_n_match_their_closed_forms(results: Path) -> None:
    outcome = run_suite(coin_suite(REPEATS), settings(results))
    assert len(list(outcome.items())) == QUESTIONS * REPEATS  # every repeat is kept
    assert {(item.item_id, item.repeat) for item in outcome.items()} == {
        (item.item_id, r) for item in outcome.items() for r in range(REPEATS)
    }
    (row,) = outcome.rows
    assert row.repeats == REPEATS and row.n_items == QUESTIONS * REPEATS
    p = np.array([success_probability(item) for item in load_dataset("squad-mini").test[:QUESTIONS]])
    expected = {
        "any_correct": np.mean(1 - (1 - p) ** REPEATS),
        "all_correct": np.mean(p**REPEATS),
        "consistency": np.mean(p**REPEATS + (1 - p) ** REPEATS),
        "exact_match": np.mean(p),
    }
    for name, value in expected.items():
        measured, se = row.metrics[name], row.metrics[f"{name}_se"]
        assert abs(measured - value) <= 3 * se, (name, measured, value, se)
        assert row.metrics[f"{name}_ci_low"] <= measured <= row.metrics[f"{name}_ci_high"]
    assert row.metrics["any_correct"] > row.metrics["exact_match"] > row.metrics["all_correct"]
    assert row.metrics["exact_match_repeat_sd"] > 0  # the repeats are different samples


def test_each_repeat_is_cached_and_a_single_repeat_adds_no_repeat_columns(results: Path) -> None:
    again = run_suite(coin_suite(REPEATS), settings(results).model_copy(update={"resume": False}))
    assert all(item.cached for item in again.items())
    single = run_suite(coin_suite(1), settings(results))
    (row,) = single.rows
    assert row.repeats == 1 and "any_correct" not in row.metrics and "f1_repeat_sd" not in row.metrics
    assert all(item.cached for item in single.items())  # repeat 0 is the unrepeated answer


def test_compare_pairs_questions_on_their_mean_over_repeats(results: Path) -> None:
    old = run_suite(coin_suite(REPEATS), settings(results).model_copy(update={"resume": False}))
    new = run_suite(coin_suite(REPEATS, seed=1), settings(results))
    report = compare_references(old.manifest.run_id, new.manifest.run_id, results)
    (strategy,) = report.strategies
    assert strategy.n_paired == QUESTIONS  # questions, not answers
    em = next(m for m in strategy.metrics if m.metric == "exact_match")
    assert em.test == "paired cluster bootstrap"  # per-question means are not 0/1
    assert em.old == pytest.approx(old.rows[0].metrics["exact_match"])


@pytest.mark.parametrize(
    ("suite_line", "flag", "message"),
    [
        ("repeats = 0\n", [], "repeats"),
        ("", ["--repeats", "0"], "--repeats"),
    ],
)
def test_zero_repeats_is_a_clear_error(tmp_path: Path, suite_line: str, flag: list[str], message: str) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        f'name = "t"\n{suite_line}[[datasets]]\nname = "squad-mini"\nlimit = 2\n[[strategies]]\nname = "coin"\n',
        encoding="utf-8",
    )
    result = run_cli("run", str(suite), *flag, "--results-dir", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
