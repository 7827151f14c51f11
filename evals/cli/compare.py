"""`evals compare OLD NEW`: the comparison as a terminal table, Markdown (for a pull request) or JSON,
exiting 1 when anything regressed."""

from __future__ import annotations

import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.core.errors import EvalsError

if TYPE_CHECKING:  # imported by the command itself: `evals --help` does not load the statistics stack
    from evals.results.compare import ComparisonReport, MetricComparison, StrategyComparison

console = Console(width=None if sys.stdout.isatty() else 160)

MARKS = {
    "regression": "✗ regression",
    "improvement": "✓ improvement",
    "unchanged": "= unchanged",
    "info": "",
    "missing": "✗ missing in NEW",
    "added": "+ added",
}
STYLES = {"regression": "bold red", "improvement": "green", "missing": "bold red", "added": "cyan"}
HEADERS = ["dataset", "strategy", "metric", "old", "new", "delta", "CI / p", "verdict"]


class OutputFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


def compare(
    old: Annotated[str, typer.Argument(help="baseline: a leaderboard/history CSV or a run id")],
    new: Annotated[str, typer.Argument(help="candidate: a leaderboard/history CSV or a run id")],
    results_dir: Annotated[Path, typer.Option(help="where run ids are looked up (<results-dir>/runs/<run_id>)")] = Path(
        "results"
    ),
    max_quality_drop: Annotated[
        float, typer.Option(min=0, help="absolute drop of a quality metric (EM, F1, ...) that fails, if significant")
    ] = 0.02,
    max_latency_increase: Annotated[
        float, typer.Option(min=0, help="relative growth of latency p95 that fails (0.25 = +25%)")
    ] = 0.25,
    max_cost_increase: Annotated[
        float, typer.Option(min=0, help="relative growth of cost per query that fails (0.25 = +25%)")
    ] = 0.25,
    alpha: Annotated[float, typer.Option(min=0, max=1, help="significance level, after Holm's correction")] = 0.05,
    seed: Annotated[int, typer.Option(help="seed of the paired bootstrap")] = 0,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="what to print")] = OutputFormat.table,
    markdown: Annotated[
        Path | None, typer.Option(help="also write the report as Markdown to this file (for a pull-request comment)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON (same as --format json)")] = False,
    suite: Annotated[
        str | None,
        typer.Option(help="of a CSV holding several suites, compare this suite's rows (default: each row's latest)"),
    ] = None,
    require_power: Annotated[
        bool,
        typer.Option(
            "--require-power",
            help="also exit 1 when a gated metric is 'unchanged' but its minimum detectable effect (80% power) "
            "exceeds the gate's threshold: the comparison could not have seen a regression of that size",
        ),
    ] = False,
) -> None:
    """Compare two leaderboards or runs; exit 1 when a quality, latency or cost gate regresses.

    Two run ids get paired item-level tests; CSVs are compared by their aggregates and CIs.
    """
    from evals.results.compare import Thresholds, compare_references

    if not 0 < alpha < 1:
        raise EvalsError(f"--alpha must be between 0 and 1, not {alpha}")
    thresholds = Thresholds(
        max_quality_drop=max_quality_drop,
        max_latency_increase=max_latency_increase,
        max_cost_increase=max_cost_increase,
        alpha=alpha,
        seed=seed,
    )
    report = compare_references(old, new, results_dir, thresholds, suite)
    if markdown is not None:
        markdown.write_text(render_markdown(report), encoding="utf-8")
    if as_json or output_format is OutputFormat.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    elif output_format is OutputFormat.markdown:
        sys.stdout.write(render_markdown(report))
    else:
        console.print(render_table(report))
        for note in _notes(report):
            console.print(f"note: {escape(note)}", highlight=False)
        style = "bold red" if report.regressions else "bold green"
        console.print(f"[{style}]{report.summary}[/]", highlight=False)
    if report.regressions or (require_power and report.underpowered):
        raise typer.Exit(code=1)


