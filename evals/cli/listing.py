"""`evals list` and `evals leaderboard`: what is installed, and a leaderboard CSV as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evals.cli.console import console, errors, leaderboard_table
from evals.core.strategy import STRATEGIES
from evals.data import shipped_datasets
from evals.results.leaderboard import LEADERBOARD_FILE, read_table
from evals.scoring.base import SCORERS


def list_registered() -> None:
    """List registered strategies and scorers, and shipped datasets."""
    for title, names in (
        ("strategies", STRATEGIES.names()),
        ("scorers", SCORERS.names()),
        ("datasets", list(shipped_datasets())),
    ):
        console.print(f"[bold]{title}[/]: {', '.join(names) or 'none'}")
    for registry in (STRATEGIES, SCORERS):
        for name, reason in registry.broken().items():
            errors.print(f"[yellow]broken {registry.kind} plugin[/] {name}: {reason}", highlight=False)


def leaderboard(
    path: Annotated[Path, typer.Argument(help="leaderboard CSV")] = Path("results") / LEADERBOARD_FILE,
    dataset: Annotated[str | None, typer.Option(help="show only this dataset")] = None,
) -> None:
    """Show a leaderboard CSV as a table."""
    frame = read_table(path)
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    console.print(leaderboard_table(frame.to_dict(orient="records"), str(path)))
