"""`evals compare`: paired tests on real runs of squad-mini, CSV comparisons, gates, output, errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from evals import RunSettings, run_suite
from evals.cli.compare import compare
from evals.core.errors import EvalsError
from evals.core.suite import Suite
from evals.results.compare import ComparisonReport, MetricComparison, Thresholds, compare_references
from evals.results.leaderboard import LEADERBOARD_SCHEMA_VERSION
from evals.results.run_store import RunStore
from evals.stats.paired import holm, mcnemar_exact, paired_bootstrap, wilcoxon_signed_rank

READERS = {
    "bm25": {"type": "extractive_bm25"},
    "bm25_again": {"type": "extractive_bm25"},  # same configuration: answers served from the cache
    "broken": {"type": "flaky", "params": {"failures_per_item": 0, "fail_forever_every": 3}},
    "first_sentence": {"type": "first_sentence"},
    "slow_first_sentence": {"type": "first_sentence", "params": {"delay_s": 0.05}},
}


class Runs(NamedTuple):
    """Where the runs are, and each name's run id."""

    folder: Path
    ids: dict[str, str]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Real runs of one strategy labelled "reader" on 40 squad-mini questions, and a snapshot of the
    leaderboard after each (`<folder>/<name>.csv`)."""
    folder = tmp_path_factory.mktemp("compare") / "results"
    settings = RunSettings(results_dir=folder, cache_dir=folder.parent / "cache", show_progress=False)
    ids = {}
    for name, entry in READERS.items():
        suite = Suite.model_validate(
            {
                "name": name,
                "datasets": [{"name": "squad-mini", "limit": 40}],
                "strategies": [{"name": "reader", **entry}],
            }
        )
        ids[name] = run_suite(suite, settings).manifest.run_id
        shutil.copy(folder / "leaderboard.csv", folder / f"{name}.csv")
    return Runs(folder, ids)


def invoke(*args: str) -> Result:
    """The command as `evals compare` runs it (registered on an app the way cli.py registers it)."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(compare)
    app.command("version")(lambda: None)  # a second command, so `compare` is a subcommand as in the real CLI
    return CliRunner().invoke(app, ["compare", *args])


def metric(report: ComparisonReport, name: str) -> MetricComparison:
    (strategy,) = [s for s in report.strategies if s.status == "compared"]
    return next(m for m in strategy.metrics if m.metric == name)


# --- statistics against hand-computed values ---


def test_holm_matches_hand_computed_values() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    adjusted = holm([0.02, math.nan, 0.04])  # NaN is not a test: m = 2
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)


def test_mcnemar_exact_matches_the_binomial_by_hand() -> None:
    # 1 pair got worse (1 → 0), 9 got better (0 → 1), 5 concordant: p = 2 · P(X ≤ 1 | n=10, ½) = 2 · 11/1024
    old = [1.0] + [0.0] * 9 + [1.0] * 3 + [0.0] * 2
    new = [0.0] + [1.0] * 9 + [1.0] * 3 + [0.0] * 2
    result = mcnemar_exact(old, new)
    assert (result.worse, result.better) == (1, 9)
    assert result.p_value == pytest.approx(22 / 1024)
    assert mcnemar_exact([0.0] * 6, [1.0] * 6).p_value == pytest.approx(2 / 64)
    assert mcnemar_exact([1.0, 0.0], [1.0, 0.0]).p_value == 1.0  # no discordant pairs
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact([0.5], [1.0])


