"""The knowledge-freshness scenario on company-kb: v1-prepared strategies answering v2, stale and updated."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from evals.cli.freshness import freshness, parse_entries
from evals.core.errors import EvalsError
from evals.core.suite import StrategyEntry
from evals.data import load_dataset
from evals.decision.freshness import FreshnessResult, load_freshness, run_freshness, select_items

LIMIT = 30


@pytest.fixture(scope="module")
def model_free(tmp_path_factory: pytest.TempPathFactory) -> FreshnessResult:
    out = tmp_path_factory.mktemp("freshness") / "freshness.json"
    entries = [StrategyEntry(name="extractive_bm25"), StrategyEntry(name="first_sentence")]
    return run_freshness(entries, limit=LIMIT, out=out)


def test_result_shape_and_saved_json(model_free: FreshnessResult, tmp_path: Path) -> None:
    assert (model_free.before, model_free.after) == ("company-kb-v1", "company-kb-v2")
    assert model_free.n_test == LIMIT and model_free.n_changed == LIMIT // 2
    assert [row.strategy for row in model_free.strategies] == ["extractive_bm25", "first_sentence"]
    for row in model_free.strategies:
        assert row.update_path == "reindex" and row.update_training_tokens == 0
        assert row.update_seconds >= 0 and row.update_cost_usd >= 0
        for phase in (row.stale, row.updated):
            assert (phase.changed.n, phase.unchanged.n, phase.errors) == (LIMIT // 2, LIMIT // 2, 0)
    path = model_free.save(tmp_path / "sub" / "freshness.json")
    assert load_freshness(path) == model_free


def test_reindexing_fixes_changed_facts_and_keeps_unchanged(model_free: FreshnessResult) -> None:
    extractive = next(row for row in model_free.strategies if row.strategy == "extractive_bm25")
    # stale answers come from v1 sentences, which state the old value of a changed fact
    assert extractive.updated.changed.f1 > extractive.stale.changed.f1 + 0.03
    assert abs(extractive.updated.unchanged.f1 - extractive.stale.unchanged.f1) < 0.05
    # first_sentence reads the gold document's first sentence: unchanged documents answer the same
    first = next(row for row in model_free.strategies if row.strategy == "first_sentence")
    assert first.updated.unchanged == first.stale.unchanged


def test_select_items_balances_changed_and_unchanged() -> None:
    test = load_dataset("company-kb-v2").test
    assert select_items(test, None) == list(test)
    chosen = select_items(test, 10)
    assert len(chosen) == 10 and sum(bool(item.metadata["changed"]) for item in chosen) == 5
    assert [item.id for item in chosen] == [item.id for item in test if item in chosen]  # dataset order
    many = select_items(test, 50)
    assert sum(bool(item.metadata["changed"]) for item in many) == 18  # every changed fact, then unchanged


def test_unknown_strategy_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(EvalsError):
        run_freshness([StrategyEntry(name="no_such_strategy")], out=tmp_path / "f.json")
    assert not (tmp_path / "f.json").exists()
    with pytest.raises(EvalsError, match="no freshness results"):
        load_freshness(tmp_path / "missing.json")


def test_cli_prints_table_and_writes_json(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(freshness)
    app.command("noop")(lambda: None)  # two commands, so `freshness` is addressed by name as under `evals`
    result = CliRunner().invoke(
        app,
        ["freshness", "--results-dir", str(tmp_path), "--strategies", "extractive_bm25", "--limit", "6"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    saved = load_freshness(tmp_path / "freshness.json")
    assert saved.n_test == 6 and [row.strategy for row in saved.strategies] == ["extractive_bm25"]
    assert "extractive_bm25" in result.output and "re-index" in result.output and "→" in result.output


def test_default_entries() -> None:
    names = [entry.name for entry in parse_entries(None)]
    assert names == ["closed_book", "rag", "finetuned", "extractive_bm25"]
    finetuned = parse_entries(["finetuned"])[0]
    assert finetuned.params == {"finetune": {"epochs": 2, "max_steps": 30}}
    assert parse_entries(["first_sentence"])[0].type == "first_sentence"
    with pytest.raises(EvalsError, match="repeats"):
        parse_entries(["rag", "rag"])


@pytest.mark.slow
def test_rag_reindexing_fixes_changed_facts(tmp_path: Path) -> None:
    """Real models (MiniLM retrieval, SmolLM2 reader): re-indexing v2 moves changed facts to the new values."""
    result = run_freshness([StrategyEntry(name="rag")], limit=10, out=tmp_path / "freshness.json")
    rag = result.strategies[0]
    assert rag.update_path == "reindex" and rag.stale.errors == rag.updated.errors == 0
    assert rag.updated.changed.f1 > rag.stale.changed.f1
    assert rag.updated.changed.exact_match >= rag.stale.changed.exact_match
