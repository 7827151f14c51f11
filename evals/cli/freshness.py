"""`evals freshness`: prepare each strategy on company-kb-v1, switch the knowledge to v2 and measure each
strategy's answers stale and after its own update (re-index, retrain or nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from evals.cli.console import console, errors
from evals.core.errors import EvalsError
from evals.core.suite import StrategyEntry
from evals.core.types import CACHE_DIR_ENV, DEFAULT_CACHE_DIR

if TYPE_CHECKING:  # the decision code and the runner are imported where used: `evals --help` stays fast
    from evals.decision.freshness import FreshnessResult

HEADERS = ["strategy", "update path", "update time", "update cost", "F1 changed: stale → updated", "F1 unchanged"]


def parse_entries(names: list[str] | None) -> list[StrategyEntry]:
    """Strategy names as entries; a default strategy's name keeps its default params (e.g. finetuned's 30 steps)."""
    from evals.decision.freshness import DEFAULT_STRATEGIES

    if not names:
        return list(DEFAULT_STRATEGIES)
    defaults = {entry.name: entry for entry in DEFAULT_STRATEGIES}
    if len(set(names)) != len(names):
        raise EvalsError(f"--strategies repeats a name: {', '.join(names)}")
    return [defaults.get(name) or StrategyEntry(name=name) for name in names]


def freshness_table(result: FreshnessResult) -> Table:
    """The rich table the command prints."""
    from evals.decision.freshness import update_path_label
    from evals.decision.recommend import duration, usd

    table = Table(
        title=f"knowledge freshness: {result.before} → {result.after}, {result.n_test} test questions "
        f"({result.n_changed} changed facts)"
    )
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("strategy", "update path") else "right")
    for row in result.strategies:
        table.add_row(
            row.strategy,
            update_path_label(row.update_path, row.update_cached),
            duration(row.update_seconds),
            usd(row.update_cost_usd),
            f"{row.stale.changed.f1:.3f} → {row.updated.changed.f1:.3f}",
            f"{row.stale.unchanged.f1:.3f} → {row.updated.unchanged.f1:.3f}",
        )
    return table


def freshness(
    results_dir: Annotated[
        Path, typer.Option(help="where freshness.json and the scenario's run (runs/<run_id>) are written")
    ] = Path("results"),
    cache_dir: Annotated[
        Path | None, typer.Option(help=f"answers, indexes, adapters (default: ${CACHE_DIR_ENV} or {DEFAULT_CACHE_DIR})")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    strategies: Annotated[
        list[str] | None,
        typer.Option(
            "--strategies",
            help="registered strategy to run (repeatable; default: closed_book, rag, finetuned with 30 "
            "training steps, extractive_bm25)",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="score at most N test questions, half of them changed facts")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="JSON file to write (default: RESULTS_DIR/freshness.json)")] = None,
) -> None:
    """Measure what each strategy answers after a knowledge update: stale, and after its own update path."""
    from evals.decision.freshness import FRESHNESS_FILE, run_freshness
    from evals.engine.runner import RunSettings

    path = out or results_dir / FRESHNESS_FILE
    settings = RunSettings(
        results_dir=results_dir, show_progress=progress, **({"cache_dir": cache_dir} if cache_dir else {})
    )
    result = run_freshness(parse_entries(strategies), limit=limit, settings=settings, out=path, console=errors)
    console.print(freshness_table(result))
    console.print(f"freshness: {path} (answers in run {result.run_id})", highlight=False)
