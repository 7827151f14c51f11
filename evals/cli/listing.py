"""`evals list` and `evals leaderboard`: what is installed, and a leaderboard CSV as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from evals.cli.console import console, errors, leaderboard_table

LEADERBOARD_FILE = "leaderboard.csv"
"""`evals.results.leaderboard.LEADERBOARD_FILE`, repeated here so that `evals --help` need not import the
leaderboard (pandas, the statistics); tests/test_bench_scale.py checks that the two agree."""


def list_registered() -> None:
    """List registered strategies and scorers, and shipped datasets."""
    from evals.core.strategy import STRATEGIES
    from evals.data import shipped_datasets
    from evals.scoring.base import SCORERS

    for title, names in (
        ("strategies", STRATEGIES.names()),
        ("scorers", SCORERS.names()),
        ("datasets", list(shipped_datasets())),
    ):
        console.print(f"[bold]{title}[/]: {', '.join(names) or 'none'}")
    for registry in (STRATEGIES, SCORERS):
        for name, reason in registry.broken().items():
            errors.print(f"[yellow]broken {registry.kind} plugin[/] {name}: {escape(reason)}", highlight=False)


def leaderboard(
    path: Annotated[Path, typer.Argument(help="leaderboard CSV")] = Path("results") / LEADERBOARD_FILE,
    dataset: Annotated[str | None, typer.Option(help="show only this dataset")] = None,
) -> None:
    """Show a leaderboard CSV as a table."""
    from evals.results.leaderboard import read_table

    frame = read_table(path)
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    console.print(leaderboard_table(frame.to_dict(orient="records"), str(path)))
