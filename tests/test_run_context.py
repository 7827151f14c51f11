"""The run's settings reach strategies explicitly, and importing the harness changes nothing in the process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OFFLINE_ENV, run_cli

from evals import RunSettings, run_suite
from evals.core.strategy import STRATEGIES
from evals.core.suite import StrategyEntry, Suite
from evals.core.types import RunContext

IMPORT_PROBE = """
import json, os, random, sys, warnings
import datasets, llama_cpp, peft, ragas, sentence_transformers, torch, transformers  # their own side effects
environment, filters, state = dict(os.environ), list(warnings.filters), random.getstate()
import evals, evals.cli.app, evals.testing.pytest_plugin, strategies.finetuned, strategies.lora_training, strategies.rag
print(json.dumps({
    "environment_changes": sorted(k for k in {*environment, *os.environ} if environment.get(k) != os.environ.get(k)),
    "warnings_filters_changed": list(warnings.filters) != filters,
    "random_state_changed": random.getstate() != state,
}))
"""


def test_importing_the_harness_changes_no_environment_filter_or_random_state() -> None:
    probe = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True)
    assert json.loads(probe.stdout) == {
        "environment_changes": [],
        "warnings_filters_changed": False,
        "random_state_changed": False,
    }


def test_a_run_leaves_the_global_random_state_alone(tmp_path: Path) -> None:
    import random

    suite = Suite(
        name="s", seed=7, datasets=[{"name": "squad-mini", "limit": 3}], strategies=[{"name": "first_sentence"}]
    )
    random.seed(123)
    expected = random.random()
    random.seed(123)
    run_suite(suite, RunSettings(results_dir=tmp_path, cache_dir=tmp_path / "cache", show_progress=False))
    assert random.random() == expected


def test_strategies_get_the_runs_cache_dir_and_seed(tmp_path: Path) -> None:
    context = RunContext(cache_dir=tmp_path / "elsewhere", seed=11)
    rag = STRATEGIES.get("rag").from_config({}, "rag", context)
    assert rag.context == context
    assert STRATEGIES.get("first_sentence").from_config({}, "first_sentence").context == RunContext()


def test_finetune_with_a_remote_generator_is_a_suite_error() -> None:
    from evals.core.errors import SuiteError

    params = {"generator": {"backend": "openai", "model": "gpt-4o-mini"}, "finetune": {"max_steps": 1}}
    with pytest.raises(SuiteError, match=r"finetune.*llama_cpp"):
        STRATEGIES.get("rag").from_config(params, "strategies.rag.params")


def test_declared_update_paths_reach_the_leaderboard(tmp_path: Path) -> None:
    suite = Suite(
        name="s",
        datasets=[{"name": "squad-mini", "limit": 3}],
        strategies=[StrategyEntry(name="first_sentence"), StrategyEntry(name="extractive_bm25")],
    )
    outcome = run_suite(suite, RunSettings(results_dir=tmp_path, cache_dir=tmp_path / "cache", show_progress=False))
    assert {(row.strategy, row.update_path, row.routes) for row in outcome.rows} == {
        ("first_sentence", "reindex", False),
        ("extractive_bm25", "reindex", False),
    }
    assert {record.update_path for record in outcome.manifest.setups} == {"reindex"}
    determinism = {record.strategy: record.determinism for record in outcome.manifest.setups}
    assert determinism["first_sentence"] == {
        "answers": "undeclared: the strategy does not say whether its answers are reproducible"
    }
    assert all(note.startswith("deterministic") for note in determinism["extractive_bm25"].values())


@pytest.mark.slow
def test_cache_dir_moves_indexes_as_well_as_answers(tmp_path: Path) -> None:
    """`--cache-dir` is where RAG's FAISS index goes too, not only the answer cache (real MiniLM + FAISS)."""
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "cache-dir"\n[[datasets]]\nname = "squad-mini"\nlimit = 2\n'
        '[[strategies]]\nname = "rag"\nparams = {generator = {max_tokens = 4}}\n'
    )
    chosen = tmp_path / "chosen-cache"
    env = {key: value for key, value in OFFLINE_ENV.items()}
    result = run_cli("run", str(suite), "--cache-dir", str(chosen), "--no-progress", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert any((chosen / "indexes").iterdir()), "the FAISS index was not written under --cache-dir"
    assert any((chosen / "answers").rglob("*.json"))
    assert not (tmp_path / "cache").exists() and not (tmp_path / ".cache").exists()
