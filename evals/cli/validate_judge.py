"""The `validate-judge` command: measure an offline faithfulness metric on labelled data, out of sample."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evals.core.errors import EvalsError
from evals.scoring.judge_data import FORMATS, Format

if TYPE_CHECKING:  # the metrics (scipy, sklearn, ragas) are imported by the command: `evals --help` stays fast
    from evals.scoring.judge_validation import Estimate, ValidationReport

METRIC_NAMES = ("faithfulness", "faithfulness_shipped", "faithfulness_lexical", "lexical_overlap", "ragas_faithfulness")
"""The keys of `evals.scoring.judge_validation.METRICS`, for the help text (tests/test_bench_scale.py checks them)."""


def _estimate(estimate: Estimate, signed: bool = False) -> str:
    value = f"{estimate.value:+.3f}" if signed else f"{estimate.value:.3f}"
    return f"{value} [{estimate.ci_low:.3f}, {estimate.ci_high:.3f}]"


def render(report: ValidationReport) -> str:
    """The report as text: one line per data source, out-of-sample figures first."""
    lines = [
        f"{report.metric} vs {report.baseline}: {report.folds}-fold cross-validated (seed {report.seed}), "
        f"95% bootstrap CIs ({report.bootstrap_resamples} resamples)"
    ]
    for source in report.sources:
        lines.append(
            f"{source.source}: {source.figure} (n={source.n}) {report.metric} {_estimate(source.metric)}, "
            f"{report.baseline} {_estimate(source.baseline)}, difference {_estimate(source.difference, True)}; "
            f"in-sample {source.in_sample:.3f} (flatters)"
        )
    return "\n".join([*lines, *(f"warning: {warning}" for warning in report.warnings)])


def validate_judge(
    file: Annotated[Path, typer.Argument(help="HaluEval QA JSONL or BEGIN TSV file")],
    format: Annotated[str, typer.Option("--format", help=f"{' | '.join(FORMATS)}: how to read FILE")],
    metric: Annotated[str, typer.Option(help=f"{' | '.join(METRIC_NAMES)}")] = "faithfulness",
    folds: Annotated[int, typer.Option(help="cross-validation folds")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the folds and the bootstrap")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Check a faithfulness metric out of sample: pairwise accuracy on HaluEval, ROC AUC on BEGIN."""
    from evals.scoring.judge_validation import validate_file

    if format not in FORMATS:
        raise EvalsError(f"--format must be {' or '.join(FORMATS)}, not {format!r}")
    checked: Format = "halueval" if format == "halueval" else "begin"
    report = validate_file(file, checked, metric, folds, seed)
    typer.echo(report.model_dump_json(indent=2) if as_json else render(report))
