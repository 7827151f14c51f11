"""The pytest plugin, run as a user would: an eval test file in a temporary project, run by pytester."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evals import SCORERS, STRATEGIES
from evals.testing.eval_results import ItemValue, MetricValue, explain_comparison

pytest_plugins = ["pytester"]

SUITE = """
name = "plugin-check"
scorers = ["squad"]

[[datasets]]
name = "squad-mini"
limit = 12

[[strategies]]
name = "extractive_bm25"

[[strategies]]
name = "first_sentence"
"""

EVAL_TESTS = """
import pytest

pytestmark = pytest.mark.eval(suite="suite.toml")


def test_f1(eval_results):
    assert eval_results["extractive_bm25"].f1 >= {threshold}


def test_no_errors(eval_results):
    assert eval_results["first_sentence"].n_errors == 0
"""


@pytest.fixture
def eval_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project holding suite.toml; installed plugins are not autoloaded, so `-p` loads this one.

    The registries load their plugins here, once: pytester's in-process runs unload the modules a run
    imported, and some extension modules cannot be imported twice in one process.
    """
    SCORERS.names()
    STRATEGIES.names()
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("EVALS_CACHE_DIR", str(pytester.path / "cache"))
    pytester.makefile(".toml", suite=SUITE)
    return pytester


def run_eval_tests(project: pytest.Pytester, threshold: float, *args: str) -> pytest.RunResult:
    project.makepyfile(test_eval=EVAL_TESTS.format(threshold=threshold))
    return project.runpytest("-p", "evals.testing.pytest_plugin", "--eval-results-dir", "eval-results", *args)


def test_passes_when_thresholds_hold_and_records_the_run(eval_project: pytest.Pytester) -> None:
    result = run_eval_tests(eval_project, 0.01)
    result.assert_outcomes(passed=2)
    results_dir = eval_project.path / "eval-results"
    leaderboard = pd.read_csv(results_dir / "leaderboard.csv")
    history = pd.read_csv(results_dir / "history.csv")
    assert set(leaderboard["strategy"]) == {"extractive_bm25", "first_sentence"}
    assert set(leaderboard["n_items"]) == {12}
    assert len(history) == 2 and history["run_id"].nunique() == 1  # one run, shared by both tests
    assert len(list((results_dir / "runs").iterdir())) == 1


def test_failure_names_metric_gap_and_worst_items(eval_project: pytest.Pytester) -> None:
    result = run_eval_tests(eval_project, 0.95)
    result.assert_outcomes(passed=1, failed=1)
    leaderboard = pd.read_csv(eval_project.path / "eval-results" / "leaderboard.csv")
    f1 = leaderboard.set_index("strategy").loc["extractive_bm25", "f1"]
    output = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"*f1 of extractive_bm25 on squad-mini is {f1:.4g}, expected >= 0.95: gap {f1 - 0.95:+.4g}*",
            "*95% CI [[]*], n=12; lowest 5 items:*",
        ]
    )
    run_dir = next((eval_project.path / "eval-results" / "runs").iterdir())
    records = [json.loads(line) for line in (run_dir / "items.jsonl").read_text().splitlines()]
    scored = sorted((r["scores"]["f1"], r["item_id"]) for r in records if r["strategy"] == "extractive_bm25")
    for score, item_id in scored[:5]:
        assert f"{item_id} f1={score:.3g}: " in output
    assert "Full output truncated" not in output


def test_limit_and_no_cache_options(eval_project: pytest.Pytester) -> None:
    result = run_eval_tests(eval_project, 0.01, "--eval-limit", "5", "--eval-no-cache")
    result.assert_outcomes(passed=2)
    leaderboard = pd.read_csv(eval_project.path / "eval-results" / "leaderboard.csv")
    assert set(leaderboard["n_items"]) == {5} and set(leaderboard["n_cached"]) == {0}


def test_missing_marker_is_a_clear_error(eval_project: pytest.Pytester) -> None:
    eval_project.makepyfile("def test_f1(eval_results):\n    assert eval_results\n")
    result = eval_project.runpytest("-p", "evals.testing.pytest_plugin")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*name the suite with @pytest.mark.eval(suite='my_suite.toml')*"])


def test_several_datasets_are_selected_by_name(eval_project: pytest.Pytester) -> None:
    source = Path(__file__).resolve().parents[1] / "datasets" / "squad-mini" / "squad-v1.1-dev-subset.json"
    eval_project.makefile(
        ".toml",
        two=f"""
name = "two-datasets"
[[datasets]]
name = "squad-mini"
limit = 4
[[datasets]]
name = "squad-other-split"
source = "{source.as_posix()}"
test_fraction = 0.2
limit = 6
[[strategies]]
name = "extractive_bm25"
""",
    )
    eval_project.makepyfile(
        test_two="""
import pytest

@pytest.mark.eval(suite="two.toml")
def test_select(eval_results):
    assert eval_results["extractive_bm25", "squad-mini"].n_items == 4
    assert eval_results.dataset("squad-other-split")["extractive_bm25"].n_items == 6
    assert len(eval_results["extractive_bm25", "squad-mini"].items) == 4
    with pytest.raises(KeyError, match="several datasets"):
        eval_results["extractive_bm25"]
"""
    )
    result = eval_project.runpytest("-p", "evals.testing.pytest_plugin", "--eval-results-dir", "eval-results")
    result.assert_outcomes(passed=1)


def test_explains_latency_from_the_slowest_items_either_way_round() -> None:
    slow = [ItemValue(f"q{i}", i / 10, f"answer {i}", f"ref {i}") for i in range(8)]
    p95 = MetricValue(0.66, name="latency_p95_s", strategy="rag", dataset="d", n=8, items=slow)
    lines = explain_comparison(">", 0.5, p95)
    assert lines is not None
    assert lines[0] == "latency_p95_s of rag on d is 0.66, expected < 0.5: gap +0.16"
    assert lines[1] == "n=8; highest 5 items:"
    assert [line.split()[0] for line in lines[2:]] == ["q7", "q6", "q5", "q4", "q3"]
    assert explain_comparison("==", 1.0, 1.0) is None
