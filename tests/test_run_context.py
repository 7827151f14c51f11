"""The run's settings reach strategies explicitly, and importing the harness changes nothing in the process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OFFLINE_ENV, run_cli

from evals import RunSettings, run_suite
from evals.core.strategy import STRATEGIES
from evals.core.suite import StrategyEntry, Suite
from evals.core.types import RunContext
from evals.engine.cache import ANSWERS_DB

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


def test_finetune_for_a_remote_generator_without_a_local_copy_is_a_suite_error() -> None:
    from evals.core.errors import SuiteError

    params = {"generator": {"backend": "openai", "model": "gpt-4o-mini"}, "finetune": {"max_steps": 1}}
    with pytest.raises(SuiteError, match=r"finetune.*set finetune.base_model"):
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
    assert (chosen / "answers" / ANSWERS_DB).stat().st_size > 0
    assert not (tmp_path / "cache").exists() and not (tmp_path / ".cache").exists()


def _table_suite(tmp_path: Path, with_train: bool, with_corpus: bool = True) -> Suite:
    rows = [
        {"id": f"q{i}", "question": f"Where is thing {i}?", "answers": ["here"], "doc": f"d{i % 2}"} for i in range(6)
    ]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:4]))
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[4:]))
    (tmp_path / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": f"d{i}", "title": "", "text": f"Thing {i} is here. More."}) + "\n" for i in range(2))
    )
    dataset = {"name": "things", "test": str(tmp_path / "test.jsonl"), "columns": {"gold_doc_ids": "doc"}}
    if with_corpus:
        dataset["corpus"] = str(tmp_path / "corpus.jsonl")
    if with_train:
        dataset["train"] = str(tmp_path / "train.jsonl")
    return Suite(name="things", datasets=[dataset], strategies=[StrategyEntry(name="first_sentence")])


def test_adding_a_train_split_keeps_the_answers_of_a_strategy_that_never_trains(tmp_path: Path) -> None:
    settings = RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False)
    first = run_suite(_table_suite(tmp_path, with_train=False), settings)
    second = run_suite(_table_suite(tmp_path, with_train=True), settings)
    assert first.manifest.run_id != second.manifest.run_id  # the dataset changed, so it is a new run ...
    assert [result.cached for result in second.items()] == [True] * 4  # ... but first_sentence reads no train split


def test_a_strategy_needing_a_corpus_the_dataset_lacks_fails_before_any_work(tmp_path: Path) -> None:
    from evals.core.errors import SuiteError

    settings = RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False)
    suite = _table_suite(tmp_path, with_train=False, with_corpus=False)
    suite = suite.model_copy(update={"datasets": [{k: v for k, v in suite.datasets[0].items() if k != "columns"}]})
    with pytest.raises(
        SuiteError, match=r"strategy 'first_sentence' retrieves from a corpus.*'things' has none.*corpus ="
    ):
        run_suite(suite, settings)
    assert not (tmp_path / "results").exists()


def test_a_failing_judge_never_changes_the_answers_own_metrics(tmp_path: Path) -> None:
    """Transient judge errors are retried; a judge that stays down leaves only its own metric missing."""
    suite = Suite(
        name="judge-faults",
        scorers=["squad", "flaky_judge"],
        datasets=[{"name": "squad-mini", "limit": 30}],
        strategies=[StrategyEntry(name="first_sentence")],
    )
    outcome = run_suite(suite, RunSettings(results_dir=tmp_path, cache_dir=tmp_path / "cache", show_progress=False))
    assert all(result.status == "ok" for result in outcome.items())
    down = [result for result in outcome.items() if result.item_id.endswith("7")]
    up = [result for result in outcome.items() if not result.item_id.endswith("7")]
    assert down and up
    assert all(result.scorer_errors == {} and result.scores["flaky_judge"] == 1.0 for result in up)  # retried
    for result in down:
        assert result.scorer_errors == {"FlakyJudge": "RuntimeError: judge endpoint unreachable"}
        assert math.isnan(result.scores["flaky_judge"]) and not math.isnan(result.scores["f1"])
    row = outcome.rows[0]
    assert row.metrics["flaky_judge"] == 1.0  # missing judgments are left out, not counted as 0
    assert row.n_errors == 0


def test_a_second_process_on_the_same_run_stops_instead_of_answering_twice(tmp_path: Path) -> None:
    import threading
    import time

    from evals.core.errors import EvalsError

    suite = Suite(
        name="one-writer",
        datasets=[{"name": "squad-mini", "limit": 12}],
        strategies=[StrategyEntry(name="first_sentence", params={"delay_s": 0.15})],
    )
    settings = RunSettings(results_dir=tmp_path, cache_dir=tmp_path / "cache", show_progress=False, concurrency=1)
    first = threading.Thread(target=run_suite, args=(suite, settings))
    first.start()
    while not list(tmp_path.glob("runs/*/items.jsonl")):  # the first writer is answering
        time.sleep(0.02)
    with pytest.raises(EvalsError, match=r"is being written by another evals process.*--fresh"):
        run_suite(suite, settings)
    first.join()
    outcome = run_suite(suite, settings)  # afterwards the same command reuses the finished run's answers
    items = [json.loads(line) for path in tmp_path.glob("runs/*/items.jsonl") for line in path.read_text().splitlines()]
    assert len(items) == 12 * 2  # the finished run and the cached re-run: no item answered twice in one run
    assert outcome.manifest.counts.cached == 12


def test_evals_run_exits_1_when_a_strategy_answers_nothing_or_fails_too_often(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "dead"\n[[datasets]]\nname = "squad-mini"\nlimit = 4\n'
        '[[strategies]]\nname = "first_sentence"\n'
        '[[strategies]]\nname = "flaky"\nparams = {fail_prepare = true}\n'
    )
    result = run_cli("run", str(suite), "--no-progress", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "squad-mini · flaky: 4 of 4 items failed" in result.stderr and "first_sentence:" not in result.stderr
    assert (tmp_path / "results" / "leaderboard.csv").exists()  # recorded, with the reasons, before exiting
    lenient = run_cli("run", str(suite), "--no-progress", "--max-failure-rate", "1", "--fresh", cwd=tmp_path)
    assert lenient.returncode == 1  # a strategy with no successful item fails whatever the threshold
