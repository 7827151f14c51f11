"""An eval suite written as pytest tests: copy this file and squad_mini.toml to gate your own strategies.

The suite runs once per session (the first test that asks for `eval_results` runs it) and is
recorded in the results folder like `evals run`; each test is one quality or latency gate.
Thresholds sit below the measured values (squad-mini, 30 questions) with margin to spare.
"""

from __future__ import annotations

import pytest

from evals.testing.eval_results import EvalResults, EvalRun

pytestmark = pytest.mark.eval(suite="squad_mini.toml")


def test_every_question_is_answered(eval_results: EvalResults) -> None:
    for label in eval_results:
        assert eval_results[label].n_errors == 0
        assert eval_results[label].n_items == 30


def test_extractive_bm25_clears_its_floor(eval_results: EvalResults) -> None:
    assert eval_results["extractive_bm25"].f1 >= 0.08  # measured 0.121, 95% CI [0.087, 0.160]


def test_first_sentence_clears_its_floor(eval_results: EvalResults) -> None:
    assert eval_results["first_sentence"].f1 >= 0.03  # measured 0.070, 95% CI [0.040, 0.101]


def test_retrieval_beats_the_gold_document_lead(eval_results: EvalResults) -> None:
    assert eval_results["extractive_bm25"].f1 > eval_results["first_sentence"].f1


def test_answers_are_fast(eval_results: EvalResults) -> None:
    for label in eval_results:
        assert eval_results[label].latency_p95_s < 0.5  # measured under 2 ms: model-free


def test_run_is_recorded(eval_run: EvalRun) -> None:
    assert (eval_run.results_dir / "leaderboard.csv").exists()
    assert eval_run.manifest.status == "complete"
