"""OpenAI fine-tuned: a model fine-tuned through OpenAI's fine-tuning jobs API, answering closed-book.

`prepare` uploads the train split as chat-format JSONL (the closed-book system prompt, the question,
its first reference answer), creates a supervised fine-tuning job and polls it until it succeeds;
the fine-tuned model then answers through `OpenAIBackend` with the same closed-book prompt.

Jobs are remembered in ``<cache>/openai_jobs/<hash>.json``, keyed by what the job was asked
(endpoint, base model, training file, hyper-parameters, seed, suffix). A re-run reuses the
finished model instead of paying for training again; one that finds an unfinished job (after a
timeout or a crash) waits for that job instead of starting another. The API key is never written.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import openai
from openai.types.fine_tuning import FineTuningJob
from pydantic import BaseModel, Field, ValidationError
from rich.console import Console

from evals.core.errors import ConfigError, EvalsError, TransientError
from evals.core.strategy import Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, RunContext, SetupReport
from evals.infra.atomic import atomic_write_text, locked
from evals.infra.hashing import content_hash
from evals.infra.openai_compat import ApiKey, classify, is_retryable
from strategies.adapters import FinetuneParams, training_examples
from strategies.backends.openai_backend import OpenAIBackend
from strategies.generation import answer_closed_book
from strategies.lora_training import TrainingExample, example_messages
from strategies.prompts import CLOSED_BOOK_SYSTEM

T = TypeVar("T")

FAILED_STATES = ("failed", "cancelled")
WAIT_SETTINGS = {"poll_interval_s", "timeout_s"}
"""Params that change how long `prepare` waits, not the answers; left out of the identity."""

_console = Console(stderr=True)


class FineTuningError(EvalsError):
    """A fine-tuning request was rejected, or the job failed, was cancelled or did not finish in time: the
    user's data or settings must change, so the run stops with this message."""


class FineTuningUnavailable(RuntimeError):
    """The fine-tuning service failed transiently (HTTP 408/409/429/5xx, a timeout, a dropped connection)
    while a job was being set up. Not retried (creating a job twice could pay for two), and not the user's
    fault: this strategy's items fail with the reason, the other strategies of the run go on."""


