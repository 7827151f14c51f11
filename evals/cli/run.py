"""`evals run`: run a suite and update the leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evals.cli.console import console, errors, leaderboard_table
from evals.core.errors import EvalsError
from evals.core.suite import DEFAULT_SUITE, load_suite
from evals.core.types import CACHE_DIR_ENV, DEFAULT_CACHE_DIR
from evals.scoring.cost import DEFAULT_PRICE_TABLE

DEFAULT_MAX_FAILURE_RATE = 0.1


def run(
    suite_file: Annotated[Path, typer.Argument(help="suite TOML file")] = DEFAULT_SUITE,
    limit: Annotated[int | None, typer.Option(help="score at most N test items per dataset")] = None,
    repeats: Annotated[
        int | None,
        typer.Option(min=1, help="answer every question N times, sampling at each strategy's temperature"),
    ] = None,
    results_dir: Annotated[Path, typer.Option(help="where runs, leaderboard.csv and history.csv go")] = Path("results"),
    cache_dir: Annotated[
        Path | None,
        typer.Option(help=f"answers, indexes, adapters, judgments (default: ${CACHE_DIR_ENV} or {DEFAULT_CACHE_DIR})"),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="call the models even for cached answers")] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start a new run instead of resuming an unfinished one")
    ] = False,
    resume: Annotated[str | None, typer.Option(help="resume this run id")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="items answered at once (default: the suite's)")
    ] = None,
    executor: Annotated[
        str,
        typer.Option(help="local: answer in this process; ray: on a Ray cluster (pip install 'rag-or-finetune[ray]')"),
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="the Ray cluster to join (default: $RAY_ADDRESS, else a local Ray instance)")
    ] = None,
    price_table: Annotated[Path, typer.Option(help="dated price table TOML")] = DEFAULT_PRICE_TABLE,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    max_failure_rate: Annotated[
        float,
        typer.Option(min=0, max=1, help="exit 1 when a strategy fails more than this share of its items"),
    ] = DEFAULT_MAX_FAILURE_RATE,
) -> None:
    """Run a suite (default: the built-in one on squad-mini) and update the leaderboard.

    Exits 1 when a dataset × strategy answered no item at all, or failed more than --max-failure-rate of
    them (the failures are recorded in the run, with reasons), so nightly CI notices a dead endpoint."""
    from evals.engine.runner import RunSettings, run_suite  # the runner's stack loads only when a suite runs

    if executor not in ("local", "ray"):
        raise EvalsError(f"--executor must be local or ray, not {executor!r}")
    if ray_address and executor != "ray":
        raise EvalsError("--ray-address needs --executor ray")
    suite = load_suite(suite_file)
    if limit is not None:
        suite = suite.with_limit(limit)
    if repeats is not None:
        suite = suite.with_repeats(repeats)
    settings = RunSettings(
        results_dir=results_dir,
        **({"cache_dir": cache_dir} if cache_dir else {}),
        use_cache=not no_cache,
        resume=not fresh,
        resume_run_id=resume,
        concurrency=concurrency,
        price_table=price_table,
        show_progress=progress,
        executor=executor,
        ray_address=ray_address,
    )
    outcome = run_suite(suite, settings, errors)
    counts = outcome.manifest.counts
    errors.print(
        f"run {outcome.manifest.run_id}: {counts.items} items, {counts.ok} ok, {counts.errors} failed, "
        f"{counts.cached} from cache, {counts.retries} retries → {results_dir / 'runs' / outcome.manifest.run_id}"
    )
    console.print(leaderboard_table([row.to_record() for row in outcome.rows], f"run {outcome.manifest.run_id}"))
    failing = [
        f"{row.dataset} · {row.strategy}: {row.n_errors} of {row.n_items} items failed"
        for row in outcome.rows
        if row.n_items and (row.n_ok == 0 or row.n_errors / row.n_items > max_failure_rate)
    ]
    if failing:
        errors.print(
            f"[bold red]failed:[/] more than {max_failure_rate:.0%} of items failed (see the reasons in items.jsonl "
            f"or `evals view`): " + "; ".join(failing),
            highlight=False,
        )
        raise typer.Exit(code=1)
