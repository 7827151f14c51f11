"""The HTML report: built from a real (model-free) run, rendered by headless Chromium; the committed one."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import typer
from conftest import REPO
from matplotlib import image
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from typer.testing import CliRunner

from evals import RunSettings, load_suite, run_suite
from evals.cli.report import report
from evals.core.errors import EvalsError
from evals.core.suite import StrategyEntry
from evals.decision.cost_model import CostAssumptions, MeasuredStrategy, break_evens
from evals.decision.freshness import FRESHNESS_FILE, load_freshness, run_freshness
from evals.decision.recommend import meaningful_break_evens
from evals.decision.robustness import ROBUSTNESS_FILE, load_source_risks
from evals.report.html import Report, _break_even_html, build_report, pareto_front, trend_figure, trend_rows

CHROMIUM = "chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Appended to a copy of the page: after every image has loaded (or failed), record their decoded sizes.
IMAGE_PROBE = """<script>
window.addEventListener("load", () => {
  const probe = document.createElement("pre");
  probe.id = "image-probe";
  probe.textContent = JSON.stringify(Array.from(document.images, (img) =>
    ({src: img.getAttribute("src"), width: img.naturalWidth, height: img.naturalHeight})));
  document.body.appendChild(probe);
});
</script>"""


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real runs of extractive_bm25 on 10 squad-mini items, the second from the answer cache."""
    folder = tmp_path_factory.mktemp("report")
    suite_path = folder / "suite.toml"
    suite_path.write_text(
        'name = "report-test"\n[[datasets]]\nname = "squad-mini"\nlimit = 10\n'
        '[[strategies]]\nname = "extractive_bm25"\n',
        encoding="utf-8",
    )
    settings = RunSettings(results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False)
    suite = load_suite(suite_path)
    run_suite(suite, settings)
    assert run_suite(suite, settings).manifest.counts.cached == 10
    return folder / "results"


@pytest.fixture(scope="module")
def built(results_dir: Path) -> Report:
    return build_report(results_dir)


def test_report_files_and_model(results_dir: Path, built: Report) -> None:
    leaderboard = pd.read_csv(results_dir / "leaderboard.csv")
    assert len(pd.read_csv(results_dir / "history.csv")) == 2
    assert built.directory == results_dir / "report" and built.index_html.is_file()
    assert built.latency_source == "items"
    assert built.run_ids == leaderboard["run_id"].tolist()
    assert {"pareto", "latency", "trend_exact_match", "trend_f1", "trend_latency_p95_s"} <= set(built.plots)
    assert "trend_faithfulness" not in built.plots  # the suite scores with "squad" only
    assert "cost_curves" in built.plots and built.freshness is None
    assert built.recommendations == {"squad-mini": "extractive_bm25"}
    for path in built.plots.values():
        assert path.parent == built.directory and path.read_bytes().startswith(b"\x89PNG")
    page = built.index_html.read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert built.run_ids[0] in page and str(leaderboard["price_table_date"].iloc[0]) in page
    assert "<h2>Recommendation — squad-mini</h2>" in page and "Recommended: <strong>extractive_bm25</strong>" in page
    assert "<h2>Break-even volumes — squad-mini</h2>" in page and 'src="cost_curves.png"' in page
    assert "Knowledge freshness" not in page  # no freshness.json in this results dir


def test_report_shows_freshness_table(results_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    entries = [StrategyEntry(name="extractive_bm25"), StrategyEntry(name="closed_book_fake", type="first_sentence")]
    settings = RunSettings(results_dir=copy, cache_dir=tmp_path / "cache", show_progress=False)  # a cold update
    result = run_freshness(entries, limit=6, settings=settings, out=copy / FRESHNESS_FILE)
    built = build_report(copy, tmp_path / "out")
    assert built.freshness == copy / FRESHNESS_FILE and load_freshness(built.freshness) == result
    page = built.index_html.read_text(encoding="utf-8")
    assert "<h2>Knowledge freshness — company-kb-v1 → company-kb-v2</h2>" in page
    table = re.search(r'<table id="freshness">.*?</table>', page, re.DOTALL)
    assert table, "no freshness table"
    rows = re.findall(r'<tr class="freshness">(.*?)</tr>', table.group(0), re.DOTALL)
    assert len(rows) == 2
    extractive = result.strategies[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0])
    assert cells[:2] == ["extractive_bm25", "re-index"]
    assert cells[4:6] == [f"{extractive.stale.changed.f1:.3f}", f"{extractive.updated.changed.f1:.3f}"]
    assert "closed_book_fake" in rows[1]


