"""Answer a suite's items on a Ray cluster (`evals run --executor ray`).

The driver (the `evals run` process) stays the only writer of the run folder, the answer cache and the
leaderboard: it prepares each strategy once (training an adapter or building an index, cached on disk by
content hash), consults the answer cache, and ships only the cache misses to replicas. A replica is a
Ray actor built from the same suite entry: its `prepare` finds the artifacts the driver just made in
the shared cache folder, so a LoRA adapter is trained once per run however many replicas answer. On a
cluster of several machines the cache folder must therefore be on storage every node sees (NFS, a
mounted bucket): `--cache-dir /shared/evals-cache`.

Replicas are restarted by Ray when their process or node dies (up to the suite's `max_attempts` times),
and a call in flight on them is retried (at-least-once execution: an item may be answered twice, but the
driver records it once). A replica whose own `prepare` fails, or that dies for good, leaves the pool, and
its reason is recorded; the pair's items fail with that reason only when no replica is left.

The answer cache (`<cache-dir>/answers/answers.sqlite3`) is read and written by the driver alone; replicas
only read the artifacts. SQLite's WAL journal needs every process using it on one host, so never point two
drivers on different machines at one cache folder at the same time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from evals.core.errors import ConfigError
from evals.core.sampling import answering_repeat
from evals.core.strategy import STRATEGIES, ReplicaResources, Strategy
from evals.core.suite import StrategyEntry
from evals.core.types import QAItem, RunContext, SetupReport
from evals.data.dataset import QADataset
from evals.engine.model_runtime import configure_model_runtime
from evals.results.records import ExecutorRecord, ItemError
from evals.scoring.base import SCORERS

RAY_ADDRESS_ENV = "RAY_ADDRESS"
_log = logging.getLogger(__name__)


class StrategyReplica:
    """One replica of a strategy (run as a Ray actor): prepared once, then answers and scores items."""

    def __init__(
        self, entry: StrategyEntry, context: RunContext, dataset: QADataset, scorer_names: list[str], max_attempts: int
    ) -> None:
        from evals.engine.runner import timed_prepare

        configure_model_runtime()
        self.failure: Exception | None = None
        try:  # a failed setup is reported by `setup_report`, with its own exception, not by a dead actor
            params_at = f"strategies.{entry.name}.params"
            self.strategy = STRATEGIES.get(entry.type).from_config(entry.params, params_at, context)
            self.setup = timed_prepare(self.strategy, dataset)
            self.scorers = [SCORERS.get(name)(dataset, context) for name in scorer_names]
        except Exception as error:  # noqa: BLE001 - any setup failure is the replica's reason to leave the pool
            self.failure = error
        self.max_attempts = max_attempts

    def setup_report(self) -> SetupReport:
        """The replica's setup; raises (through Ray) the exception its setup failed with."""
        if self.failure is not None:
            raise self.failure
        return self.setup

    def answer(self, item: QAItem, repeat: int):  # noqa: ANN201 - an AnswerOutcome (imported lazily)
        from evals.engine.runner import answer_and_score

        with answering_repeat(repeat):
            return asyncio.run(answer_and_score(self.strategy, self.scorers, item, self.max_attempts))


class ReplicaPool:
    """The healthy replicas of one dataset × strategy: each call goes to an idle replica (a replica takes
    `calls_per_replica` calls at once), so a slow replica never holds up items another could answer. A
    replica that dies for good (out of restarts: Ray already retried the call on each restart) leaves the pool
    and fails the item it died on, which is not offered to another replica: an item that kills whatever
    answers it costs one replica, not the pool. Once none is left, calls fail with the last reason."""

    def __init__(
        self,
        actors: Sequence[object],
        calls_per_replica: int,
        failure: ItemError | None = None,
        refused: bool = False,
        keep_alive: object = None,
    ) -> None:
        self._keep_alive = keep_alive  # the dataset in the object store: a restarted replica is rebuilt from it
        self._idle: asyncio.Queue[object | None] = asyncio.Queue()
        self._dead: set[int] = set()
        self._alive = len(actors)
        self._failure = failure or ItemError(stage="prepare", type="RuntimeError", message="no replica started")
        self._refused = refused  # the last setup failure was a configuration error: stop the pair
        for _ in range(calls_per_replica):
            for actor in actors:
                self._idle.put_nowait(actor)
        self.slots = max(1, self._idle.qsize())

    async def answer(self, item: QAItem, repeat: int):  # noqa: ANN201 - an AnswerOutcome
        import ray

        from evals.engine.runner import AnswerOutcome

        actor = await self._next_idle()
        if actor is not None:
            try:
                outcome = await actor.answer.remote(item, repeat)  # type: ignore[attr-defined]
            except ray.exceptions.ActorDiedError as error:
                self._bury(actor, error)
                return AnswerOutcome(error=self._failure, attempts=1)
            except ray.exceptions.RayError as error:
                cause = getattr(error, "cause", None) or error
                failure = ItemError(stage="answer", type=type(cause).__name__, message=f"replica failed: {cause}")
                outcome = AnswerOutcome(error=failure, refused=isinstance(cause, ConfigError), attempts=1)
            self._idle.put_nowait(actor)
            return outcome
        return AnswerOutcome(error=self._failure, refused=self._refused, attempts=0)

    async def _next_idle(self) -> object | None:
        """An idle live replica, waiting for one; None once every replica is gone."""
        while self._alive:
            actor = await self._idle.get()
            if actor is not None and id(actor) not in self._dead:
                return actor
        return None

    def _bury(self, actor: object, error: Exception) -> None:
        """Leave a dead replica out of the pool; when it was the last, wake every call waiting for one."""
        if id(actor) in self._dead:
            return
        self._dead.add(id(actor))
        self._alive -= 1
        self._failure = ItemError(stage="answer", type=type(error).__name__, message=f"replica died: {error}")
        if not self._alive:
            for _ in range(self.slots):
                self._idle.put_nowait(None)


