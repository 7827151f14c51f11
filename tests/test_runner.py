"""The runner end to end: leaderboard, cache, resume after kill -9, retries, recorded failures."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import EXAMPLE_PLUGIN, OFFLINE_ENV

from evals import RunSettings, load_suite, run_suite
from evals.engine.cache import AnswerCache
from evals.results.records import ItemResult, RunManifest


def write_suite(folder: Path, strategies: str, limit: int = 20, extra: str = "") -> Path:
    path = folder / "suite.toml"
    path.write_text(
        f'name = "test"\nseed = 0\n{extra}\n[[datasets]]\nname = "squad-mini"\nlimit = {limit}\n\n{strategies}',
        encoding="utf-8",
    )
    return path


def settings(folder: Path, **overrides) -> RunSettings:
    return RunSettings(results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False, **overrides)


def read_items(results_dir: Path) -> list[ItemResult]:
    (run_dir,) = (results_dir / "runs").iterdir()
    lines = (run_dir / "items.jsonl").read_text().splitlines()
    return [ItemResult.model_validate_json(line) for line in lines]


def test_run_writes_items_manifest_and_leaderboard(workdir: Path) -> None:
    suite = load_suite(write_suite(workdir, '[[strategies]]\nname = "extractive_bm25"\n'))
    outcome = run_suite(suite, settings(workdir))
    run_dir = workdir / "results" / "runs" / outcome.manifest.run_id
    manifest = RunManifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.status == "complete" and manifest.counts.items == 20 and manifest.counts.ok == 20
    assert manifest.datasets["squad-mini"].fingerprint == "b726c0c06d664e84"
    assert manifest.price_table_date and manifest.packages["pandas"] and manifest.seed == 0
    assert [setup.strategy for setup in manifest.setups] == ["extractive_bm25"]
    leaderboard = pd.read_csv(workdir / "results" / "leaderboard.csv")
    (row,) = leaderboard.to_dict(orient="records")
    assert row["n_items"] == 20 and row["n_errors"] == 0
    assert row["f1_ci_low"] <= row["f1"] <= row["f1_ci_high"] and 0 < row["f1"] < 1
    assert row["latency_p50_s"] <= row["latency_p95_s"] <= row["latency_p99_s"]
    assert row["latency_retrieve_p50_s"] > 0 and row["setup_cost_usd"] > 0
    assert len(pd.read_csv(workdir / "results" / "history.csv")) == 1


def test_identical_rerun_is_served_from_cache(workdir: Path) -> None:
    suite = load_suite(write_suite(workdir, '[[strategies]]\nname = "first_sentence"\n'))
    first = run_suite(suite, settings(workdir))
    second = run_suite(suite, settings(workdir))
    assert first.manifest.counts.cached == 0 and second.manifest.counts.cached == 20
    assert second.manifest.run_id != first.manifest.run_id
    assert [row.metrics for row in second.rows] == [row.metrics for row in first.rows]
    history = pd.read_csv(workdir / "results" / "history.csv")
    assert list(history["n_cached"]) == [0, 20]
    assert len(pd.read_csv(workdir / "results" / "leaderboard.csv")) == 1


def test_a_warm_rerun_reads_each_cached_answer_once(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hits are counted without being read (`AnswerCache.has`), then each worker reads its answer once."""
    suite = load_suite(write_suite(workdir, '[[strategies]]\nname = "first_sentence"\n'))
    run_suite(suite, settings(workdir))
    reads: list[str] = []
    real_get = AnswerCache.get
    monkeypatch.setattr(AnswerCache, "get", lambda cache, key: reads.append(key) or real_get(cache, key))
    assert run_suite(suite, settings(workdir)).manifest.counts.cached == 20
    assert len(reads) == len(set(reads)) == 20


def test_changed_strategy_params_miss_the_cache(workdir: Path) -> None:
    run_suite(load_suite(write_suite(workdir, '[[strategies]]\nname = "extractive_bm25"\n')), settings(workdir))
    changed = write_suite(workdir, '[[strategies]]\nname = "extractive_bm25"\nparams = {contexts = 5}\n')
    assert run_suite(load_suite(changed), settings(workdir)).manifest.counts.cached == 0


