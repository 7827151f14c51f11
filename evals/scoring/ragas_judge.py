"""ragas 0.4 metrics as scorers: string metrics offline, LLM-judged metrics against an OpenAI-compatible judge.

`RagasStringScorer` needs no model: ragas' Levenshtein similarity, BLEU, ROUGE-L and exact match of the
answer against each reference answer, best over references (NaN for items without references).

`RagasJudgeScorer` asks a judge model through ragas' `ragas.metrics.collections` metrics (Faithfulness,
FactualCorrectness, ContextPrecisionWithReference, ContextRecall). The judge is configured by environment:

- `EVALS_JUDGE_MODEL` (required) and `EVALS_JUDGE_BASE_URL` (any OpenAI-compatible `/v1` endpoint; the
  OpenAI API when unset),
- the key in `EVALS_JUDGE_API_KEY`, else `OPENAI_API_KEY` (optional for a custom base URL).

Every judge call is cached on disk in `judgments/` under the run's cache folder (`--cache-dir`), keyed by
judge model, metric, prompt and answer schema; the key is never written there. Besides its metrics the scorer returns
`judge_input_tokens` and `judge_output_tokens` per item: the tokens its judgments cost when they were made
(a cached judgment reports its stored cost, as a cached answer keeps its usage), for pricing the judge
with the price table; `RagasJudgeScorer.judge_usage` totals them. A judge reply that is not valid JSON
for the metric's schema (after instructor's retries), or a metric without its inputs, scores NaN; an
unreachable judge or a refused key raises.

Telemetry is off: `RAGAS_DO_NOT_TRACK=true` is set before ragas is imported (lazily, on first use).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import openai
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_after_attempt

from evals.core.errors import ConfigError
from evals.core.types import Answer, QAItem, RunContext, TokenUsage, default_cache_dir
from evals.data.dataset import QADataset
from evals.infra.atomic import atomic_write_text
from evals.infra.hashing import content_hash
from evals.infra.openai_compat import ApiKey, classify
from evals.scoring.base import Scorer
from evals.scoring.judge_reliability import judge_repeatedly

if TYPE_CHECKING:
    from ragas.metrics.collections import BaseMetric

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

JUDGMENT_SCHEMA_VERSION = 1
JUDGE_METRICS = ("ragas_faithfulness", "ragas_factual_correctness", "ragas_context_precision", "ragas_context_recall")
USAGE_METRICS = ("judge_input_tokens", "judge_output_tokens")


def ragas_offline() -> None:
    """Turn ragas telemetry off, also when ragas was imported before."""
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    from ragas._analytics import do_not_track

    do_not_track.cache_clear()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop (the runner's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class RagasStringScorer(Scorer):
    """ragas' LLM-free metrics of the answer against the reference answers (best over references)."""

    metrics: ClassVar[tuple[str, ...]] = ("ragas_string_similarity", "ragas_bleu", "ragas_rouge", "ragas_exact_match")

    def __init__(self, dataset: QADataset, context: RunContext | None = None) -> None:
        super().__init__(dataset, context)
        ragas_offline()
        from ragas.metrics.collections import BleuScore, ExactMatch, NonLLMStringSimilarity, RougeScore

        self._metrics: dict[str, BaseMetric] = {
            "ragas_string_similarity": NonLLMStringSimilarity(),
            "ragas_bleu": BleuScore(),
            "ragas_rouge": RougeScore(rouge_type="rougeL", mode="fmeasure"),
            "ragas_exact_match": ExactMatch(),
        }

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        references = list(dict.fromkeys(item.answers))
        if not references:
            return dict.fromkeys(self.metrics, math.nan)
        return run_sync(self._ascore(references, answer.text))

    async def _ascore(self, references: list[str], response: str) -> dict[str, float]:
        scores: dict[str, float] = {}
        for name, metric in self._metrics.items():
            results = [await metric.ascore(reference=reference, response=response) for reference in references]
            scores[name] = max(float(result.value) for result in results)
        return scores


