"""The `validate-judge` command: measure an offline faithfulness metric on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evals.core.errors import EvalsError
from evals.scoring.judge_validation import METRICS, begin_roc_auc, get_metric, halueval_pairwise_accuracy

FORMATS = ("halueval", "begin")


def validate_judge(
    file: Annotated[Path, typer.Argument(help="HaluEval QA JSONL or BEGIN TSV file")],
    format: Annotated[str, typer.Option("--format", help=f"{' | '.join(FORMATS)}: how to read FILE")],
    metric: Annotated[str, typer.Option(help=f"{' | '.join(METRICS)}")] = "faithfulness",
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Check a faithfulness metric: pairwise accuracy on HaluEval, ROC AUC on BEGIN."""
    if format not in FORMATS:
        raise EvalsError(f"--format must be {' or '.join(FORMATS)}, not {format!r}")
    get_metric(metric)
    if format == "halueval":
        pairwise = halueval_pairwise_accuracy(file, metric)
        line = f"pairwise_accuracy {pairwise.pairwise_accuracy:.4f} (n={pairwise.n}, ties={pairwise.ties})"
        result = pairwise.model_dump_json()
    else:
        auc = begin_roc_auc(file, metric)
        line = f"roc_auc {auc.roc_auc:.4f} (n={auc.n}, positives={auc.n_positive})"
        result = auc.model_dump_json()
    typer.echo(result if as_json else f"{metric}: {line}")
