"""`evals view` in a real headless Chromium (Debian's, driven by Playwright; no browser is downloaded):
leaderboard → run → failed items → item → diffs with flipped items, hostile answers inert, and the
exported bundle from file://. Screenshots are saved as test artifacts; with EVALS_UPDATE_SCREENSHOTS=1
the leaderboard and a diff are also copied to docs/screenshots/ for the README."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from test_view import HOSTILE, HOSTILE_ID, PLANTED_ITEMS, build_results

from evals.view import ResultsFolder, create_app, export_site

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
README_SHOTS = {"leaderboard": "leaderboard.png", "strategy-diff": "diff.png"}


def _unavailable(reason: str) -> None:
    if os.environ.get("EVALS_REQUIRE_CHROMIUM"):  # set by .ci/run, which installs Chromium
        pytest.fail(f"{reason}, and EVALS_REQUIRE_CHROMIUM is set")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(results: tuple[Path, str, str]) -> Iterator[Any]:
    """Debian's Chromium under Playwright, or a skip saying how to get it. (Started after the runs are
    made: Playwright's synchronous API keeps an event loop running, and the runner starts its own.)"""
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        _unavailable(
            "Chromium is not installed: `apt-get update && apt-get install -y chromium` (Debian/Ubuntu), then rerun"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: `pip install playwright` (its own browser download is not needed)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    return build_results(tmp_path_factory.mktemp("view-browser"))


@pytest.fixture(scope="module")
def folder(results: tuple[Path, str, str], tmp_path_factory: pytest.TempPathFactory) -> ResultsFolder:
    return ResultsFolder(results[0], tmp_path_factory.mktemp("view-browser-index"))


@pytest.fixture(scope="module")
def server(folder: ResultsFolder) -> Iterator[str]:
    """The viewer under uvicorn on a free loopback port, in a background thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uvicorn_server = uvicorn.Server(uvicorn.Config(create_app(folder), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the viewer did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def screenshot(page: Any, shots: Path, name: str, max_height: int = 1500) -> Path:
    """A PNG of the top of the page (at most `max_height` px); README ones copied when asked to."""
    path = shots / f"{name}.png"
    height = min(page.evaluate("document.documentElement.scrollHeight"), max_height)
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height})
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    if name in README_SHOTS and os.environ.get("EVALS_UPDATE_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots" / README_SHOTS[name]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return path


def open_page(browser: Any) -> tuple[Any, list[str]]:
    """A fresh page that records console errors (a CSP violation or a script error lands there)."""
    page = browser.new_page(viewport=VIEWPORT)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def ready(page: Any) -> None:
    page.wait_for_selector("html[data-ready='1']", state="attached", timeout=10_000)


def assert_not_pwned(page: Any) -> None:
    assert page.evaluate("typeof window.pwned") == "undefined", "a hostile answer ran as script"


def test_leaderboard_run_errors_item_and_diffs(browser: Any, server: str, results, shots: Path) -> None:
    _, old, new = results
    page, problems = open_page(browser)

    page.goto(server + "/")
    ready(page)
    board = page.locator("table.board[data-dataset='planted']")
    assert board.locator("tbody tr").count() == 3
    header = board.locator("th[data-col='f1']")
    assert header.is_visible()
    header.click()  # sort by F1, ascending then descending
    header.click()
    values = [float(v) for v in board.locator("td[data-col='f1']").evaluate_all("c => c.map(x => x.dataset.sort)")]
    assert values == sorted(values, reverse=True)
    page.locator("input[data-toggle-col='f1']").uncheck()  # choose the metric columns
    assert not header.is_visible() and "metrics=" in page.url
    page.locator("input[data-toggle-col='f1']").check()
    assert header.is_visible()
    screenshot(page, shots, "leaderboard")

    page.locator("table.runs").get_by_role("link", name=old).click()
    page.wait_for_url(f"**/runs/{old}")
    ready(page)
    total = int(page.locator("#item-count").inner_text().split()[0])
    page.select_option("select[name=status]", "error")
    page.click("#item-filters button[type=submit]")
    page.wait_for_url("**status=error**")
    failed = int(page.locator("#item-count").inner_text().split()[0])
    assert 0 < failed < total
    rows = page.locator("#item-table tbody tr")
    assert rows.count() == failed
    assert all("failed" in (rows.nth(i).get_attribute("class") or "") for i in range(rows.count()))
    screenshot(page, shots, "run-failed-items")

    rows.first.locator("a.item-link").click()
    ready(page)
    assert page.locator("#error").is_visible() and "ValueError" in page.locator("#error").inner_text()
    assert page.locator("article.side").count() == 3  # the same item under every strategy
    screenshot(page, shots, "item-failed")

    page.goto(f"{server}/runs/{old}?strategy=reader&text=xss")
    ready(page)
    page.locator("a.item-link").first.click()
    ready(page)
    assert page.locator("#answer").inner_text() == HOSTILE  # the answer is text on the page
    assert HOSTILE_ID in page.locator("h1").inner_text()
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    assert_not_pwned(page)
    screenshot(page, shots, "item-hostile")

    page.goto(server + "/")
    ready(page)
    page.select_option("form.compare select[name=old]", old)
    page.select_option("form.compare select[name=new]", new)
    page.click("form.compare button[type=submit]")
    page.wait_for_url("**/diff?**")
    ready(page)
    assert "regression" in page.locator("#diff-summary").inner_text()
    flip = page.locator("#worse article.flip").filter(has_text="planted-03")
    assert flip.count() == 1
    assert "City3 is the capital of Dunmarch" in flip.locator(".old").inner_text()  # OLD right ...
    assert "City3 is the capital of Dunmarch" not in flip.locator(".new").inner_text()  # ... NEW wrong
    assert_not_pwned(page)
    screenshot(page, shots, "run-diff")

    page.goto(f"{server}/runs/{old}")
    ready(page)
    page.locator("section.diffs li").filter(has_text="on planted").get_by_role("link", name="flaky → reader").click()
    ready(page)
    assert page.locator("#better article.flip").count() == PLANTED_ITEMS - 1  # reader is exact where flaky is not
    assert page.locator("#worse article.flip").count() == 0
    assert "McNemar exact" in page.locator("table.stats").first.inner_text()
    screenshot(page, shots, "strategy-diff")

    assert not problems, problems


def test_exported_bundle_from_file_url(browser: Any, folder: ResultsFolder, results, shots: Path, tmp_path: Path):
    _, old, new = results
    site = export_site(folder, tmp_path / "site")
    page, problems = open_page(browser)

    page.goto(site.index_html.as_uri())
    ready(page)  # the script ran from file:// under the bundle's Content Security Policy
    assert page.locator("table.board").count() == 2
    page.locator("table.runs").get_by_role("link", name=old).click()
    ready(page)
    page.click("#errors-link")
    ready(page)
    rows = page.locator("#item-table tbody tr")
    assert rows.count() > 0
    assert all("failed" in (rows.nth(i).get_attribute("class") or "") for i in range(rows.count()))
    page.fill("#page-filter", "flaky")  # the bundle's in-page filter
    visible = [rows.nth(i).is_visible() for i in range(rows.count())]
    assert any(visible)
    rows.first.locator("a.item-link").click()
    ready(page)
    assert page.locator("#error").is_visible()

    page.goto((site.directory / "runs" / old / "page-1.html").as_uri())
    ready(page)
    page.fill("#page-filter", "xss")
    hostile = page.locator("#item-table tbody tr:visible").filter(has_text="reader")
    assert hostile.count() == 1
    hostile.locator("a.item-link").click()
    ready(page)
    assert page.locator("#answer").inner_text() == HOSTILE
    assert_not_pwned(page)
    screenshot(page, shots, "export-item")

    page.goto(site.index_html.as_uri())
    ready(page)
    page.get_by_role("link", name=f"{old} → {new}").click()
    ready(page)
    flip = page.locator("#worse article.flip").filter(has_text="planted-03")
    assert flip.count() == 1
    flip.locator(".new a").click()  # to the item page in the NEW run
    ready(page)
    assert page.locator("h1").inner_text().startswith("planted-03")
    assert not problems, problems
