"""`evals view --export DIR`: the viewer's pages as a static bundle that opens from `file://` (a CI
artifact): the same templates with relative links, the stylesheet and script copied beside them.

What a static bundle cannot do, it replaces: the run table is paged into files for all items and
for the failed ones (`page-<n>.html`, `errors-<n>.html`) with a text filter over the page in the
browser; diffs are written for every pair of strategies of a run and for each run against the
previous run of the same suite, with the default flip metric and threshold.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.view.app import STATIC_DIR
from evals.view.diff import Diff, run_diff, strategy_diff
from evals.view.item_index import PER_PAGE_CHOICES, ItemFilter
from evals.view.pages import item_page, leaderboard_page, run_page, trends_page
from evals.view.rendering import ExportLinks, Renderer, diff_name
from evals.view.results_folder import NotFound, ResultsFolder

EXPORT_PER_PAGE = 100
assert EXPORT_PER_PAGE in PER_PAGE_CHOICES


class Export(BaseModel):
    """What `export_site` wrote."""

    directory: Path
    index_html: Path
    runs: list[str]
    pages: int
    item_pages: int
    diffs: int


def export_site(folder: ResultsFolder, out: Path) -> Export:
    """Write the bundle into `out` (created; existing files of the same names are replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    static = out / "static"
    static.mkdir(exist_ok=True)
    for asset in STATIC_DIR.iterdir():
        if asset.is_file():
            shutil.copyfile(asset, static / asset.name)
    writer = _Writer(out, Renderer(folder.results_dir.resolve().name))
    run_ids = folder.run_ids()
    previous = _previous_runs(folder)
    run_diffs = [(f"{old} → {new}", old, new) for new, old in previous.items()]

    writer.write("index.html", 0, "leaderboard.html", board=leaderboard_page(folder), run_diffs=run_diffs)
    writer.write("trends.html", 0, "trends.html", trends=trends_page(folder))
    for run_id in run_ids:
        _export_run(folder, writer, run_id, [d for d in run_diffs if d[2] == run_id])
    for _, old, new in run_diffs:
        try:
            writer.diff(run_diff(folder, old, new, None, None), diff_name(old, new))
        except EvalsError:  # nothing in common to compare
            continue
    return Export(
        directory=out,
        index_html=out / "index.html",
        runs=run_ids,
        pages=writer.pages,
        item_pages=writer.item_pages,
        diffs=writer.diffs,
    )


def _export_run(folder: ResultsFolder, writer: _Writer, run_id: str, run_diffs: list[tuple[str, str, str]]) -> None:
    try:
        first = run_page(folder, run_id, ItemFilter(per_page=EXPORT_PER_PAGE))
    except NotFound:
        return
    base = f"runs/{run_id}"
    for status, prefix in ((None, "page"), ("error", "errors")):
        wanted = ItemFilter(status=status, per_page=EXPORT_PER_PAGE)
        view = first if status is None else run_page(folder, run_id, wanted)
        for number in range(1, view.page.pages + 1):
            if number > 1:
                view = run_page(folder, run_id, wanted.model_copy(update={"page": number}))
            writer.write(
                f"{base}/{prefix}-{number}.html",
                2,
                "run.html",
                run=view,
                run_diffs=run_diffs,
                per_page_choices=PER_PAGE_CHOICES,
            )
    for line in folder.index(run_id).lines(ItemFilter()):
        writer.write(f"{base}/items/{line}.html", 3, "item.html", view=item_page(folder, run_id, line))
        writer.item_pages += 1
    for pair in first.pairs:
        try:
            diff = strategy_diff(folder, run_id, pair.dataset, pair.old, pair.new, None, None)
        except EvalsError:
            continue
        writer.diff(diff, diff_name(run_id, pair.dataset, pair.old, pair.new))


def _previous_runs(folder: ResultsFolder) -> dict[str, str]:
    """Each run mapped to the run of the same suite just before it (runs with a readable manifest)."""
    by_suite: dict[str, list[str]] = {}
    for listing in sorted(folder.runs(), key=lambda listing: listing.run_id):
        if listing.problem is None and listing.counts.items:
            by_suite.setdefault(listing.suite, []).append(listing.run_id)
    return {new: old for runs in by_suite.values() for old, new in zip(runs, runs[1:], strict=False)}


class _Writer:
    def __init__(self, out: Path, renderer: Renderer) -> None:
        self.out = out
        self.renderer = renderer
        self.pages = 0
        self.item_pages = 0
        self.diffs = 0

    def write(self, relative: str, depth: int, template: str, **context: object) -> None:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.renderer.render(template, ExportLinks(depth), **context), encoding="utf-8")
        self.pages += 1

    def diff(self, diff: Diff, name: str) -> None:
        self.write(f"diffs/{name}.html", 1, "diff.html", diff=diff)
        self.diffs += 1
