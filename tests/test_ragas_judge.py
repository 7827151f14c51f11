"""ragas integration: string metrics offline; LLM-judged metrics wired to a scripted judge on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from judge_server import COMPLETION_TOKENS, PROMPT_TOKENS, JudgeServer

from evals.core.errors import ConfigError
from evals.core.types import Answer, Document, QAItem, RetrievedContext
from evals.data.dataset import QADataset
from evals.scoring import ragas_judge
from evals.scoring.judge_reliability import judge_repeatedly, reliability_report
from evals.scoring.ragas_judge import JudgeConfig, RagasJudge, RagasJudgeScorer, RagasStringScorer

SECRET = "sk-test-judge-secret-0123456789"
ITEM = QAItem(id="q1", question="Where is the Eiffel Tower?", answers=["Paris", "in Paris"])
ANSWER = Answer(
    text="The Eiffel Tower is in Paris.",
    contexts=[RetrievedContext(doc_id="d1", text="The Eiffel Tower is a landmark in Paris, France.")],
)
DATASET = QADataset.build("tiny", [Document(id="d1", text="The Eiffel Tower is in Paris.")], [], [ITEM], "test")


@pytest.fixture
def judge_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No judge configured, a temporary cache, the secret key in the judge's key variable."""
    for name in ("EVALS_JUDGE_MODEL", "EVALS_JUDGE_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVALS_JUDGE_API_KEY", SECRET)
    monkeypatch.setenv("EVALS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_string_metrics_take_the_best_reference() -> None:
    scorer = RagasStringScorer(DATASET)
    exact = scorer.score(ITEM, Answer(text="in Paris"))
    assert exact["ragas_exact_match"] == 1.0 and exact["ragas_string_similarity"] == 1.0
    assert exact["ragas_rouge"] == pytest.approx(1.0)
    partial = scorer.score(ITEM, Answer(text="Paris, France"))
    assert partial["ragas_exact_match"] == 0.0 and 0.0 < partial["ragas_rouge"] < 1.0
    assert 0.0 < partial["ragas_string_similarity"] < 1.0 and 0.0 <= partial["ragas_bleu"] < 1.0
    unanswerable = QAItem(id="q2", question="Who?", is_impossible=True)
    assert all(math.isnan(v) for v in scorer.score(unanswerable, Answer(text="")).values())


def test_no_judge_configured_is_a_config_error(judge_env: Path) -> None:
    with pytest.raises(ConfigError, match="EVALS_JUDGE_MODEL"):
        RagasJudgeScorer(DATASET)


def test_openai_api_without_key_is_a_config_error(judge_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVALS_JUDGE_API_KEY")
    monkeypatch.setenv("EVALS_JUDGE_MODEL", "gpt-4o-mini")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        RagasJudge()


def test_faithfulness_is_the_share_of_supported_statements_and_cached(
    judge_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with JudgeServer(statements=["A.", "B.", "C.", "D."], verdicts=[[1, 1, 0, 1]]) as server:
        monkeypatch.setenv("EVALS_JUDGE_MODEL", "scripted-judge")
        monkeypatch.setenv("EVALS_JUDGE_BASE_URL", server.base_url)
        scorer = RagasJudgeScorer(DATASET)
        scores = scorer.score(ITEM, ANSWER)
        assert scores["ragas_faithfulness"] == pytest.approx(0.75)
        assert scores["ragas_factual_correctness"] == pytest.approx(0.75)  # tp=3, fp=1, fn=1
        assert scores["ragas_context_precision"] == pytest.approx(1.0)
        assert scores["ragas_context_recall"] == pytest.approx(1.0)
        calls = len(server.requests)
        assert calls == 8  # faithfulness 2, factual correctness 4, precision 1, recall 1
        assert scores["judge_input_tokens"] == calls * PROMPT_TOKENS
        assert scores["judge_output_tokens"] == calls * COMPLETION_TOKENS
        assert server.authorizations[0] == f"Bearer {SECRET}"
        assert {request["model"] for request in server.requests} == {"scripted-judge"}

        again = scorer.score(ITEM, ANSWER)
        assert len(server.requests) == calls  # every judgment came from the cache
        assert again == scores  # including the tokens the judgments cost
        assert scorer.judge_usage.input_tokens == 2 * calls * PROMPT_TOKENS

    files = list((judge_env / "judgments").rglob("*.json"))
    assert len(files) == calls
    assert all(SECRET not in path.read_text(encoding="utf-8") for path in files)


def test_invalid_judge_replies_score_nan(judge_env: Path) -> None:
    with JudgeServer(garbage=True) as server:
        judge = RagasJudge(JudgeConfig(model="scripted-judge", base_url=server.base_url))
        scores = RagasJudgeScorer(DATASET, judge=judge).score(ITEM, ANSWER)
    assert all(math.isnan(scores[name]) for name in ragas_judge.JUDGE_METRICS)
    assert scores["judge_input_tokens"] == len(server.requests) * PROMPT_TOKENS > 0  # failed tries cost too
    assert not (judge_env / "judgments").exists()


def test_metrics_without_inputs_are_nan_without_calls(judge_env: Path) -> None:
    with JudgeServer() as server:
        judge = RagasJudge(JudgeConfig(model="scripted-judge", base_url=server.base_url))
        closed_book = judge.score(QAItem(id="q3", question="Who?", is_impossible=True), Answer(text=""))
    assert all(math.isnan(closed_book[name]) for name in ragas_judge.JUDGE_METRICS)
    assert closed_book["judge_input_tokens"] == 0 and not server.requests


def test_validate_judge_metric(judge_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JudgeServer(statements=["A.", "B."], verdicts=[[1, 0]]) as server:
        monkeypatch.setenv("EVALS_JUDGE_MODEL", "scripted-judge")
        monkeypatch.setenv("EVALS_JUDGE_BASE_URL", server.base_url)
        ragas_judge._default_judge.cache_clear()
        try:
            assert ragas_judge.ragas_faithfulness("A. B.", ["A is true."], "What?") == pytest.approx(0.5)
            assert math.isnan(ragas_judge.ragas_faithfulness("A. B.", [], "What?"))
        finally:
            ragas_judge._default_judge.cache_clear()


def test_repeated_judgments_expose_flips(judge_env: Path) -> None:
    with JudgeServer(statements=["A.", "B."], verdicts=[[1, 1], [0, 0], [1, 0]]) as server:
        judge = RagasJudge(JudgeConfig(model="scripted-judge", base_url=server.base_url), use_cache=False)
        reliability = judge_repeatedly(
            lambda: judge.score(ITEM, ANSWER, ("ragas_faithfulness",))["ragas_faithfulness"], 3
        )
    assert reliability.scores == [1.0, 0.0, 0.5] and reliability.n == 3
    assert reliability.mean == pytest.approx(0.5) and reliability.variance == pytest.approx(1 / 6)
    assert reliability.flipped

    report = reliability_report({"q1": reliability.scores, "stable": [1.0, 0.75, 1.0], "nan": [math.nan, 0.2]})
    assert report.flipping_items == ["q1"] and report.flip_rate == pytest.approx(1 / 3)
    assert report.mean_variance == pytest.approx((1 / 6 + 0.0138888889 + 0.0) / 3)


def test_scoring_works_inside_a_running_event_loop(judge_env: Path) -> None:
    """The runner calls `score` from a coroutine; the scorers must not call asyncio.run on its loop."""

    async def score_in_loop() -> dict[str, float]:
        return RagasStringScorer(DATASET).score(ITEM, Answer(text="Paris"))

    assert asyncio.run(score_in_loop())["ragas_exact_match"] == 1.0


def test_nonllm_context_precision_and_recall_against_gold_documents() -> None:
    from evals.data import load_dataset
    from evals.scoring.ragas_judge import RagasContextScorer

    dataset = load_dataset("squad-mini")
    item = dataset.test[0]
    gold = dataset.documents_by_id()[item.gold_doc_ids[0]]
    other = next(document for document in dataset.corpus if document.id != gold.id and document.title != gold.title)
    scorer = RagasContextScorer(dataset)
    hit = scorer.score(item, Answer(text="x", contexts=[RetrievedContext(doc_id=gold.id, text=gold.text)]))
    miss = scorer.score(item, Answer(text="x", contexts=[RetrievedContext(doc_id=other.id, text=other.text)]))
    assert hit["ragas_nonllm_context_precision"] > 0.9 and hit["ragas_nonllm_context_recall"] > 0.9
    assert miss["ragas_nonllm_context_recall"] < 0.5
    assert all(math.isnan(v) for v in scorer.score(item, Answer(text="x")).values())


def test_judge_tokens_are_priced_into_the_run(judge_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from evals import RunSettings, load_suite, run_suite

    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "judged"\nscorers = ["squad", "ragas_judge"]\n[[datasets]]\nname = "squad-mini"\nlimit = 2\n'
        '[[strategies]]\nname = "extractive_bm25"\n',
        encoding="utf-8",
    )
    with JudgeServer(statements=["A.", "B."], verdicts=[[1, 0]]) as server:
        monkeypatch.setenv("EVALS_JUDGE_MODEL", "gpt-4o-mini")  # priced at $0.15 / $0.60 per 1M tokens
        monkeypatch.setenv("EVALS_JUDGE_BASE_URL", server.base_url)
        outcome = run_suite(
            load_suite(suite),
            RunSettings(results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False),
        )
    for result in outcome.items():
        tokens_in, tokens_out = result.scores["judge_input_tokens"], result.scores["judge_output_tokens"]
        assert tokens_in > 0
        assert result.judge_cost_usd == pytest.approx((tokens_in * 0.15 + tokens_out * 0.60) / 1e6)
    (row,) = outcome.rows
    assert row.metrics["judge_cost_per_query_usd"] > 0


def test_repeated_judging_on_request_flags_a_flipping_verdict(judge_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JudgeServer(statements=["A.", "B."], verdicts=[[1, 1], [0, 0], [1, 0]]) as server:
        monkeypatch.setenv("EVALS_JUDGE_MODEL", "scripted-judge")
        monkeypatch.setenv("EVALS_JUDGE_BASE_URL", server.base_url)
        monkeypatch.setenv("EVALS_JUDGE_REPEATS", "3")
        scores = RagasJudgeScorer(DATASET).score(ITEM, ANSWER)
    assert scores["ragas_faithfulness_flipped"] == 1.0 and scores["ragas_faithfulness_variance"] > 0
    monkeypatch.setenv("EVALS_JUDGE_REPEATS", "zero")
    with pytest.raises(ConfigError, match="EVALS_JUDGE_REPEATS"):
        RagasJudgeScorer(DATASET)
