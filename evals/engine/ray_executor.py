"""Answer a suite's items on a Ray cluster (`evals run --executor ray`).

The driver (the `evals run` process) stays the only writer of the run folder, the answer cache and the
leaderboard: it prepares each strategy once (training an adapter or building an index, cached on disk by
content hash), consults the answer cache, and ships only the cache misses to replicas. A replica is a
Ray actor built from the same suite entry: its `prepare` finds the artifacts the driver just made in
the shared cache folder, so a LoRA adapter is trained once per run however many replicas answer. On a
cluster of several machines the cache folder must therefore be on storage every node sees (NFS, a
mounted bucket): `--cache-dir /shared/evals-cache`.

Replicas are restarted by Ray when their process or node dies, and a call in flight on them is retried
(at-least-once execution: an item may be answered twice, but the driver records it once). A replica whose
own `prepare` fails fails the items sent to it with the reason, like a failed setup does locally.
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
        from evals.engine.runner import _timed_prepare

        configure_model_runtime()
        self.strategy = STRATEGIES.get(entry.type).from_config(entry.params, f"strategies.{entry.name}.params", context)
        self.setup = _timed_prepare(self.strategy, dataset)
        self.scorers = [SCORERS.get(name)(dataset, context) for name in scorer_names]
        self.max_attempts = max_attempts

    def setup_report(self) -> SetupReport:
        return self.setup

    def answer(self, item: QAItem, repeat: int):  # noqa: ANN201 - an AnswerOutcome (imported lazily)
        from evals.engine.runner import answer_and_score

        with answering_repeat(repeat):
            return asyncio.run(answer_and_score(self.strategy, self.scorers, item, self.max_attempts))


class ReplicaPool:
    """The replicas of one dataset × strategy: each call goes to an idle replica (a replica takes as many
    calls at once as its strategy allows), so a slow replica never holds up items another could answer."""

    def __init__(self, actors: Sequence[object], calls_per_replica: int, keep_alive: object = None) -> None:
        self.actors = list(actors)
        self._keep_alive = keep_alive  # the dataset in the object store: a restarted replica is rebuilt from it
        self._idle: asyncio.Queue[object] = asyncio.Queue()
        for _ in range(calls_per_replica):
            for actor in self.actors:
                self._idle.put_nowait(actor)

    @property
    def slots(self) -> int:
        return self._idle.qsize()

    async def answer(self, item: QAItem, repeat: int):  # noqa: ANN201 - an AnswerOutcome
        import ray

        from evals.engine.runner import AnswerOutcome

        actor = await self._idle.get()
        try:
            return await actor.answer.remote(item, repeat)  # type: ignore[attr-defined]
        except ray.exceptions.RayError as error:  # the replica could not be built, or died for good
            cause = getattr(error, "cause", None) or error
            failure = ItemError(stage="answer", type=type(cause).__name__, message=f"replica failed: {cause}")
            return AnswerOutcome(error=failure, refused=isinstance(cause, ConfigError), attempts=1)
        finally:
            self._idle.put_nowait(actor)


class RayExecutor:
    """A connection to a Ray cluster (or a local Ray instance it starts) that builds replica pools."""

    def __init__(self, address: str | None) -> None:
        self.address = address or os.environ.get(RAY_ADDRESS_ENV) or None
        self.record = ExecutorRecord(kind="ray", ray_address=self.address)

    def start(self) -> None:
        import ray

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
        cluster_cpus = float(ray.cluster_resources().get("CPU", 1))
        count = entry.replicas or replica_count(resources, cluster_cpus, pending)
        fits = replica_count(resources, cluster_cpus, count)
        if self.address is None and count > fits:  # a local instance cannot grow: the rest would wait forever
            _log.warning(
                "strategies.%s: %d replicas of %s CPU(s) do not fit this machine's %g CPUs; starting %d",
                entry.name,
                count,
                resources.num_cpus,
                cluster_cpus,
                fits,
            )
            count = fits
        per_replica = strategy.max_concurrency or concurrency
        actor_class = ray.remote(StrategyReplica).options(
            num_cpus=resources.num_cpus,
            num_gpus=resources.num_gpus,
            memory=resources.memory_mb * 2**20 if resources.memory_mb else None,
            max_concurrency=per_replica,
            max_restarts=-1,
            max_task_retries=-1,
        )
        shared = ray.put(dataset)
        actors: list[Any] = [
            actor_class.remote(entry, context, shared, scorer_names, max_attempts) for _ in range(count)
        ]
        setups: list[SetupReport] = []
        for actor in actors:
            try:
                setups.append(ray.get(actor.setup_report.remote()))
            except ray.exceptions.RayError:
                continue  # its calls fail with the reason (ReplicaPool.answer)
        label = f"{dataset.name}/{entry.name}"
        self.record = self.record.model_copy(update={"replicas": {**self.record.replicas, label: count}})
        return ReplicaPool(actors, per_replica, keep_alive=shared), setups


def replica_count(resources: ReplicaResources, cluster_cpus: float, pending: int) -> int:
    """Replicas for a pair by default: as many as the cluster's CPUs fit, no more than allowed, and no
    more than there are items to answer; at least one."""
    fits = math.floor(cluster_cpus / resources.num_cpus) if resources.num_cpus > 0 else pending
    return max(1, min(fits, pending, resources.max_replicas or pending))
