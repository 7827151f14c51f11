"""Runs a suite: for each dataset × strategy, prepare once, answer every test item, score, record.

Answers are served from a content-addressed cache when possible; item results are appended to the
run folder as they finish, so a crashed run resumes where it stopped; transient failures are
retried with backoff; every other failure is recorded on its item.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
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


class RunOutcome(BaseModel):
    manifest: RunManifest
    results: list[ItemResult]
    rows: list[LeaderboardRow]


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
        self.results: dict[ItemKey, ItemResult] = {}

    def _build_strategy(self, entry: StrategyEntry) -> Strategy:
        factory = self.strategy_factories[entry.name]
        return factory.from_config(entry.params, f"strategies.{entry.name}.params", self.context)

    async def run(self) -> RunOutcome:
        with self.store.sole_writer():
            self.manifest = self._start_manifest()
            self.results = {result.key: result for result in self.store.read_items()}
            if self.results:
                self.console.print(f"Resuming run {self.store.run_id}: {len(self.results)} item(s) already done")
            self.store.write_manifest(self.manifest)
            for dataset in self.datasets:
                scorers = [factory(dataset, self.context) for factory in self.scorer_factories.values()]
                for entry in self.suite.strategies:
                    await self._run_pair(dataset, entry, scorers)
            return self._finish()

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
        repeats = range(self.suite.repeats)
        keys = {(item.id, r): answer_key(identity, knowledge, item, r) for item in dataset.test for r in repeats}
        done = {
            (item_id, repeat)
            for (name, label, item_id, repeat) in self.results
            if (name, label) == (dataset.name, entry.name)
        }
        pending = [(item, r) for item in dataset.test for r in repeats if (item.id, r) not in done]
        all_cached = self.settings.use_cache and all(self.cache.get(keys[(item.id, r)]) for item, r in pending)
        try:
            try:
                self._record_setup(dataset, entry, strategy, identity, prepare=bool(pending) and not all_cached)
            except EvalsError:
                raise  # the user's input or setup is wrong: stop with a clear message
            except Exception as error:  # a failed setup fails this pair's items, not the whole run
                self.console.print(f"[red]{entry.name} failed to prepare on {dataset.name}:[/] {error}")
                failure = ItemError(stage="prepare", type=type(error).__name__, message=str(error))
                for item, repeat in pending:
                    self._record(
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
            if not pending:
                return
            limit = min(filter(None, (self.settings.concurrency or self.suite.concurrency, strategy.max_concurrency)))
            semaphore = asyncio.Semaphore(limit)
            refusals: list[ItemError] = []  # the first configuration error (401/403/404, bad key) of this pair
            with self._progress(f"{dataset.name} · {entry.name}", len(pending)) as advance:

                async def one(item: QAItem, repeat: int) -> None:
                    async with semaphore:
                        with answering_repeat(repeat):  # the task's context: its worker thread inherits it
                            result = await self._answer_item(
                                dataset, entry.name, strategy, item, keys[(item.id, repeat)], scorers, refusals
                            )
                    self._record(result)
                    advance()

                await asyncio.gather(*(one(item, repeat) for item, repeat in pending))
        finally:
            strategy.close()

    def _record(self, result: ItemResult) -> None:
        self.store.append(result)
        self.results[result.key] = result

    def _record_setup(
        self, dataset: QADataset, entry: StrategyEntry, strategy: Strategy, identity: dict, prepare: bool
    ) -> None:
        """Prepare the strategy (or reuse the stored setup when every answer is cached) and record it.

        A setup the strategy served from its own cache reports the cost originally measured, so a
        warm re-run shows the same setup cost as the cold run it reproduces.
        """
        if any(r.dataset == dataset.name and r.strategy == entry.name for r in self.manifest.setups):
            if prepare:
                strategy.prepare(dataset.train, dataset.corpus)
            return
        knowledge = dataset.fingerprint_of(knowledge_read(strategy.update_path()))
        setup_key = content_hash({"setup": identity, "dataset": knowledge}, length=32)
        stored = self.cache.get_setup(setup_key)
        if prepare or stored is None:
            self.console.print(f"Preparing [bold]{entry.name}[/] on {dataset.name} …")
            report = _timed_prepare(strategy, dataset)
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
        key: str,
        scorers: Sequence[Scorer],
        refusals: list[ItemError],
    ) -> ItemResult:
        """Answer (or take from the cache), score and return one item's result. Once the endpoint refused
        the strategy's configuration (`refusals`), later items of the pair are failed with that reason
        without calling it again: a wrong key is not worth a request per item."""
        base = {
            "dataset": dataset.name,
            "strategy": label,
            "item_id": item.id,
            "cluster": dataset.cluster_of(item),
            "repeat": current_repeat(),
        }
        cached = self.cache.get(key) if self.settings.use_cache else None
        counter = [0]  # attempts made, counted even when every one of them fails
        if cached is not None:
            answer = cached
        elif refusals:
            refused = refusals[0]
            message = f"not attempted: an earlier item was refused: {refused.message}"
            return ItemResult(**base, status="error", attempts=0, error=refused.model_copy(update={"message": message}))
        else:
            try:
                answer = _redacted(await self._call_with_retries(strategy, item, counter))
            except Exception as error:  # any failure of one item is recorded on that item
                failure = ItemError(stage="answer", type=type(error).__name__, message=str(error))
                if isinstance(error, ConfigError) and not refusals:
                    refusals.append(failure)
                return ItemResult(**base, status="error", attempts=max(counter[0], 1), error=failure)
            self.cache.put(key, answer)
        attempts = counter[0]
        scores, scorer_errors = await self._score(scorers, item, answer)
        return ItemResult(
            **base,
            status="ok",
            answer=answer,
            scores=scores,
            scorer_errors=scorer_errors,
            cost_usd=self.price_table.query_cost(answer),
            judge_cost_usd=self._judge_cost(scorers, scores),
            attempts=attempts,
            cached=cached is not None,
        )

    async def _score(
        self, scorers: Sequence[Scorer], item: QAItem, answer: Answer
    ) -> tuple[dict[str, float], dict[str, str]]:
        """Every scorer's metrics; transient scorer failures (a judge's 429 or 500) are retried like answers,
        and a scorer that still fails leaves its own metrics missing (NaN) with the reason, never changing
        the answer's status or the other scorers' metrics."""
        scores: dict[str, float] = {}
        failures: dict[str, str] = {}
        for scorer in scorers:
            try:
                async for attempt in self._retrying():
                    with attempt:
                        scores.update(scorer.score(item, answer))
            except Exception as error:  # recorded on the item, per scorer
                failures[type(scorer).__name__] = f"{type(error).__name__}: {error}"
                scores.update(dict.fromkeys(scorer.metrics, math.nan))
        return scores, failures

    def _retrying(self) -> AsyncRetrying:
        """The suite's retry policy, for answers and scorers alike: TransientError only, Retry-After honoured."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.suite.max_attempts),
            wait=_wait_retry_after,
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )

    def _judge_cost(self, scorers: Sequence[Scorer], scores: dict[str, float]) -> float | None:
        """USD the LLM judges spent on this item (None when no scorer calls a judge)."""
        models = [model for scorer in scorers if (model := scorer.judge_model())]
        if not models:
            return None
        tokens_in, tokens_out = scores.get("judge_input_tokens", 0.0), scores.get("judge_output_tokens", 0.0)
        return self.price_table.token_cost(models[0], tokens_in, tokens_out)

    async def _call_with_retries(self, strategy: Strategy, item: QAItem, counter: list[int]) -> Answer:
        """Answer with retries on TransientError; `counter[0]` counts the attempts, also when all fail."""
        async for attempt in self._retrying():
            with attempt:
                counter[0] += 1
                answer = await _timed_answer(strategy, item)
        return answer

    def _progress(self, label: str, total: int):  # noqa: ANN202 - a context manager yielding a callable
        return _ProgressBar(label, total, self.console, enabled=self.settings.show_progress)

    def _finish(self) -> RunOutcome:
        results = list(self.results.values())
        self.manifest.counts = RunCounts(
            items=len(results),
            ok=sum(result.status == "ok" for result in results),
            errors=sum(result.status == "error" for result in results),
            cached=sum(result.cached for result in results),
            retries=sum(max(result.attempts - 1, 0) for result in results),
        )
        self.manifest.finished_at = datetime.now(UTC)
        rows = build_rows(self.manifest, results, seed=self.suite.seed)
        if self.settings.update_leaderboard:  # before `complete`: a kill in between finishes it on the next start
            update_leaderboard(self.settings.results_dir, rows)
        self.manifest.status = "complete"
        self.store.write_manifest(self.manifest)
        return RunOutcome(manifest=self.manifest, results=results, rows=rows)


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


def _redacted(answer: Answer) -> Answer:
    """The answer with any API key the process read removed from every field (text, contexts, metadata)."""
    if not keys_known():
        return answer
    serialized = answer.model_dump_json()
    redacted = redact_keys(serialized)
    return answer if redacted == serialized else Answer.model_validate_json(redacted)


def _timed_prepare(strategy: Strategy, dataset: QADataset) -> SetupReport:
    """`prepare`, with the wall time measured here when the strategy reports none."""
    started = time.perf_counter()
    report = strategy.prepare(dataset.train, dataset.corpus)
    elapsed = time.perf_counter() - started
    return report if report.seconds > 0 or report.cached else report.model_copy(update={"seconds": elapsed})


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
