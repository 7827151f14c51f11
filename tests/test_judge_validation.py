"""The judge-validation protocol: out-of-sample figures that a planted over-fit metric cannot game."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import typer
from conftest import run_cli
from typer.testing import CliRunner

from evals.cli.validate_judge import validate_judge
from evals.core.errors import DatasetError, EvalsError
from evals.scoring.judge_data import Format, LabelledAnswer, Metric, load_labelled
from evals.scoring.judge_validation import ValidationReport, cross_validate, validate_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HALUEVAL = DATA / "halueval" / "qa_sample_300.jsonl"
BEGIN = DATA / "begin" / "begin_dev_wow.tsv"
HEADER = "model_name\tdata_source\tknowledge\tmessage\tresponse\tbegin_label\n"


def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} not found (shared/data is absent)")
    return path


class LookupTable:
    """Over-fits on purpose: remembers each tune row's label; unseen answers get a hash-random score."""

    __name__ = "lookup_table"

    def fit(self, rows: Sequence[LabelledAnswer]) -> Metric:
        seen = {(row.answer, row.question): float(row.supported) for row in rows}

        def score(answer: str, contexts: Sequence[str], question: str | None = None) -> float:
            noise = int(hashlib.sha256(answer.encode()).hexdigest()[:8], 16) / 2**32
            return seen.get((answer, question or ""), noise)

        return score


@pytest.mark.parametrize(("path", "format"), [(HALUEVAL, "halueval"), (BEGIN, "begin")])
def test_an_over_fit_metric_is_perfect_in_sample_and_at_chance_out_of_sample(path: Path, format: Format) -> None:
    report = cross_validate(load_labelled(_require(path), format), format, LookupTable())
    (result,) = report.sources
    assert result.in_sample == 1.0
    assert 0.38 < result.metric.value < 0.62
    assert result.metric.ci_low < 0.5 < result.metric.ci_high
    assert result.difference.ci_high < 0  # the baseline beats it, and the CI says so


def test_halueval_out_of_sample_figures() -> None:
    report = validate_file(_require(HALUEVAL), "halueval")
    (result,) = report.sources
    assert (result.source, result.figure, result.n) == ("halueval", "pairwise_accuracy", 300)
    assert result.baseline.value == pytest.approx(0.823, abs=0.001)  # a fixed metric: same in and out of sample
    assert result.metric.value >= 0.95  # measured 0.970 [0.950, 0.987]
    assert result.difference.ci_low > 0 and not report.warnings
    for estimate in (result.metric, result.baseline, result.difference):
        assert estimate.ci_low <= estimate.value <= estimate.ci_high


def test_begin_out_of_sample_figures_are_seeded() -> None:
    report = validate_file(_require(BEGIN), "begin", seed=3)
    (result,) = report.sources
    assert (result.source, result.figure, result.n, result.n_positive) == ("wow", "roc_auc", 430, 180)
    assert result.baseline.value == pytest.approx(0.944, abs=0.001)
    assert result.metric.value > result.baseline.value  # measured 0.956 vs 0.944 (seed 0)
    assert validate_file(BEGIN, "begin", seed=3) == report


def test_a_metric_tuned_on_the_file_is_flagged_in_sample() -> None:
    report = validate_file(_require(BEGIN), "begin", "faithfulness_shipped")
    assert report.warnings == [
        "faithfulness_shipped's constants were chosen on this file: its figures here are in-sample"
    ]


def _begin(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "begin.tsv"
    body = "".join(
        f"t5\t{source}\tthe sky is blue.\tsky?\tthe sky is blue {i}\t{label}\n"
        for i, (source, label) in enumerate(rows)
    )
    path.write_text(HEADER + body)
    return path


def test_each_data_source_is_reported(tmp_path: Path) -> None:
    rows = [(source, label) for source in ("cmu", "wow") for label in ["Fully attributable", "Generic"] * 3]
    report = validate_file(_begin(tmp_path, rows), "begin", "lexical_overlap", folds=2)
    assert [result.source for result in report.sources] == ["cmu", "wow"]
    assert all(result.n == 6 and result.difference.value == 0 for result in report.sources)


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="only supported responses"):
        validate_file(_begin(tmp_path, [("wow", "Fully attributable")] * 10), "begin")
    with pytest.raises(DatasetError, match="3 rows, fewer than the 5 folds"):
        validate_file(
            _begin(tmp_path, [("wow", "Fully attributable"), ("wow", "Generic"), ("wow", "Generic")]), "begin"
        )
    with pytest.raises(EvalsError, match="--folds must be at least 2"):
        validate_file(_begin(tmp_path, [("wow", "Generic"), ("wow", "Fully attributable")] * 5), "begin", folds=1)
    with pytest.raises(EvalsError, match="unknown metric 'bleu'"):
        validate_file(tmp_path / "begin.tsv", "begin", "bleu")


def test_cli_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    _begin(tmp_path, [("wow", "Generic")] * 10)
    result = run_cli("validate-judge", "begin.tsv", "--format", "begin", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "only unsupported responses" in result.stderr


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("validate-judge")(validate_judge)
    app.command("noop")(lambda: None)  # two commands, so the subcommand name is kept
    return app


def test_cli_prints_text_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(_app(), ["validate-judge", str(_require(HALUEVAL)), "--format", "halueval"])
    assert result.exit_code == 0, result.output
    assert "5-fold cross-validated" in result.output and "halueval: pairwise_accuracy (n=300)" in result.output
    args = ["validate-judge", str(_require(BEGIN)), "--format", "begin", "--metric", "lexical_overlap", "--json"]
    result = runner.invoke(_app(), [*args, "--folds", "3"])
    assert result.exit_code == 0, result.output
    report = ValidationReport.model_validate(json.loads(result.output))
    assert report.metric == "lexical_overlap" and report.folds == 3 and report.sources[0].n == 430
    result = runner.invoke(_app(), ["validate-judge", str(BEGIN), "--format", "squad"])
    assert isinstance(result.exception, EvalsError)


def test_malformed_files_name_file_and_line(tmp_path: Path) -> None:
    row = {"knowledge": "k", "question": "q", "right_answer": "a", "hallucinated_answer": "b"}
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(row) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"broken\.jsonl:2: not valid JSON"):
        validate_file(path, "halueval")
    path.write_text(json.dumps({"knowledge": "k"}) + "\n")
    with pytest.raises(DatasetError, match=r"broken\.jsonl:1: not a HaluEval QA row .*question"):
        validate_file(path, "halueval")
    path = tmp_path / "bad.tsv"
    path.write_text("knowledge\tmessage\tresponse\tbegin_label\nk\tm\tr\tFully attributable\nk\tm\tr\tMaybe\n")
    with pytest.raises(DatasetError, match=r"bad\.tsv:3: unknown begin_label 'Maybe'"):
        validate_file(path, "begin")
    path.write_text("knowledge\tresponse\n")
    with pytest.raises(DatasetError, match=r"bad\.tsv:1: .*missing column"):
        validate_file(path, "begin")
    with pytest.raises(DatasetError, match="file not found"):
        validate_file(tmp_path / "absent.tsv", "begin")
