"""Nothing is lost under API faults, kill -9 crashes, concurrent leaderboard writers and undefined numbers."""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import EXAMPLE_PLUGIN, OFFLINE_ENV
from fault_server import CLIENT_TIMEOUT_S, FAULT_KINDS, FaultConfig, FaultServer, answer_for, write_dataset, write_suite

from evals import RunSettings, load_suite, run_suite
from evals.core.types import Answer, SetupReport
from evals.results.item_columns import ColumnCollector
from evals.results.leaderboard import (
    HISTORY_FILE,
    LEADERBOARD_FILE,
    LeaderboardRow,
    aggregate_metrics,
    build_rows,
    read_table,
    update_leaderboard,
)
from evals.results.records import ItemResult, RunManifest, SetupRecord
from evals.results.run_store import RunStore
from evals.stats.summary import bootstrap_mean, percentiles


def item_lines(results_dir: Path) -> list[ItemResult]:
    """Every line of the (single) run's items.jsonl, duplicates included."""
    (items_path,) = (results_dir / "runs").glob("*/items.jsonl")
    return [ItemResult.model_validate_json(line) for line in items_path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- API faults


def test_500_items_at_20_percent_faults_lose_nothing(tmp_path: Path) -> None:
    markers = {3: "ALWAYS429", 10: "ALWAYS500", 17: "REJECT"}
    ids = write_dataset(tmp_path / "qa.jsonl", 500, markers)
    server = FaultServer(FaultConfig(rate=0.2, seed=11, hang_s=CLIENT_TIMEOUT_S + 0.7))
    with server.serve() as base_url:
        suite = load_suite(write_suite(tmp_path, tmp_path / "qa.jsonl", base_url))
        settings = RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False)
        outcome = run_suite(suite, settings)
    stats = server.stats

    lines = item_lines(tmp_path / "results")
    assert len(lines) == 500 and sorted(r.item_id for r in lines) == ids  # one result per item, no duplicates
    failed = {r.item_id: r for r in lines if r.status == "error"}
    assert all(r.status == "ok" and r.scores and r.error is None for r in lines if r.item_id not in failed)
    assert set(failed) == {"q0003", "q0010", "q0017"}, {k: v.error for k, v in failed.items()}
    assert "HTTP 429" in failed["q0003"].error.message and failed["q0003"].error.type == "TransientError"  # type: ignore[union-attr]
    assert "HTTP 500" in failed["q0010"].error.message and failed["q0010"].attempts == 6  # type: ignore[union-attr]
    assert "HTTP 400" in failed["q0017"].error.message and failed["q0017"].attempts == 1  # type: ignore[union-attr]
    assert all(r.answer and r.answer.text == answer_for(r.answer.metadata["raw_text"]) for r in lines if r.answer)

    # every fault kind was injected at about the configured rate, and every request is accounted for
    assert all(stats.requests[kind] > 0 for kind in FAULT_KINDS), stats.requests
    random_requests = stats.total - 6 - 6 - 1  # less the forced ALWAYS429 / ALWAYS500 / REJECT requests
    injected = stats.faults - 6 - 6
    assert 0.15 < injected / random_requests < 0.25, stats.requests
    assert sum(r.attempts for r in lines) == stats.total
    manifest = RunManifest.model_validate_json(
        next((tmp_path / "results" / "runs").glob("*/manifest.json")).read_text()
    )
    assert manifest.status == "complete" and manifest.counts.items == 500 and manifest.counts.errors == 3
    assert manifest.counts.retries == stats.total - 500 > 0
    assert outcome.manifest.counts == manifest.counts

    # Retry-After honoured: the retry of a rate-limited question came no sooner than the server asked
    assert len(stats.retry_after_gaps) == stats.requests["429"] - 1  # the last ALWAYS429 reply is never retried
    assert all(gap >= retry_after for retry_after, gap in stats.retry_after_gaps), stats.retry_after_gaps

    (row,) = pd.read_csv(tmp_path / "results" / LEADERBOARD_FILE).to_dict(orient="records")
    assert row["n_items"] == 500 and row["n_errors"] == 3 and row["n_ok"] == 497
    assert row["exact_match"] == pytest.approx(sum(r.scores.get("exact_match", 0) for r in lines) / 500)
    print(f"\nfaults injected: {dict(stats.requests)}; retries {manifest.counts.retries}")


# ---------------------------------------------------------------- kill -9


