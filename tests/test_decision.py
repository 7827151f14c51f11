"""Decision tools: cost of ownership and break-even, latency targets, the oracle router, and the
recommendation (which must flip when update frequency or the latency target flips)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from evals.cli.recommend import recommend
from evals.core.errors import EvalsError
from evals.core.types import Answer
from evals.decision import (
    Constraints,
    CostAssumptions,
    MeasuredStrategy,
    break_even,
    latency_from_items,
    latency_from_leaderboard,
    load_measurements,
    monthly_cost,
    oracle_report,
    recommend_strategy,
)
from evals.decision.recommend import load_strategies
from evals.decision.robustness import ROBUSTNESS_FILE, SourceRisk, load_source_risks
from evals.results.records import ItemResult

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "leaderboard.csv"


def row(strategy: str, strategy_type: str, **values: float) -> dict:
    """A leaderboard row with the columns the decision tools read."""
    return {
        "dataset": "kb",
        "strategy": strategy,
        "strategy_type": strategy_type,
        "run_id": "r1",
        "n_items": 100,
        "schema_version": 1,
        **values,
    }


# rag and finetuned are equally good (within 0.02 F1); finetuned is fast, cheap per query, dear to train;
# rag is slow (p95 1.5 s) and dearer per query but cheap to re-index.
SYNTHETIC = [
    row(
        "rag",
        "rag",
        f1=0.60,
        f1_ci_low=0.55,
        f1_ci_high=0.65,
        grounded=0.8,
        latency_p50_s=0.8,
        latency_p95_s=1.5,
        latency_p99_s=2.0,
        cost_per_query_usd=0.002,
        setup_cost_usd=0.5,
        setup_seconds=60,
        setup_training_tokens=0,
    ),
    row(
        "finetuned",
        "finetuned",
        f1=0.59,
        f1_ci_low=0.54,
        f1_ci_high=0.64,
        grounded=math.nan,
        latency_p50_s=0.2,
        latency_p95_s=0.4,
        latency_p99_s=0.5,
        cost_per_query_usd=0.0005,
        setup_cost_usd=100.0,
        setup_seconds=3600,
        setup_training_tokens=1_000_000,
    ),
    row(
        "closed_book",
        "closed_book",
        f1=0.20,
        f1_ci_low=0.15,
        f1_ci_high=0.25,
        grounded=math.nan,
        latency_p50_s=0.2,
        latency_p95_s=0.3,
        latency_p99_s=0.4,
        cost_per_query_usd=0.0004,
        setup_cost_usd=0.0,
        setup_seconds=0,
        setup_training_tokens=0,
    ),
]


def measured(rows: list[dict] = SYNTHETIC) -> dict[str, MeasuredStrategy]:
    return {r["strategy"]: MeasuredStrategy.from_row(r) for r in rows}


def invoke(*args: str) -> Result:
    """The command as `evals recommend` runs it, registered the way cli.py registers commands."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(recommend)
    app.command("version")(lambda: None)
    return CliRunner().invoke(app, ["recommend", *args])


def item(strategy: str, item_id: str, f1: float, cost: float, total_s: float, route: str | None = None) -> ItemResult:
    return ItemResult(
        dataset="kb",
        strategy=strategy,
        item_id=item_id,
        status="ok",
        scores={"f1": f1},
        cost_usd=cost,
        answer=Answer(text="x", timings={"total": total_s}, metadata={"route": route} if route else {}),
    )


# --- cost model ---


def test_monthly_cost_adds_amortised_setup_maintenance_hosting_and_queries() -> None:
    strategies = measured()
    assumptions = CostAssumptions(horizon_months=10, updates_per_month=2, hosting_usd_per_hour={"finetuned": 0.1})
    cost = monthly_cost(strategies["finetuned"], assumptions, 1000)
    assert (cost.setup, cost.maintenance, cost.hosting, cost.queries) == pytest.approx((10, 200, 73, 0.5))
    assert cost.total == pytest.approx(283.5)
    assert monthly_cost(strategies["closed_book"], assumptions, 1000).maintenance == 0  # nothing to redo
    assert strategies["rag"].maintenance == "reindex" and strategies["finetuned"].maintenance == "retrain"


