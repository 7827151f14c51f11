"""SQuAD EM/F1 against scores the official v1.1 and v2.0 scripts produced on shared fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from evals.scoring.squad import (
    SquadVersion,
    evaluate_predictions,
    exact_match,
    f1_score,
    normalize_answer,
)

SQUAD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad"
FIXTURES = {"1.1": "fixture_v1.1_2articles.json", "2.0": "fixture_v2.0_1article.json"}
# The per-question exact-match key each fixture uses.
EM_KEY = {"1.1": "em", "2.0": "exact"}
TOL = 1e-9


def _load(version: SquadVersion) -> dict[str, Any]:
    """Read one fixture, skipping the test when the shared data folder is absent."""
    if not SQUAD_DIR.is_dir():
        pytest.skip(f"SQuAD fixtures not found at {SQUAD_DIR} (shared/data/squad is absent)")
    fixture = json.loads((SQUAD_DIR / FIXTURES[version]).read_text(encoding="utf-8"))
    assert fixture["version"].lstrip("v") == version
    return cast(dict[str, Any], fixture)


def _gold(fixture: dict[str, Any]) -> dict[str, list[str]]:
    """Map each question id in the fixture's SQuAD `data` to its gold answer texts."""
    return {
        qa["id"]: [answer["text"] for answer in qa["answers"]]
        for article in fixture["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_overall_scores_match_official(version: SquadVersion) -> None:
    fixture = _load(version)
    gold = _gold(fixture)
    assert fixture["predictions"], "fixture has no systems"
    for system, predictions in fixture["predictions"].items():
        scores = evaluate_predictions(gold, predictions, version)
        expected = fixture["expected"][system]
        for key, value in expected.items():
            assert scores[key] == pytest.approx(value, abs=TOL), (system, key)


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_per_question_scores_match_official(version: SquadVersion) -> None:
    fixture = _load(version)
    gold = _gold(fixture)
    em_key = EM_KEY[version]
    for system, predictions in fixture["predictions"].items():
        per_question = fixture["per_question"][system]
        assert set(per_question) == set(gold), system
        for qid, expected in per_question.items():
            prediction = predictions[qid]
            em = exact_match(prediction, gold[qid], version)
            f1 = f1_score(prediction, gold[qid], version)
            assert em == pytest.approx(expected[em_key], abs=TOL), (system, qid)
            assert f1 == pytest.approx(expected["f1"], abs=TOL), (system, qid)


def test_v2_breakdown_is_consistent_with_overall() -> None:
    fixture = _load("2.0")
    gold = _gold(fixture)
    for predictions in fixture["predictions"].values():
        scores = evaluate_predictions(gold, predictions, "2.0")
        assert list(scores) == [
            f"{prefix}{metric}" for prefix in ("", "HasAns_", "NoAns_") for metric in ("exact", "f1", "total")
        ]
        assert scores["HasAns_total"] + scores["NoAns_total"] == scores["total"]
        for metric in ("exact", "f1"):
            weighted = (
                scores[f"HasAns_{metric}"] * scores["HasAns_total"] + scores[f"NoAns_{metric}"] * scores["NoAns_total"]
            ) / scores["total"]
            assert weighted == pytest.approx(scores[metric], abs=TOL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Quick, brown fox!", "quick brown fox"),
        ("an apple a day", "apple day"),
        ("theater anatomy", "theater anatomy"),
        ("  (the) U.S.A.  ", "usa"),
        ("\u00e9the caf\u00e9 \u2014 The end", "\u00e9the caf\u00e9 \u2014 end"),
        ("...", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_partial_f1() -> None:
    # Tokens {cat, sat} vs {cat, sat, on, mat}: precision 1, recall 1/2.
    assert f1_score("the cat sat", ["cat sat on mat"]) == pytest.approx(2 / 3)
    assert f1_score("the cat sat", ["dog", "cat sat on mat"], "2.0") == pytest.approx(2 / 3)
    assert exact_match("The cat sat.", ["cat sat"]) == 1.0


def test_v2_abstaining_on_unanswerable_scores_one() -> None:
    assert exact_match("", [], "2.0") == 1.0
    assert f1_score("", [], "2.0") == 1.0
    assert exact_match("Paris", [], "2.0") == 0.0
    assert f1_score("Paris", [], "2.0") == 0.0
    assert f1_score("", ["Paris"], "2.0") == 0.0


def test_punctuation_only_gold_differs_between_versions() -> None:
    # v1.1 keeps "." as a gold answer: EM matches "" but F1 needs a shared token.
    assert exact_match("", ["."], "1.1") == 1.0
    assert f1_score("", ["."], "1.1") == 0.0
    # v2.0 drops it, leaving [""], where an empty prediction scores F1 = 1.
    assert exact_match("", ["."], "2.0") == 1.0
    assert f1_score("", ["."], "2.0") == 1.0
    # With a real answer alongside, v2.0 no longer accepts the empty prediction.
    assert exact_match("", ["!!", "Paris"], "1.1") == 1.0
    assert exact_match("", ["!!", "Paris"], "2.0") == 0.0


def test_v1_requires_gold_answers() -> None:
    with pytest.raises(ValueError, match="at least one gold answer"):
        exact_match("Paris", [], "1.1")


def test_v1_missing_prediction_counts_as_zero() -> None:
    gold = {"q1": ["Paris"], "q2": ["Rome"]}
    scores = evaluate_predictions(gold, {"q1": "Paris", "extra": "x"}, "1.1")
    assert scores == {"exact_match": 50.0, "f1": 50.0}


def test_v2_breakdown_keys_and_missing_prediction() -> None:
    gold: dict[str, list[str]] = {"q1": ["Paris"], "q2": []}
    scores = evaluate_predictions(gold, {"q1": "Paris", "q2": "Rome"}, "2.0")
    assert scores == {
        "exact": 50.0,
        "f1": 50.0,
        "total": 2,
        "HasAns_exact": 100.0,
        "HasAns_f1": 100.0,
        "HasAns_total": 1,
        "NoAns_exact": 0.0,
        "NoAns_f1": 0.0,
        "NoAns_total": 1,
    }
    only_answerable = evaluate_predictions({"q1": ["Paris"]}, {"q1": "Paris"}, "2.0")
    assert not any(key.startswith("NoAns_") for key in only_answerable)
    with pytest.raises(ValueError, match="1 missing"):
        evaluate_predictions(gold, {"q1": "Paris"}, "2.0")
