"""Runs a suite: for each dataset × strategy, prepare once, answer every test item, score, record.

Answers are served from a content-addressed cache when possible; item results are appended to the
run folder as they finish, so a crashed run resumes where it stopped; transient failures are
retried with backoff; every other failure is recorded on its item.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from evals.core.errors import ConfigError, EvalsError, SuiteError, TransientError
from evals.core.sampling import answering_repeat, current_repeat
from evals.core.strategy import STRATEGIES, Strategy, UpdatePath, knowledge_read
from evals.core.suite import StrategyEntry, Suite
from evals.core.types import Answer, QAItem, RunContext, SetupReport, default_cache_dir
from evals.data import QADataset, load_dataset
from evals.engine.cache import AnswerCache, answer_key
from evals.engine.model_runtime import configure_model_runtime
from evals.infra.hashing import content_hash, file_sha256
from evals.infra.provenance import git_state, host_description, package_versions
from evals.infra.secrets import keys_known, redact_keys
from evals.results.leaderboard import LeaderboardRow, build_rows, update_leaderboard
from evals.results.records import DatasetManifest, ItemError, ItemKey, ItemResult, RunCounts, RunManifest, SetupRecord
from evals.results.run_store import RunStore, find_resumable, new_run_id, runs_dir
from evals.scoring.base import SCORERS, Scorer
from evals.scoring.cost import DEFAULT_PRICE_TABLE, PriceTable, load_price_table

if TYPE_CHECKING:
    from evals.engine.ray_executor import RayExecutor, ReplicaPool

MAX_RETRY_WAIT_S = 60.0


class RunSettings(BaseModel):
    """How to run (not what): where results and cache live, resuming, concurrency."""

    model_config = ConfigDict(frozen=True)

    results_dir: Path = Path("results")
    cache_dir: Path = Field(default_factory=default_cache_dir)
    use_cache: bool = True
    resume: bool = True
    resume_run_id: str | None = None
    concurrency: int | None = None
    price_table: Path = DEFAULT_PRICE_TABLE
    show_progress: bool = True
    update_leaderboard: bool = True
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = Field(default=None, description="a Ray cluster to join (None: $RAY_ADDRESS or local)")


class RunOutcome(BaseModel):
    """A finished run: its manifest and leaderboard rows. Its item results stay in the run folder (`items()`)."""

    manifest: RunManifest
    rows: list[LeaderboardRow]
    run_dir: Path

    def items(self) -> Iterator[ItemResult]:
        """The run's item results, read from its items.jsonl one at a time: a run of 100,000 items is never
        held in memory unless the caller keeps them."""
        return RunStore(self.run_dir).iter_items_readonly()


def run_suite(
    suite: Suite,
    settings: RunSettings,
    console: Console | None = None,
    datasets: Sequence[QADataset] | None = None,
) -> RunOutcome:
    """Run a suite to completion (resuming an unfinished run of the same configuration).

    `datasets` replaces the suite's own dataset entries with datasets built in code (a scenario such as
    `evals freshness` composes them); their fingerprints enter the configuration hash as usual."""
    configure_model_runtime()
    return asyncio.run(SuiteRun(suite, settings, console or Console(stderr=True), datasets).run())


class SuiteRun:
    """One execution of a suite; keeps the runner's state out of module globals."""

    def __init__(
        self, suite: Suite, settings: RunSettings, console: Console, datasets: Sequence[QADataset] | None = None
    ) -> None:
        self.suite = suite
        self.settings = settings
        self.console = console
        self.context = RunContext(cache_dir=settings.cache_dir, seed=suite.seed)
        self.price_table: PriceTable = load_price_table(settings.price_table)
        self.cache = AnswerCache(settings.cache_dir)
        self.strategy_factories = {entry.name: STRATEGIES.get(entry.type) for entry in suite.strategies}
        update_paths = {entry.name: self._build_strategy(entry).update_path() for entry in suite.strategies}
        self.scorer_factories = {name: SCORERS.get(name) for name in suite.scorers}
        self.datasets = list(datasets) if datasets is not None else [load_dataset(s) for s in suite.dataset_specs()]
        _check_knowledge(self.datasets, update_paths)
        self.config_hash = content_hash(  # what the results depend on: resuming requires all of it unchanged
            {
                "suite": suite.config_hash(),
                "datasets": [dataset.fingerprint for dataset in self.datasets],
                "price_table": file_sha256(settings.price_table),
            }
        )
        self.store = self._open_store()
        self.done: set[ItemKey] = set()
        """The answers a resumed run already has (only their keys: a run's results stay on disk)."""
        self.ray: RayExecutor | None = None
        if settings.executor == "ray":
            from evals.engine.ray_executor import RayExecutor

            self.ray = RayExecutor(settings.ray_address)

    def _build_strategy(self, entry: StrategyEntry) -> Strategy:
        factory = self.strategy_factories[entry.name]
        return factory.from_config(entry.params, f"strategies.{entry.name}.params", self.context)

    async def run(self) -> RunOutcome:
        # Synchronous strategies answer in worker threads: one per item in flight (plus the default pool's 4
        # spares); the default pool, min(32, cores + 4) threads, would cap --concurrency below what was asked.
        concurrency = self.settings.concurrency or self.suite.concurrency
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(concurrency + 4, thread_name_prefix="evals-answer")
        )
        with self.store.sole_writer():
            self.manifest = self._start_manifest()
            self.done = {result.key for result in self.store.iter_items()}
            if self.done:
                self.console.print(f"Resuming run {self.store.run_id}: {len(self.done)} item(s) already done")
            self.store.write_manifest(self.manifest)
            if self.ray is not None:
                self.ray.start()
            try:
                await self._run_pairs()
            finally:
                if self.ray is not None:
                    self.ray.stop()
                self.cache.close()
            # Aggregating reads the items back from disk and needs neither the datasets (at 100,000 items the most
            # memory left: about 190 MB) nor the keys of resumed items: let them go before it.
            self.datasets, self.done = [], set()
            return self._finish()

    async def _run_pairs(self) -> None:
        for dataset in self.datasets:
            scorers = [factory(dataset, self.context) for factory in self.scorer_factories.values()]
            for entry in self.suite.strategies:
                await self._run_pair(dataset, entry, scorers)

    def _open_store(self) -> RunStore:
        results_dir = self.settings.results_dir
        if self.settings.resume_run_id:
            store = RunStore(runs_dir(results_dir) / self.settings.resume_run_id)
            if store.read_manifest().config_hash != self.config_hash:
                raise EvalsError(
                    f"run {store.run_id} was made with another suite configuration; it cannot be resumed with this one"
                )
            return store
        resumable = find_resumable(results_dir, self.config_hash) if self.settings.resume else None
        if resumable is not None:
            return resumable
        return RunStore(runs_dir(results_dir) / new_run_id(self.config_hash))

    def _start_manifest(self) -> RunManifest:
        if self.store.manifest_path.exists():
            manifest = self.store.read_manifest()
            return manifest.model_copy(update={"status": "running"})
        commit, dirty = git_state(Path(__file__).parent)
        return RunManifest(
            run_id=self.store.run_id,
            suite=self.suite.name,
            suite_path=str(self.suite.path) if self.suite.path else None,
            config_hash=self.config_hash,
            started_at=datetime.now(UTC),
            seed=self.suite.seed,
            datasets={
                dataset.name: DatasetManifest(
                    fingerprint=dataset.fingerprint,
                    source=dataset.source,
                    squad_version=dataset.squad_version,
                    n_train=len(dataset.train),
                    n_test=len(dataset.test),
                    n_test_total=dataset.n_test_total,
                    n_documents=len(dataset.corpus),
                )
                for dataset in self.datasets
            },
            price_table_date=self.price_table.date,
            price_table_sha256=file_sha256(self.settings.price_table),
            git_commit=commit,
            git_dirty=dirty,
            packages=package_versions(),
            python=sys.version.split()[0],
            host=host_description(),
        )

    async def _run_pair(self, dataset: QADataset, entry: StrategyEntry, scorers: Sequence[Scorer]) -> None:
        strategy = self._build_strategy(entry)
        identity = strategy.identity()
        knowledge = dataset.fingerprint_of(knowledge_read(strategy.update_path()))
        repeats, pair = range(self.suite.repeats), (dataset.name, entry.name)

        def pending() -> Iterator[tuple[QAItem, int]]:  # generated, not listed: at 100,000 items a list is 6 MB
            return ((item, r) for item in dataset.test for r in repeats if (*pair, item.id, r) not in self.done)

        def key(item: QAItem, repeat: int) -> str:
            return answer_key(identity, knowledge, item, repeat)

        n_pending = sum(1 for _ in pending())
        # cache hits are counted, not read (their answers would be hundreds of MB at 100,000 items): they decide
        # whether to prepare, and each worker reads its item's answer once, when it answers it
        hits = sum(self.cache.has(key(item, r)) for item, r in pending()) if self.settings.use_cache else 0
        misses = n_pending - hits
        try:
            try:
                self._record_setup(dataset, entry, strategy, identity, prepare=misses > 0)
            except EvalsError:
                raise  # the user's input or setup is wrong: stop with a clear message
            except Exception as error:  # a failed setup fails this pair's items, not the whole run
                self.console.print(f"[red]{entry.name} failed to prepare on {dataset.name}:[/] {escape(str(error))}")
                failure = ItemError(stage="prepare", type=type(error).__name__, message=str(error))
                for item, repeat in pending():
                    self.store.append(
                        ItemResult(
                            dataset=dataset.name,
                            strategy=entry.name,
                            item_id=item.id,
                            cluster=dataset.cluster_of(item),
                            repeat=repeat,
                            status="error",
                            error=failure,
                        )
                    )
                return
            if not n_pending:
                return
            concurrency = self.settings.concurrency or self.suite.concurrency
            limit = min(filter(None, (concurrency, strategy.max_concurrency)))
            replicas = self._replicas(dataset, entry, strategy, misses, concurrency) if misses else None
            workers = min(n_pending, replicas.slots if replicas is not None else limit)
            refusals: list[ItemError] = []  # the first configuration error (401/403/404, bad key) of this pair
            queue = pending()  # shared by the workers: each takes the next item when it is free
            with self._progress(f"{dataset.name} · {entry.name}", n_pending) as advance:

                async def worker() -> None:
                    # `workers` tasks, not one per item: 100,000 pending items would otherwise be 100,000 tasks
                    for item, repeat in queue:
                        with answering_repeat(repeat):  # the task's context: its worker thread inherits it
                            result = await self._answer_item(
                                dataset,
                                entry.name,
                                strategy,
                                item,
                                functools.partial(key, item, repeat),
                                self.cache.get(key(item, repeat)) if hits else None,
                                scorers,
                                refusals,
                                replicas,
                            )
                        self.store.append(result)
                        advance()

                await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            strategy.close()

    def _replicas(
        self, dataset: QADataset, entry: StrategyEntry, strategy: Strategy, misses: int, concurrency: int
    ) -> ReplicaPool | None:
        """On a Ray cluster, the pair's replicas (after the driver's own setup, so they reuse its artifacts);
        their setups are recorded next to the driver's. None when answering here."""
        if self.ray is None:
            return None
        scorer_names = list(self.scorer_factories)
        self.console.print(f"Starting replicas of [bold]{entry.name}[/] on Ray for {misses} item(s) …")
        pool, setups = self.ray.replicas(
            entry, strategy, self.context, dataset, scorer_names, self.suite.max_attempts, misses, concurrency
        )
        record = next(r for r in self.manifest.setups if (r.dataset, r.strategy) == (dataset.name, entry.name))
        record.replica_setups = setups
        self.manifest.executor = self.ray.record
        self.store.write_manifest(self.manifest)
        return pool

    def _record_setup(
        self, dataset: QADataset, entry: StrategyEntry, strategy: Strategy, identity: dict, prepare: bool
    ) -> None:
        """Prepare the strategy (or reuse the stored setup when every answer is cached) and record it.

        A setup the strategy served from its own cache reports the cost originally measured, so a
        warm re-run shows the same setup cost as the cold run it reproduces.
        """
        if any(r.dataset == dataset.name and r.strategy == entry.name for r in self.manifest.setups):
            if prepare:
                timed_prepare(strategy, dataset)
            return
        knowledge = dataset.fingerprint_of(knowledge_read(strategy.update_path()))
        setup_key = content_hash({"setup": identity, "dataset": knowledge}, length=32)
        stored = self.cache.get_setup(setup_key)
        if prepare or stored is None:
            self.console.print(f"Preparing [bold]{entry.name}[/] on {dataset.name} …")
            report = timed_prepare(strategy, dataset)
            if report.cached and stored is not None:
                report = stored.model_copy(update={"cached": True})
            elif not report.cached:
                self.cache.put_setup(setup_key, report)
        else:
            report = stored.model_copy(update={"cached": True})
        self.manifest.setups.append(
            SetupRecord(
                dataset=dataset.name,
                strategy=entry.name,
                strategy_type=entry.type,
                update_path=strategy.update_path(),
                routes=strategy.routes,
                determinism=strategy.determinism(),
                identity=identity,
                setup=report,
                setup_cost_usd=self.price_table.setup_cost(report),
            )
        )
        self.store.write_manifest(self.manifest)

    async def _answer_item(
        self,
        dataset: QADataset,
        label: str,
        strategy: Strategy,
        item: QAItem,
        key: Callable[[], str],
        cached: Answer | None,
        scorers: Sequence[Scorer],
        refusals: list[ItemError],
        replicas: ReplicaPool | None = None,
    ) -> ItemResult:
        """Answer (`cached`, from the answer cache; else here or on a Ray replica, then stored in the cache under
        `key()`, its `answer_key`, computed only then), score and return one item's result. Once the
        endpoint refused the strategy's configuration (`refusals`), later items of the pair are failed with
        that reason without calling it again: a wrong key is not worth a request per item."""
        base = {
            "dataset": dataset.name,
            "strategy": label,
            "item_id": item.id,
            "cluster": dataset.cluster_of(item),
            "repeat": current_repeat(),
        }
        max_attempts = self.suite.max_attempts
        if cached is not None:
            scores, scorer_errors = await score_answer(scorers, item, cached, max_attempts)
            outcome = AnswerOutcome(answer=cached, attempts=0, scores=scores, scorer_errors=scorer_errors)
        elif refusals:
            refused = refusals[0]
            message = f"not attempted: an earlier item was refused: {refused.message}"
            return ItemResult(**base, status="error", attempts=0, error=refused.model_copy(update={"message": message}))
        elif replicas is not None:
            outcome = await replicas.answer(item, current_repeat())
        else:
            outcome = await answer_and_score(strategy, scorers, item, max_attempts)
        if outcome.answer is None:
            assert outcome.error is not None
            if outcome.refused and not refusals:
                refusals.append(outcome.error)
            return ItemResult(**base, status="error", attempts=max(outcome.attempts, 1), error=outcome.error)
        answer = outcome.answer
        if cached is None:
            self.cache.put(key(), answer)
        return ItemResult(
            **base,
            status="ok",
            answer=answer,
            scores=outcome.scores,
            scorer_errors=outcome.scorer_errors,
            cost_usd=self.price_table.query_cost(answer),
            judge_cost_usd=self._judge_cost(scorers, outcome.scores),
            attempts=outcome.attempts,
            cached=cached is not None,
        )

    def _judge_cost(self, scorers: Sequence[Scorer], scores: dict[str, float]) -> float | None:
        """USD the LLM judges spent on this item (None when no scorer calls a judge)."""
        models = [model for scorer in scorers if (model := scorer.judge_model())]
        if not models:
            return None
        tokens_in, tokens_out = scores.get("judge_input_tokens", 0.0), scores.get("judge_output_tokens", 0.0)
        return self.price_table.token_cost(models[0], tokens_in, tokens_out)

    def _progress(self, label: str, total: int):  # noqa: ANN202 - a context manager yielding a callable
        return _ProgressBar(label, total, self.console, enabled=self.settings.show_progress)

    def _finish(self) -> RunOutcome:
        """Count and aggregate the run's items in one pass over items.jsonl, and mark the run complete."""
        self.manifest.finished_at = datetime.now(UTC)
        counts = RunCounts()
        rows = build_rows(self.manifest, counts.counting(self.store.iter_items()), seed=self.suite.seed)
        self.manifest.counts = counts
        if self.settings.update_leaderboard:  # before `complete`: a kill in between finishes it on the next start
            update_leaderboard(self.settings.results_dir, rows)
        self.manifest.status = "complete"
        self.store.write_manifest(self.manifest)
        return RunOutcome(manifest=self.manifest, rows=rows, run_dir=self.store.directory)


