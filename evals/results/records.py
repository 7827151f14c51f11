"""What a run writes to disk: one `ItemResult` per line of items.jsonl and a `RunManifest`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from evals.core.strategy import UpdatePath
from evals.core.types import Answer, SetupReport

SCHEMA_VERSION = 1


class ItemError(BaseModel):
    """Why an item has no score: the exception type and message, and the stage that failed."""

    stage: Literal["prepare", "answer", "score"]  # "score": written by 0.1; scorer failures now go to scorer_errors
    type: str
    message: str


ItemKey = tuple[str, str, str, int]
"""(dataset, strategy, item id, repeat): one answer of a run."""


class ItemResult(BaseModel):
    """The outcome of one (dataset, strategy, item): an answer with scores, or an error."""

    schema_version: int = SCHEMA_VERSION
    dataset: str
    strategy: str
    item_id: str
    cluster: str | None = Field(
        default=None, description="the cluster the item is resampled with (None: its own; recorded before 0.3)"
    )
    repeat: int = Field(default=0, ge=0, description="which of the suite's `repeats` answers this is")
    status: Literal["ok", "error"]
    answer: Answer | None = None
    error: ItemError | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    scorer_errors: dict[str, str] = Field(
        default_factory=dict, description="scorer class → why it failed; its metrics are then missing (NaN)"
    )
    cost_usd: float | None = None
    judge_cost_usd: float | None = None
    attempts: int = 1
    cached: bool = False

    _scores_null_is_nan = field_validator("scores", mode="before")(lambda scores: _null_is_nan(scores))

    @property
    def key(self) -> ItemKey:
        return (self.dataset, self.strategy, self.item_id, self.repeat)


class DatasetManifest(BaseModel):
    fingerprint: str
    source: str
    squad_version: str
    n_train: int
    n_test: int
    n_test_total: int
    n_documents: int


class SetupRecord(BaseModel):
    """A strategy's setup on one dataset: what it paid and what it cost."""

    dataset: str
    strategy: str
    strategy_type: str
    update_path: UpdatePath | None = Field(
        default=None, description="what a knowledge update forces the strategy to redo (None: recorded before 0.2)"
    )
    routes: bool = Field(default=False, description="the strategy routes each question to one of several paths")
    determinism: dict[str, str] = Field(
        default_factory=dict, description="per stage, whether the answers are reproducible and why not"
    )
    identity: dict[str, Any]
    setup: SetupReport
    setup_cost_usd: float
    replica_setups: list[SetupReport] = Field(
        default_factory=list,
        description="Ray executor: each replica's own prepare (from the setup the driver paid: cached when the "
        "strategy caches its artifacts, so a LoRA adapter or a FAISS index is built once per run)",
    )

    _cost_null_is_nan = field_validator("setup_cost_usd", mode="before")(lambda cost: _null_is_nan(cost))


class ExecutorRecord(BaseModel):
    """Where the items were answered: this process (`local`) or a Ray cluster."""

    kind: Literal["local", "ray"] = "local"
    ray_version: str | None = None
    ray_address: str | None = Field(default=None, description="the cluster joined; None: a local instance")
    nodes: int | None = None
    replicas: dict[str, int] = Field(default_factory=dict, description="dataset/strategy → replicas started")


class RunCounts(BaseModel):
    items: int = 0
    ok: int = 0
    errors: int = 0
    cached: int = 0
    retries: int = 0

    def counting(self, results: Iterable[ItemResult]) -> Iterator[ItemResult]:
        """`results`, passed through one at a time, each counted here as it goes by."""
        for result in results:
            self.items += 1
            self.ok += result.status == "ok"
            self.errors += result.status == "error"
            self.cached += result.cached
            self.retries += max(result.attempts - 1, 0)
            yield result


class RunManifest(BaseModel):
    """Everything needed to tell two runs apart and reproduce one."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    suite: str
    suite_path: str | None
    config_hash: str
    status: Literal["running", "complete"] = "running"
    started_at: datetime
    finished_at: datetime | None = None
    seed: int
    datasets: dict[str, DatasetManifest] = Field(default_factory=dict)
    setups: list[SetupRecord] = Field(default_factory=list)
    price_table_date: str
    price_table_sha256: str
    git_commit: str | None
    git_dirty: bool | None
    packages: dict[str, str]
    python: str
    host: str
    executor: ExecutorRecord = Field(default_factory=ExecutorRecord)
    counts: RunCounts = Field(default_factory=RunCounts)


def _null_is_nan(value: Any) -> Any:
    """JSON has no NaN: pydantic writes an undefined score or an unpriced cost as null; read it back as NaN,
    or items.jsonl and manifest.json of such a run could not be read on resume."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {key: math.nan if item is None else item for key, item in value.items()}
    return value
