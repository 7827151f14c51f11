"""`evals run --executor ray` on a real local Ray instance: setup once however many replicas, the same
results as the local executor, a replica process killed mid-item, a replica whose setup fails, and the
driver killed with kill -9 and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLE_PLUGIN, OFFLINE_ENV
from replica_strategies import trainings

from evals import RunSettings, run_suite
from evals.core.strategy import ReplicaResources
from evals.core.suite import Suite
from evals.engine.ray_executor import replica_count
from evals.results.run_store import RunStore, runs_dir

pytest.importorskip("ray")

QUESTIONS = 16


def reader_suite(replicas: int = 3, max_attempts: int = 6, **params: object) -> Suite:
    return Suite.model_validate(
        {
            "name": "replicas",
            "max_attempts": max_attempts,
            "concurrency": 2,
            "scorers": ["squad", "correctness"],
            "datasets": [{"name": "squad-mini", "limit": QUESTIONS}],
            "strategies": [
                # half a CPU each, so three replicas fit a 2-CPU machine
                {
                    "name": "reader",
                    "type": "trained_reader",
                    "replicas": replicas,
                    "resources": {"num_cpus": 0.5},
                    "params": params,
                }
            ],
        }
    )


def settings(folder: Path, executor: str = "ray") -> RunSettings:
    return RunSettings(
        results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False, executor=executor
    )


def test_setup_runs_once_for_all_replicas_and_results_match_the_local_executor(tmp_path: Path) -> None:
    remote = run_suite(reader_suite(replicas=3), settings(tmp_path / "ray"))
    assert trainings(tmp_path / "ray" / "cache") == 1  # trained by the driver; three replicas reused it
    (setup,) = remote.manifest.setups
    assert setup.setup.training_tokens > 0 and not setup.setup.cached
    assert len(setup.replica_setups) == 3 and all(replica.cached for replica in setup.replica_setups)
    executor = remote.manifest.executor
    assert executor.kind == "ray" and executor.nodes == 1 and executor.replicas == {"squad-mini/reader": 3}
    assert executor.ray_version

    local = run_suite(reader_suite(), settings(tmp_path / "local", executor="local"))
    assert local.manifest.executor.kind == "local"
    answers = {item.item_id: (item.answer.text, item.scores) for item in local.items() if item.answer}
    assert {item.item_id: (item.answer.text, item.scores) for item in remote.items() if item.answer} == answers
    assert len(answers) == QUESTIONS

    cached = run_suite(reader_suite(), settings(tmp_path / "ray").model_copy(update={"resume": False}))
    assert all(item.cached for item in cached.items())  # the driver answered every item from its cache
    assert cached.manifest.executor.replicas == {}  # so no replica was started


def test_a_replica_killed_mid_item_loses_nothing(tmp_path: Path) -> None:
    outcome = run_suite(reader_suite(replicas=2, die_on="56de15104396321400ee25b7"), settings(tmp_path))
    died = list((tmp_path / "cache" / "trained_reader").glob("died-*"))
    assert len(died) == 1  # the replica answering that item really died…
    store = RunStore(next(runs_dir(tmp_path / "results").iterdir()))
    lines = store.items_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == QUESTIONS  # …and its item was retried: none lost, none recorded twice
    assert all(item.status == "ok" for item in outcome.items())


def test_an_item_that_kills_every_replica_costs_one_replica_not_the_pool(tmp_path: Path) -> None:
    poison = "56de15104396321400ee25b7"
    outcome = run_suite(reader_suite(replicas=2, max_attempts=1, die_always_on=poison), settings(tmp_path))
    failed = {item.item_id: item for item in outcome.items() if item.status == "error"}
    assert set(failed) == {poison}  # the replica it killed (twice: one restart) left the pool…
    assert "replica died" in failed[poison].error.message  # type: ignore[union-attr]
    assert len(list(outcome.items())) == QUESTIONS  # …and the other replica answered everything else


def test_a_replica_whose_setup_fails_fails_its_items_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALS_REPLICA_TEST_DRIVER", str(os.getpid()))  # only the driver may prepare
    outcome = run_suite(reader_suite(replicas=1, fail_setup_in_replicas=True), settings(tmp_path))
    assert len(list(outcome.items())) == QUESTIONS and all(item.status == "error" for item in outcome.items())
    error = list(outcome.items())[0].error
    assert error is not None and "GPU not found on this replica" in error.message


def test_a_replica_whose_setup_fails_leaves_the_pool_and_the_others_answer_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALS_REPLICA_TEST_DRIVER", str(os.getpid()))
    outcome = run_suite(reader_suite(replicas=2, fail_first_replica=True), settings(tmp_path))
    assert len(list(outcome.items())) == QUESTIONS and all(item.status == "ok" for item in outcome.items())
    assert outcome.manifest.executor.replicas == {"squad-mini/reader": 1}  # one healthy replica answered
    (setup,) = outcome.manifest.setups
    failed = [replica.details["failed"] for replica in setup.replica_setups if "failed" in replica.details]
    assert len(failed) == 1 and "out of memory on this replica" in failed[0]


def test_the_driver_killed_with_kill_9_resumes_only_the_missing_items(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "kill"\nconcurrency = 1\nscorers = ["squad"]\n[[datasets]]\nname = "squad-mini"\nlimit = 40\n'
        '[[strategies]]\nname = "slow"\ntype = "first_sentence"\nreplicas = 1\nparams = {delay_s = 0.25}\n',
        encoding="utf-8",
    )
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(EXAMPLE_PLUGIN), "EVALS_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "evals", "run", str(suite), "--executor", "ray", "--results-dir", "results"]
    driver = subprocess.Popen([*command, "--no-progress"], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    items = tmp_path / "results" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _answered(items) < 8:
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed_at = _answered(items)
    assert 8 <= killed_at < 40
    finished = subprocess.run([*command, "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert f"{killed_at} item(s) already done" in finished.stderr
    store = RunStore(next(items.iterdir()))
    assert len(store.items_path.read_text(encoding="utf-8").splitlines()) == 40
    assert store.read_manifest().status == "complete"


def _answered(runs: Path) -> int:
    paths = list(runs.glob("*/items.jsonl")) if runs.exists() else []
    return len(paths[0].read_text(encoding="utf-8").splitlines()) if paths else 0


@pytest.mark.parametrize(
    ("resources", "cpus", "pending", "expected"),
    [
        (ReplicaResources(), 16, 100, 16),  # a local model: one replica per CPU
        (ReplicaResources(num_cpus=4), 16, 100, 4),
        (ReplicaResources(num_cpus=0.25), 16, 100, 64),  # an HTTP endpoint: many per CPU
        (ReplicaResources(max_replicas=2), 16, 100, 2),
        (ReplicaResources(), 16, 3, 3),  # never more replicas than items
        (ReplicaResources(num_cpus=8), 2, 100, 1),  # at least one
        (ReplicaResources(num_cpus=0), 2, 7, 7),  # needs no CPU: one per item at most
    ],
)
def test_replica_count(resources: ReplicaResources, cpus: float, pending: int, expected: int) -> None:
    assert replica_count(resources, cpus, pending) == expected