def _check_knowledge(datasets: Sequence[QADataset], update_paths: dict[str, UpdatePath | None]) -> None:
    """Fail before any work when a strategy would learn from a corpus or train split a dataset lacks."""
    for dataset in datasets:
        for name, path in update_paths.items():
            needed = knowledge_read(path) if path is not None else ()
            if "corpus" in needed and not dataset.corpus:
                raise SuiteError(
                    f"strategy {name!r} retrieves from a corpus, but dataset {dataset.name!r} has none: add "
                    f'`corpus = "<file>"` (or a `context` column) to its [[datasets]] entry, or drop the strategy'
                )
            if "train" in needed and not any(item.answers and not item.is_impossible for item in dataset.train):
                raise SuiteError(
                    f"strategy {name!r} trains on the train split, but dataset {dataset.name!r} has no answerable "
                    f'train questions: add `train = "<file>"` (or `test_fraction` < 1) to its [[datasets]] entry'
                )


class AnswerOutcome(BaseModel):
    """What answering and scoring one item produced, wherever it ran (here or on a Ray replica): the
    answer and its scores, or the error that stopped it (`refused`: a configuration error such as a
    refused key, which stops the pair)."""

    answer: Answer | None = None
    error: ItemError | None = None
    refused: bool = False
    attempts: int = 0
    scores: dict[str, float] = Field(default_factory=dict)
    scorer_errors: dict[str, str] = Field(default_factory=dict)