class RagasContextScorer(Scorer):
    """ragas' LLM-free context precision and recall: the retrieved contexts against the item's gold
    documents, by string similarity. NaN without gold documents or retrieved contexts."""

    metrics: ClassVar[tuple[str, ...]] = ("ragas_nonllm_context_precision", "ragas_nonllm_context_recall")

    def __init__(self, dataset: QADataset, context: RunContext | None = None) -> None:
        super().__init__(dataset, context)
        ragas_offline()
        from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall

        self._precision = NonLLMContextPrecisionWithReference()
        self._recall = NonLLMContextRecall()
        self._documents = dataset.documents_by_id()

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        references = [self._documents[doc_id].text for doc_id in item.gold_doc_ids if doc_id in self._documents]
        if not references or not answer.contexts:
            return dict.fromkeys(self.metrics, math.nan)
        return run_sync(self._ascore(references, [context.text for context in answer.contexts]))

    async def _ascore(self, references: list[str], retrieved: list[str]) -> dict[str, float]:
        from ragas.dataset_schema import SingleTurnSample

        sample = SingleTurnSample(retrieved_contexts=retrieved, reference_contexts=references)
        return {
            "ragas_nonllm_context_precision": float(await self._precision.single_turn_ascore(sample)),
            "ragas_nonllm_context_recall": float(await self._recall.single_turn_ascore(sample)),
        }


class JudgeConfig(BaseModel):
    """Which judge model to ask where, and which environment variable holds its key (never the key)."""

    model: str
    base_url: str | None = None
    api_key_env: str = "EVALS_JUDGE_API_KEY"

    @classmethod
    def from_env(cls) -> JudgeConfig:
        """The judge named by EVALS_JUDGE_MODEL / EVALS_JUDGE_BASE_URL; ConfigError when none is set."""
        model = os.environ.get("EVALS_JUDGE_MODEL", "").strip()
        if not model:
            raise ConfigError(
                "no judge model configured: set EVALS_JUDGE_MODEL (and EVALS_JUDGE_BASE_URL for an "
                "OpenAI-compatible server; the key goes in EVALS_JUDGE_API_KEY or OPENAI_API_KEY)"
            )
        key_env = "EVALS_JUDGE_API_KEY" if os.environ.get("EVALS_JUDGE_API_KEY") else "OPENAI_API_KEY"
        return cls(model=model, base_url=os.environ.get("EVALS_JUDGE_BASE_URL") or None, api_key_env=key_env)


class CachedJudgment(BaseModel):
    """One judge reply as stored on disk: the parsed output and what it cost (no prompt, no key)."""

    schema_version: int = JUDGMENT_SCHEMA_VERSION
    key: str
    model: str
    metric: str
    output: dict[str, Any]
    usage: TokenUsage


class JudgmentCache:
    """Judgments stored as `<dir>/judgments/<key[:2]>/<key>.json`; unreadable entries count as misses."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "judgments"

    @staticmethod
    def key(model: str, metric: str, prompt: str, output_model: type[BaseModel]) -> str:
        return content_hash(
            {
                "schema": JUDGMENT_SCHEMA_VERSION,
                "model": model,
                "metric": metric,
                "prompt": prompt,
                "output": output_model.model_json_schema(),
            },
            length=32,
        )

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedJudgment | None:
        try:
            return CachedJudgment.model_validate_json(self._path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValidationError, UnicodeDecodeError):
            return None

    def put(self, judgment: CachedJudgment) -> None:
        atomic_write_text(self._path(judgment.key), judgment.model_dump_json())


@dataclass
class _Meter:
    """Judge tokens one item's judgments cost."""

    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, usage: Any) -> None:
        self.input_tokens += getattr(usage, "prompt_tokens", None) or 0
        self.output_tokens += getattr(usage, "completion_tokens", None) or 0


class _InvalidJudgment(Exception):
    """The judge's reply did not parse into the metric's output schema."""


