"""Offline faithfulness: unit behaviour, attribution, and the validation figures on the shared data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from evals.cli.validate_judge import validate_judge
from evals.core.errors import DatasetError, EvalsError
from evals.core.types import Answer, QAItem, RetrievedContext
from evals.data.dataset import QADataset
from evals.scoring.faithfulness import AttributionScorer, FaithfulnessScorer, faithfulness_score
from evals.scoring.judge_validation import begin_roc_auc, halueval_pairwise_accuracy, lexical_overlap

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HALUEVAL = DATA / "halueval" / "qa_sample_300.jsonl"
BEGIN = DATA / "begin" / "begin_dev_wow.tsv"
DATASET = QADataset.build("tiny", corpus=[], train=[], test=[], source="test")

CONTEXT = (
    "Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in Physics in 1903."
    "Pierre Curie was a French physicist."
)
QUESTION = "Where was Marie Curie born?"


def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} not found (shared/data is absent)")
    return path


def test_exact_supported_span_scores_high() -> None:
    assert faithfulness_score("Warsaw", [CONTEXT], QUESTION) > 0.95
    assert faithfulness_score("Marie Curie was born in Warsaw in 1867.", [CONTEXT], QUESTION) > 0.9


@pytest.mark.parametrize(
    "answer",
    [
        "Marie Curie was born in Warsaw in 1871.",  # wrong number
        "Marie Curie was born in Krakow.",  # unsupported name
        "Marie Curie was not born in Warsaw.",  # unsupported negation
    ],
)
def test_unsupported_numbers_names_negations_score_low(answer: str) -> None:
    assert faithfulness_score(answer, [CONTEXT], QUESTION) < 0.5


def test_claim_must_be_supported_within_one_passage() -> None:
    """Words scattered over the contexts support less than the same words found together."""
    contexts = ["Pierre Curie was a French physicist.", "Marie Curie was born in Warsaw. She won the Nobel Prize."]
    together = faithfulness_score("Marie Curie won the Nobel Prize.", contexts)
    scattered = faithfulness_score("Pierre Curie won the Nobel Prize.", contexts)
    assert together > scattered


def test_restating_the_question_claims_little() -> None:
    """An answer echoing the question's words ranks below the bare supported answer."""
    echo = faithfulness_score("Marie Curie was born in a city.", [CONTEXT], QUESTION)
    assert faithfulness_score("Warsaw", [CONTEXT], QUESTION) > echo


def test_undefined_cases_are_nan() -> None:
    assert math.isnan(faithfulness_score("", [CONTEXT]))
    assert math.isnan(faithfulness_score("Warsaw", []))
    assert math.isnan(faithfulness_score("Warsaw", ["  "]))


def _answer(text: str, contexts: dict[str, str], cited: list[str] | None = None) -> Answer:
    return Answer(
        text=text,
        contexts=[RetrievedContext(doc_id=doc_id, text=body) for doc_id, body in contexts.items()],
        metadata={} if cited is None else {"cited_doc_ids": cited},
    )


ITEM = QAItem(id="q1", question=QUESTION, answers=["Warsaw"])
CONTEXTS = {"curie": CONTEXT, "paris": "Paris is the capital of France."}


def test_faithfulness_scorer() -> None:
    scorer = FaithfulnessScorer(DATASET)
    assert scorer.score(ITEM, _answer("Warsaw", CONTEXTS))["faithfulness"] > 0.95
    assert math.isnan(scorer.score(ITEM, _answer("Warsaw", {}))["faithfulness"])  # closed book


