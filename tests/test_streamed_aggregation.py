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
from evals.results.leaderboard import LEADERBOARD_FILE, LeaderboardRow, build_rows, update_leaderboard
from evals.results.records import ItemResult, RunCounts

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