def test_repeated_kill_9_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    n_items, kills = 60, 4
    write_dataset(tmp_path / "qa.jsonl", n_items)
    server = FaultServer(FaultConfig(rate=0.0, delay_s=0.06))
    rng = random.Random(2024)
    with server.serve() as base_url:
        crashed, clean = tmp_path / "crashed", tmp_path / "clean"
        for folder in (crashed, clean):
            folder.mkdir()
            write_suite(folder, tmp_path / "qa.jsonl", base_url, concurrency=2, model="fault-model")
        reference = _cli(clean)
        assert reference.returncode == 0, reference.stderr

        done = 0
        for crash in range(kills):
            target = done + rng.randint(3, 10)
            process = subprocess.Popen(
                [sys.executable, "-m", "evals", "run", "suite.toml", "--no-progress"],
                cwd=crashed,
                env=_env(crashed),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _count_lines(crashed) < target and process.poll() is None:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.05))  # land anywhere: mid-request, mid-append, mid-cache-write
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert process.returncode == -signal.SIGKILL, f"crash {crash}: the run ended before it was killed"
            assert _count_lines(crashed) >= done
            done = _count_lines(crashed)
        assert done < n_items

        resumed = _cli(crashed)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr

    lines = item_lines(crashed / "results")
    assert len(lines) == n_items and len({r.item_id for r in lines}) == n_items
    assert all(r.status == "ok" for r in lines)
    assert len(pd.read_csv(crashed / "results" / HISTORY_FILE)) == 1
    after, before = (pd.read_csv(folder / "results" / LEADERBOARD_FILE) for folder in (crashed, clean))
    # identical except what a crash legitimately changes: run id, time, wall-clock timings, cache hits
    varying = {"run_id", "finished_at", "n_cached", "setup_seconds"}
    columns = [c for c in before.columns if c not in varying and not c.startswith("latency_")]
    assert list(after.columns) == list(before.columns)
    pd.testing.assert_frame_equal(after[columns], before[columns])
    assert before.loc[0, "f1"] == pytest.approx(0.5) and not math.isnan(before.loc[0, "cost_per_query_usd"])
    print(f"\ncrashes survived: {kills}; items done before the final resume: {done}/{n_items}")


def _env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        **OFFLINE_ENV,
        "PYTHONPATH": str(EXAMPLE_PLUGIN),
        "EVALS_CACHE_DIR": str(folder / "cache"),
    }


def _cli(folder: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "evals", "run", "suite.toml", "--no-progress"]
    return subprocess.run(command, cwd=folder, env=_env(folder), capture_output=True, text=True, timeout=120)


def _count_lines(folder: Path) -> int:
    paths = list((folder / "results" / "runs").glob("*/items.jsonl"))
    return sum(path.read_bytes().count(b"\n") for path in paths)


# ---------------------------------------------------------------- concurrent writers

WRITERS, WRITES_PER_WRITER = 5, 8


def _row(writer: int, write: int) -> LeaderboardRow:
    return LeaderboardRow(
        run_id=f"run-{writer}-{write}",
        finished_at=datetime(2025, 1, 1, 0, write, writer, tzinfo=UTC).isoformat(),
        suite="concurrent",
        dataset=f"data{writer % 2}",
        dataset_fingerprint="f" * 16,
        strategy=f"strategy{writer}",
        strategy_type="first_sentence",
        n_items=write + 1,
        n_clusters=write + 1,
        n_ok=write + 1,
        n_errors=0,
        n_cached=0,
        metrics={"f1": write / 10, f"only_writer_{writer}": 1.0},  # writers add different columns too
        config_hash="c" * 64,
        seed=0,
        price_table_date="2025-06-01",
        git_commit=None,
    )


def _writer(results_dir: str, writer: int) -> None:
    for write in range(WRITES_PER_WRITER):
        update_leaderboard(Path(results_dir), [_row(writer, write)])


def test_concurrent_leaderboard_writers_keep_every_row_once(tmp_path: Path) -> None:
    results_dir = tmp_path / "results"
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_writer, args=(str(results_dir), w)) for w in range(WRITERS)]
    for process in processes:
        process.start()
    reads = 0
    while any(process.is_alive() for process in processes):  # readers never see a half-written file
        for name in (LEADERBOARD_FILE, HISTORY_FILE):
            if (results_dir / name).exists():
                read_table(results_dir / name)
                reads += 1
    for process in processes:
        process.join()
        assert process.exitcode == 0

    history = read_table(results_dir / HISTORY_FILE)
    expected = sorted(f"run-{w}-{i}" for w in range(WRITERS) for i in range(WRITES_PER_WRITER))
    assert sorted(history["run_id"]) == expected  # every row exactly once
    leaderboard = read_table(results_dir / LEADERBOARD_FILE)
    assert len(leaderboard) == WRITERS
    for record in leaderboard.to_dict(orient="records"):  # the latest row per key (each writer's last write)
        writer = int(record["strategy"].removeprefix("strategy"))
        assert record["run_id"] == f"run-{writer}-{WRITES_PER_WRITER - 1}"
        assert record[f"only_writer_{writer}"] == 1.0
    assert not [p.name for p in results_dir.iterdir() if p.name.endswith(".tmp")]  # no partial files left
    assert reads > 0


