"""`evals report`: the leaderboard, trends, Pareto front and latency plots as a static HTML page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 160)


def report(
    results_dir: Annotated[
        Path, typer.Option(help="where leaderboard.csv, history.csv and runs/ are read from")
    ] = Path("results"),
    out: Annotated[
        Path | None, typer.Option(help="folder for index.html and its PNGs (default: RESULTS_DIR/report)")
    ] = None,
) -> None:
    """Write a self-contained HTML report (leaderboard, metrics over time, accuracy vs cost, latency)."""
    from evals.report.html import build_report  # matplotlib: imported only when a report is written

    written = build_report(results_dir, out)
    console.print(
        f"report: {written.index_html} ({len(written.plots)} plots, latency from {written.latency_source})",
        highlight=False,
    )
    for run_id, count in written.skipped_lines.items():
        console.print(
            f"note: run {run_id}: {count} unreadable line{'' if count == 1 else 's'} of items.jsonl skipped",
            highlight=False,
        )