async def answer_and_score(
    strategy: Strategy, scorers: Sequence[Scorer], item: QAItem, max_attempts: int
) -> AnswerOutcome:
    """Answer with retries on TransientError (API keys redacted from the answer), then score it."""
    attempts = 0
    try:
        async for attempt in retrying(max_attempts):
            with attempt:
                attempts += 1
                answer = _redacted(await _timed_answer(strategy, item))
    except Exception as error:  # any failure of one item is recorded on that item
        failure = ItemError(stage="answer", type=type(error).__name__, message=str(error))
        return AnswerOutcome(error=failure, refused=isinstance(error, ConfigError), attempts=max(attempts, 1))
    scores, scorer_errors = await score_answer(scorers, item, answer, max_attempts)
    return AnswerOutcome(answer=answer, attempts=attempts, scores=scores, scorer_errors=scorer_errors)


async def score_answer(
    scorers: Sequence[Scorer], item: QAItem, answer: Answer, max_attempts: int
) -> tuple[dict[str, float], dict[str, str]]:
    """Every scorer's metrics; transient scorer failures (a judge's 429 or 500) are retried like answers,
    and a scorer that still fails leaves its own metrics missing (NaN) with the reason, never changing
    the answer's status or the other scorers' metrics."""
    scores: dict[str, float] = {}
    failures: dict[str, str] = {}
    for scorer in scorers:
        try:
            async for attempt in retrying(max_attempts):
                with attempt:
                    scores.update(scorer.score(item, answer))
        except Exception as error:  # recorded on the item, per scorer
            failures[type(scorer).__name__] = f"{type(error).__name__}: {error}"
            scores.update(dict.fromkeys(scorer.metrics, math.nan))
    return scores, failures