class RagasJudge:
    """Runs ragas' LLM-judged metrics against the configured judge, with a disk cache and token counts."""

    def __init__(
        self,
        config: JudgeConfig | None = None,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        timeout: float = 120.0,
    ) -> None:
        self.config = config or JudgeConfig.from_env()
        self.key = ApiKey(self.config.api_key_env, self.config.base_url, "the judge's OpenAI API key")
        self.cache = JudgmentCache(cache_dir or default_cache_dir()) if use_cache else None
        self.timeout = timeout
        ragas_offline()

    def __repr__(self) -> str:
        return f"RagasJudge(model={self.config.model!r}, base_url={self.config.base_url!r})"

    def score(self, item: QAItem, answer: Answer, metrics: Sequence[str] = JUDGE_METRICS) -> dict[str, float]:
        """`metrics` of one answer plus the judge tokens they cost (see the module docstring)."""
        contexts = [context.text for context in answer.contexts]
        reference = item.answers[0] if item.answers else ""
        return run_sync(self._ascore(item.question, answer.text, contexts, reference, metrics))

    def faithfulness(self, answer: str, contexts: Sequence[str], question: str | None = None) -> float:
        """ragas Faithfulness of `answer` to `contexts`; NaN without a question or on an invalid judge reply."""
        scores = run_sync(self._ascore(question or "", answer, list(contexts), "", ("ragas_faithfulness",)))
        return scores["ragas_faithfulness"]

    async def _ascore(
        self, question: str, response: str, contexts: list[str], reference: str, metrics: Sequence[str]
    ) -> dict[str, float]:
        meter = _Meter()
        client = openai.AsyncOpenAI(
            api_key=self.key.value, base_url=self.config.base_url, timeout=self.timeout, max_retries=0
        )
        try:
            scores = {
                name: await self._metric(
                    name, _judge_llm(client, self, name, meter), question, response, contexts, reference
                )
                for name in metrics
            }
        finally:
            await client.close()
        return {
            **scores,
            "judge_input_tokens": float(meter.input_tokens),
            "judge_output_tokens": float(meter.output_tokens),
        }

    @staticmethod
    async def _metric(name: str, llm: Any, question: str, response: str, contexts: list[str], reference: str) -> float:
        """One metric's value; NaN when its inputs are missing or the judge replied invalidly."""
        from ragas.metrics.collections import (
            ContextPrecisionWithReference,
            ContextRecall,
            FactualCorrectness,
            Faithfulness,
        )

        has_answer = bool(response.strip())
        calls: dict[str, tuple[bool, Callable[[], Awaitable[Any]]]] = {
            "ragas_faithfulness": (
                bool(question and has_answer and contexts),
                lambda: Faithfulness(llm=llm).ascore(
                    user_input=question, response=response, retrieved_contexts=contexts
                ),
            ),
            "ragas_factual_correctness": (
                bool(has_answer and reference),
                lambda: FactualCorrectness(llm=llm).ascore(response=response, reference=reference),
            ),
            "ragas_context_precision": (
                bool(question and reference and contexts),
                lambda: ContextPrecisionWithReference(llm=llm).ascore(
                    user_input=question, reference=reference, retrieved_contexts=contexts
                ),
            ),
            "ragas_context_recall": (
                bool(question and reference and contexts),
                lambda: ContextRecall(llm=llm).ascore(
                    user_input=question, retrieved_contexts=contexts, reference=reference
                ),
            ),
        }
        if name not in calls:
            raise ConfigError(f"unknown ragas judge metric {name!r}; known: {', '.join(JUDGE_METRICS)}")
        defined, call = calls[name]
        if not defined:
            return math.nan
        try:
            result = await call()
        except _InvalidJudgment:
            return math.nan
        value = float(result.value)
        return value if math.isfinite(value) else math.nan


def _reask_invalid_json_only() -> AsyncRetrying:
    """instructor re-asks a judge whose reply does not validate (its default 3 tries); an HTTP error is left
    to `classify`: the harness's rule retries what is transient, and never a rejected request."""
    return AsyncRetrying(stop=stop_after_attempt(3), retry=retry_if_not_exception_type(openai.APIError), reraise=True)


