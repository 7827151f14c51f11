"""The built-in strategies on real models: answers, contexts, usage, timings, setup, routes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from evals import RunSettings, load_suite, run_suite
from evals.core.types import QAItem
from strategies.router import QueryRouter, RouterParams

TINY_FINETUNE = "{max_examples = 16, max_steps = 3, batch_size = 4}"


def run(folder: Path, strategies: str, limit: int = 3):
    path = folder / "suite.toml"
    path.write_text(f'name = "t"\n[[datasets]]\nname = "squad-mini"\nlimit = {limit}\n\n{strategies}', encoding="utf-8")
    return run_suite(
        load_suite(path), RunSettings(results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False)
    )


@pytest.mark.slow
def test_closed_book_and_rag_on_the_embedded_model(workdir: Path) -> None:
    outcome = run(workdir, '[[strategies]]\nname = "closed_book"\n\n[[strategies]]\nname = "rag"\n')
    assert all(result.status == "ok" for result in outcome.items())
    for result in outcome.items():
        answer = result.answer
        assert answer is not None and answer.model == "smollm2-135m-instruct"
        assert answer.usage.input_tokens > 0 and answer.usage.output_tokens > 0
        assert answer.timings["generate"] > 0 and answer.timings["total"] >= answer.timings["generate"]
        assert result.cost_usd is not None and result.cost_usd > 0
    rag = [r.answer for r in outcome.items() if r.strategy == "rag" and r.answer]
    assert all(len(a.contexts) == 2 and "retrieve" in a.timings for a in rag)
    assert all(set(a.metadata["cited_doc_ids"]) <= {c.doc_id for c in a.contexts} for a in rag)
    closed = [r.answer for r in outcome.items() if r.strategy == "closed_book" and r.answer]
    assert all(not a.contexts for a in closed)
    (setup,) = [s for s in outcome.manifest.setups if s.strategy == "rag"]
    assert setup.setup.model == "all-minilm-l6-v2" and setup.setup_cost_usd > 0


@pytest.mark.slow
def test_finetuned_trains_once_and_hybrid_records_routes(workdir: Path) -> None:
    strategies = (
        f'[[strategies]]\nname = "finetuned"\nparams = {{finetune = {TINY_FINETUNE}}}\n\n'
        f'[[strategies]]\nname = "hybrid"\nparams = {{finetune = {TINY_FINETUNE}, '
        "router = {standard_above = 0.75, complex_below = 0.55}}\n"
    )
    outcome = run(workdir, strategies, limit=6)
    assert all(result.status == "ok" for result in outcome.items()), [r.error for r in outcome.items()]
    setups = {s.strategy: s.setup for s in outcome.manifest.setups}
    assert setups["finetuned"].training_tokens > 0 and setups["finetuned"].details["steps"] == 3
    assert not setups["finetuned"].cached and setups["hybrid"].cached  # the same adapter, trained once
    assert setups["hybrid"].details["adapter_sha256"] == setups["finetuned"].details["adapter_sha256"]
    routes = [r.answer.metadata["route"] for r in outcome.items() if r.strategy == "hybrid" and r.answer]
    assert len(routes) == 6 and set(routes) <= {"standard", "complex", "combined"}
    hybrid = [r.answer for r in outcome.items() if r.strategy == "hybrid" and r.answer]
    assert all(bool(a.contexts) == (a.metadata["route"] != "standard") for a in hybrid)
    assert all(0 <= a.metadata["similarity"] <= 1 for a in hybrid)


@pytest.mark.slow
def test_closed_book_through_an_openai_compatible_server(workdir: Path, llama_server_url: str) -> None:
    generator = f'{{backend = "openai", base_url = "{llama_server_url}", model = "smollm2-135m-instruct"}}'
    outcome = run(workdir, f'[[strategies]]\nname = "closed_book"\nparams = {{generator = {generator}}}\n', limit=2)
    assert all(r.status == "ok" and r.answer and r.answer.usage.output_tokens > 0 for r in outcome.items())
    (setup,) = outcome.manifest.setups
    assert setup.identity["model"]["base_url"].startswith("http://127.0.0.1")


def test_rule_router_separates_factoid_and_complex_questions() -> None:
    router = QueryRouter(RouterParams(mode="rules"))
    assert router.route("Who founded the Normans?")[0] == "standard"
    assert router.route("Why did the steam engine replace water wheels in factories?")[0] == "complex"
    assert router.route("Name the gas that makes up a fifth of air")[0] == "combined"


def test_similarity_router_needs_training_questions() -> None:
    router = QueryRouter(RouterParams())
    with pytest.raises(ValueError, match="embedder"):
        router.fit([QAItem(id="1", question="Q?", answers=["a"])])


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    suite = (
        'name = "t"\n[[datasets]]\nname = "squad-mini"\nlimit = 2\n[[strategies]]\nname = "closed_book"\n'
        'params = {generator = {model_path = "/nowhere/model.gguf"}}\n'
    )
    (tmp_path / "suite.toml").write_text(suite, encoding="utf-8")
    result = run_cli("run", "suite.toml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "/nowhere/model.gguf" in result.stderr


def test_openai_backend_without_key_is_a_clear_error(tmp_path: Path) -> None:
    suite = (
        'name = "t"\n[[datasets]]\nname = "squad-mini"\nlimit = 2\n[[strategies]]\nname = "closed_book"\n'
        'params = {generator = {backend = "openai", model = "gpt-4o-mini"}}\n'
    )
    (tmp_path / "suite.toml").write_text(suite, encoding="utf-8")
    result = run_cli("run", "suite.toml", cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "OPENAI_API_KEY" in result.stderr