def retrying(max_attempts: int) -> AsyncRetrying:
    """The suite's retry policy, for answers and scorers alike: TransientError only, Retry-After honoured."""
    return AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=_wait_retry_after,
        retry=retry_if_exception_type(TransientError),
        reraise=True,
    )


def _redacted(answer: Answer) -> Answer:
    """The answer with any API key the process read removed from every field (text, contexts, metadata)."""
    if not keys_known():
        return answer
    serialized = answer.model_dump_json()
    redacted = redact_keys(serialized)
    return answer if redacted == serialized else Answer.model_validate_json(redacted)


def timed_prepare(strategy: Strategy, dataset: QADataset) -> SetupReport:
    """`prepare`, with the wall time measured here when the strategy reports none; Ctrl-C stops it at once."""
    started = time.perf_counter()
    with _interruptible():
        report = strategy.prepare(dataset.train, dataset.corpus)
    elapsed = time.perf_counter() - started
    return report if report.seconds > 0 or report.cached else report.model_copy(update={"seconds": elapsed})


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt inside the block. asyncio.run's own SIGINT handler only cancels the main
    task, which a synchronous `prepare` (minutes of fine-tuning, run on the event loop's thread) never yields
    to: without this, Ctrl-C while "Preparing …" waited for the whole setup to finish."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread; SIGINT is delivered there anyway
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:  # None: a handler set outside Python, which cannot be put back from here
            signal.signal(signal.SIGINT, previous)


async def _timed_answer(strategy: Strategy, item: QAItem) -> Answer:
    """Call `strategy.answer` (sync in a worker thread, or async) and record its total wall time."""
    if inspect.iscoroutinefunction(strategy.answer):
        started = time.perf_counter()
        answer = await strategy.answer(item)
        elapsed = time.perf_counter() - started
    else:
        answer, elapsed = await asyncio.to_thread(_call_timed, strategy.answer, item)
    return answer.model_copy(update={"timings": {**answer.timings, "total": elapsed}})


def _call_timed(function: Callable[[QAItem], Answer], item: QAItem) -> tuple[Answer, float]:
    started = time.perf_counter()
    answer = function(item)
    return answer, time.perf_counter() - started


_exponential = wait_random_exponential(multiplier=0.5, max=MAX_RETRY_WAIT_S)


def _wait_retry_after(state: RetryCallState) -> float:
    """Honour a server's Retry-After when the error carries one; otherwise exponential backoff with jitter."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, TransientError) and error.retry_after is not None:
        return min(error.retry_after, MAX_RETRY_WAIT_S)
    return _exponential(state)


class _ProgressBar:
    """A rich progress bar for one dataset × strategy pair; yields a function that advances it."""

    def __init__(self, label: str, total: int, console: Console, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task(label, total=total)

    def __enter__(self) -> Callable[[], None]:
        self.progress.start()
        return lambda: self.progress.advance(self.task)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