def test_break_even_solves_the_two_lines() -> None:
    strategies = measured()
    assumptions = CostAssumptions(horizon_months=12, updates_per_month=1)
    result = break_even(strategies["rag"], strategies["finetuned"], assumptions)
    # rag: 0.5/12 + 0.5 + 0.002 q; finetuned: 100/12 + 100 + 0.0005 q
    expected = (100 / 12 + 100 - 0.5 / 12 - 0.5) / (0.002 - 0.0005)
    assert result.queries_per_month == pytest.approx(expected)
    assert (result.cheaper_below, result.cheaper_above) == ("rag", "finetuned")
    # closed_book costs less fixed and less per query: no crossing above 0
    never = break_even(strategies["finetuned"], strategies["closed_book"], assumptions)
    assert never.queries_per_month is None and never.cheaper_below == never.cheaper_above == "closed_book"


# --- latency targets ---


def test_latency_share_from_items_counts_failures_as_misses() -> None:
    items = [item("rag", str(i), 1.0, 0.0, total) for i, total in enumerate([0.2, 0.5, 0.9, 1.2])]
    items.append(ItemResult(dataset="kb", strategy="rag", item_id="x", status="error"))
    check = latency_from_items(items, target_s=1.0, required_share=0.6)["rag"]
    assert check.share_within == pytest.approx(3 / 5) and check.meets and check.source == "items"
    assert not latency_from_items(items, target_s=1.0, required_share=0.95)["rag"].meets


def test_latency_from_leaderboard_uses_the_covering_percentile() -> None:
    checks = latency_from_leaderboard(list(measured().values()), target_s=1.0)
    assert not checks["rag"].meets and checks["rag"].share_at_least == 0.5  # p50 0.8 ≤ 1 < p95 1.5
    assert checks["finetuned"].meets and checks["finetuned"].share_at_least == 0.99
    assert latency_from_leaderboard([measured()["rag"]], target_s=1.0, required_share=0.5)["rag"].meets


# --- oracle router ---


def test_oracle_picks_the_best_per_item_and_the_cheapest_on_ties() -> None:
    items = [
        item("rag", "a", 1.0, 0.02, 1),
        item("finetuned", "a", 0.0, 0.01, 1),
        item("hybrid", "a", 0.0, 0.01, 1, "standard"),
        item("rag", "b", 0.5, 0.02, 1),
        item("finetuned", "b", 0.5, 0.01, 1),
        item("hybrid", "b", 0.5, 0.01, 1, "standard"),
        item("rag", "c", 0.0, 0.02, 1),
        item("finetuned", "c", 1.0, 0.01, 1),
        item("hybrid", "c", 0.0, 0.02, 1, "complex"),
    ]
    report = oracle_report(items)
    assert report.oracle_choices == {"finetuned": 2, "rag": 1}  # b is a tie: the cheaper finetuned answer wins
    assert report.oracle_quality == pytest.approx(2.5 / 3) and report.hybrid_quality == pytest.approx(0.5 / 3)
    assert report.regret == pytest.approx(2 / 3)
    assert report.hybrid_routes == {"complex": 1, "standard": 2}
    assert report.hybrid_quality_by_route == {"complex": 0.0, "standard": 0.25}
    assert report.cost_saved_vs_rag_usd == pytest.approx(0.06 - 0.04)


# --- recommendation ---


def test_recommendation_flips_with_update_frequency() -> None:
    strategies = list(measured().values())
    yearly = recommend_strategy(
        strategies, Constraints(updates_per_month=1 / 12, latency_target_s=10, monthly_queries=100_000)
    )
    daily = recommend_strategy(
        strategies, Constraints(updates_per_month=30, latency_target_s=10, monthly_queries=100_000)
    )
    assert yearly.choice == "finetuned" and daily.choice == "rag"
    assert any("cheaper" in reason for reason in yearly.reasons)
    assert "retraining finetuned costs $100.00" in daily.questions[0].answer


def test_recommendation_flips_with_the_latency_target() -> None:
    strategies = list(measured().values())
    slow_ok = recommend_strategy(strategies, Constraints(updates_per_month=30, latency_target_s=10))
    fast = recommend_strategy(strategies, Constraints(updates_per_month=30, latency_target_s=1))
    assert slow_ok.choice == "rag" and fast.choice == "finetuned"
    assert any(reason.startswith("rag excluded: misses the latency target") for reason in fast.reasons)