def _judge_llm(client: openai.AsyncOpenAI, judge: RagasJudge, metric: str, meter: _Meter) -> Any:
    """A ragas InstructorLLM (JSON mode, ragas' default sampling) that caches, meters and maps errors."""
    import instructor
    from ragas.llms.base import InstructorLLM

    try:
        from instructor.exceptions import InstructorRetryException  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # instructor < 1.4 (the pinned 1.3.2) defines it in instructor.retry
        from instructor.retry import InstructorRetryException  # type: ignore[attr-defined,no-redef,unused-ignore]

    model, cache = judge.config.model, judge.cache

    class JudgeLLM(InstructorLLM):
        async def agenerate(self, prompt: str, response_model: type[M]) -> M:
            key = JudgmentCache.key(model, metric, prompt, response_model)
            stored = cache.get(key) if cache else None
            if stored is not None:
                meter.add(_Usage(stored.usage))
                return response_model.model_validate(stored.output)
            try:
                output, completion = await self.client.chat.completions.create_with_completion(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    response_model=response_model,
                    max_retries=_reask_invalid_json_only(),
                    **self._map_provider_params(),
                )
            except InstructorRetryException as error:
                meter.add(error.total_usage)
                raise _InvalidJudgment(judge.key.mask(str(error))) from None
            except openai.APIError as error:
                raise classify(error, f"judge {model} at {client.base_url}", judge.key) from None
            meter.add(completion.usage)
            if cache:
                usage = TokenUsage(
                    input_tokens=getattr(completion.usage, "prompt_tokens", None) or 0,
                    output_tokens=getattr(completion.usage, "completion_tokens", None) or 0,
                )
                cache.put(CachedJudgment(key=key, model=model, metric=metric, output=output.model_dump(), usage=usage))
            return output

    return JudgeLLM(client=instructor.from_openai(client, mode=instructor.Mode.JSON), model=model, provider="openai")


@dataclass
class _Usage:
    """A stored TokenUsage in the shape of an OpenAI usage object."""

    stored: TokenUsage

    @property
    def prompt_tokens(self) -> int:
        return self.stored.input_tokens

    @property
    def completion_tokens(self) -> int:
        return self.stored.output_tokens


class RagasJudgeScorer(Scorer):
    """ragas' LLM-judged metrics (faithfulness, factual correctness, context precision and recall) per item.

    NaN where a metric lacks its inputs: faithfulness needs contexts and an answer, the others a reference
    answer (the first), context metrics retrieved contexts. `judge_input_tokens`/`judge_output_tokens` are
    token counts, not [0, 1] scores: the runner prices them with the judge model's rates.
    With `EVALS_JUDGE_REPEATS=N` (N > 1) faithfulness is judged N times, the repeats bypassing the cache,
    adding `ragas_faithfulness_variance` and `ragas_faithfulness_flipped` (1 when the verdict at 0.5 flips).
    """

    metrics: ClassVar[tuple[str, ...]] = (*JUDGE_METRICS, *USAGE_METRICS)

    def __init__(self, dataset: QADataset, context: RunContext | None = None, judge: RagasJudge | None = None) -> None:
        super().__init__(dataset, context)
        self.judge = judge or RagasJudge(cache_dir=self.context.cache_dir)
        self.judge_usage = TokenUsage()
        self._lock = threading.Lock()
        self.repeats = _judge_repeats()
        self._uncached = RagasJudge(self.judge.config, use_cache=False) if self.repeats > 1 else None

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        scores = self.judge.score(item, answer)
        if self._uncached is not None and not math.isnan(scores["ragas_faithfulness"]):
            scores.update(self._repeat_faithfulness(item, answer, scores))
        used = TokenUsage(
            input_tokens=int(scores["judge_input_tokens"]), output_tokens=int(scores["judge_output_tokens"])
        )
        with self._lock:
            self.judge_usage += used
        return scores

    def judge_model(self) -> str | None:
        return self.judge.config.model

    def _repeat_faithfulness(self, item: QAItem, answer: Answer, first: dict[str, float]) -> dict[str, float]:
        assert self._uncached is not None
        repeats = [self._uncached.score(item, answer, ("ragas_faithfulness",)) for _ in range(self.repeats - 1)]
        values = iter([first["ragas_faithfulness"], *(repeat["ragas_faithfulness"] for repeat in repeats)])
        reliability = judge_repeatedly(lambda: next(values), self.repeats)
        return {
            "ragas_faithfulness_variance": reliability.variance,
            "ragas_faithfulness_flipped": float(reliability.flipped),
            **{key: first[key] + sum(repeat[key] for repeat in repeats) for key in USAGE_METRICS},
        }


def _judge_repeats() -> int:
    raw = os.environ.get("EVALS_JUDGE_REPEATS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"EVALS_JUDGE_REPEATS must be a whole number >= 1, not {raw!r}")
    return int(raw)


@lru_cache(maxsize=1)
def _default_judge() -> RagasJudge:
    return RagasJudge()


def ragas_faithfulness(answer: str, contexts: Sequence[str], question: str | None = None) -> float:
    """`evals validate-judge` metric: ragas Faithfulness by the judge configured in the environment."""
    return _default_judge().faithfulness(answer, contexts, question)