def test_transient_failures_are_retried_and_permanent_ones_recorded(workdir: Path) -> None:
    strategies = (
        '[[strategies]]\nname = "retried"\ntype = "flaky"\nparams = {failures_per_item = 2}\n\n'
        '[[strategies]]\nname = "broken"\ntype = "flaky"\nparams = {failures_per_item = 0, fail_forever_every = 3}\n'
    )
    outcome = run_suite(load_suite(write_suite(workdir, strategies, extra="max_attempts = 4")), settings(workdir))
    retried = [r for r in outcome.items() if r.strategy == "retried"]
    broken = [r for r in outcome.items() if r.strategy == "broken"]
    assert all(r.status == "ok" and r.attempts == 3 for r in retried)
    assert outcome.manifest.counts.retries == 40
    failed = [r for r in broken if r.status == "error"]
    assert failed and len(broken) == 20
    assert all(r.error and r.error.type == "ValueError" and "permanent failure" in r.error.message for r in failed)
    row = next(row for row in outcome.rows if row.strategy == "broken")
    assert row.n_errors == len(failed) and row.n_ok == 20 - len(failed)


def test_failed_setup_fails_its_items_and_the_run_goes_on(workdir: Path) -> None:
    strategies = (
        '[[strategies]]\nname = "broken"\ntype = "flaky"\nparams = {fail_prepare = true}\n\n'
        '[[strategies]]\nname = "first_sentence"\n'
    )
    outcome = run_suite(load_suite(write_suite(workdir, strategies, limit=5)), settings(workdir))
    broken = [r for r in outcome.items() if r.strategy == "broken"]
    assert len(broken) == 5 and all(r.error and r.error.stage == "prepare" for r in broken)
    assert "index server unreachable" in broken[0].error.message  # type: ignore[union-attr]
    assert all(r.status == "ok" for r in outcome.items() if r.strategy == "first_sentence")
    rows = {row.strategy: row for row in outcome.rows}
    assert rows["broken"].n_errors == 5 and rows["broken"].metrics["f1"] == 0.0


def test_killed_run_resumes_without_losing_or_duplicating_items(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, '[[strategies]]\nname = "first_sentence"\nparams = {delay_s = 0.15}\n', limit=30)
    env = {**OFFLINE_ENV, "PYTHONPATH": str(EXAMPLE_PLUGIN), "EVALS_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "evals", "run", str(suite), "--no-progress"]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**__import__("os").environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    items_files = lambda: list((tmp_path / "results" / "runs").glob("*/items.jsonl"))  # noqa: E731
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if items_files() and len(items_files()[0].read_text().splitlines()) >= 8:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(items_files()[0].read_text().splitlines())
    assert 8 <= done_before < 30

    resumed = subprocess.run(
        command, cwd=tmp_path, env={**__import__("os").environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before} item(s) already done" in resumed.stderr
    items = read_items(tmp_path / "results")
    assert len(items) == 30 and len({item.item_id for item in items}) == 30
    assert all(item.status == "ok" for item in items)
    manifest = RunManifest.model_validate_json(
        next((tmp_path / "results" / "runs").glob("*/manifest.json")).read_text()
    )
    assert manifest.status == "complete" and manifest.counts.items == 30
    assert len(pd.read_csv(tmp_path / "results" / "history.csv")) == 1


def test_undefined_scores_survive_the_round_trip_through_items_jsonl(workdir: Path) -> None:
    """Closed-book answers have no contexts, so faithfulness is NaN: written as null, read back as NaN."""
    suite = write_suite(workdir, '[[strategies]]\nname = "first_sentence"\n', limit=3)
    suite.write_text(suite.read_text().replace("seed = 0", 'seed = 0\nscorers = ["squad", "faithfulness"]'))
    outcome = run_suite(load_suite(suite), settings(workdir))
    assert all(math.isnan(r.scores["faithfulness"]) for r in outcome.items())
    reread = read_items(workdir / "results")
    assert len(reread) == 3 and all(math.isnan(r.scores["faithfulness"]) for r in reread)
