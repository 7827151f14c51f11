"""The typed objects that flow through the harness: items, documents, answers, setup reports, the run context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Knowledge = Literal["corpus", "train"]
"""What a strategy may learn from: the documents it can retrieve, the questions it can train on."""


class Document(BaseModel):
    """One document of a corpus that retrieval strategies search."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    title: str = ""
    text: str = Field(min_length=1)


class QAItem(BaseModel):
    """One question with its reference answers.

    `answers` is empty and `is_impossible` true for SQuAD 2.0-style unanswerable questions.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list)
    gold_doc_ids: list[str] = Field(default_factory=list)
    is_impossible: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)


class RetrievedContext(BaseModel):
    """A passage a strategy retrieved and showed to its model."""

    doc_id: str
    text: str
    score: float | None = None


class TokenUsage(BaseModel):
    """Tokens a model call consumed, as the backend reported them."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Answer(BaseModel):
    """What a strategy returns for one item.

    `timings` maps stage name (e.g. "retrieve", "generate") to seconds; the runner adds "total".
    `model` names the model that produced the text, for pricing.
    """

    text: str
    contexts: list[RetrievedContext] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    timings: dict[str, float] = Field(default_factory=dict)
    model: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SetupReport(BaseModel):
    """What `Strategy.prepare` paid once: wall time, training tokens, external job ids."""

    seconds: float = 0.0
    training_tokens: int = 0
    model: str | None = None
    cached: bool = False
    accelerator: Literal["cpu", "gpu"] = "cpu"
    """What `seconds` ran on, for the price table's compute rate (CPU or GPU hour)."""
    details: dict[str, Any] = Field(default_factory=dict)


DEFAULT_CACHE_DIR = Path(".cache/evals")
CACHE_DIR_ENV = "EVALS_CACHE_DIR"


def default_cache_dir() -> Path:
    """The cache folder when a run names none: `$EVALS_CACHE_DIR`, else `.cache/evals`."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


class RunContext(BaseModel):
    """What the run hands every strategy and scorer: where artefacts (answers, indexes, adapters, fine-tuning
    jobs, judgments) are cached, and the run's seed. Made once where the work starts."""

    model_config = ConfigDict(frozen=True)

    cache_dir: Path = Field(default_factory=default_cache_dir)
    seed: int = 0