def test_sources_and_freshness_are_hard_constraints() -> None:
    strategies = list(measured().values())
    sourced = recommend_strategy(
        strategies, Constraints(updates_per_month=1 / 12, latency_target_s=10, need_sources=True)
    )
    assert sourced.choice == "rag"  # finetuned is cheaper but shows no sources
    hourly = recommend_strategy(strategies, Constraints(updates_per_month=24 * 30.44, latency_target_s=10))
    (finetuned,) = [a for a in hourly.assessments if a.measured.strategy == "finetuned"]
    assert "longer than the" in finetuned.exclusions[0]  # a 1 h retrain cannot keep up with hourly updates
    nothing = recommend_strategy(strategies, Constraints(latency_target_s=0.1))
    assert nothing.choice is None and nothing.reasons


def test_recommends_from_the_committed_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(COMMITTED, results / "leaderboard.csv")
    strategies, items = load_measurements(results)
    assert items == []  # runs/ is not committed: the leaderboard alone decides
    for updates in (30, 1 / 12):
        recommendation = recommend_strategy(strategies, Constraints(updates_per_month=updates))
        assert recommendation.choice in {s.strategy for s in strategies}
        assert len(recommendation.reasons) >= 3 and [q.key for q in recommendation.questions] == [
            "knowledge_change",
            "latency",
            "budget",
            "domain",
            "sources",
        ]
    markdown = tmp_path / "decision.md"
    result = invoke("--results-dir", str(results), "--markdown", str(markdown))
    assert result.exit_code == 0, result.output
    assert "Recommendation for squad-mini" in result.output and "How often does the knowledge change?" in result.output
    assert markdown.read_text().startswith("## Recommendation for squad-mini")
    as_json = invoke("--results-dir", str(results), "--json", "--need-sources", "--latency-target-s", "0.5")
    payload = json.loads(as_json.stdout)
    assert payload["choice"] == "extractive_bm25"  # the only sourced strategy under 0.5 s


def test_cli_reads_run_items_and_exits_1_without_an_eligible_strategy(tmp_path: Path) -> None:
    results = tmp_path / "results"
    (results / "runs" / "r1").mkdir(parents=True)
    pd.DataFrame(SYNTHETIC).to_csv(results / "leaderboard.csv", index=False)
    lines = [
        item(s, str(i), 0.5, 0.001, 0.3 if s != "rag" else 2.0).model_dump_json()
        for s in ("rag", "finetuned")
        for i in range(10)
    ]
    unscored = json.loads(lines[0]) | {"item_id": "u", "scores": {"f1": 0.5, "grounded": None}}  # NaN written as null
    (results / "runs" / "r1" / "items.jsonl").write_text("\n".join([*lines, json.dumps(unscored), '{"torn']) + "\n")
    strategies, items = load_measurements(results)
    assert len(items) == 21
    recommendation = recommend_strategy(strategies, Constraints(latency_target_s=1, updates_per_month=30), items)
    checks = {a.measured.strategy: a.latency for a in recommendation.assessments}
    assert checks["rag"].source == "items" and checks["rag"].share_within == 0
    assert checks["closed_book"].source == "leaderboard"
    result = invoke("--results-dir", str(results), "--latency-target-s", "0.1")
    assert result.exit_code == 1 and "No strategy meets" in result.output
    bad = invoke("--results-dir", str(results), "--hosting", "rag=cheap")
    assert bad.exit_code != 0


def test_plugin_strategies_are_classified_by_their_declared_update_path_not_their_name() -> None:
    """A third-party strategy named nothing like a built-in gets its role from `update_path` and `routes`."""
    declared = {
        "my_retriever": ({"update_path": "reindex", "routes": False}, "rag"),
        "my_tuned_reader": ({"update_path": "retrain+reindex", "routes": False}, "finetuned_rag"),
        "my_router": ({"update_path": "retrain+reindex", "routes": True}, "hybrid"),
        "closed_book": ({"update_path": "retrain", "routes": False}, "finetuned"),  # the name does not decide
    }
    for name, (columns, role) in declared.items():
        measured = MeasuredStrategy.from_row({**row(name, "some_plugin", f1=0.5), **columns, "schema_version": 2})
        assert (measured.role, measured.maintenance) == (role, columns["update_path"]), name
    # a schema-1 row (no update_path column) is classified by what its setup did
    legacy = MeasuredStrategy.from_row(row("x", "closed_book", f1=0.5, setup_training_tokens=900, grounded=0.7))
    assert (legacy.role, legacy.maintenance) == ("finetuned_rag", "retrain+reindex")