def test_report_shows_robustness_table(results_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    shutil.copy(REPO / "results" / ROBUSTNESS_FILE, copy / ROBUSTNESS_FILE)  # measured figures, not made up
    built = build_report(copy, tmp_path / "out")
    assert built.robustness == copy / ROBUSTNESS_FILE
    page = built.index_html.read_text(encoding="utf-8")
    table = re.search(r'<table id="robustness">.*?</table>', page, re.DOTALL)
    assert table, "no robustness table"
    rows = re.findall(r'<tr class="robustness">(.*?)</tr>', table.group(0), re.DOTALL)
    risks = load_source_risks(copy / ROBUSTNESS_FILE)
    assert len(rows) == len(risks)
    for row, risk in zip(rows, risks.values(), strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[0] == risk.strategy and cells[1] == ("yes" if risk.reads_corpus else "no")
        assert risk.misled_rate is None or cells[2].startswith(f"{risk.misled_rate:.2f}")


def test_suites_sharing_a_dataset_get_their_own_table_and_recommendation(results_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    copy.mkdir()
    board = pd.read_csv(results_dir / "leaderboard.csv")
    other = board.assign(suite="top-k-5", strategy="extractive_bm25", f1=0.99, run_id="other-run")
    pd.concat([board, other]).to_csv(copy / "leaderboard.csv", index=False)
    built = build_report(copy, tmp_path / "out")
    page = built.index_html.read_text(encoding="utf-8")
    assert "<h2>Leaderboard — squad-mini (suite report-test)</h2>" in page
    assert "<h2>Leaderboard — squad-mini (suite top-k-5)</h2>" in page
    assert set(built.recommendations) == {"squad-mini (suite report-test)", "squad-mini (suite top-k-5)"}
    assert set(built.trends) == set(built.recommendations)  # each suite's trend stays, in its own panel
    assert "0.990" in page.split("(suite top-k-5)</h2>")[1].split("</table>")[0]  # each row in its own table
    assert "0.990" not in page.split("(suite report-test)</h2>")[1].split("</table>")[0]


def test_a_leaderboard_where_every_item_failed_or_costs_are_infinite_still_reports(
    results_dir: Path, tmp_path: Path
) -> None:
    board = pd.read_csv(results_dir / "leaderboard.csv")
    measured = [c for c in board.columns if c.startswith(("f1", "exact_match", "latency", "cost_per_query"))]
    failed = tmp_path / "failed"
    failed.mkdir()
    board.drop(columns=measured).assign(n_ok=0, n_errors=board["n_items"]).to_csv(failed / "leaderboard.csv")
    page = build_report(failed, tmp_path / "out-failed").index_html.read_text(encoding="utf-8")
    assert '<td class="name">extractive_bm25</td>' in page and "(10 failed)" in page
    infinite = tmp_path / "infinite"
    infinite.mkdir()
    board.assign(cost_per_query_usd=float("inf"), setup_cost_usd=float("inf")).to_csv(infinite / "leaderboard.csv")
    assert build_report(infinite, tmp_path / "out-infinite").index_html.is_file()


def test_report_renders_in_headless_chromium(built: Report, tmp_path: Path) -> None:
    chromium = shutil.which(CHROMIUM)
    if chromium is None:
        message = (
            "Chromium is needed to check the rendered report: install it with "
            "`apt-get update && apt-get install -y chromium` (Debian/Ubuntu), then rerun"
        )
        if os.environ.get("EVALS_REQUIRE_CHROMIUM"):  # set by .ci/run, which installs it
            pytest.fail(message)
        pytest.skip(message)
    probe_page = built.directory / "probe.html"  # beside index.html, so the relative <img src> resolve
    probe_page.write_text(
        built.index_html.read_text(encoding="utf-8").replace("</body>", IMAGE_PROBE + "</body>"), encoding="utf-8"
    )
    browser = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*browser, "--virtual-time-budget=10000", "--dump-dom", probe_page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    probe = re.search(r'<pre id="image-probe">(.*?)</pre>', dom, re.DOTALL)
    assert probe, f"the page's load event never ran; DOM starts {dom[:300]!r}"
    images = json.loads(html.unescape(probe.group(1)))
    assert sorted(entry["src"] for entry in images) == sorted(path.name for path in built.plots.values())
    assert all(entry["width"] > 100 and entry["height"] > 100 for entry in images), images
    rows = re.findall(r"<tbody>.*?</tbody>", dom, re.DOTALL)
    assert rows and '<td class="name">extractive_bm25</td>' in rows[0]

    screenshot = tmp_path / "report.png"
    subprocess.run(
        [*browser, "--window-size=1280,1600", f"--screenshot={screenshot}", built.index_html.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = image.imread(screenshot)
    assert pixels.shape[:2] == (1600, 1280)
    colours = {tuple(pixel) for pixel in pixels[::4, ::4].reshape(-1, pixels.shape[2]).tolist()}
    assert len(colours) > 20, f"screenshot looks blank ({len(colours)} colours)"


def test_leaderboard_only_falls_back_to_percentile_bars(results_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    copy.mkdir()
    for name in ("leaderboard.csv", "history.csv"):
        shutil.copy(results_dir / name, copy / name)
    built = build_report(copy, tmp_path / "out")
    assert built.latency_source == "leaderboard" and built.index_html.parent == tmp_path / "out"
    assert "Source: the leaderboard." in built.index_html.read_text(encoding="utf-8")


def report_app() -> typer.Typer:
    """The `report` command registered as `evals` registers it."""
    app = typer.Typer()
    app.command()(report)
    return app


def test_missing_leaderboard_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EvalsError, match="no leaderboard to report on; run `evals run` first"):
        build_report(tmp_path)
    result = CliRunner().invoke(report_app(), ["--results-dir", str(tmp_path)])
    assert isinstance(result.exception, EvalsError)


def test_report_command_writes_to_out(results_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(report_app(), ["--results-dir", str(results_dir), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").is_file() and "report:" in result.output


def test_pareto_front() -> None:
    costs = [1.0, 2.0, 2.0, 3.0, 0.5, 3.0]
    scores = [0.5, 0.4, 0.7, 0.7, 0.1, 0.9]
    assert pareto_front(costs, scores) == [4, 0, 2, 5]  # 1 and 3 are beaten by 2
    assert pareto_front([1.0, 1.0], [0.5, 0.5]) == [0, 1]  # ties both stay
    assert pareto_front([], []) == []


def test_committed_report_matches_committed_leaderboard() -> None:
    folder = REPO / "results" / "report"
    page = (folder / "index.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources and all((folder / source).is_file() for source in sources), sources
    leaderboard = pd.read_csv(REPO / "results" / "leaderboard.csv")
    for strategy in leaderboard["strategy"]:
        assert f'<td class="name">{html.escape(strategy)}</td>' in page, f"{strategy} missing: run `evals report`"
    assert "cost_curves.png" in sources and "<h2>Recommendation — " in page
    freshness_json = REPO / "results" / FRESHNESS_FILE
    if freshness_json.exists():
        assert '<table id="freshness">' in page, "freshness.json is newer than the report: run `evals report`"
        for row in load_freshness(freshness_json).strategies:
            assert f'<td class="name">{html.escape(row.strategy)}</td>' in page
    if (REPO / "results" / ROBUSTNESS_FILE).exists():
        assert '<table id="robustness">' in page, "robustness.json is newer than the report: run `evals report`"


def test_trends_join_only_the_latest_configuration_and_leave_failed_runs_out(results_dir: Path, tmp_path: Path) -> None:
    """Two runs of 10 items, then a run of another configuration (5 items, plus a strategy whose setup fails):
    the trend joins only the latest configuration's runs, and the failed strategy is not drawn as 0."""
    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    suite_path = tmp_path / "suite.toml"
    suite_path.write_text(
        'name = "report-test"\n[[datasets]]\nname = "squad-mini"\nlimit = 5\n'
        '[[strategies]]\nname = "extractive_bm25"\n'
        '[[strategies]]\nname = "broken"\ntype = "flaky"\nparams = {fail_prepare = true}\n',
        encoding="utf-8",
    )
    settings = RunSettings(results_dir=copy, cache_dir=tmp_path / "cache", show_progress=False)
    latest = run_suite(load_suite(suite_path), settings).manifest
    history = pd.read_csv(copy / "history.csv")
    assert len(history) == 4 and history["config_hash"].nunique() == 2

    frame, series = trend_rows(history)
    chosen = series["squad-mini"]
    assert (chosen.config_hash, chosen.n_items, chosen.runs) == (latest.config_hash, 5, 1)
    assert (chosen.other_configurations, chosen.rows_left_out, chosen.failed) == (1, 2, ["broken"])
    assert frame["run_id"].tolist() == [latest.run_id] and frame["strategy"].tolist() == ["extractive_bm25"]
    assert "the latest configuration only" in chosen.describe() and "broken" in chosen.describe()

    (ax,) = trend_figure(history, "f1").axes
    assert [line.get_label() for line in _series(ax)] == ["extractive_bm25"]  # no line at 0 for "broken"
    (line,) = _series(ax)
    assert len(line.get_xdata()) == 1  # the earlier configuration's two runs are not joined to it
    low, high = ax.get_xlim()
    assert high - low == pytest.approx(2.0)  # one run: a day either side of it, in matplotlib's day units
    assert ax.get_ylim() == pytest.approx((-0.02, 1.02))
    assert "broken" in ax.get_xaxis().get_label().get_text()

    built = build_report(copy, tmp_path / "out")
    assert built.trends["squad-mini"] == chosen.describe()
    page = built.index_html.read_text(encoding="utf-8")
    assert html.escape(chosen.describe()) in page
    broken = history[history["strategy"] == "broken"].iloc[0]
    assert broken["n_ok"] == 0 and broken["f1"] == 0  # what a trend line would have dropped to


def _series(ax: Axes) -> list[Line2D]:
    """The labelled lines of a trend panel (one per strategy), not the error bars' caps."""
    return [line for line in ax.get_lines() if not str(line.get_label()).startswith("_")]


def test_trend_of_two_runs_of_one_configuration_joins_both(results_dir: Path) -> None:
    history = pd.read_csv(results_dir / "history.csv")
    frame, series = trend_rows(history)
    assert len(frame) == 2 and series["squad-mini"].runs == 2 and series["squad-mini"].rows_left_out == 0
    (ax,) = trend_figure(history, "exact_match").axes
    (line,) = _series(ax)
    assert len(line.get_xdata()) == 2


def _measured(name: str, cost_per_query: float, setup: float) -> MeasuredStrategy:
    return MeasuredStrategy(
        dataset="d",
        strategy=name,
        strategy_type=name,
        update_path="none",
        run_id="r",
        n_items=10,
        metric="f1",
        quality=0.5,
        cost_per_query_usd=cost_per_query,
        setup_cost_usd=setup,
    )


def test_break_evens_at_no_real_volume_are_left_out_with_a_note() -> None:
    strategies = [
        _measured("cheap_setup", 1e-3, 0.0),
        _measured("tiny_setup", 1e-3 - 1e-9, 1.2e-9),  # crosses cheap_setup at 0.0144 queries/month
        _measured("dear_setup", 1e-4, 120.0),  # crosses cheap_setup at ~11,111 queries/month
        _measured("astronomical", 1e-3 - 1e-16, 12.0),  # crosses cheap_setup at 1e16 queries/month
    ]
    pairs = break_evens(strategies, CostAssumptions())
    shown, left_out = meaningful_break_evens(pairs)
    assert {(p.a, p.b) for p in shown} >= {("cheap_setup", "dear_setup")}
    assert all(1 <= (p.queries_per_month or 0) <= 1e12 for p in shown)
    assert any(r.startswith("cheap_setup · tiny_setup") and "below one query a month" in r for r in left_out)
    assert any(r.startswith("cheap_setup · astronomical") and "beyond any real traffic" in r for r in left_out)
    page = _break_even_html("d", pairs)
    rows = re.findall(r'<tr><td class="name">(.*?)</td><td>(.*?)</td>', page)
    assert ("cheap_setup · dear_setup", "11,111") in rows
    assert all(volume != "0" for _, volume in rows)  # no "0 queries/month" row
    assert page.count("Left out:") == len(left_out) >= 2