class OpenAIFinetunedParams(StrategyParams):
    base_model: str = Field(default="gpt-4o-mini-2024-07-18", min_length=1)
    base_url: str | None = Field(default=None, description="None: the OpenAI API; else any compatible endpoint")
    api_key_env: str = "OPENAI_API_KEY"
    n_epochs: int | None = Field(default=None, ge=1, description="None lets the service choose ('auto')")
    suffix: str | None = Field(default=None, description="added to the fine-tuned model's name")
    max_examples: int | None = Field(default=None, ge=1, description="train questions used (a seeded sample)")
    seed: int = 0
    poll_interval_s: float = Field(default=10.0, gt=0)
    timeout_s: float = Field(default=3 * 3600.0, gt=0)
    max_tokens: int = Field(default=24, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    price_as: str | None = Field(
        default=None, description="price-table name of the fine-tuned model's answers; default ft:<base_model>"
    )


class JobRecord(BaseModel):
    """What the job cache keeps of one job (never the API key); `seconds` is set once it succeeded."""

    job_id: str
    training_file_id: str
    examples: int
    started_at: float = Field(description="Unix time the upload started")
    status: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    n_epochs: int | None = None
    seconds: float | None = None


def training_jsonl(examples: Sequence[TrainingExample]) -> bytes:
    """OpenAI's chat fine-tuning format: one line per example (system prompt, earlier turns, question, answer)."""
    lines = [
        json.dumps(
            {
                "messages": [
                    *example_messages(e, CLOSED_BOOK_SYSTEM),
                    {"role": "assistant", "content": e.completion},
                ]
            },
            ensure_ascii=False,
        )
        for e in examples
    ]
    return ("\n".join(lines) + "\n").encode()


class OpenAIFinetuned(Strategy):
    """Fine-tunes `base_model` on the train split through the fine-tuning jobs API, then answers with it."""

    Params = OpenAIFinetunedParams
    params: OpenAIFinetunedParams

    def __init__(self, params: OpenAIFinetunedParams | None = None, context: RunContext | None = None) -> None:
        super().__init__(params, context)
        self._key = ApiKey(self.params.api_key_env, self.params.base_url)
        self._client = openai.OpenAI(api_key=self._key.value, base_url=self.params.base_url, max_retries=0)
        self.backend: OpenAIBackend | None = None

    @property
    def endpoint(self) -> str:
        """The API base URL requests go to."""
        return str(self._client.base_url)

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        params = self.params
        examples = training_examples(train, FinetuneParams(max_examples=params.max_examples, seed=params.seed))
        if not examples:
            raise ValueError("the dataset has no answerable train questions to fine-tune on")
        jsonl = training_jsonl(examples)
        job_request = {
            "model": params.base_model,
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": {"n_epochs": params.n_epochs or "auto"}},
            },
            "seed": params.seed,
            "suffix": params.suffix,
        }
        key = content_hash(
            {"endpoint": self.endpoint, "job": job_request, "training_jsonl_sha256": hashlib.sha256(jsonl).hexdigest()},
            length=32,
        )
        path = self.context.cache_dir / "openai_jobs" / f"{key}.json"
        with locked(path):  # held while submitting only, so a concurrent run waits for the same job
            record = _read_record(path)
            if record is None:
                record = self._submit(jsonl, len(examples), job_request)
                atomic_write_text(path, record.model_dump_json(indent=2))
        cached = record.status == "succeeded"
        if not cached:
            record = self._wait(record, path)
        assert record.fine_tuned_model is not None and record.seconds is not None
        self.backend = OpenAIBackend(
            model=record.fine_tuned_model,
            base_url=params.base_url,
            api_key_env=params.api_key_env,
            model_name=params.price_as or f"ft:{params.base_model}",
        )
        return SetupReport(
            seconds=record.seconds,
            training_tokens=record.trained_tokens or 0,
            model=params.base_model,
            cached=cached,
            details={
                "job_id": record.job_id,
                "training_file_id": record.training_file_id,
                "fine_tuned_model": record.fine_tuned_model,
                "status": record.status,
                "n_epochs": record.n_epochs,
                "examples": record.examples,
                "endpoint": self.endpoint,
            },
        )

    def answer(self, item: QAItem) -> Answer:
        if self.backend is None:
            raise RuntimeError("prepare() must run before answer()")
        return answer_closed_book(
            self.backend, item, self.params.max_tokens, self.params.temperature, worked_example=False
        )

    def identity(self) -> dict[str, Any]:
        identity = super().identity()
        identity["params"] = {k: v for k, v in identity["params"].items() if k not in WAIT_SETTINGS}
        return identity

    def determinism(self) -> dict[str, str]:
        return {
            "training": "nondeterministic: an OpenAI fine-tuning job; the seed is sent, the same model is not promised",
            "generation": f"nondeterministic: a remote endpoint at temperature {self.params.temperature:g}",
        }

    def update_path(self) -> UpdatePath:
        return "retrain"

    def model_identity(self) -> dict[str, Any]:
        return {"backend": "openai-fine-tuning", "endpoint": self.endpoint, "base_model": self.params.base_model}

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
        self._client.close()

    def _submit(self, jsonl: bytes, examples: int, job_request: dict[str, Any]) -> JobRecord:
        """Upload the training file and create the job."""
        started_at = time.time()
        uploaded = self._call(
            "uploading the training file",
            self._client.files.create,
            file=("train.jsonl", jsonl, "application/jsonl"),
            purpose="fine-tune",
        )
        job = self._call(
            "creating the fine-tuning job",
            self._client.fine_tuning.jobs.create,
            training_file=uploaded.id,
            **job_request,
        )
        _console.print(f"fine-tuning job {job.id} ({self.params.base_model}, {examples} examples): {job.status}")
        return JobRecord(
            job_id=job.id, training_file_id=uploaded.id, examples=examples, started_at=started_at, status=job.status
        )

    def _wait(self, record: JobRecord, path: Path) -> JobRecord:
        """Poll the job until it succeeds (recorded in the cache) or fails (record dropped, error raised)."""
        deadline = time.monotonic() + self.params.timeout_s
        status = record.status
        while True:
            job = self._poll(record.job_id)
            if job is not None and job.status != status:
                status = job.status
                _console.print(f"fine-tuning job {job.id}: {status}")
            if job is not None and job.status == "succeeded":
                hyperparameters = getattr(job, "hyperparameters", None)
                n_epochs = getattr(hyperparameters, "n_epochs", None)
                record = record.model_copy(
                    update={
                        "status": job.status,
                        "fine_tuned_model": job.fine_tuned_model,
                        "trained_tokens": job.trained_tokens,
                        "n_epochs": n_epochs if isinstance(n_epochs, int) else None,
                        "seconds": time.time() - record.started_at,
                    }
                )
                atomic_write_text(path, record.model_dump_json(indent=2))
                return record
            if job is not None and job.status in FAILED_STATES:
                path.unlink(missing_ok=True)
                raise FineTuningError(
                    f"fine-tuning job {job.id} ({self.params.base_model} at {self.endpoint}) {job.status}: "
                    f"{_job_error(job)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FineTuningError(
                    f"fine-tuning job {record.job_id} is still {status} after {self.params.timeout_s:g} s "
                    f"(timeout_s); it keeps running at {self.endpoint}. Run again to keep waiting for the same job, "
                    f"or cancel it: openai api fine_tuning.jobs.cancel -i {record.job_id}"
                )
            time.sleep(min(self.params.poll_interval_s, remaining))

    def _poll(self, job_id: str) -> FineTuningJob | None:
        """The job's current state; None after a failure worth retrying at the next poll."""
        try:
            return self._client.fine_tuning.jobs.retrieve(job_id)
        except openai.APIError as error:
            if not is_retryable(error):
                raise self._error(f"checking fine-tuning job {job_id}", error) from None
            _console.print(
                f"[yellow]checking fine-tuning job {job_id} failed; retrying:[/] {self._key.mask(str(error))}"
            )
            return None

    def _call(self, action: str, request: Callable[..., T], **kwargs: Any) -> T:
        """Make one API request; its errors become a clear, key-free `EvalsError`."""
        try:
            return request(**kwargs)
        except openai.APIError as error:
            raise self._error(action, error) from None

    def _error(self, action: str, error: openai.APIError) -> Exception:
        """`error` sorted by `classify`: a refused key or unknown model or path stays a `ConfigError`, a
        transient failure becomes `FineTuningUnavailable` (this strategy fails, the run goes on), a rejected
        request a `FineTuningError`; nothing is retried, since repeating a job creation could pay for two."""
        classified = classify(error, f"{action} at {self.endpoint}", self._key)
        if isinstance(classified, ConfigError):
            return classified
        if isinstance(classified, TransientError):
            return FineTuningUnavailable(f"{classified}; run again later to fine-tune")
        return FineTuningError(str(classified))


def _read_record(path: Path) -> JobRecord | None:
    """The remembered job; None when there is none or the file is unreadable."""
    try:
        return JobRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValidationError, UnicodeDecodeError):
        return None


def _job_error(job: FineTuningJob) -> str:
    """The job's error message and code; the API sends ``"error": {}`` when it gives none."""
    message = getattr(job.error, "message", None)
    code = getattr(job.error, "code", None)
    if not message:
        return "the job reports no error message"
    return f"{message} ({code})" if code else message