# --- untrusted sources ---


def risk(strategy: str, misled: float | None, reads_corpus: bool = True) -> SourceRisk:
    return SourceRisk(
        strategy=strategy,
        dataset="kb",
        reads_corpus=reads_corpus,
        misled_rate=misled,
        misled_ci=(None, None) if misled is None else (max(0.0, misled - 0.1), min(1.0, misled + 0.1)),
    )


def test_untrusted_sources_exclude_a_strategy_that_planted_documents_mislead() -> None:
    strategies = list(measured().values())
    constraints = Constraints(updates_per_month=30, latency_target_s=10)
    risks = {"rag": risk("rag", 0.5), "finetuned": risk("finetuned", 0.03, reads_corpus=False)}
    trusted = recommend_strategy(strategies, constraints, risks=risks)
    assert trusted.choice == "rag"  # figures shown as evidence, but no constraint without the flag
    assert any("misled by a planted wrong document: 50% [40%, 60%]" in line for line in trusted.questions[4].evidence)
    wary = recommend_strategy(strategies, constraints.model_copy(update={"untrusted_sources": True}), risks=risks)
    assert wary.choice == "finetuned"
    (rag,) = [a for a in wary.assessments if a.measured.strategy == "rag"]
    assert rag.exclusions == [
        "repeated a planted wrong document in 50% [40%, 60%] of its answers (evals robustness), "
        "over the 10% allowed with untrusted sources"
    ]
    lenient = constraints.model_copy(update={"untrusted_sources": True, "max_misled_rate": 0.6})
    assert recommend_strategy(strategies, lenient, risks=risks).choice == "rag"
    unmeasured = recommend_strategy(strategies, constraints.model_copy(update={"untrusted_sources": True}))
    assert unmeasured.choice == "rag" and any("rag read retrieved documents but have no" in n for n in unmeasured.notes)
    assert not any("measured on" in note for note in wary.notes)  # the same dataset: no caveat
    other = {name: figures.model_copy(update={"dataset": "company-kb-v1"}) for name, figures in risks.items()}
    (caveat,) = [n for n in recommend_strategy(strategies, constraints, risks=other).notes if "measured on" in n]
    assert caveat.startswith("robustness figures were measured on company-kb-v1 (`evals robustness`), not on kb")


def test_untrusted_sources_from_the_committed_robustness_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(COMMITTED, results / "leaderboard.csv")
    missing = invoke("--results-dir", str(results), "--untrusted-sources")
    assert missing.exit_code != 0 and "run `evals robustness` first" in str(missing.exception or missing.output)
    shutil.copy(COMMITTED.parent / ROBUSTNESS_FILE, results / ROBUSTNESS_FILE)
    committed = load_source_risks(results / ROBUSTNESS_FILE)
    result = invoke("--results-dir", str(results), "--untrusted-sources", "--json")
    assert result.exit_code in (0, 1), result.output
    payload = json.loads(result.stdout)
    for assessment in payload["assessments"]:
        figures = committed.get(assessment["measured"]["strategy"])
        misled = figures.misled_rate if figures is not None and figures.reads_corpus else None
        excluded = any("planted wrong document" in reason for reason in assessment["exclusions"])
        assert excluded == (misled is not None and misled > 0.10), assessment["measured"]["strategy"]
    assert (
        payload["choice"] is None
        or not committed[payload["choice"]].misled_rate
        or (committed[payload["choice"]].misled_rate <= 0.10)
    )


def test_rows_of_several_suites_are_never_mixed(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    rows = [{**r, "suite": "default", "finished_at": "2026-01-01"} for r in SYNTHETIC]
    rows.append({**SYNTHETIC[0], "suite": "top_k_5", "finished_at": "2026-01-02", "f1": 0.9})
    pd.DataFrame(rows).to_csv(results / "leaderboard.csv", index=False)
    with pytest.raises(EvalsError, match="rows of suites default, top_k_5; choose one with --suite"):
        load_strategies(results)
    assert {m.strategy: m.quality for m in load_strategies(results, suite="top_k_5")} == {"rag": 0.9}
    assert load_strategies(results, suite="default")[0].quality != 0.9
