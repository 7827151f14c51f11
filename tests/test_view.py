"""`evals view`: the web viewer's routes (Starlette's TestClient) over real model-free runs: filters,
pagination, item pages, diffs, escaping, path traversal, the token off loopback, the item index, the
static export and the command."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest
import typer
from markupsafe import escape
from starlette.testclient import TestClient
from typer.testing import CliRunner

from evals import RunSettings, load_suite, run_suite
from evals.cli.view import view
from evals.core.errors import EvalsError
from evals.core.types import Answer
from evals.results.item_values import metric_values
from evals.results.records import ItemError, ItemResult
from evals.results.run_store import RunStore
from evals.view import ResultsFolder, create_app, export_site, is_loopback
from evals.view.item_index import ItemFilter, ItemIndex

HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
HOSTILE_ID = 'xss"<b>id</b>'
PROVINCES = ("Arvena", "Belmora", "Cordessa", "Dunmarch", "Elvaria", "Fenwick", "Galdor", "Harrowgate", "Istria",
             "Jorvik", "Kestrel")  # fmt: skip
PLANTED_ITEMS = len(PROVINCES) + 1
SQUAD_ITEMS = 8


def planted_rows() -> list[dict[str, object]]:
    """Questions the example `first_sentence` reader answers exactly (its answer is the first sentence of
    the gold passage), and one whose passage, question and id are hostile markup."""
    rows: list[dict[str, object]] = [
        {
            "id": f"planted-{n:02d}",
            "question": f"Which city is the capital of {province}?",
            "answers": [f"City{n} is the capital of {province}"],
            "context": f"City{n} is the capital of {province}. {province} lies on river R{n}. Its mayor is M{n}.",
        }
        for n, province in enumerate(PROVINCES)
    ]
    rows.append(
        {
            "id": HOSTILE_ID,
            "question": f"What does {HOSTILE} & <i>this</i> do?",
            "answers": ["nothing"],
            "context": f"{HOSTILE}. Nothing else happens here.",
        }
    )
    return rows


SUITE = """
name = "view-test"
scorers = ["squad", "retrieval", "attribution"]
[[datasets]]
name = "planted"
test = "planted.jsonl"
columns = {{context = "context"}}
[[datasets]]
name = "squad-mini"
limit = {squad}
[[strategies]]
name = "extractive_bm25"
[[strategies]]
name = "reader"
type = "{reader}"
params = {reader_params}
[[strategies]]
name = "flaky"
params = {{failures_per_item = 1, fail_forever_every = 3}}
"""


def build_results(folder: Path) -> tuple[Path, str, str]:
    """Two real runs of one suite into `folder/results`: OLD with `reader` = first_sentence (exact on
    the planted questions), NEW with `reader` = flaky (wrong or failed on them: right → wrong flips).
    Returns (results dir, OLD run id, NEW run id)."""
    with (folder / "planted.jsonl").open("w", encoding="utf-8") as stream:
        for row in planted_rows():
            stream.write(json.dumps(row) + "\n")
    settings = RunSettings(results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False)
    run_ids = []
    for reader, params in (("first_sentence", "{}"), ("flaky", "{failures_per_item = 0, fail_forever_every = 2}")):
        suite_path = folder / "suite.toml"
        suite_path.write_text(SUITE.format(squad=SQUAD_ITEMS, reader=reader, reader_params=params), encoding="utf-8")
        run_ids.append(run_suite(load_suite(suite_path), settings).manifest.run_id)
    return folder / "results", run_ids[0], run_ids[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    return build_results(tmp_path_factory.mktemp("view"))


@pytest.fixture(scope="module")
def folder(results: tuple[Path, str, str], tmp_path_factory: pytest.TempPathFactory) -> ResultsFolder:
    return ResultsFolder(results[0], tmp_path_factory.mktemp("view-index"))


@pytest.fixture(scope="module")
def client(folder: ResultsFolder) -> TestClient:
    return TestClient(create_app(folder, preindex=False), base_url="http://127.0.0.1:7575")


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


def rows_of(page: str) -> list[str]:
    """The item-table rows of a run page."""
    body = page.split('id="item-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", body, flags=re.S)


def count_of(page: str) -> int:
    """The number of matching items a run page reports."""
    found = re.search(r'id="item-count">(\d+) item', page)
    assert found, "no item count on the page"
    return int(found.group(1))


def column_of(page: str, name: str) -> list[str]:
    """The cells of the item table's column `name` (by its header), as text."""
    table = page.split('id="item-table"', 1)[1].split("</table>", 1)[0]
    headers = [re.sub(r"<[^>]+>|[▲▼]", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    position = headers.index(name)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[position].strip() for row in rows_of(page)]


def test_leaderboard_runs_and_trends(client: TestClient, results: tuple[Path, str, str]) -> None:
    _, old, new = results
    page = client.get("/")
    assert page.status_code == 200
    for text in ("planted", "squad-mini", "extractive_bm25", "reader", "flaky", old, new):
        assert text in page.text
    assert re.search(r"\d\.\d{3}\s*<span class=\"ci\">\[\d\.\d\d, \d\.\d\d\]</span>", page.text), "CIs shown"
    assert f'href="/runs/{new}"' in page.text  # the reader row comes from the newest run
    chosen = client.get("/?metrics=mrr")  # choose the metric columns
    assert re.search(r'<th data-sortable data-col="mrr" class="num"', chosen.text)
    assert re.search(r'<th data-sortable data-col="f1" class="num col-hidden"', chosen.text)
    assert re.search(r'<th data-sortable data-col="f1" class="num"', page.text)  # shown by default
    trends = client.get("/trends?metric=exact_match")
    assert trends.status_code == 200 and trends.text.count('<svg class="chart"') >= 2
    assert 'value="exact_match" selected' in trends.text


def test_run_page_filters_and_pagination(client: TestClient, folder: ResultsFolder, results: tuple[Path, str, str]):
    _, old, _ = results
    total = 3 * (PLANTED_ITEMS + SQUAD_ITEMS)
    page = client.get(f"/runs/{old}")
    assert page.status_code == 200 and count_of(page.text) == total
    assert len(rows_of(page.text)) == 50

    second = client.get(f"/runs/{old}?per_page=25&page=2")
    assert len(rows_of(second.text)) == 25 and "page 2 of 3" in second.text
    last = client.get(f"/runs/{old}?per_page=25&page=99")  # past the end: the last page
    assert "page 3 of 3" in last.text and len(rows_of(last.text)) == total - 50

    failed = client.get(f"/runs/{old}?status=error&per_page=200")
    items = RunStore(folder.store(old).directory).read_items_readonly().items
    n_failed = sum(item.status == "error" for item in items)
    assert 0 < n_failed < PLANTED_ITEMS + SQUAD_ITEMS
    assert count_of(failed.text) == n_failed and len(rows_of(failed.text)) == n_failed
    assert all("status-error" in row for row in rows_of(failed.text))

    reader = client.get(f"/runs/{old}?strategy=reader&dataset=planted&metric=exact_match&above=1")
    assert count_of(reader.text) == PLANTED_ITEMS - 1  # exact on every planted question but the hostile one
    below = client.get(f"/runs/{old}?strategy=reader&dataset=planted&metric=exact_match&below=0.5")
    assert count_of(below.text) == 1 and "xss&#34;&lt;b&gt;id&lt;/b&gt;" in below.text

    searched = client.get(f"/runs/{old}?text=capital%20of%20HARROW&strategy=reader")  # question text, any case
    assert count_of(searched.text) == 1 and "planted-07" in searched.text
    by_answer = client.get(f"/runs/{old}?text=City3%20is&dataset=planted")  # answer text
    assert "reader" in column_of(by_answer.text, "strategy")
    assert all("City3 is" in answer for answer in column_of(by_answer.text, "answer"))
    literal = client.get(f"/runs/{old}?text=e%25e_e")  # LIKE wildcards are searched for literally
    assert count_of(literal.text) == 0

    ordered = client.get(f"/runs/{old}?strategy=extractive_bm25&sort=f1&descending=1&per_page=200")
    f1 = [float(v) for v in column_of(ordered.text, "f1")]
    assert len(f1) == PLANTED_ITEMS + SQUAD_ITEMS and f1 == sorted(f1, reverse=True) and f1[0] > f1[-1]

    for bad in ("page=0", "per_page=abc", "status=weird", "above=x"):
        assert client.get(f"/runs/{old}?{bad}").status_code == 400, bad


def test_item_page_shows_everything_escaped(client: TestClient, folder: ResultsFolder, results):
    _, old, _ = results
    index = folder.index(old)
    line = index.line_of("planted", "reader", HOSTILE_ID)
    assert line is not None
    page = client.get(f"/runs/{old}/items/{line}")
    assert page.status_code == 200
    text = page.text
    assert "<script>window.pwned" not in text and "<img src=x" not in text and "<i>this</i>" not in text
    assert str(escape(HOSTILE)) in text  # the answer, rendered as text
    assert "&lt;i&gt;this&lt;/i&gt;" in text  # the question
    assert "xss&#34;&lt;b&gt;id&lt;/b&gt;" in text  # the item id
    # the same item under every strategy of the run, side by side
    assert text.count('<article class="side') == 3 and "extractive_bm25" in text and "flaky" in text

    exact = client.get(f"/runs/{old}/items/{index.line_of('planted', 'reader', 'planted-03')}").text
    assert "Which city is the capital of Dunmarch?" in exact
    assert "City3 is the capital of Dunmarch" in exact  # gold answer and answer
    assert (
        'class="context is-gold'
        in client.get(f"/runs/{old}/items/{index.line_of('planted', 'extractive_bm25', 'planted-03')}").text
    )  # BM25 retrieved the gold passage, marked
    for field in ("time: total", "tokens in / out", "attempts", "exact_match", "grounded", "from cache"):
        assert field in exact

    failed_line = next(
        index.line_of(i.dataset, i.strategy, i.item_id)
        for i in RunStore(folder.store(old).directory).read_items_readonly().items
        if i.status == "error"
    )
    failed = client.get(f"/runs/{old}/items/{failed_line}").text
    assert 'id="error"' in failed and "ValueError" in failed and "permanent failure on" in failed
    assert re.search(r"<td>exact_match</td><td class=\"num\">0.000</td><td class=\"num\">—</td>", failed)

    found = client.get(f"/runs/{old}/item?dataset=planted&strategy=reader&item_id=planted-03", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"].endswith(
        f"/items/{index.line_of('planted', 'reader', 'planted-03')}"
    )


def test_diffs_use_compare_and_show_flips(client: TestClient, results: tuple[Path, str, str]) -> None:
    _, old, new = results
    runs = client.get(f"/diff?old={old}&new={new}")
    assert runs.status_code == 200
    assert "regression" in runs.text and "McNemar exact" in runs.text and "Holm" in runs.text
    flips = runs.text.split('id="worse"', 1)[1].split("</section>", 1)[0]
    assert "planted-03" in flips and "City3 is the capital of Dunmarch" in flips
    assert re.search(r"Right → wrong \((\d+)\)", runs.text).group(1) != "0"  # type: ignore[union-attr]
    assert f'href="/runs/{old}/items/' in flips and f'href="/runs/{new}/items/' in flips
    assert "<script>window.pwned" not in runs.text

    pair = client.get(f"/runs/{old}/diff?dataset=planted&a=reader&b=flaky&metric=exact_match&threshold=1")
    assert pair.status_code == 200 and "reader vs flaky" in pair.text
    assert "Right → wrong (11)" in pair.text and "Wrong → right (0)" in pair.text

    assert client.get(f"/runs/{old}/diff?dataset=planted&a=reader&b=nope").status_code == 404
    assert client.get("/diff?old=a").status_code == 400


def raw_get(app: object, path: str, query: str = "") -> tuple[int, str]:
    """GET `path` exactly as given (an HTTP client would remove `..` segments; a raw request need not)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:7575")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 7575),
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body.decode("utf-8", "replace")


@pytest.mark.parametrize(
    "path",
    [
        "/runs/..",
        "/runs/../../etc/passwd",
        "/runs/../runs/{old}",
        "/runs/{old}/../{old}/manifest.json",
        "/runs/{old}/items/../../manifest.json",
        "/runs/{old}/items/../items.jsonl",
        "/runs/{old}/items/-1",
        "/runs/{old}/items/999999",
        "/runs/{old}/items/1.5",
        "/runs/nope-run/items/1",
        "/runs/.%2e/items/1",
        "/static/../app.py",
        "/static/../../results_folder.py",
        "/static/%2e%2e/app.py",
    ],
)
def test_path_traversal_is_404(client: TestClient, results: tuple[Path, str, str], path: str) -> None:
    status, body = raw_get(client.app, path.format(old=results[1]))
    assert status == 404, (path, status)
    assert "root:" not in body and "import" not in body and "config_hash" not in body


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/runs/{old}/item", "dataset=planted&strategy=reader&item_id=../../manifest.json"),
        ("/diff", "old=../..&new={old}"),
        ("/diff", "old=../../{old}&new={old}"),
        ("/runs/{old}/diff", "dataset=planted&a=../..&b=reader"),
    ],
)
def test_ids_in_queries_are_looked_up_not_opened(client: TestClient, results: tuple[Path, str, str], path, query):
    status, body = raw_get(client.app, path.format(old=results[1]), query.format(old=results[1]))
    assert status == 404, (path, query, status)


def test_read_only_and_headers(client: TestClient, results: tuple[Path, str, str], folder: ResultsFolder) -> None:
    results_dir, old, new = results
    before = snapshot(results_dir)
    for path in ("/", "/trends", f"/runs/{old}", f"/runs/{old}/items/1", f"/diff?old={old}&new={new}"):
        response = client.get(path)
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.post("/").status_code == 405 and client.delete(f"/runs/{old}").status_code == 405
    assert snapshot(results_dir) == before, "the viewer wrote into the results folder"
    assert not any(folder.results_dir.rglob("*.sqlite"))


def test_loopback_only_answers_loopback_host_names(folder: ResultsFolder) -> None:
    app = create_app(folder, preindex=False)
    assert TestClient(app, base_url="http://localhost:7575").get("/").status_code == 200
    assert TestClient(app, base_url="http://[::1]:7575").get("/").status_code == 200
    assert TestClient(app, base_url="http://evil.example:7575").get("/").status_code == 403  # DNS rebinding


def test_non_loopback_host_needs_a_token(folder: ResultsFolder, results: tuple[Path, str, str]) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    with pytest.raises(EvalsError, match="token"):
        create_app(folder, host="0.0.0.0")
    app = create_app(folder, host="0.0.0.0", token="s3cret-token", preindex=False)
    stranger = TestClient(app, base_url="http://192.168.1.20:7575")
    for path in ("/", f"/runs/{results[1]}", "/static/app.css", "/?token=wrong"):
        refused = stranger.get(path)
        assert refused.status_code == 401 and "refused" in refused.text, path
    assert stranger.get("/", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
    visitor = TestClient(app, base_url="http://192.168.1.20:7575")
    first = visitor.get("/?token=s3cret-token")
    assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
    assert visitor.get(f"/runs/{results[1]}").status_code == 200  # the cookie carries the token on


def view_command() -> typer.Typer:
    """The `view` command on its own (evals.cli.app wires it as `evals view`)."""
    app = typer.Typer()
    app.command()(view)
    return app


def test_cli_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    missing = CliRunner().invoke(view_command(), ["--results-dir", str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, EvalsError) and "no such results folder" in str(missing.exception)


def test_cli_export_bundle(results: tuple[Path, str, str], tmp_path: Path) -> None:
    results_dir, old, new = results
    arguments = ["--results-dir", str(results_dir), "--export", str(tmp_path / "site"), "--cache-dir", str(tmp_path)]
    done = CliRunner().invoke(view_command(), arguments)
    assert done.exit_code == 0, done.output
    assert "exported" in done.output and "index.html" in done.output
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "trends.html").is_file()
    assert (site / "static" / "app.css").is_file() and (site / "static" / "app.js").is_file()
    assert (site / "runs" / old / "page-1.html").is_file() and (site / "runs" / old / "errors-1.html").is_file()
    assert len(list((site / "runs" / old / "items").glob("*.html"))) == 3 * (PLANTED_ITEMS + SQUAD_ITEMS)
    assert len(list((site / "diffs").glob("*.html"))) == 2 * 2 * 3 + 1  # 3 strategy pairs × 2 datasets × 2 runs + 1
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script>window.pwned" not in text, page
        assert not re.search(r'(src|href)="(https?:)?//', text), page  # nothing from the network
        assert not re.search(r'(src|href)="/', text), page  # relative links only: works from file://


def test_export_links_resolve(folder: ResultsFolder, tmp_path: Path) -> None:
    written = export_site(folder, tmp_path / "site")
    assert written.item_pages == sum(len(list(folder.index(r).lines(ItemFilter()))) for r in written.runs)
    broken = []
    for page in (tmp_path / "site").rglob("*.html"):
        for link in re.findall(r'(?:href|src)="([^"#?]+)"', page.read_text(encoding="utf-8")):
            if not link.startswith("data:") and not (page.parent / link).resolve().is_file():
                broken.append(f"{page.relative_to(tmp_path)} → {link}")
    assert not broken, broken[:10]


# --- the item index on its own ---------------------------------------------------------------------------


def ok_item(item_id: str, strategy: str = "s", route: str | None = None, **scores: float | None) -> ItemResult:
    metadata = {"route": route} if route else {}
    return ItemResult.model_validate(
        {
            "dataset": "d",
            "strategy": strategy,
            "item_id": item_id,
            "status": "ok",
            "answer": Answer(text=f"answer {item_id}", timings={"total": 0.5}, metadata=metadata),
            "scores": scores,
        }
    )


def failed_item(item_id: str, strategy: str = "s") -> ItemResult:
    return ItemResult(
        dataset="d",
        strategy=strategy,
        item_id=item_id,
        status="error",
        error=ItemError(stage="answer", type="ValueError", message="boom"),
    )


def index_values(index: ItemIndex, strategy: str, metric: str) -> list[float | None]:
    page = index.query(ItemFilter(strategy=strategy, per_page=200), [metric])
    return [item.metrics[metric] for item in page.items]


def test_item_index_follows_an_appended_run_and_the_item_metric_rule(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs" / "r1")
    store.directory.mkdir(parents=True)
    written = [
        failed_item("a"),  # before any metric is known: valued once the metrics appear
        ok_item("b", route="standard", f1=1.0, faithfulness=None),
        ok_item("c", route="complex", f1=0.25, faithfulness=0.5),
        ok_item("b", f1=0.0),  # a duplicate key: the first record wins, as in the run store
        failed_item("x", strategy="unmeasured"),
        ok_item("y", strategy="unmeasured", f1=0.5, faithfulness=None),
    ]
    for item in written:
        store.append(item)
    with store.items_path.open("a", encoding="utf-8") as stream:
        stream.write('{"torn": ')  # a line being written
    index = ItemIndex.open(store, tmp_path / "index")
    assert index.state().items == 5 and index.state().lines == 6
    expected = {
        strategy: [float(v) if v == v else None for v in metric_values([i for i in written[:3]], "faithfulness")]
        for strategy in ("s",)
    }
    assert index_values(index, "s", "faithfulness") == expected["s"] == [0.0, None, 0.5]
    assert index_values(index, "s", "f1") == [0.0, 1.0, 0.25]
    # rule 3: `unmeasured` answered items but never had faithfulness, so its failure is not a 0 there
    assert index_values(index, "unmeasured", "faithfulness") == [None, None]
    assert index_values(index, "unmeasured", "f1") == [0.0, 0.5]
    assert [i.item_id for i in index.query(ItemFilter(route="complex"), []).items] == ["c"]
    assert index.facets()["route"] == ["complex", "standard"]
    assert index.record(index.line_of("d", "s", "b") or 0) == written[1]

    # the torn line completes, more items arrive: only the tail is indexed
    with store.items_path.open("rb+") as stream:
        stream.seek(-len('{"torn": '), os.SEEK_END)
        stream.truncate()
    store.append(ok_item("z", strategy="unmeasured", f1=1.0, faithfulness=1.0))
    index = ItemIndex.open(store, tmp_path / "index")
    assert index.state().items == 6 and index.state().skipped == 0
    assert index_values(index, "unmeasured", "faithfulness") == [0.0, None, 1.0]  # now measured: the failure is 0

    # a rewritten file is indexed anew
    store.items_path.write_text(ok_item("only", f1=0.5).model_dump_json() + "\nnot json\n", encoding="utf-8")
    index = ItemIndex.open(store, tmp_path / "index")
    assert index.state().items == 1 and index.state().skipped == 1
    assert "line 2" in (index.state().first_problem or "")


def test_item_page_marks_gold_and_cited_contexts_and_routes(results: tuple[Path, str, str], tmp_path: Path) -> None:
    """A routed, citing answer (as `rag` and `hybrid` write them) in a run of the planted questions."""
    results_dir, old, _ = results
    manifest = RunStore(results_dir / "runs" / old).read_manifest()
    run_id = f"{old}-cited"
    store = RunStore(tmp_path / "results" / "runs" / run_id)
    store.write_manifest(manifest.model_copy(update={"run_id": run_id}))
    gold = planted_rows()[2]
    answer = Answer(
        text="City2 [2]",
        contexts=[
            {"doc_id": "elsewhere", "text": "Another passage.", "score": 2.0},
            {"doc_id": index_gold_doc(results_dir, old), "text": str(gold["context"]), "score": 1.0},
        ],
        metadata={"route": "complex", "cited_doc_ids": ["elsewhere"]},
    )
    store.append(ItemResult(dataset="planted", strategy="rag", item_id="planted-02", status="ok", answer=answer))
    client = TestClient(create_app(ResultsFolder(tmp_path / "results", tmp_path / "index"), preindex=False))
    page = client.get(f"/runs/{run_id}/items/1", headers={"host": "localhost"}).text
    assert "Which city is the capital of Cordessa?" in page
    assert re.search(r'<li class="context is-cited">\s*<div class="context-head"><code>elsewhere</code>', page)
    assert re.search(r'<li class="context is-gold">', page)
    run = client.get(f"/runs/{run_id}?route=complex", headers={"host": "localhost"}).text
    assert count_of(run) == 1 and "sort=route" in run and "<td>complex</td>" in run


def index_gold_doc(results_dir: Path, run_id: str) -> str:
    """The gold document id of planted-02, as the run's dataset defines it."""
    folder = ResultsFolder(results_dir, results_dir.parent / "gold-index")
    question = folder.index(run_id).question("planted", "planted-02")
    assert question is not None
    return question.gold_doc_ids[0]


def test_cli_serves_loopback_plainly_and_elsewhere_with_a_token(
    results: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append({"app": app, **options}))
    arguments = ["--results-dir", str(results[0]), "--cache-dir", str(tmp_path), "--port", "7999"]
    local = CliRunner().invoke(view_command(), arguments)
    assert local.exit_code == 0, local.output
    assert "http://127.0.0.1:7999/" in local.output and "token" not in local.output
    remote = CliRunner().invoke(view_command(), [*arguments, "--host", "0.0.0.0"])
    assert remote.exit_code == 0, remote.output
    assert "warning" in remote.output and re.search(r"\?token=[\w-]{20,}", remote.output)
    assert [(s["host"], s["port"]) for s in served] == [("127.0.0.1", 7999), ("0.0.0.0", 7999)]
    token = re.search(r"\?token=([\w-]+)", remote.output).group(1)  # type: ignore[union-attr]
    app = served[1]["app"]
    assert TestClient(app, base_url="http://10.0.0.5").get("/").status_code == 401  # type: ignore[arg-type]
    assert TestClient(app, base_url="http://10.0.0.5").get(f"/?token={token}").status_code == 200  # type: ignore[arg-type]
