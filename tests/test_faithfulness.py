"""Offline faithfulness: lexical claim support, the fitted score, attribution and faithful-but-wrong."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evals.core.types import Answer, QAItem, RetrievedContext
from evals.data.dataset import QADataset
from evals.scoring.claim_support import claim_support
from evals.scoring.faithfulness import AttributionScorer, FaithfulnessScorer, LexicalFaithfulnessScorer
from evals.scoring.faithfulness_model import WEIGHTS_PATH, faithfulness_score, refit, shipped_weights

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
    assert claim_support("Warsaw", [CONTEXT], QUESTION) > 0.95
    assert claim_support("Marie Curie was born in Warsaw in 1867.", [CONTEXT], QUESTION) > 0.9


@pytest.mark.parametrize(
    "answer",
    [
        "Marie Curie was born in Warsaw in 1871.",  # wrong number
        "Marie Curie was born in Krakow.",  # unsupported name
        "Marie Curie was not born in Warsaw.",  # unsupported negation
    ],
)
def test_unsupported_numbers_names_negations_score_low(answer: str) -> None:
    assert claim_support(answer, [CONTEXT], QUESTION) < 0.5


def test_claim_must_be_supported_within_one_passage() -> None:
    """Words scattered over the contexts support less than the same words found together."""
    contexts = ["Pierre Curie was a French physicist.", "Marie Curie was born in Warsaw. She won the Nobel Prize."]
    together = claim_support("Marie Curie won the Nobel Prize.", contexts)
    scattered = claim_support("Pierre Curie won the Nobel Prize.", contexts)
    assert together > scattered


def test_restating_the_question_claims_little() -> None:
    """An answer echoing the question's words ranks below the bare supported answer."""
    echo = claim_support("Marie Curie was born in a city.", [CONTEXT], QUESTION)
    assert claim_support("Warsaw", [CONTEXT], QUESTION) > echo


def test_undefined_cases_are_nan() -> None:
    assert math.isnan(claim_support("", [CONTEXT]))
    assert math.isnan(claim_support("Warsaw", []))
    assert math.isnan(claim_support("Warsaw", ["  "]))


def _answer(text: str, contexts: dict[str, str], cited: list[str] | None = None) -> Answer:
    return Answer(
        text=text,
        contexts=[RetrievedContext(doc_id=doc_id, text=body) for doc_id, body in contexts.items()],
        metadata={} if cited is None else {"cited_doc_ids": cited},
    )


ITEM = QAItem(id="q1", question=QUESTION, answers=["Warsaw"])
CONTEXTS = {"curie": CONTEXT, "paris": "Paris is the capital of France."}


def test_faithfulness_scorers() -> None:
    assert FaithfulnessScorer(DATASET).score(ITEM, _answer("Warsaw", CONTEXTS))["faithfulness"] > 0.8
    assert math.isnan(FaithfulnessScorer(DATASET).score(ITEM, _answer("Warsaw", {}))["faithfulness"])  # closed book
    lexical = LexicalFaithfulnessScorer(DATASET).score(ITEM, _answer("Warsaw", CONTEXTS))
    assert lexical == {"faithfulness_lexical": claim_support("Warsaw", list(CONTEXTS.values()), QUESTION)}


def test_cited_precision_and_grounded() -> None:
    scorer = AttributionScorer(DATASET)
    assert scorer.score(ITEM, _answer("Warsaw", CONTEXTS, ["curie", "paris"])) == {
        "cited_precision": 0.5,
        "grounded": 1.0,
        "faithful_but_wrong": 0.0,
    }
    # a cited id that was never retrieved supports nothing
    assert scorer.score(ITEM, _answer("Warsaw", CONTEXTS, ["curie", "missing"]))["cited_precision"] == 0.5
    from_memory = scorer.score(ITEM, _answer("She was born in Lyon in 1870.", CONTEXTS, ["curie"]))
    assert from_memory == {"cited_precision": 0.0, "grounded": 0.0, "faithful_but_wrong": 0.0}
    uncited = scorer.score(ITEM, _answer("Warsaw", CONTEXTS))
    assert math.isnan(uncited["cited_precision"]) and uncited["grounded"] == 1.0
    closed_book = scorer.score(ITEM, _answer("Warsaw", {}))
    assert all(math.isnan(value) for value in closed_book.values())


def test_faithful_but_wrong_flags_an_answer_that_repeats_a_wrong_source() -> None:
    scorer = AttributionScorer(DATASET)
    wrong_source = {"old": "Marie Curie was born in Krakow in 1867."}
    repeated = scorer.score(ITEM, _answer("She was born in Krakow.", wrong_source))
    assert repeated["grounded"] == 1.0 and repeated["faithful_but_wrong"] == 1.0
    unanswerable = QAItem(id="q2", question=QUESTION, is_impossible=True)
    assert math.isnan(
        scorer.score(unanswerable, _answer("She was born in Krakow.", wrong_source))["faithful_but_wrong"]
    )


def test_the_fitted_score_is_a_probability_that_punishes_unsupported_additions() -> None:
    supported = faithfulness_score("Marie Curie was born in Warsaw in 1867.", [CONTEXT], QUESTION)
    assert 0.8 < supported < 1
    for added in ("in 1871", "to the chemist Jan Kowalski"):
        assert faithfulness_score(f"Marie Curie was born in Warsaw {added}.", [CONTEXT], QUESTION) < supported - 0.3
    assert math.isnan(faithfulness_score("Warsaw", []))
    assert faithfulness_score("Warsaw", [CONTEXT], QUESTION) == faithfulness_score("Warsaw", [CONTEXT], QUESTION)


def test_a_verbatim_quote_of_its_source_scores_high() -> None:
    sentence = (
        "However, as one and the same valve usually controls both steam flows, a short cutoff at admission "
        "adversely affects the exhaust and compression period"
    )
    assert claim_support(sentence, [sentence]) > 0.9
    assert faithfulness_score(sentence, [sentence]) > 0.8


def test_shipped_weights_are_reproducible() -> None:
    weights = refit(_require(HALUEVAL), _require(BEGIN))
    shipped = shipped_weights()
    assert weights.fitted_on == shipped.fitted_on and weights.features == shipped.features
    fitted = [*weights.mean, *weights.scale, *weights.coef, weights.intercept]
    assert fitted == pytest.approx([*shipped.mean, *shipped.scale, *shipped.coef, shipped.intercept], rel=1e-6), (
        f"refit {WEIGHTS_PATH} with `python -m evals.scoring.faithfulness_model`"
    )
    assert weights.coef[0] > 0 > weights.coef[1]  # support raises the score, unsupported words lower it
