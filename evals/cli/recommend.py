"""`evals recommend`: answer the five RAG-or-fine-tuning questions from measured results and recommend a
strategy, as a terminal report, JSON or Markdown."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.core.errors import EvalsError
from evals.scoring.cost import DEFAULT_PRICE_TABLE, load_price_table

if TYPE_CHECKING:  # the decision code (pandas, scipy) is imported where used: `evals --help` stays fast
    from evals.decision.recommend import Recommendation

console = Console(width=None if sys.stdout.isatty() else 160)
HEADERS = ["strategy", "quality", "within target", "$/month", "maintenance per update", "sources", "status"]


def recommend(
    results_dir: Annotated[Path, typer.Option(help="folder holding leaderboard.csv (and runs/, if kept)")] = Path(
        "results"
    ),
    dataset: Annotated[str | None, typer.Option(help="dataset to decide for (needed when there are several)")] = None,
    updates_per_month: Annotated[float, typer.Option(min=0, help="knowledge updates per month")] = 4.0,
    latency_target_s: Annotated[float, typer.Option(min=0, help="answer time target, seconds")] = 1.0,
    monthly_queries: Annotated[float, typer.Option(min=0, help="expected queries per month")] = 100_000,
    need_sources: Annotated[
        bool, typer.Option("--need-sources/--no-need-sources", help="answers must show their sources")
    ] = False,
    required_share: Annotated[
        float, typer.Option(min=0, max=1, help="share of answers that must meet the latency target")
    ] = 0.95,
    quality_tolerance: Annotated[
        float, typer.Option(min=0, help="quality gap treated as a tie and broken by monthly cost")
    ] = 0.02,
    budget_usd: Annotated[
        float | None, typer.Option(min=0, help="monthly budget; dearer strategies are excluded")
    ] = None,
    horizon_months: Annotated[float, typer.Option(min=0, help="months the initial setup is amortised over")] = 12.0,
    hosting: Annotated[
        list[str] | None,
        typer.Option(
            help="STRATEGY=USD_PER_HOUR (or STRATEGY=local: the price table's compute rate) for a "
            "dedicated server; repeatable"
        ),
    ] = None,
    metric: Annotated[str, typer.Option(help="quality metric that ranks strategies")] = "f1",
    suite: Annotated[str | None, typer.Option(help="suite whose rows to use (needed when there are several)")] = None,
    untrusted_sources: Annotated[
        bool,
        typer.Option(
            "--untrusted-sources/--trusted-sources",
            help="the corpus may hold wrong or outdated documents: exclude strategies `evals robustness` saw misled",
        ),
    ] = False,
    max_misled_rate: Annotated[
        float, typer.Option(min=0, max=1, help="with --untrusted-sources: most answers a wrong document may steer")
    ] = 0.10,
    robustness: Annotated[
        Path | None, typer.Option(help="`evals robustness` results [default: RESULTS_DIR/robustness.json]")
    ] = None,
    price_table: Annotated[
        Path, typer.Option(help="dated price table TOML (for --hosting ...=local)")
    ] = DEFAULT_PRICE_TABLE,
    as_json: Annotated[bool, typer.Option("--json", help="print the recommendation as JSON")] = False,
    markdown: Annotated[Path | None, typer.Option(help="also write the report as Markdown to this file")] = None,
) -> None:
    """Recommend RAG, fine-tuning, both or the hybrid for your constraints, from measured results.

    Exits 1 when no strategy meets the constraints.
    """
    from evals.decision.recommend import (
        Constraints,
        load_cross_check,
        load_items,
        load_strategies,
        recommend_strategy,
    )
    from evals.decision.robustness import ROBUSTNESS_FILE, load_source_risks

    if latency_target_s <= 0 or horizon_months <= 0:
        raise EvalsError("--latency-target-s and --horizon-months must be above 0")
    constraints = Constraints(
        updates_per_month=updates_per_month,
        latency_target_s=latency_target_s,
        monthly_queries=monthly_queries,
        need_sources=need_sources,
        required_share=required_share,
        quality_tolerance=quality_tolerance,
        monthly_budget_usd=budget_usd,
        horizon_months=horizon_months,
        hosting_usd_per_hour=parse_hosting(hosting or [], price_table),
        metric=metric,
        untrusted_sources=untrusted_sources,
        max_misled_rate=max_misled_rate,
    )
    strategies = load_strategies(results_dir, dataset, metric, suite)
    run_items = load_items(results_dir, strategies)
    checks = load_cross_check(results_dir, dataset, metric, suite)
    robustness_path = robustness or results_dir / ROBUSTNESS_FILE
    # an absent file matters only when asked for: then load_source_risks says to run `evals robustness`
    risks = load_source_risks(robustness_path) if untrusted_sources or robustness_path.exists() else {}
    recommendation = recommend_strategy(strategies, constraints, run_items.items, run_items.notes, checks, risks)
    if markdown is not None:
        markdown.write_text(render_markdown(recommendation), encoding="utf-8")
    if as_json:
        sys.stdout.write(recommendation.model_dump_json(indent=2) + "\n")
    else:
        print_report(recommendation)
    if recommendation.choice is None:
        raise typer.Exit(code=1)


def parse_hosting(entries: list[str], price_table: Path) -> dict[str, float]:
    """`STRATEGY=RATE` entries as {strategy: $/hour}; `local` reads the price table's compute rate."""
    rates = {}
    for entry in entries:
        strategy, _, rate = entry.partition("=")
        if not strategy or not rate:
            raise EvalsError(f"--hosting {entry!r}: expected STRATEGY=USD_PER_HOUR or STRATEGY=local")
        try:
            rates[strategy] = load_price_table(price_table).compute.local_per_hour if rate == "local" else float(rate)
        except ValueError:
            raise EvalsError(f"--hosting {entry!r}: {rate!r} is not a number") from None
        if not rates[strategy] >= 0 or math.isinf(rates[strategy]):
            raise EvalsError(f"--hosting {entry!r}: the rate must be a finite number ≥ 0")
    return rates