class RayExecutor:
    """A connection to a Ray cluster (or a local Ray instance it starts) that builds replica pools."""

    def __init__(self, address: str | None) -> None:
        self.address = address or os.environ.get(RAY_ADDRESS_ENV) or None
        self.record = ExecutorRecord(kind="ray", ray_address=self.address)

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'rag-or-finetune[ray]'") from None

        options: dict[str, object] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        if self.address is None:  # a local instance: its workers must import what this process imports
            options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
        ray.init(address=self.address, **options)  # type: ignore[arg-type]
        self.record = self.record.model_copy(
            update={"ray_version": ray.__version__, "nodes": sum(node["Alive"] for node in ray.nodes())}
        )

    def stop(self) -> None:
        import ray

        ray.shutdown()

    def replicas(
        self,
        entry: StrategyEntry,
        strategy: Strategy,
        context: RunContext,
        dataset: QADataset,
        scorer_names: list[str],
        max_attempts: int,
        pending: int,
        concurrency: int,
    ) -> tuple[ReplicaPool, list[SetupReport]]:
        """Start the pair's replicas (each prepares once) and wait for their setups."""
        import ray

        resources = entry.resources or strategy.replica_resources()
        cluster = ray.cluster_resources()
        cluster_cpus = float(cluster.get("CPU", 1))
        if self.address is None:  # a local instance cannot grow: a replica it cannot hold would wait forever
            _check_fits(entry.name, resources, cluster)
        count = entry.replicas or replica_count(resources, cluster_cpus, pending)
        fits = replica_count(resources, cluster_cpus, count)
        if self.address is None and count > fits:
            _log.warning(
                "strategies.%s: %d replicas of %s CPU(s) do not fit this machine's %g CPUs; starting %d",
                entry.name,
                count,
                resources.num_cpus,
                cluster_cpus,
                fits,
            )
            count = fits
        # a local model answers one call at a time per replica; an endpoint shares --concurrency among them
        per_replica = strategy.max_concurrency or max(1, math.ceil(concurrency / count))
        actor_class = ray.remote(StrategyReplica).options(
            num_cpus=resources.num_cpus,
            num_gpus=resources.num_gpus,
            memory=resources.memory_mb * 2**20 if resources.memory_mb else None,
            max_concurrency=per_replica,
            max_restarts=max_attempts,
            max_task_retries=max_attempts,
        )
        shared = ray.put(dataset)
        started: list[Any] = [
            actor_class.remote(entry, context, shared, scorer_names, max_attempts) for _ in range(count)
        ]
        healthy: list[Any] = []
        setups: list[SetupReport] = []
        failure: ItemError | None = None
        refused = False
        for actor in started:
            try:
                setups.append(ray.get(actor.setup_report.remote()))
                healthy.append(actor)
            except ray.exceptions.RayError as error:
                cause = getattr(error, "cause", None) or error
                failure = ItemError(
                    stage="prepare", type=type(cause).__name__, message=f"replica setup failed: {cause}"
                )
                refused = isinstance(cause, ConfigError)
                setups.append(SetupReport(details={"failed": failure.message}))
                ray.kill(actor)
        label = f"{dataset.name}/{entry.name}"
        self.record = self.record.model_copy(update={"replicas": {**self.record.replicas, label: len(healthy)}})
        return ReplicaPool(healthy, per_replica, failure, refused, keep_alive=shared), setups


def _check_fits(name: str, resources: ReplicaResources, cluster: dict[str, float]) -> None:
    """A ConfigError when one replica needs more CPUs, GPUs or memory than the local instance has."""
    needs = {"CPU": resources.num_cpus, "GPU": resources.num_gpus, "memory": (resources.memory_mb or 0) * 2**20}
    short = [kind for kind, amount in needs.items() if amount > cluster.get(kind, 0.0)]
    if short:
        have = ", ".join(f"{kind} {cluster.get(kind, 0.0):g}" for kind in short)
        raise ConfigError(f"strategies.{name}: a replica needs {resources} but this machine has {have}")


def replica_count(resources: ReplicaResources, cluster_cpus: float, pending: int) -> int:
    """Replicas for a pair by default: as many as the cluster's CPUs fit, no more than allowed, and no
    more than there are items to answer; at least one."""
    fits = math.floor(cluster_cpus / resources.num_cpus) if resources.num_cpus > 0 else pending
    return max(1, min(fits, pending, resources.max_replicas or pending))
