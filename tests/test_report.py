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
from typer.testing import CliRunner

from evals import RunSettings, load_suite, run_suite
from evals.cli.report import report
from evals.core.errors import EvalsError
from evals.core.suite import StrategyEntry
from evals.decision.freshness import FRESHNESS_FILE, load_freshness, run_freshness
from evals.report.html import Report, build_report, pareto_front

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