def _rows(report: ComparisonReport, gated_only: bool) -> list[tuple[str, list[str]]]:
    """(verdict key, cells) per table row: one per metric, or one per missing/added strategy."""
    rows: list[tuple[str, list[str]]] = []
    for s in report.strategies:
        if s.status != "compared":
            n = s.n_old if s.status == "missing" else s.n_new
            rows.append((s.status, [s.dataset, s.strategy, "—", "", "", "", f"{n} items", MARKS[s.status]]))
            continue
        for m in s.metrics:
            if gated_only and m.gate is None:
                continue
            cells = [s.dataset, s.strategy, m.metric, _value(m, m.old), _value(m, m.new), _delta(m), _evidence(s, m)]
            rows.append((m.verdict, [*cells, MARKS[m.verdict]]))
    return rows


def render_table(report: ComparisonReport) -> Table:
    """Every metric of every dataset × strategy, gated ones with their verdict."""
    table = Table(title=f"{report.old} → {report.new}")
    for header in HEADERS:
        table.add_column(header, justify="right" if header in ("old", "new", "delta") else "left")
    for verdict, cells in _rows(report, gated_only=False):
        table.add_row(*(escape(cell) for cell in cells), style=STYLES.get(verdict))
    return table


def render_markdown(report: ComparisonReport) -> str:
    """Summary line first, then the gated metrics; every other metric in a collapsed section."""
    t = report.thresholds
    lines = [
        f"**evals compare: {report.summary}**",
        "",
        f"`{report.old}` → `{report.new}` · gates: quality drop > {t.max_quality_drop:g} (significant at "
        f"α={t.alpha:g}, Holm), latency p95 > +{t.max_latency_increase:.0%}, cost/query > +{t.max_cost_increase:.0%}",
        "",
        *_markdown_table(_rows(report, gated_only=True)),
    ]
    others = [row for row in _rows(report, gated_only=False) if row[0] == "info"]
    if others:
        lines += ["", f"<details><summary>All other metrics ({len(others)})</summary>", ""]
        lines += [*_markdown_table(others), "", "</details>"]
    notes = _notes(report)
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def _markdown_table(rows: list[tuple[str, list[str]]]) -> list[str]:
    align = ["---:" if header in ("old", "new", "delta") else "---" for header in HEADERS]
    lines = ["| " + " | ".join(HEADERS) + " |", "| " + " | ".join(align) + " |"]
    for verdict, cells in rows:
        escaped = [cell.replace("|", "\\|") for cell in cells]
        if verdict in ("regression", "missing"):
            escaped[-1] = f"**{escaped[-1]}**"
        lines.append("| " + " | ".join(escaped) + " |")
    return lines


def _notes(report: ComparisonReport) -> list[str]:
    return [
        *report.notes,
        *(f"{s.dataset}/{s.strategy}: {note}" for s in report.strategies for note in s.notes),
    ]


def _value(m: MetricComparison, value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:.3f}" if m.gate == "quality" else f"{value:.3g}"


def _delta(m: MetricComparison) -> str:
    if math.isnan(m.delta):
        return "—"
    if m.gate == "quality":
        return f"{m.delta:+.3f}"
    relative = f" ({m.relative_delta:+.0%})" if m.relative_delta is not None else ""
    return f"{m.delta:+.3g}{relative}"


def _evidence(s: StrategyComparison, m: MetricComparison) -> str:
    """The paired CI and (Holm-adjusted) p-value, or the two sides' CIs."""
    parts = []
    if m.ci_low is not None and m.ci_high is not None and not math.isnan(m.ci_low):
        parts.append(f"Δ CI [{m.ci_low:+.3f}, {m.ci_high:+.3f}]")
    if m.old_ci is not None and m.new_ci is not None:
        parts.append(f"[{m.old_ci[0]:.2f}, {m.old_ci[1]:.2f}] vs [{m.new_ci[0]:.2f}, {m.new_ci[1]:.2f}]")
    if m.p_value is not None:
        adjusted = f", Holm {m.p_holm:.2g}" if m.p_holm is not None else ""
        parts.append(f"p={m.p_value:.2g}{adjusted} ({m.test}, n={s.n_paired})")
    if m.mde is not None:
        parts.append(f"MDE {m.mde:.3f}" if m.gate == "quality" else f"MDE +{m.mde:.0%}")
    return "; ".join(parts)
