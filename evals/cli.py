"""The `evals` command line: run suites, score prediction files, list plugins, show leaderboards."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from evals.compare_cli import compare
from evals.data import load_dataset, shipped_datasets
from evals.data.spec import DatasetSpec
from evals.data.squad_json import read_json
from evals.errors import EvalsError
from evals.freshness_cli import freshness
from evals.judge_validation_cli import validate_judge
from evals.recommend_cli import recommend
from evals.report_cli import report
from evals.results.leaderboard import LEADERBOARD_FILE, read_table
from evals.runner import RunSettings, run_suite
from evals.scoring.base import SCORERS
from evals.scoring.cost import DEFAULT_PRICE_TABLE
from evals.scoring.squad import evaluate_predictions
from evals.strategy import STRATEGIES
from evals.suite import DEFAULT_SUITE, load_suite

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Evaluate RAG, fine-tuning and hybrid QA strategies and decide with measurements.",
)
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def main() -> None:
    """Entry point: user errors become one message and exit code 2, never a traceback."""
    try:
        exit_code = app(standalone_mode=False)
    except EvalsError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        raise SystemExit(error.exit_code) from None
    except KeyboardInterrupt:
        errors.print("interrupted; run the same command again to resume where it stopped")
        raise SystemExit(130) from None
    except typer.Exit as exit_:
        raise SystemExit(exit_.exit_code) from None
    except Exception as error:  # click usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            raise SystemExit(error.exit_code) from None
        raise
    if exit_code:  # a command's typer.Exit(code) is returned, not raised, in this mode
        raise SystemExit(exit_code)


@app.command()
def run(
    suite_file: Annotated[Path, typer.Argument(help="suite TOML file")] = DEFAULT_SUITE,
    limit: Annotated[int | None, typer.Option(help="score at most N test items per dataset")] = None,
    results_dir: Annotated[Path, typer.Option(help="where runs, leaderboard.csv and history.csv go")] = Path("results"),
    cache_dir: Annotated[
        Path | None, typer.Option(help="answer cache (default: $EVALS_CACHE_DIR or .cache/evals)")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="call the models even for cached answers")] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start a new run instead of resuming an unfinished one")
    ] = False,
    resume: Annotated[str | None, typer.Option(help="resume this run id")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="items answered at once (default: the suite's)")
    ] = None,
    price_table: Annotated[Path, typer.Option(help="dated price table TOML")] = DEFAULT_PRICE_TABLE,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Run a suite (default: the built-in one on squad-mini) and update the leaderboard."""
    suite = load_suite(suite_file)
    if limit is not None:
        suite = suite.with_limit(limit)
    settings = RunSettings(
        results_dir=results_dir,
        use_cache=not no_cache,
        resume=not fresh,
        resume_run_id=resume,
        concurrency=concurrency,
        price_table=price_table,
        show_progress=progress,
        **({"cache_dir": cache_dir} if cache_dir else {}),
    )
    outcome = run_suite(suite, settings, errors)
    counts = outcome.manifest.counts
    errors.print(
        f"run {outcome.manifest.run_id}: {counts.items} items, {counts.ok} ok, {counts.errors} failed, "
        f"{counts.cached} from cache, {counts.retries} retries → {results_dir / 'runs' / outcome.manifest.run_id}"
    )
    _print_leaderboard([row.to_record() for row in outcome.rows], f"run {outcome.manifest.run_id}")


@app.command()
def score(
    dataset: Annotated[str, typer.Argument(help="a shipped dataset name or a SQuAD-format JSON file")],
    predictions: Annotated[Path, typer.Argument(help='JSON object {"question_id": "answer", ...}')],
    split: Annotated[str, typer.Option(help="all | train | test: which questions to score")] = "all",
    as_json: Annotated[
        bool, typer.Option("--json", help="print the scores as JSON (0-100, like the official scripts)")
    ] = False,
) -> None:
    """Score a predictions file as the official SQuAD scripts do (v2.0 rules when the data has unanswerables)."""
    if split not in ("all", "train", "test"):
        raise EvalsError(f"--split must be all, train or test, not {split!r}")
    if dataset in shipped_datasets():
        loaded = load_dataset(dataset)
    else:
        path = Path(dataset)
        loaded = load_dataset(
            DatasetSpec(name=path.stem, source=str(path.resolve()), format="squad", test_fraction=0.5)
        )
    items = {"all": [*loaded.train, *loaded.test], "train": loaded.train, "test": loaded.test}[split]
    payload = read_json(predictions)
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        raise EvalsError(f"{predictions}: expected a JSON object mapping question id to answer text")
    unknown = sorted(set(payload) - {item.id for item in items})
    if len(unknown) == len(payload) and payload:
        raise EvalsError(f"{predictions}: none of its {len(payload)} question ids are in {dataset} ({split})")
    scores = evaluate_predictions({item.id: item.answers for item in items}, payload, loaded.squad_version)
    missing = sum(item.id not in payload for item in items)
    if as_json:
        console.print_json(json.dumps(scores))
        return
    table = Table(title=f"{dataset} ({split}, SQuAD v{loaded.squad_version} rules)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in scores.items():
        table.add_row(name, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    if missing:
        errors.print(f"{missing} of {len(items)} questions have no prediction and score 0")


app.command()(compare)
app.command()(report)
app.command()(recommend)
app.command()(freshness)
app.command("validate-judge")(validate_judge)


@app.command("list")
def list_registered() -> None:
    """List registered strategies and scorers, and shipped datasets."""
    for title, names in (
        ("strategies", STRATEGIES.names()),
        ("scorers", SCORERS.names()),
        ("datasets", list(shipped_datasets())),
    ):
        console.print(f"[bold]{title}[/]: {', '.join(names) or 'none'}")


@app.command()
def leaderboard(
    path: Annotated[Path, typer.Argument(help="leaderboard CSV")] = Path("results") / LEADERBOARD_FILE,
    dataset: Annotated[str | None, typer.Option(help="show only this dataset")] = None,
) -> None:
    """Show a leaderboard CSV as a table."""
    frame = read_table(path)
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    _print_leaderboard(frame.to_dict(orient="records"), str(path))


SUMMARY_COLUMNS = {
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


def _print_leaderboard(records: list[dict], title: str) -> None:
    table = Table(title=title)
    columns = [column for column in SUMMARY_COLUMNS if any(column in record for record in records)]
    for column in columns:
        table.add_column(SUMMARY_COLUMNS[column], justify="left" if column in ("dataset", "strategy") else "right")
    for record in records:
        cells = []
        for column in columns:
            value = record.get(column)
            if column in ("exact_match", "f1") and isinstance(value, float) and not math.isnan(value):
                low, high = record.get(f"{column}_ci_low"), record.get(f"{column}_ci_high")
                cells.append(f"{value:.3f} [{low:.2f}, {high:.2f}]")
            elif isinstance(value, float):
                cells.append("—" if math.isnan(value) else f"{value:.3g}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    console.print(table)
