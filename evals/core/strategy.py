"""The strategy contract and its registry.

A strategy pays its setup cost once in `prepare` and answers items one at a time in `answer`.
Built-in strategies (package `strategies`) and third-party ones are both found through the
``evals.strategies`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evals.core.errors import SuiteError
from evals.core.registry import Registry
from evals.core.types import Answer, Document, Knowledge, QAItem, RunContext, SetupReport


class StrategyParams(BaseModel):
    """Base for a strategy's parameters; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


UpdatePath = Literal["none", "reindex", "retrain", "retrain+reindex"]
"""What a strategy must redo when the knowledge changes: nothing (it never learns it), rebuild its index,
retrain its model, or both."""

KNOWLEDGE_READ: dict[UpdatePath, tuple[Knowledge, ...]] = {
    "none": (),
    "reindex": ("corpus",),
    "retrain": ("train",),
    "retrain+reindex": ("corpus", "train"),
}


class ReplicaResources(BaseModel):
    """What one replica of a strategy needs on a Ray cluster (`evals run --executor ray`), and how many
    replicas make sense: a local model is CPU- or GPU-bound (a replica per slot), a strategy that calls an
    HTTP endpoint is not (many replicas per CPU). A suite entry may override it (`resources = {...}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory_mb: int | None = Field(default=None, ge=1, description="memory reserved per replica")
    max_replicas: int | None = Field(default=None, ge=1, description="None: as many as the cluster fits")


def knowledge_read(path: UpdatePath | None) -> tuple[Knowledge, ...]:
    """The parts of a dataset a strategy with this update path learns from; all of them when undeclared."""
    return ("corpus", "train") if path is None else KNOWLEDGE_READ[path]


class Strategy(ABC):
    """A way of answering questions: closed-book, RAG, fine-tuned, hybrid, or a plugin's own.

    `answer` may be a plain or an ``async`` method. A strategy that is not safe to call from
    several threads at once sets `max_concurrency = 1` (on the class or the instance).
    Constructors must be cheap (check files and settings, load nothing): the runner builds every
    strategy first to validate the suite.
    """

    Params: ClassVar[type[StrategyParams]] = StrategyParams
    max_concurrency: int | None = None
    routes: ClassVar[bool] = False
    """True for a strategy that routes each question to one of several answering paths (a hybrid)."""

    def __init__(self, params: StrategyParams | None = None, context: RunContext | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.context = context if context is not None else RunContext()

    @classmethod
    def from_config(
        cls, params: Mapping[str, Any], where: str = "strategy params", context: RunContext | None = None
    ) -> Self:
        """Build from a suite's params table; a validation error names the offending field."""
        try:
            return cls(cls.Params.model_validate(dict(params)), context)
        except ValidationError as error:
            problems = "; ".join(f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
            raise SuiteError(f"invalid parameters for strategy {cls.__name__}: {problems}") from None

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        """Pay setup cost once (index, fine-tuning) and report it. Default: nothing to do."""
        return SetupReport()

    @abstractmethod
    def answer(self, item: QAItem) -> Answer:
        """Answer one item; raise `evals.core.errors.TransientError` for failures worth retrying."""

    def update_path(self) -> UpdatePath | None:
        """What a knowledge update forces this strategy to redo, which is also what it learns from: `reindex`
        reads the corpus, `retrain` the train split, `none` neither. The decision code prices maintenance by
        it, the answer cache keys answers by only the knowledge it names, and a suite fails before any work
        when a dataset lacks that knowledge. Default None (undeclared): keyed by all of it, classified from
        what its setup did."""
        return None

    def determinism(self) -> dict[str, str]:
        """How reproducible the answers are, stage by stage, for the run manifest: e.g.
        ``{"generation": "deterministic: ...", "training": "nondeterministic: ..."}``. Each note starts
        with "deterministic" (the same commit, suite and software give the same answers on the same kind
        of CPU) or "nondeterministic" and says why. Default: undeclared."""
        return {"answers": "undeclared: the strategy does not say whether its answers are reproducible"}

    def model_identity(self) -> dict[str, Any]:
        """What identifies the model(s) behind the answers (file hashes, endpoint model names)."""
        return {}

    def identity(self) -> dict[str, Any]:
        """Everything that determines this strategy's answers; the answer cache is keyed by it."""
        cls = type(self)
        return {
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "params": self.params.model_dump(mode="json"),
            "model": self.model_identity(),
        }

    def replica_resources(self) -> ReplicaResources:
        """What a replica needs on a Ray cluster. Default: one CPU, as a local model does."""
        return ReplicaResources()

    def close(self) -> None:  # noqa: B027 - optional hook with a do-nothing default
        """Release models, servers or files. Default: nothing to release."""


STRATEGIES: Registry[Strategy] = Registry("strategy", "evals.strategies", Strategy)
