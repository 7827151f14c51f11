"""`evals robustness`: ask every strategy company-kb-v1's questions over corpus variants with noise documents,
a counterfactual document or no gold document, and measure how much wrong or missing evidence moves its
answers (accuracy by noise rate, misled rate, rejection rate)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from evals.cli.console import console, errors
from evals.core.errors import EvalsError
from evals.core.suite import StrategyEntry
from evals.core.types import CACHE_DIR_ENV, DEFAULT_CACHE_DIR

if TYPE_CHECKING:  # the decision code and the runner are imported where used: `evals --help` stays fast
    from evals.decision.robustness import Estimate, RobustnessResult

DEFAULT_RATES_TEXT = "0,0.2,0.4,0.6,0.8"
DEFAULT_LIMIT = 40


def parse_entries(names: list[str] | None) -> list[StrategyEntry]:
    """Strategy names (repeated or comma-separated) as entries; a default strategy's name keeps its default
    params (finetuned, finetuned_rag and hybrid: 30 training steps); unknown names fail before any work."""
    from evals.decision.robustness import DEFAULT_STRATEGIES, check_strategies

    if not names:
        return list(DEFAULT_STRATEGIES)
    split = [name.strip() for value in names for name in value.split(",") if name.strip()]
    defaults = {entry.name: entry for entry in DEFAULT_STRATEGIES}
    entries = [defaults.get(name) or StrategyEntry(name=name) for name in split]
    check_strategies(entries)
    return entries


def parse_rates(text: str) -> list[float]:
    """`0,0.2,0.4` as floats, each checked (in [0, 1), whole documents of the pool, no two alike)."""
    from evals.decision.robustness import check_noise_rates

    rates = []
    for part in text.split(","):
        try:
            rates.append(float(part))
        except ValueError:
            raise EvalsError(f"--noise-rates {text!r}: {part.strip()!r} is not a number") from None
    check_noise_rates(rates)
    return rates


def _cell(estimate: Estimate) -> str:
    if estimate.mean is None:
        return "n/a"
    if estimate.ci_low is None or estimate.ci_high is None:
        return f"{estimate.mean:.2f}"
    return f"{estimate.mean:.2f}\n[{estimate.ci_low:.2f}, {estimate.ci_high:.2f}]"


def robustness_table(result: RobustnessResult) -> Table:
    """The rich table the command prints: accuracy by noise rate, its drop, misled and rejection rates."""
    table = Table(
        title=f"retrieval robustness on {result.dataset}: {result.n_test} questions ({result.n_clusters} documents), "
        f"accuracy (answer contains the gold answer) with 95% CIs",
        caption="noise r: r of each topic's 5 documents carry no answer · misled: repeats the planted wrong value "
        "of a counterfactual document · rejected: abstains when no document has the answer",
    )
    table.add_column("strategy")
    table.add_column("reads\ncorpus")
    for rate in result.noise_rates:
        table.add_column(f"noise {rate:g}", justify="right")
    for header in ("drop", "misled", "rejected"):
        table.add_column(header, justify="right")
    for row in result.strategies:
        table.add_row(
            row.strategy,
            "yes" if row.reads_corpus else "no",
            *(_cell(point.accuracy) for point in row.noise),
            _cell(row.accuracy_drop),
            _cell(row.counterfactual.misled_rate),
            _cell(row.absent.rejection_rate),
        )
    return table


def robustness(
    strategies: Annotated[
        list[str] | None,
        typer.Option(
            "--strategies",
            help="registered strategy to run (repeatable or comma-separated; default: finetuned, rag, finetuned_rag, "
            "hybrid with 30 training steps, closed_book, extractive_bm25)",
        ),
    ] = None,
    noise_rates: Annotated[
        str, typer.Option(help="comma-separated shares of noise among each topic's 5 documents, each in [0, 1)")
    ] = DEFAULT_RATES_TEXT,
    seed: Annotated[int, typer.Option(help="places the noise documents and picks the questions")] = 0,
    limit: Annotated[
        int, typer.Option(min=1, help="questions to ask (one per document first; company-kb-v1 has 60)")
    ] = DEFAULT_LIMIT,
    results_dir: Annotated[
        Path, typer.Option(help="where robustness.json and the scenario's run (runs/<run_id>) are written")
    ] = Path("results"),
    cache_dir: Annotated[
        Path | None, typer.Option(help=f"answers, indexes, adapters (default: ${CACHE_DIR_ENV} or {DEFAULT_CACHE_DIR})")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="JSON file to write (default: RESULTS_DIR/robustness.json)")] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON instead of the table")] = False,
) -> None:
    """Measure how noisy, counterfactual and missing documents move each strategy's answers (RGB-style)."""
    from evals.decision.robustness import ROBUSTNESS_FILE, run_robustness
    from evals.engine.runner import RunSettings

    rates = parse_rates(noise_rates)
    entries = parse_entries(strategies)
    path = out or results_dir / ROBUSTNESS_FILE
    settings = RunSettings(
        results_dir=results_dir, show_progress=progress, **({"cache_dir": cache_dir} if cache_dir else {})
    )
    result = run_robustness(entries, rates, seed, limit=limit, settings=settings, out=path, console=errors)
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        console.print(robustness_table(result))
    errors.print(f"robustness: {path} (answers in run {result.run_id}, {result.wall_seconds:.0f} s)", highlight=False)