# ---------------------------------------------------------------- numeric safety


def _manifest() -> RunManifest:
    return RunManifest(
        run_id="r",
        suite="s",
        suite_path=None,
        config_hash="c",
        started_at=datetime(2025, 1, 1, tzinfo=UTC),
        seed=0,
        price_table_date="2025-06-01",
        price_table_sha256="x",
        git_commit=None,
        git_dirty=None,
        packages={},
        python="3.11",
        host="h",
        datasets={
            "d": {
                "fingerprint": "f",
                "source": "s",
                "squad_version": "1.1",
                "n_train": 0,
                "n_test": 3,
                "n_test_total": 3,
                "n_documents": 0,
            }
        },
    )


def test_undefined_aggregates_are_nan_never_an_exception(tmp_path: Path) -> None:
    assert math.isnan(bootstrap_mean([]).mean) and bootstrap_mean([]).n == 0
    assert bootstrap_mean([math.nan, 1.0, math.nan]).n == 1
    assert math.isnan(percentiles([]).p99) and percentiles([math.nan]).n == 0
    assert build_rows(_manifest(), [], seed=0) == []  # an empty run has no rows ...
    update_leaderboard(tmp_path, [])
    assert not (tmp_path / LEADERBOARD_FILE).exists()  # ... and writes no leaderboard

    empty = aggregate_metrics(ColumnCollector().columns(), None, 0, ["f1"])
    assert all(math.isnan(value) for value in empty.values())

    failed = [
        ItemResult(
            dataset="d",
            strategy="s",
            item_id=str(i),
            status="error",
            error={"stage": "answer", "type": "E", "message": "m"},
        )
        for i in range(3)
    ]
    (row,) = build_rows(_manifest(), failed, seed=0)
    assert (row.n_items, row.n_ok, row.n_errors) == (3, 0, 3)
    assert math.isnan(row.metrics["latency_p50_s"]) and math.isnan(row.metrics["cost_per_query_usd"])

    nan_scored = [
        ItemResult(
            dataset="d", strategy="nan", item_id=str(i), status="ok", answer=Answer(text="x"), scores={"mrr": math.nan}
        )
        for i in range(3)
    ]
    rows = build_rows(_manifest(), failed + nan_scored, seed=0)
    assert {row.strategy: row.n_items for row in rows} == {"s": 3, "nan": 3}
    assert all(math.isnan(row.metrics["mrr"]) for row in rows if row.strategy == "nan")
    assert all(row.metrics["mrr"] == 0.0 for row in rows if row.strategy == "s")  # failed items count 0
    update_leaderboard(tmp_path, rows)
    written = read_table(tmp_path / LEADERBOARD_FILE)
    assert len(written) == 2 and written["mrr"].isna().sum() + (written["mrr"] == 0).sum() == 2


def test_nan_scores_and_costs_survive_a_resume(tmp_path: Path) -> None:
    """A NaN score (retrieval metrics without gold documents) or cost (an unpriced model) must read back."""
    store = RunStore(tmp_path / "run")
    result = ItemResult(
        dataset="d",
        strategy="s",
        item_id="1",
        status="ok",
        answer=Answer(text="x"),
        scores={"mrr": math.nan, "f1": 1.0},
        cost_usd=math.nan,
    )
    store.append(result)
    (read,) = store.read_items()
    assert math.isnan(read.scores["mrr"]) and read.scores["f1"] == 1.0
    assert read.cost_usd is None or math.isnan(read.cost_usd)  # both mean "unpriced" to the aggregates
    manifest = _manifest()
    manifest.setups.append(
        SetupRecord(
            dataset="d", strategy="s", strategy_type="t", identity={}, setup=SetupReport(), setup_cost_usd=math.nan
        )
    )
    store.write_manifest(manifest)
    assert math.isnan(store.read_manifest().setups[0].setup_cost_usd)
