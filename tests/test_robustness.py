"""The retrieval-robustness scenario on company-kb-v1: noise, counterfactual and absent corpus variants."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import typer
from conftest import run_cli
from typer.testing import CliRunner

from evals.cli.robustness import DEFAULT_LIMIT as CLI_DEFAULT_LIMIT
from evals.cli.robustness import parse_entries, parse_rates, robustness
from evals.core.errors import EvalsError
from evals.core.suite import StrategyEntry
from evals.core.types import QAItem
from evals.decision.robustness import (
    DEFAULT_LIMIT,
    POOL_SIZE,
    Estimate,
    RobustnessResult,
    RobustnessVariants,
    build_variants,
    check_noise_rates,
    load_facts,
    load_robustness,
    load_source_risks,
    misled,
    planted_answers,
    run_robustness,
    select_questions,
    shifted_value,
)
from evals.scoring.correctness import answer_contains_gold

RATES = [0.0, 0.2, 0.4, 0.6, 0.8]


@pytest.fixture(scope="module")
def variants() -> RobustnessVariants:
    return build_variants(noise_rates=RATES, seed=0, limit=None)


def _topic(doc_id: str) -> str:
    return doc_id.split("~")[0]


def test_builders_are_deterministic_in_the_seed(variants: RobustnessVariants) -> None:
    again = build_variants(noise_rates=RATES, seed=0, limit=None)
    assert [d.fingerprint for d in again.datasets()] == [d.fingerprint for d in variants.datasets()]
    assert again.planted == variants.planted and again.noise_doc_ids == variants.noise_doc_ids
    other = build_variants(noise_rates=RATES, seed=1, limit=None)
    # the seed moves which slots are noise at the intermediate rates; none and all-noise pools do not move
    changed = [a.fingerprint != b.fingerprint for a, b in zip(other.noise, variants.noise, strict=True)]
    assert changed == [False, True, True, True, False]
    assert [d.name for d in variants.datasets()] == [
        *(f"company-kb-v1~noise{rate:g}" for rate in RATES),
        "company-kb-v1~counterfactual",
        "company-kb-v1~absent",
    ]


def test_variants_share_question_ids_and_what_a_finetuned_model_reads(variants: RobustnessVariants) -> None:
    base = variants.base
    assert len(base.test) == 60
    for dataset in variants.datasets():
        assert dataset.test == base.test  # same ids, same items: the answer key of a corpus-blind strategy
        assert dataset.train == base.train
        assert dataset.fingerprint_of(("train",)) == base.fingerprint_of(("train",))
        assert dataset.fingerprint_of(()) == base.fingerprint_of(())
    corpus_prints = {dataset.fingerprint_of(("corpus",)) for dataset in variants.datasets()}
    assert len(corpus_prints) == len(variants.datasets())  # every variant is its own corpus


def test_noise_pools_have_the_rate_and_noise_docs_carry_no_answer(variants: RobustnessVariants) -> None:
    facts = load_facts("company-kb-v1")
    topics = {fact.doc_id for fact in facts}
    answers_of: dict[str, list[QAItem]] = {}
    for item in variants.base.test:
        answers_of.setdefault(item.gold_doc_ids[0], []).append(item)
    previous: set[str] = set()
    for rate, count, dataset in zip(RATES, variants.noise_docs, variants.noise, strict=True):
        assert count == round(rate * POOL_SIZE)
        noise = {d.id for d in dataset.corpus if d.id in variants.noise_doc_ids}
        assert previous <= noise  # each step up turns positives into noise, never back
        previous = noise
        for topic in topics:
            pool = [d for d in dataset.corpus if _topic(d.id) == topic]
            assert len(pool) == POOL_SIZE and pool[0].id == topic  # the gold document leads its pool
            assert sum(d.id in noise for d in pool) == count
            for document in pool:
                items = answers_of[topic]
                contains = [answer_contains_gold(document.text, item.answers) for item in items]
                if document.id in noise:
                    assert not re.search(r"\d", document.text), document.text
                    assert contains == [0.0] * len(items), document.text
                    assert "~noise" in document.id
                else:
                    assert contains == [1.0] * len(items), document.text
        assert len(dataset.corpus) == len(variants.base.corpus) + len(topics) * (POOL_SIZE - 1)


def test_counterfactual_states_a_wrong_value_in_place_of_the_gold_document(variants: RobustnessVariants) -> None:
    facts = {fact.fact_id: fact for fact in load_facts("company-kb-v1")}
    v1_values = {fact.v1 for fact in facts.values()}
    documents = variants.counterfactual.documents_by_id()
    assert [d.id for d in variants.counterfactual.corpus] == [d.id for d in variants.base.corpus]
    for item in variants.base.test:
        fact = facts[item.metadata["fact_id"]]
        planted = variants.planted[fact.fact_id]
        assert planted != fact.v1 and planted not in v1_values
        if variants.planted_sources[fact.fact_id] == "v2":
            assert fact.changed and planted == fact.v2
        text = documents[item.gold_doc_ids[0]].text
        assert answer_contains_gold(text, item.answers) == 0.0, text
        assert answer_contains_gold(text, planted_answers(item, planted)) == 1.0, text
    assert set(variants.planted_sources.values()) == {"v2", "shifted"}


def test_absent_removes_the_gold_documents(variants: RobustnessVariants) -> None:
    ids = {d.id for d in variants.absent.corpus}
    for item in variants.base.test:
        gold = item.gold_doc_ids[0]
        assert gold not in ids
        pool = [d for d in variants.absent.corpus if _topic(d.id) == gold]
        assert len(pool) == POOL_SIZE - 1 and all(d.id in variants.noise_doc_ids for d in pool)
        assert all(answer_contains_gold(d.text, item.answers) == 0.0 for d in pool)
    assert not any("~copy" in doc_id for doc_id in ids)


def test_misled_and_planted_answers() -> None:
    item = QAItem(id="q", question="How long?", answers=["34", "34 hours"])
    assert planted_answers(item, "58 hours") == ["58 hours", "58"]
    assert misled("58 hours", item, "58 hours") == 1.0
    assert misled("It lasts 58", item, "58 hours") == 1.0
    assert misled("34 hours, not 58", item, "58 hours") == 0.0  # also right: not misled
    assert misled("I don't know", item, "58 hours") == 0.0
    price = QAItem(id="p", question="Price?", answers=["$159.99"])
    assert planted_answers(price, "$119.99") == ["$119.99"]
    assert shifted_value("$159.99", {"$199.99"}) == "$119.99"
    assert shifted_value("4.2.1", set()) == "5.2.1"


def test_rare_event_interval_stays_bounded() -> None:
    clusters = [f"doc:{index}" for index in range(40)]
    rare = Estimate.of([0.0] * 39 + [1.0], clusters)  # the studentized bootstrap is unbounded here
    assert rare.mean == pytest.approx(0.025) and rare.ci_low == 0.0
    assert rare.ci_high is not None and 0.025 <= rare.ci_high < 0.2
    none = Estimate.of([0.0] * 40, clusters)
    assert (none.mean, none.ci_low, none.ci_high) == (0.0, 0.0, 0.0)
    drop = Estimate.of([-1.0] * 20 + [1.0] * 20, clusters)  # within the data's range, as every interval
    assert drop.ci_low is not None and drop.ci_high is not None and -1 <= drop.ci_low < 0 < drop.ci_high <= 1


def test_select_questions_spreads_over_documents() -> None:
    test = build_variants(noise_rates=[0.0], limit=None).base.test
    for limit in (20, DEFAULT_LIMIT):
        chosen = select_questions(test, limit, seed=0)
        assert len(chosen) == limit and len({item.gold_doc_ids[0] for item in chosen}) == limit
        assert chosen == select_questions(test, limit, seed=0)
        assert [item.id for item in chosen] == [item.id for item in test if item in chosen]  # dataset order
    assert select_questions(test, None) == list(test) == select_questions(test, 100)
    assert CLI_DEFAULT_LIMIT == DEFAULT_LIMIT


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ([-0.1], "outside"),
        ([1.0], "outside"),
        ([1.5], "outside"),
        ([math.nan], "outside"),
        ([0.95], "leaves no document"),
        ([0.2, 0.25], "both put 1"),
        ([], "at least one"),
    ],
)
def test_bad_noise_rates(rates: list[float], message: str) -> None:
    with pytest.raises(EvalsError, match=message):
        check_noise_rates(rates)


def test_parse_rates_and_entries() -> None:
    assert parse_rates("0, 0.2,0.8") == [0.0, 0.2, 0.8]
    with pytest.raises(EvalsError, match="not a number"):
        parse_rates("0,x")
    names = [entry.name for entry in parse_entries(None)]
    assert names == ["finetuned", "rag", "finetuned_rag", "hybrid", "closed_book", "extractive_bm25"]
    entries = {entry.name: entry for entry in parse_entries(None)}
    assert entries["finetuned_rag"].type == "rag" and entries["finetuned_rag"].params == {
        "finetune": {"epochs": 2, "max_steps": 30}
    }
    assert entries["hybrid"].params == entries["finetuned"].params == {"finetune": {"epochs": 2, "max_steps": 30}}
    assert [entry.name for entry in parse_entries(["rag,extractive_bm25"])] == ["rag", "extractive_bm25"]
    with pytest.raises(EvalsError, match="unknown strategy 'nope'"):
        parse_entries(["nope"])
    with pytest.raises(EvalsError, match="repeat"):
        parse_entries(["rag", "rag"])


@pytest.fixture(scope="module")
def model_free(tmp_path_factory: pytest.TempPathFactory) -> RobustnessResult:
    out = tmp_path_factory.mktemp("robustness") / "robustness.json"
    entries = [StrategyEntry(name="extractive_bm25"), StrategyEntry(name="first_sentence")]
    return run_robustness(entries, RATES, seed=0, limit=None, out=out)


def test_extractive_accuracy_falls_as_noise_rises(model_free: RobustnessResult) -> None:
    extractive = model_free.strategy("extractive_bm25")
    assert extractive.reads_corpus and extractive.update_path == "reindex"
    means = [point.accuracy.mean for point in extractive.noise]
    assert all(mean is not None for mean in means)
    assert all(a >= b for a, b in zip(means, means[1:], strict=False)), means  # type: ignore[operator]
    assert means[0] > means[-1]  # type: ignore[operator]
    shares = [point.retrieved_noise_share for point in extractive.noise]
    assert shares[0] == 0.0 and all(a < b for a, b in zip(shares, shares[1:], strict=False)), shares  # type: ignore[operator]
    drop = extractive.accuracy_drop
    assert drop.mean == pytest.approx(means[0] - means[-1])  # type: ignore[operator]
    assert drop.ci_low is not None and drop.ci_high is not None and drop.ci_low <= drop.mean <= drop.ci_high  # type: ignore[operator]
    for point in extractive.noise:
        assert point.accuracy.n == 60 and point.accuracy.n_clusters == 40  # clustered by gold document
        assert point.accuracy.ci_low is not None and 0 <= point.accuracy.ci_low <= point.accuracy.ci_high <= 1  # type: ignore[operator]
    # a sentence retriever repeats the counterfactual sentence and never abstains
    assert extractive.counterfactual.misled_rate.mean == pytest.approx(means[0])
    assert extractive.absent.rejection_rate.mean == 0.0


def test_failed_items_count_zero_and_result_round_trips(model_free: RobustnessResult, tmp_path: Path) -> None:
    oracle = model_free.strategy("first_sentence")  # reads its gold document, which the absent variant removed
    assert oracle.absent.errors == 60 and oracle.absent.rejection_rate.mean == 0.0
    assert all(point.errors == 0 for point in oracle.noise)
    assert (model_free.n_test, model_free.n_clusters, model_free.noise_rates) == (60, 40, RATES)
    assert sum(model_free.planted_sources.values()) == 60
    path = model_free.save(tmp_path / "sub" / "robustness.json")
    assert load_robustness(path) == model_free
    risks = load_source_risks(path)
    assert set(risks) == {"extractive_bm25", "first_sentence"}
    extractive = risks["extractive_bm25"]
    assert (
        extractive.reads_corpus and extractive.misled_rate == model_free.strategies[0].counterfactual.misled_rate.mean
    )
    with pytest.raises(EvalsError, match="no robustness results"):
        load_robustness(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(EvalsError, match="unreadable"):
        load_robustness(tmp_path / "bad.json")


def test_cli_prints_table_and_writes_json(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(robustness)
    app.command("noop")(lambda: None)  # two commands, so `robustness` is addressed by name as under `evals`
    args = ["robustness", "--results-dir", str(tmp_path), "--strategies", "extractive_bm25", "--limit", "6"]
    result = CliRunner().invoke(app, [*args, "--no-progress"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    saved = load_robustness(tmp_path / "robustness.json")
    assert saved.n_test == 6 and [row.strategy for row in saved.strategies] == ["extractive_bm25"]
    assert "extractive_bm25" in result.output and "noise 0.8" in result.output and "misled" in result.output
    as_json = CliRunner().invoke(app, [*args, "--noise-rates", "0,0.4", "--json", "--no-progress"])
    assert as_json.exit_code == 0, as_json.output
    printed = json.loads(as_json.stdout)
    assert printed["noise_rates"] == [0.0, 0.4] and printed["schema_version"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--noise-rates", "0,1"), "noise rate 1.0 is outside [0, 1)"),
        (("--noise-rates", "-0.2"), "outside [0, 1)"),
        (("--strategies", "no_such_strategy"), "unknown strategy 'no_such_strategy'"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_cli("robustness", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_rag_is_misled_where_finetuned_is_not(tmp_path: Path) -> None:
    """Real models (MiniLM retrieval, SmolLM2 reader, a 10-step LoRA): RAG repeats the counterfactual value
    and loses accuracy as noise crowds out the answer; the fine-tuned model reads no document."""
    entries = [
        StrategyEntry(name="rag"),
        StrategyEntry(name="finetuned", params={"finetune": {"max_steps": 10}}),
    ]
    result = run_robustness(entries, [0.0, 0.8], seed=0, limit=20, out=tmp_path / "robustness.json")
    rag, finetuned = result.strategy("rag"), result.strategy("finetuned")
    assert rag.reads_corpus and not finetuned.reads_corpus
    assert rag.counterfactual.misled_rate.mean > finetuned.counterfactual.misled_rate.mean  # type: ignore[operator]
    assert rag.noise[0].accuracy.mean > rag.noise[-1].accuracy.mean  # type: ignore[operator]
    # the fine-tuned model answers once: every other variant is served from the answer cache
    assert finetuned.answered == 20
    assert len({point.accuracy.mean for point in finetuned.noise}) == 1
