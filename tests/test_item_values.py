"""One item-metric rule (`evals.results.item_values`: a failed item counts 0, an answered item without
the metric is left out) gives the same values on the leaderboard, in compare, in the oracle router, in
recommend and in the pytest plugin's results; and the run store's read-only reader, which compare,
recommend and report use, skips torn or invalid lines without writing or locking."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evals.core.errors import EvalsError
from evals.core.types import Answer
from evals.decision import Constraints, load_measurements, oracle_report, recommend_strategy
from evals.decision.recommend import load_items, load_strategies
from evals.report.html import build_report
from evals.results import run_store
from evals.results.compare import ComparisonReport, MetricComparison, compare_references
from evals.results.item_values import metric_mean, metric_value, metric_values
from evals.results.leaderboard import LeaderboardRow, build_rows, update_leaderboard
from evals.results.records import ItemResult, RunManifest
from evals.results.run_store import RunStore, runs_dir
from evals.testing.eval_results import StrategyResults

NAN = math.nan
FAILED = None
# strategy → item → scores (FAILED: the item failed). hybrid c has no f1 at all, rag d an undefined (NaN)
# f1, hybrid d an undefined faithfulness; finetuned is never scored on faithfulness but has a failed item.
SCORES: dict[str, dict[str, dict[str, float] | None]] = {
    "hybrid": {
        "a": {"f1": 1.0, "faithfulness": 0.9},
        "b": FAILED,
        "c": {"exact_match": 0.0},
        "d": {"f1": 0.5, "faithfulness": NAN},
    },
    "rag": {
        "a": {"f1": 0.0, "faithfulness": 0.5},
        "b": {"f1": 1.0, "faithfulness": 1.0},
        "c": {"f1": 1.0, "faithfulness": 1.0},
        "d": {"f1": NAN, "faithfulness": 0.0},
    },
    "finetuned": {"a": {"f1": 0.5}, "b": FAILED, "c": {"f1": 0.0}, "d": {"f1": 0.25}},
}
# What the rule makes of them: hybrid f1 (1 + 0 + 0.5) / 3, faithfulness (0.9 + 0) / 2; rag f1 (0 + 1 + 1) / 3;
# finetuned f1 (0.5 + 0 + 0 + 0.25) / 4, faithfulness not measured (its failure does not make it 0).
EXPECTED = {
    ("hybrid", "f1"): 0.5,
    ("hybrid", "faithfulness"): 0.45,
    ("rag", "f1"): 2 / 3,
    ("rag", "faithfulness"): 0.625,
    ("finetuned", "f1"): 0.1875,
    ("finetuned", "faithfulness"): NAN,
}


def result(strategy: str, item_id: str, scores: dict[str, float] | None) -> ItemResult:
    if scores is None:
        error = {"stage": "answer", "type": "TimeoutError", "message": "no answer"}
        return ItemResult(dataset="d", strategy=strategy, item_id=item_id, status="error", error=error)
    metadata = {"route": "standard"} if strategy == "hybrid" else {}
    answer = Answer(text=f"{strategy} {item_id}", timings={"total": 0.1}, metadata=metadata)
    return ItemResult(
        dataset="d", strategy=strategy, item_id=item_id, status="ok", answer=answer, scores=scores, cost_usd=0.001
    )


def results(scores: dict[str, dict[str, dict[str, float] | None]] = SCORES) -> list[ItemResult]:
    return [result(strategy, item_id, s) for strategy, items in scores.items() for item_id, s in items.items()]


def manifest(run_id: str) -> RunManifest:
    return RunManifest(
        run_id=run_id,
        suite="rule",
        suite_path=None,
        config_hash="c",
        status="complete",
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
                "n_test": 4,
                "n_test_total": 4,
                "n_documents": 0,
            }
        },
    )


def write_run(results_dir: Path, run_id: str, items: list[ItemResult]) -> list[LeaderboardRow]:
    """A run folder written through the run store (NaN scores become null), and its leaderboard rows."""
    store = RunStore(runs_dir(results_dir) / run_id)
    for item in items:
        store.append(item)
    store.write_manifest(manifest(run_id))
    rows = build_rows(manifest(run_id), items, seed=0)
    update_leaderboard(results_dir, rows)
    return rows


def same(actual: float, expected: float) -> bool:
    return math.isnan(actual) if math.isnan(expected) else actual == pytest.approx(expected)


# --- the rule ---


def test_the_rule_item_by_item() -> None:
    hybrid = {item.item_id: item for item in results() if item.strategy == "hybrid"}
    assert metric_value(hybrid["a"], "f1") == 1.0
    assert metric_value(hybrid["b"], "f1") == 0.0  # failed: a wrong answer to the user
    assert math.isnan(metric_value(hybrid["c"], "f1"))  # answered, f1 absent: not measured, not 0
    assert math.isnan(metric_value(hybrid["d"], "faithfulness"))  # answered, faithfulness NaN
    finetuned = [item for item in results() if item.strategy == "finetuned"]
    assert metric_value(finetuned[1], "faithfulness") == 0.0  # one failed item alone counts 0 ...
    assert all(math.isnan(v) for v in metric_values(finetuned, "faithfulness"))  # ... a strategy measuring nothing: NaN
    assert list(metric_values(finetuned, "f1")) == [0.5, 0.0, 0.0, 0.25]
    everything_failed = [result("x", str(i), FAILED) for i in range(3)]
    assert list(metric_values(everything_failed, "f1")) == [0.0, 0.0, 0.0] and metric_mean(everything_failed, "f1") == 0
    assert math.isnan(metric_mean([], "f1"))


def test_leaderboard_compare_oracle_recommend_and_plugin_agree(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    old_rows = write_run(folder, "old", results())
    improved = {**SCORES, "hybrid": {**SCORES["hybrid"], "b": {"f1": 1.0, "faithfulness": 1.0}}}
    write_run(folder, "new", results(improved))
    rows = {row.strategy: row for row in old_rows}
    items = results()

    # leaderboard
    for (strategy, metric), expected in EXPECTED.items():
        assert same(rows[strategy].metrics[metric], expected), (strategy, metric, rows[strategy].metrics[metric])

    # compare: the paired means over the items both runs measured are the leaderboard's
    report = compare_references("old", "new", folder)
    assert report.notes == []
    for (strategy, metric), expected in EXPECTED.items():
        assert same(_paired(report, strategy, metric).old, expected), (strategy, metric)
    assert _paired(report, "hybrid", "f1").new == pytest.approx((1 + 1 + 0.5) / 3)
    assert _paired(report, "rag", "f1").new == pytest.approx(2 / 3)

    # oracle: hybrid c (no f1) is left out, not counted 0; on d, rag (f1 NaN) is no choice
    oracle = oracle_report(items, metric="f1")
    assert (oracle.n_items, oracle.n_unmeasured) == (3, 1)
    assert oracle.hybrid_quality == pytest.approx(EXPECTED[("hybrid", "f1")])
    assert oracle.oracle_quality == pytest.approx((0.5 + 1.0 + 0.25) / 3)
    assert oracle.oracle_choices == {"finetuned": 2, "rag": 1}
    assert oracle.hybrid_routes == {"failed": 1, "standard": 2}
    assert oracle.hybrid_quality_by_route == {"failed": 0.0, "standard": 0.75}
    faithful = oracle_report(items, metric="faithfulness")  # finetuned does not measure it: never chosen
    assert faithful.oracle_choices == {"rag": 2} and faithful.n_unmeasured == 2
    assert faithful.hybrid_quality == pytest.approx(EXPECTED[("hybrid", "faithfulness")])
    assert faithful.oracle_quality == pytest.approx((0.5 + 1.0) / 2)

    # recommend: leaderboard quality and the oracle it runs over the run's items (read back from disk)
    update_leaderboard(folder, old_rows)  # the leaderboard's latest rows: the OLD run's
    strategies, loaded = load_measurements(folder)
    assert len(loaded) == 12
    quality = {m.strategy: m.quality for m in strategies}
    assert quality == pytest.approx({s: v for (s, m), v in EXPECTED.items() if m == "f1"})
    recommendation = recommend_strategy(strategies, Constraints(latency_target_s=10), loaded)
    assert recommendation.oracle is not None and recommendation.oracle.n_unmeasured == 1
    assert recommendation.oracle.hybrid_quality == pytest.approx(quality["hybrid"])
    assert recommendation.oracle.oracle_quality == pytest.approx(oracle.oracle_quality)

    # the pytest plugin's per-item explanation: the same values, the undefined ones left out
    hybrid = StrategyResults(rows["hybrid"], [item for item in items if item.strategy == "hybrid"], {})
    assert float(hybrid.f1) == pytest.approx(0.5)
    assert {item.item_id: item.value for item in hybrid.f1.items} == {"a": 1.0, "b": 0.0, "d": 0.5}
    assert {item.item_id: item.value for item in hybrid.faithfulness.items} == {"a": 0.9, "b": 0.0}
    finetuned = StrategyResults(rows["finetuned"], [item for item in items if item.strategy == "finetuned"], {})
    assert math.isnan(finetuned.faithfulness) and finetuned.faithfulness.items == ()


def _paired(report: ComparisonReport, strategy: str, metric: str) -> MetricComparison:
    (comparison,) = [s for s in report.strategies if s.strategy == strategy]
    assert comparison.paired
    return next(m for m in comparison.metrics if m.metric == metric)


def test_the_oracle_says_when_nothing_is_measured() -> None:
    items = [result("hybrid", "a", {"exact_match": 1.0}), result("rag", "a", {"f1": 1.0})]
    with pytest.raises(EvalsError, match="f1 is undefined on every item"):
        oracle_report(items, metric="f1")


# --- the read-only reader ---


def test_readonly_reader_skips_torn_and_invalid_lines_without_writing_or_locking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(tmp_path / "run")
    first, second, again = result("rag", "a", {"f1": NAN}), result("rag", "b", FAILED), result("rag", "a", {"f1": 1})
    store.append(first)
    with store.items_path.open("a", encoding="utf-8") as stream:
        stream.write('{"dataset": "d", "strategy": "rag"}\n')  # line 2: valid JSON, not an item result
        stream.write("\xff not json\n")  # line 3
    store.append(second)
    store.append(again)  # a second record of (d, rag, a): the first one counts
    with store.items_path.open("a", encoding="utf-8") as stream:
        stream.write('{"dataset": "d", "strat')  # line 6: torn, a writer still at it (or one that died)
    before = store.items_path.read_bytes()

    def no_lock(path: Path) -> None:
        raise AssertionError(f"the read-only reader took the lock of {path}")

    monkeypatch.setattr(run_store, "locked", no_lock)
    readout = store.read_items_readonly()
    assert [(item.item_id, item.status) for item in readout.items] == [("a", "ok"), ("b", "error")]
    assert math.isnan(readout.items[0].scores["f1"])  # written as null, read back as NaN
    assert readout.skipped_lines == [2, 3, 6] and readout.skipped == 3
    assert readout.skipped_note("r") == "run r: 3 unreadable lines of items.jsonl skipped (lines 2, 3, 6)"
    assert store.items_path.read_bytes() == before  # nothing truncated
    assert RunStore(tmp_path / "gone").read_items_readonly().items == []
    monkeypatch.undo()

    with pytest.raises(EvalsError, match="line 2 is not a valid item result"):  # the writer refuses to resume it
        store.read_items()


def test_writer_truncates_a_torn_last_line_the_reader_only_skips(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.append(result("rag", "a", {"f1": 1.0}))
    with store.items_path.open("a", encoding="utf-8") as stream:
        stream.write('{"torn')
    assert store.read_items_readonly().skipped_lines == [2]
    assert store.items_path.read_bytes().endswith(b'{"torn')
    assert [item.item_id for item in store.read_items()] == ["a"]
    assert store.items_path.read_bytes().endswith(b"}\n")  # the writer truncated it
    assert store.read_items_readonly().skipped_lines == []


def test_recommend_compare_and_report_say_how_many_lines_they_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    write_run(folder, "old", results())
    items_path = runs_dir(folder) / "old" / "items.jsonl"
    with items_path.open("a", encoding="utf-8") as stream:
        stream.write('{"item_id": "torn')
    before = items_path.read_bytes()

    strategies = load_strategies(folder)
    loaded = load_items(folder, strategies)
    assert len(loaded.items) == 12
    assert loaded.notes == ["run old: 1 unreadable line of items.jsonl skipped (line 13)"]
    recommendation = recommend_strategy(strategies, Constraints(latency_target_s=10), loaded.items, loaded.notes)
    assert recommendation.notes == loaded.notes

    write_run(folder, "new", results())
    report = compare_references("old", "new", folder)
    assert report.notes == ["OLD run old: 1 unreadable line of items.jsonl skipped (line 13)"]

    update_leaderboard(folder, build_rows(manifest("old"), results(), seed=0))  # the leaderboard points at "old"
    built = build_report(folder, tmp_path / "report")
    assert built.skipped_lines == {"old": 1} and built.latency_source == "items"
    page = built.index_html.read_text(encoding="utf-8")
    assert "Unreadable lines of items.jsonl skipped (torn or invalid): <code>old</code>: 1." in page
    assert items_path.read_bytes() == before
