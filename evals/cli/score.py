"""`evals score`: score a predictions file exactly as the official SQuAD scripts do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evals.cli.console import console, errors
from evals.core.errors import EvalsError
from evals.core.types import QAItem
from evals.data import load_dataset, shipped_datasets
from evals.data.dataset import SquadVersion
from evals.data.spec import DatasetSpec
from evals.data.squad_json import load_squad_json, read_json
from evals.scoring.squad import evaluate_predictions

SPLITS = ("all", "train", "test")


def score(
    dataset: Annotated[str, typer.Argument(help="a shipped dataset name or a SQuAD-format JSON file")],
    predictions: Annotated[Path, typer.Argument(help='JSON object {"question_id": "answer", ...}')],
    split: Annotated[str, typer.Option(help="all | train | test: which questions to score")] = "all",
    as_json: Annotated[
        bool, typer.Option("--json", help="print the scores as JSON (0-100, like the official scripts)")
    ] = False,
) -> None:
    """Score a predictions file as the official SQuAD scripts do (v2.0 rules when the data has unanswerables)."""
    if split not in SPLITS:
        raise EvalsError(f"--split must be all, train or test, not {split!r}")
    items, version = _questions(dataset, split)
    payload = read_json(predictions)
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        raise EvalsError(f"{predictions}: expected a JSON object mapping question id to answer text")
    unknown = sorted(set(payload) - {item.id for item in items})
    if len(unknown) == len(payload) and payload:
        raise EvalsError(f"{predictions}: none of its {len(payload)} question ids are in {dataset} ({split})")
    scores = evaluate_predictions({item.id: item.answers for item in items}, payload, version)
    missing = sum(item.id not in payload for item in items)
    if as_json:
        console.print_json(json.dumps(scores))
        return
    table = Table(title=f"{dataset} ({split}, SQuAD v{version} rules)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in scores.items():
        table.add_row(name, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    if missing:
        errors.print(f"{missing} of {len(items)} questions have no prediction and score 0")


def _questions(dataset: str, split: str) -> tuple[list[QAItem], SquadVersion]:
    """The questions to score and the SQuAD rules for them. All of a SQuAD file's questions are read in the
    file's order: the overall scores are float sums, and the official script sums in that order (another order
    can change the last digits)."""
    if dataset not in shipped_datasets() and split == "all":
        items = load_squad_json(Path(dataset))[1]
        return items, "2.0" if any(item.is_impossible for item in items) else "1.1"
    if dataset in shipped_datasets():
        loaded = load_dataset(dataset)
    else:
        path = Path(dataset)
        loaded = load_dataset(
            DatasetSpec(name=path.stem, source=str(path.resolve()), format="squad", test_fraction=0.5)
        )
    items = [*(loaded.train if split != "test" else ()), *(loaded.test if split != "train" else ())]
    return items, loaded.squad_version