def _rows(recommendation: Recommendation) -> list[tuple[str, list[str]]]:
    """(status, cells) per strategy, best quality first."""
    from evals.decision.recommend import duration, quality_text, usd

    rows = []
    for a in sorted(recommendation.assessments, key=lambda a: -a.measured.quality):
        m = a.measured
        share = a.latency.share_within if a.latency.share_within is not None else a.latency.share_at_least
        prefix = "" if a.latency.share_within is not None else "≥"
        maintenance = (
            "—" if m.maintenance == "none" else f"{m.maintenance} {usd(m.setup_cost_usd)}, {duration(m.setup_seconds)}"
        )
        status = "recommended" if m.strategy == recommendation.choice else ("eligible" if a.eligible else "excluded")
        cells = [
            m.strategy,
            quality_text(m),
            f"{prefix}{share:.0%}",
            usd(a.monthly_total_usd),
            maintenance,
            f"grounded {m.metrics['grounded']:.0%}"
            if m.metrics.get("grounded") is not None
            else ("yes" if m.sourced else "no"),
            status,
        ]
        rows.append((status, cells))
    return rows


def _headline(recommendation: Recommendation) -> str:
    if recommendation.choice is None:
        return f"No strategy meets these constraints on {recommendation.dataset}."
    headline = f"Recommendation for {recommendation.dataset}: {recommendation.choice}"
    if recommendation.ranking is not None:
        headline += f" (by {recommendation.ranking.metric})"
    if recommendation.contested:
        first = recommendation.disagreements[0]
        headline += f" — CONTESTED: {first.other} is better on {first.check_metric} beyond the 95% CIs"
    return headline


def _constraints_line(recommendation: Recommendation) -> str:
    from evals.decision.recommend import usd

    c = recommendation.constraints
    return (
        f"{c.updates_per_month:g} updates/month · latency target {c.latency_target_s:g} s for {c.required_share:.0%} · "
        f"{c.monthly_queries:,.0f} queries/month · sources {'required' if c.need_sources else 'not required'} · "
        f"ties within {c.quality_tolerance:g} {c.metric} broken by cost"
        + (f" · budget {usd(c.monthly_budget_usd)}/month" if c.monthly_budget_usd is not None else "")
        + (f" · untrusted sources: at most {c.max_misled_rate:.0%} misled" if c.untrusted_sources else "")
    )


def print_report(recommendation: Recommendation) -> None:
    """The five questions, the strategy table and the recommendation, for the terminal."""
    console.print(f"[bold]{escape(_constraints_line(recommendation))}[/]", highlight=False)
    for number, question in enumerate(recommendation.questions, start=1):
        console.print(f"\n[bold]{number}. {escape(question.question)}[/] {escape(question.answer)}", highlight=False)
        for line in question.evidence:
            console.print(f"   • {escape(line)}", highlight=False)
    table = Table(title=f"{recommendation.dataset}: strategies against the constraints")
    for header in HEADERS:
        table.add_column(header, justify="right" if header in ("within target", "$/month") else "left")
    styles = {"recommended": "bold green", "excluded": "dim"}
    for status, cells in _rows(recommendation):
        table.add_row(*(escape(cell) for cell in cells), style=styles.get(status))
    console.print()
    console.print(table)
    style = "bold green" if recommendation.choice and not recommendation.contested else "bold red"
    console.print(f"[{style}]{escape(_headline(recommendation))}[/]", highlight=False)
    for reason in recommendation.reasons:
        console.print(f"  - {escape(reason)}", highlight=False)
    for note in recommendation.notes:
        console.print(f"note: {escape(note)}", highlight=False)


def render_markdown(recommendation: Recommendation) -> str:
    """The same report as Markdown."""
    lines = [f"## {_headline(recommendation)}", "", f"_{_constraints_line(recommendation)}_", ""]
    lines += [f"- {reason}" for reason in recommendation.reasons]
    lines += ["", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |" for _, cells in _rows(recommendation)
    ]
    for number, question in enumerate(recommendation.questions, start=1):
        lines += ["", f"### {number}. {question.question}", "", f"**{question.answer}**", ""]
        lines += [f"- {line}" for line in question.evidence]
    if recommendation.notes:
        lines += ["", "Notes:", "", *(f"- {note}" for note in recommendation.notes)]
    return "\n".join(lines) + "\n"