def test_paired_bootstrap_and_wilcoxon_edge_cases() -> None:
    same = paired_bootstrap([0.2, 0.5, 0.9], [0.2, 0.5, 0.9], seed=0)
    assert (same.mean_diff, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = paired_bootstrap([0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5], seed=0, resamples=999)
    assert shifted.mean_diff == pytest.approx(0.1) and shifted.p_value == pytest.approx(1 / 1000)
    assert paired_bootstrap([1.0, math.nan], [0.0, 5.0]).n == 1  # incomplete pairs are dropped
    assert paired_bootstrap([0.3, 0.1], [0.1, 0.3], seed=3) == paired_bootstrap([0.3, 0.1], [0.1, 0.3], seed=3)
    assert wilcoxon_signed_rank([1.0, 2.0], [1.0, 2.0]) == 1.0
    assert wilcoxon_signed_rank([1.0] * 8, [2.0] * 8) == pytest.approx(2 / 2**8)  # exact: all 8 ranks positive


# --- paired comparisons of real runs ---


def test_every_gated_metric_has_a_minimum_detectable_effect_and_require_power_fails_when_underpowered(
    runs: Runs,
) -> None:
    """40 questions cannot see a 0.02 drop: "unchanged" says so, and --require-power turns it into exit 1."""
    lenient_cost = Thresholds(max_cost_increase=10)  # first_sentence sends longer prompts: not the point here
    report = compare_references(runs.ids["bm25"], runs.ids["first_sentence"], runs.folder, lenient_cost)
    gated = [m for s in report.strategies for m in s.metrics if m.gate is not None]
    assert {m.metric for m in gated} >= {"f1", "exact_match", "latency_p95_s", "cost_per_query_usd"}
    assert all(m.mde is not None and m.mde >= 0 and m.powered is not None for m in gated)
    f1 = metric(report, "f1")
    assert f1.mde is not None and f1.mde > report.thresholds.max_quality_drop and f1.powered is False
    if f1.verdict == "unchanged":
        assert f"could only detect drops ≥ {f1.mde:.3f}" in f1.reason
    underpowered = {(finding.metric) for finding in report.underpowered}
    assert underpowered == {m.metric for m in gated if m.verdict == "unchanged" and m.powered is False}
    assert report.regressions == [] and report.underpowered  # the premise of the exit codes below
    args = (runs.ids["bm25"], runs.ids["first_sentence"], "--results-dir", str(runs.folder), "--json")
    args = (*args, "--max-cost-increase", "10")
    plain, strict = invoke(*args), invoke(*args, "--require-power")
    assert plain.exit_code == 0, plain.output
    assert strict.exit_code == 1 and json.loads(strict.stdout)["underpowered"]
    same = compare_references(runs.ids["bm25"], runs.ids["bm25_again"], runs.folder)
    assert metric(same, "f1").mde == 0.0  # identical answers: the paired differences show no variance at all


def test_unclustered_binary_scores_use_mcnemar(runs: Runs) -> None:
    """cluster_by = "none": every question its own cluster, so McNemar's exact test applies to 0/1 scores."""
    settings = RunSettings(results_dir=runs.folder, cache_dir=runs.folder.parent / "cache", show_progress=False)
    suite = Suite.model_validate(
        {
            "name": "unclustered",
            "datasets": [{"name": "squad-mini", "limit": 40, "cluster_by": "none"}],
            "strategies": [{"name": "reader", **READERS["broken"]}],
        }
    )
    run_id = run_suite(suite, settings).manifest.run_id
    report = compare_references(runs.ids["bm25"], run_id, runs.folder)
    assert metric(report, "exact_match").test == "McNemar exact"
    assert metric(report, "f1").test == "paired bootstrap"


def test_planted_quality_regression_is_flagged_with_a_significant_p(runs: Runs) -> None:
    report = compare_references(runs.ids["bm25"], runs.ids["broken"], runs.folder)
    (strategy,) = report.strategies
    assert strategy.paired and strategy.n_paired == 40
    assert "strategy type changed: extractive_bm25 → flaky" in strategy.notes
    f1 = metric(report, "f1")
    assert f1.verdict == "regression" and f1.test == "paired cluster bootstrap"  # squad-mini: by paragraph
    assert f1.old > 0.05 and f1.new == 0.0  # the 9 failed items count 0, like the leaderboard
    assert f1.ci_high is not None and f1.ci_high < 0 and f1.p_holm is not None and f1.p_holm < 0.01
    assert metric(report, "exact_match").test == "paired cluster bootstrap"  # McNemar assumes independent pairs
    assert {(r.strategy, r.metric) for r in report.regressions} == {("reader", "f1")}
    result = invoke(runs.ids["bm25"], runs.ids["broken"], "--results-dir", str(runs.folder))
    assert result.exit_code == 1, result.output
    assert "✗ regression" in result.output and "1 regression" in result.output


def test_identical_runs_served_from_cache_do_not_regress(runs: Runs) -> None:
    assert RunStore(runs.folder / "runs" / runs.ids["bm25_again"]).read_manifest().counts.cached == 40
    report = compare_references(runs.ids["bm25"], runs.ids["bm25_again"], runs.folder)
    assert report.regressions == [] and report.improvements == []
    assert all(m.delta == 0 for m in report.strategies[0].metrics if m.gate)
    assert metric(report, "f1").p_value == 1.0 and metric(report, "latency_p95_s").p_value == 1.0
    assert report.summary == "0 regressions, 0 improvements, 4 unchanged"
    result = invoke(runs.ids["bm25"], runs.ids["bm25_again"], "--results-dir", str(runs.folder))
    assert result.exit_code == 0, result.output


def test_large_but_insignificant_quality_drop_is_not_a_regression(runs: Runs) -> None:
    report = compare_references(runs.ids["bm25"], runs.ids["first_sentence"], runs.folder)
    f1 = metric(report, "f1")
    assert f1.delta < -0.02  # beyond the threshold ...
    assert f1.p_holm is not None and f1.p_holm > 0.05 and f1.verdict == "unchanged"  # ... but not significant
    assert "not significant" in f1.reason


def test_latency_regression_is_detected(runs: Runs) -> None:
    report = compare_references(runs.ids["first_sentence"], runs.ids["slow_first_sentence"], runs.folder)
    latency = metric(report, "latency_p95_s")
    assert latency.test == "Wilcoxon signed-rank" and latency.p_holm is not None and latency.p_holm < 1e-6
    assert latency.new > 0.05 and latency.verdict == "regression"
    assert metric(report, "f1").verdict == "unchanged" and metric(report, "f1").delta == 0
    regressed = {r.metric for r in report.regressions}
    assert "latency_p95_s" in regressed and "f1" not in regressed
    loose = compare_references(
        runs.ids["first_sentence"],
        runs.ids["slow_first_sentence"],
        runs.folder,
        Thresholds(max_latency_increase=1e6, max_cost_increase=1e6),
    )
    assert loose.regressions == []  # thresholds are honoured


# --- CSVs ---


def test_csv_comparison_uses_ci_overlap(runs: Runs) -> None:
    folder = runs.folder
    report = compare_references(str(folder / "bm25.csv"), str(folder / "broken.csv"), folder)
    f1 = metric(report, "f1")
    assert not report.strategies[0].paired and f1.test == "CI overlap" and f1.significant
    assert f1.old_ci is not None and f1.new_ci is not None and f1.new_ci[1] < f1.old_ci[0]
    assert f1.verdict == "regression"
    assert metric(report, "latency_p50_s").verdict == "info"  # reported, not gated
    same = compare_references(str(folder / "bm25.csv"), str(folder / "bm25_again.csv"), folder)
    assert same.regressions == [] and metric(same, "f1").significant is False
    mixed = compare_references(runs.ids["bm25"], str(folder / "broken.csv"), folder)  # a run against a CSV
    assert not mixed.strategies[0].paired and metric(mixed, "f1").verdict == "regression"


def test_missing_and_added_strategies(runs: Runs, tmp_path: Path) -> None:
    base = pd.read_csv(runs.folder / "bm25.csv")
    two = pd.concat([base, base.assign(strategy="reader_v2")], ignore_index=True)
    two.to_csv(tmp_path / "two.csv", index=False)
    fewer = compare_references(str(tmp_path / "two.csv"), str(runs.folder / "bm25.csv"), tmp_path)
    assert [(r.strategy, r.metric, r.reason) for r in fewer.regressions] == [("reader_v2", None, "missing in NEW")]
    assert invoke(str(tmp_path / "two.csv"), str(runs.folder / "bm25.csv")).exit_code == 1
    more = compare_references(str(runs.folder / "bm25.csv"), str(tmp_path / "two.csv"), tmp_path)
    assert more.regressions == [] and "1 added" in more.summary
    result = invoke(str(runs.folder / "bm25.csv"), str(tmp_path / "two.csv"))
    assert result.exit_code == 0 and "+ added" in result.output


# --- output formats ---


def test_markdown_and_json_outputs(runs: Runs, tmp_path: Path) -> None:
    args = [runs.ids["bm25"], runs.ids["broken"], "--results-dir", str(runs.folder)]
    result = invoke(*args, "--markdown", str(tmp_path / "comment.md"))
    assert result.exit_code == 1
    markdown = (tmp_path / "comment.md").read_text()
    assert markdown.splitlines()[0] == "**evals compare: 1 regression, 2 improvements, 1 unchanged**"
    assert "| squad-mini | reader | f1 |" in markdown and "**✗ regression**" in markdown
    assert "<details>" in markdown and "latency_p50_s" in markdown.split("<details>")[1]
    assert invoke(*args, "--format", "markdown").output == markdown
    payload = json.loads(invoke(*args, "--json").output)
    assert payload["summary"] == "1 regression, 2 improvements, 1 unchanged"
    assert [r["metric"] for r in payload["regressions"]] == ["f1"]
    assert payload["strategies"][0]["paired"] is True


# --- bad input: EvalsError, which the CLI prints and exits 2 with ---


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,score\nx,1\n", "not a leaderboard CSV"),
        ("schema_version,run_id,dataset,strategy\n1,r,d,s\n", "missing column(s) finished_at"),
    ],
)
def test_csv_of_another_schema_is_a_clear_error(runs: Runs, tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "other.csv").write_text(content)
    result = invoke(str(tmp_path / "other.csv"), str(runs.folder / "bm25.csv"))
    assert isinstance(result.exception, EvalsError) and result.exception.exit_code == 2
    assert message in str(result.exception)


def test_other_bad_inputs_are_clear_errors(runs: Runs, tmp_path: Path) -> None:
    folder = runs.folder
    future = pd.read_csv(folder / "bm25.csv").assign(schema_version=LEADERBOARD_SCHEMA_VERSION + 1)
    future.to_csv(tmp_path / "future.csv", index=False)
    renamed = pd.read_csv(folder / "bm25.csv").assign(strategy="someone_else")
    renamed.to_csv(tmp_path / "renamed.csv", index=False)
    cases = {
        ("missing.csv", runs.ids["bm25"]): "missing.csv: no such file",
        ("no-such-run", runs.ids["bm25"]): "'no-such-run' is neither a CSV file nor a run id",
        (str(tmp_path / "future.csv"), runs.ids["bm25"]): f"schema_version {LEADERBOARD_SCHEMA_VERSION} and older",
        (str(tmp_path / "renamed.csv"), runs.ids["bm25"]): "no dataset × strategy in common",
    }
    for (old, new), message in cases.items():
        with pytest.raises(EvalsError, match=message):
            compare_references(old, new, folder)