def test_cited_precision_and_grounded() -> None:
    scorer = AttributionScorer(DATASET)
    assert scorer.score(ITEM, _answer("Warsaw", CONTEXTS, ["curie", "paris"])) == {
        "cited_precision": 0.5,
        "grounded": 1.0,
    }
    # a cited id that was never retrieved supports nothing
    assert scorer.score(ITEM, _answer("Warsaw", CONTEXTS, ["curie", "missing"]))["cited_precision"] == 0.5
    from_memory = scorer.score(ITEM, _answer("She was born in Lyon in 1870.", CONTEXTS, ["curie"]))
    assert from_memory == {"cited_precision": 0.0, "grounded": 0.0}
    uncited = scorer.score(ITEM, _answer("Warsaw", CONTEXTS))
    assert math.isnan(uncited["cited_precision"]) and uncited["grounded"] == 1.0
    closed_book = scorer.score(ITEM, _answer("Warsaw", {}))
    assert math.isnan(closed_book["cited_precision"]) and math.isnan(closed_book["grounded"])


def test_halueval_pairwise_accuracy_beats_baseline() -> None:
    path = _require(HALUEVAL)
    ours = halueval_pairwise_accuracy(path, "faithfulness")
    baseline = halueval_pairwise_accuracy(path, "lexical_overlap")
    assert ours.n == baseline.n == 300
    assert ours.pairwise_accuracy >= 0.95  # measured 0.960
    assert baseline.pairwise_accuracy == pytest.approx(0.823, abs=0.005)
    assert ours.pairwise_accuracy > baseline.pairwise_accuracy


def test_begin_roc_auc_beats_baseline() -> None:
    path = _require(BEGIN)
    ours = begin_roc_auc(path, "faithfulness")
    baseline = begin_roc_auc(path, lexical_overlap)
    assert ours.n == baseline.n == 430 and ours.n_positive == 180
    assert ours.roc_auc >= 0.955  # measured 0.956
    assert baseline.roc_auc == pytest.approx(0.944, abs=0.005)
    assert ours.roc_auc > baseline.roc_auc


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("validate-judge")(validate_judge)
    app.command("noop")(lambda: None)  # two commands, so the subcommand name is kept
    return app


def test_cli_prints_figures() -> None:
    runner = CliRunner()
    result = runner.invoke(_app(), ["validate-judge", str(_require(HALUEVAL)), "--format", "halueval"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("faithfulness: pairwise_accuracy 0.96") and "n=300" in result.output
    result = runner.invoke(
        _app(), ["validate-judge", str(_require(BEGIN)), "--format", "begin", "--metric", "lexical_overlap", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["n"] == 430 and payload["metric"] == "lexical_overlap" and 0.9 < payload["roc_auc"] < 1


def test_cli_rejects_bad_format_and_metric(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    for args in (["--format", "squad"], ["--format", "halueval", "--metric", "bleu"]):
        result = CliRunner().invoke(_app(), ["validate-judge", str(path), *args])
        assert isinstance(result.exception, EvalsError)


def test_malformed_jsonl_names_file_and_line(tmp_path: Path) -> None:
    row = {"knowledge": "k", "question": "q", "right_answer": "a", "hallucinated_answer": "b"}
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(row) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"broken\.jsonl:2: not valid JSON"):
        halueval_pairwise_accuracy(path)
    path.write_text(json.dumps({"knowledge": "k"}) + "\n")
    with pytest.raises(DatasetError, match=r"broken\.jsonl:1: not a HaluEval QA row .*question"):
        halueval_pairwise_accuracy(path)


def test_malformed_begin_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("knowledge\tmessage\tresponse\tbegin_label\nk\tm\tr\tFully attributable\nk\tm\tr\tMaybe\n")
    with pytest.raises(DatasetError, match=r"bad\.tsv:3: unknown begin_label 'Maybe'"):
        begin_roc_auc(path)
    path.write_text("knowledge\tresponse\n")
    with pytest.raises(DatasetError, match=r"bad\.tsv:1: .*missing column"):
        begin_roc_auc(path)
    with pytest.raises(DatasetError, match="file not found"):
        begin_roc_auc(tmp_path / "absent.tsv")


def test_a_verbatim_quote_of_its_source_scores_high() -> None:
    sentence = (
        "However, as one and the same valve usually controls both steam flows, a short cutoff at admission "
        "adversely affects the exhaust and compression period"
    )
    assert faithfulness_score(sentence, [sentence]) > 0.9
