"""`evals plan RUN_ID --effect D`: how many questions (and clusters) a test set needs to tell two strategies
apart by D, from a pilot run's paired, clustered variance."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evals.cli.console import console
from evals.core.errors import EvalsError
from evals.results.run_store import MANIFEST_FILE, RunStore, runs_dir

HEADERS = ["dataset", "A", "B", "B − A", "SE", "pilot MDE", "pilot n (clusters)", "needed n (clusters)", "available"]


def plan(
    run_id: Annotated[str, typer.Argument(help="a pilot run's id (under <results-dir>/runs/) or its folder")],
    effect: Annotated[float, typer.Option(help="the difference in METRIC to detect, e.g. 0.03")],
    strategies: Annotated[
        list[str] | None, typer.Option("--strategies", help="two (or more) strategies to compare; default: all pairs")
    ] = None,
    metric: Annotated[str, typer.Option(help="the score to compare")] = "f1",
    dataset: Annotated[str | None, typer.Option(help="one dataset of the run; default: each")] = None,
    alpha: Annotated[float, typer.Option(help="two-sided significance level")] = 0.05,
    power: Annotated[float, typer.Option(help="probability of detecting a true difference of EFFECT")] = 0.8,
    results_dir: Annotated[Path, typer.Option(help="where run ids are looked up")] = Path("results"),
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
) -> None:
    """Size a test set: questions and clusters needed to detect EFFECT between two strategies at POWER."""
    from evals.results.sample_size import plan_sample_size

    if not 0 < alpha < 1 or not 0 < power < 1:
        raise EvalsError(f"--alpha and --power must be between 0 and 1, not {alpha} and {power}")
    folder = Path(run_id) if (Path(run_id) / MANIFEST_FILE).is_file() else runs_dir(results_dir) / run_id
    if not (folder / MANIFEST_FILE).is_file():
        raise EvalsError(f"{run_id!r} is not a run id in {runs_dir(results_dir)} nor a run folder")
    store = RunStore(folder)
    items = store.read_items_readonly().items
    result = plan_sample_size(store.read_manifest(), items, effect, metric, strategies, dataset, alpha, power)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    table = Table(title=f"questions needed to detect Δ{metric} = {effect:g} ({power:.0%} power, α={alpha:g})")
    for header in HEADERS:
        table.add_column(header)
    for pair in result.pairs:
        needed = "—" if pair.questions_needed is None else f"{pair.questions_needed} ({pair.clusters_needed})"
        table.add_row(
            pair.dataset,
            pair.a,
            pair.b,
            f"{pair.observed_difference:+.3f}",
            f"{pair.se:.3f}" if math.isfinite(pair.se) else "—",
            f"{pair.pilot_mde:.3f}" if math.isfinite(pair.pilot_mde) else "—",
            f"{pair.pilot_questions} ({pair.pilot_clusters})",
            needed,
            str(pair.available_questions),
        )
    console.print(table)
