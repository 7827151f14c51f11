"""The runner aggregates a run by streaming its items.jsonl into columns of numbers (`evals.results.item_columns`),
never holding the item results: its leaderboard rows must be exactly those of the item results held in memory
(in any order), and agree with the item-metric rule computed by hand."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np

from evals import RunSettings, run_suite
from evals.core.suite import Suite
from evals.core.types import Answer
from evals.results.item_columns import ColumnCollector
from evals.results.leaderboard import LEADERBOARD_FILE, LeaderboardRow, build_rows, update_leaderboard
from evals.results.records import ItemResult, RunCounts
from evals.stats.clustered import clustered_mean

REPEATS = 2


def mixed_suite() -> Suite:
    """Repeats, failed items (flaky), per-stage timings and retrieval metrics (extractive_bm25), metrics a
    scorer leaves NaN (flaky_judge), clusters (squad-mini's paragraphs)."""
    return Suite.model_validate(
        {
            "name": "streamed",
            "seed": 7,
            "repeats": REPEATS,
            "scorers": ["squad", "retrieval", "flaky_judge"],
            "datasets": [{"name": "squad-mini", "limit": 24}],
            "strategies": [
                {"name": "extractive_bm25"},
                {"name": "coin"},
                {"name": "flaky", "params": {"failures_per_item": 0, "fail_forever_every": 3}},
            ],
        }
    )


def leaderboard_bytes(folder: Path, rows: list[LeaderboardRow]) -> bytes:
    update_leaderboard(folder, rows)
    return (folder / LEADERBOARD_FILE).read_bytes()


def test_streamed_rows_equal_the_rows_of_the_items_held_in_memory(tmp_path: Path) -> None:
    suite = mixed_suite()
    outcome = run_suite(
        suite, RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False)
    )
    items = list(outcome.items())
    assert len(items) == 3 * 24 * REPEATS and any(item.status == "error" for item in items)
    shuffled = random.Random(0).sample(items, len(items))  # the finish order must not matter
    in_memory = build_rows(outcome.manifest, shuffled, seed=suite.seed)
    assert leaderboard_bytes(tmp_path / "streamed", outcome.rows) == leaderboard_bytes(tmp_path / "held", in_memory)

    counts = RunCounts()
    assert list(counts.counting(items)) == items
    assert outcome.manifest.counts == counts and counts.errors > 0

    for row in outcome.rows:
        mine = sorted((i for i in items if i.strategy == row.strategy), key=lambda i: (i.item_id, i.repeat))
        assert row.metrics["exact_match"] == exact_match_by_hand(mine)
        answered = [i.answer for i in mine if i.status == "ok" and i.answer is not None]
        assert row.metrics["latency_p50_s"] == float(np.percentile([a.timings["total"] for a in answered], 50))
        assert row.n_clusters == len({i.cluster for i in mine}) and row.repeats == REPEATS
        assert math.isnan(row.metrics["flaky_judge"]) or 0 <= row.metrics["flaky_judge"] <= 1


def exact_match_by_hand(items: list[ItemResult]) -> float:
    """The item-metric rule, spelled out: a failed answer counts 0, a question is the mean of its answers."""
    per_question: dict[str, list[float]] = {}
    for item in items:
        per_question.setdefault(item.item_id, []).append(item.scores["exact_match"] if item.status == "ok" else 0.0)
    return float(np.mean([np.mean(values) for values in per_question.values()]))


def test_cluster_keys_draw_the_same_statistics_as_the_cluster_names() -> None:
    """Columns keep clusters as numbers (a question that is its own cluster costs none of its name); the keys must
    group and order clusters exactly as the names do, so the SE, the bootstrap draws and the CI are the same."""
    rng = random.Random(3)
    names = ["doc:a/1", "doc:a/2", "article:Zebra", "column:7", "item:q050", "zzz"]  # "item:q050" = q050's own
    collector = ColumnCollector()
    expected: dict[str, str | None] = {}
    for index in rng.sample(range(120), 120):  # added out of order, as a run finishes them
        question = f"q{index:03d}"
        kind = index % 4
        cluster = None if kind == 0 else f"item:{question}" if kind == 1 else rng.choice(names)
        expected[question] = expected.get(question, cluster)
        for repeat in range(2):
            score = float(rng.random() < 0.6)
            result = ItemResult(
                dataset="d",
                strategy="s",
                item_id=question,
                cluster=expected[question],
                repeat=repeat,
                status="ok",
                scores={"exact_match": score},
                answer=Answer(text="x"),
            )
            collector.add(result)
    columns = collector.columns()
    questions = sorted(expected)
    values = columns.item_means("exact_match")
    by_keys = clustered_mean(values, columns.cluster_keys, seed=5)
    by_names = clustered_mean(values, [expected[question] for question in questions], seed=5)
    assert by_keys == by_names and by_keys.n_clusters > len(names)
    assert columns.cluster_count() == by_names.n_clusters
