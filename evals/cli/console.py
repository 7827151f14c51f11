"""The one place the command line prints from: the two consoles and the shared table formatting."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

WIDTH_WHEN_PIPED = 160

console = Console(width=None if sys.stdout.isatty() else WIDTH_WHEN_PIPED)
"""Standard output: tables and reports, what a user may pipe into a file."""

errors = Console(stderr=True, width=None if sys.stderr.isatty() else WIDTH_WHEN_PIPED)
"""Standard error: progress, notes and error messages."""

LEADERBOARD_SUMMARY_COLUMNS = {
    "dataset": "dataset",
    "strategy": "strategy",
    "n_items": "n",
    "n_errors": "failed",
    "exact_match": "EM",
    "f1": "F1",
    "latency_p50_s": "p50 s",
    "latency_p95_s": "p95 s",
    "cost_per_query_usd": "$/query",
    "setup_cost_usd": "setup $",
}
QUALITY_WITH_CI = ("exact_match", "f1")


def leaderboard_table(records: Sequence[Mapping[str, object]], title: str) -> Table:
    """The leaderboard's summary columns (quality with its 95% CI) as a rich table."""
    table = Table(title=title)
    columns = [column for column in LEADERBOARD_SUMMARY_COLUMNS if any(column in record for record in records)]
    for column in columns:
        table.add_column(
            LEADERBOARD_SUMMARY_COLUMNS[column], justify="left" if column in ("dataset", "strategy") else "right"
        )
    for record in records:
        table.add_row(*(_cell(record, column) for column in columns))
    return table


def _cell(record: Mapping[str, object], column: str) -> str:
    value = record.get(column)
    if column in QUALITY_WITH_CI and isinstance(value, float) and not math.isnan(value):
        low, high = record.get(f"{column}_ci_low"), record.get(f"{column}_ci_high")
        if isinstance(low, float) and isinstance(high, float):
            return f"{value:.3f} [{low:.2f}, {high:.2f}]"
        return f"{value:.3f}"
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3g}"
    return str(value)
