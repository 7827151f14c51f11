"""`evals view` on large runs: time to serve the run page (first page of the item table) and the memory
of the server process, at 1k, 10k and 100k items.

The runs: a real run of the example plugin strategies `first_sentence` and `flaky` (every 10th item
fails) through `evals.run_suite` on a generated dataset of 500 questions (1,000 items); the larger runs
replicate its records onto generated datasets of n/2 questions (new item ids, answers rewritten to the
new questions, the same scores), written in one go through the records model, since the runner's
per-item fsync would take ~15 minutes for 100k. Their manifests name real suite files and dataset
fingerprints, so the viewer loads the questions as it does for any run.

Each size is served by a fresh server process (uvicorn, as `evals view` runs it) with its index folder
empty ("cold": the first request builds the item index) and then by another fresh process over the
built index ("warm": what every later opening of the run costs). Memory is the server's resident set
(RSS, /proc) after start and after the requests, and its peak (VmHWM).

    python benchmarks/bench_view.py                 # 1k, 10k, 100k
    python benchmarks/bench_view.py --sizes 1000 10000 --json figures.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "example_plugin"))  # the example plugin's strategies

from evals import RunSettings, load_suite, run_suite  # noqa: E402
from evals.data import load_dataset  # noqa: E402
from evals.infra.atomic import atomic_write_text  # noqa: E402
from evals.results.records import DatasetManifest, ItemResult  # noqa: E402
from evals.results.run_store import RunStore, runs_dir  # noqa: E402

BASE_QUESTIONS = 500
GOAL_FIRST_PAGE_S = 1.0
SERVER = """
import sys
from pathlib import Path
import uvicorn
from evals.view import ResultsFolder, create_app
folder = ResultsFolder(Path(sys.argv[1]), Path(sys.argv[2]))
uvicorn.run(create_app(folder, preindex=False), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""
SUITE = """name = "bench-view"
scorers = ["squad"]
concurrency = 16
[[datasets]]
name = "generated"
test = "{questions}"
columns = {{context = "context"}}
[[strategies]]
name = "first_sentence"
[[strategies]]
name = "flaky"
params = {{failures_per_item = 0, fail_forever_every = 10}}
"""


def question_row(i: int) -> dict[str, object]:
    return {
        "id": f"q{i:07d}",
        "question": f"What holds for item {i} of topic {i % 97}?",
        "answers": [f"Fact {i} holds"],
        "context": f"Fact {i} holds for topic {i % 97}. Some more text about item {i}.",
    }


def write_dataset(folder: Path, questions: int) -> Path:
    suite_path = folder / "suite.toml"
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as stream:
        for i in range(questions):
            stream.write(json.dumps(question_row(i)) + "\n")
    suite_path.write_text(SUITE.format(questions="questions.jsonl"), encoding="utf-8")
    return suite_path


def base_run(work: Path) -> tuple[Path, str]:
    """The real run: BASE_QUESTIONS questions × 2 plugin strategies through the runner."""
    folder = work / "base"
    folder.mkdir()
    suite = load_suite(write_dataset(folder, BASE_QUESTIONS))
    settings = RunSettings(results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False)
    outcome = run_suite(suite, settings)
    return folder / "results", outcome.manifest.run_id


def scaled_run(work: Path, base_results: Path, base_id: str, items: int) -> tuple[Path, str]:
    """A run of `items` items: the base run's records replicated onto items/2 generated questions."""
    if items == 2 * BASE_QUESTIONS:
        return base_results, base_id
    folder = work / f"n{items}"
    folder.mkdir()
    questions = items // 2
    suite_path = write_dataset(folder, questions)
    spec = load_suite(suite_path).dataset_specs()[0]
    dataset = load_dataset(spec)
    base = RunStore(runs_dir(base_results) / base_id)
    manifest = base.read_manifest()
    templates = {(r.strategy, int(r.item_id[1:])): r for r in base.read_items_readonly().items}
    run_id = f"{base_id}-x{items}"
    store = RunStore(runs_dir(folder / "results") / run_id)
    recorded = manifest.datasets["generated"].model_dump()
    recorded.update(fingerprint=dataset.fingerprint, n_test=questions, n_test_total=questions)
    store.write_manifest(
        manifest.model_copy(
            update={
                "run_id": run_id,
                "suite_path": str(suite_path.resolve()),
                "datasets": {"generated": DatasetManifest.model_validate(recorded)},
                "counts": manifest.counts.model_copy(update={"items": items}),
            }
        )
    )
    lines = []
    for strategy in ("first_sentence", "flaky"):
        for i in range(questions):
            template = templates[(strategy, i % BASE_QUESTIONS)]
            lines.append(_renumbered(template, i % BASE_QUESTIONS, i).model_dump_json())
    atomic_write_text(store.items_path, "\n".join(lines) + "\n")
    return folder / "results", run_id


def _renumbered(template: ItemResult, old: int, new: int) -> ItemResult:
    """`template` as the record of question `new`: its id, and its texts speaking of item `new`."""
    raw = template.model_dump_json()
    raw = raw.replace(f"q{old:07d}", f"q{new:07d}")
    raw = re.sub(rf"\b(Fact|item) {old}\b", lambda m: f"{m.group(1)} {new}", raw)
    return ItemResult.model_validate_json(raw)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident set, peak resident set) of a process in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss / 1024, peak / 1024


def fetch(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
        assert response.status == 200, (url, response.status)
    return time.perf_counter() - started, len(body)


def serve(results: Path, index_dir: Path, run_id: str, items: int) -> dict[str, Any]:
    """Start a server, time the pages, read its memory, stop it."""
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(results), str(index_dir), str(port)], env=environment)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(base + "/static/app.css")
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "the server did not start"
                time.sleep(0.1)
        started_rss, _ = memory_mb(process.pid)
        figures: dict[str, Any] = {"rss_start_mb": round(started_rss, 1)}
        run = f"{base}/runs/{run_id}"
        pages = {
            "first_page_s": run,
            "second_request_s": run,
            "last_page_s": f"{run}?page={max(1, items // 50)}",
            "failed_only_s": f"{run}?status=error",
            "text_search_s": f"{run}?text=item%20{items // 3}%20",
            "sort_by_f1_s": f"{run}?sort=f1&descending=1",
            "item_page_s": f"{run}/items/{items // 2}",
        }
        for name, url in pages.items():
            figures[name] = round(fetch(url)[0], 3)
        rss, peak = memory_mb(process.pid)
        figures.update(rss_after_mb=round(rss, 1), rss_peak_mb=round(peak, 1))
        return figures
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="items per run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-view-") as temporary:
        work = Path(temporary)
        base_results, base_id = base_run(work)
        for items in arguments.sizes:
            results, run_id = scaled_run(work, base_results, base_id, items)
            index_dir = work / f"index-{items}"
            cold = serve(results, index_dir, run_id, items)
            warm = serve(results, index_dir, run_id, items)
            items_mb = (runs_dir(results) / run_id / "items.jsonl").stat().st_size / 2**20
            index_mb = sum(p.stat().st_size for p in index_dir.glob("*.sqlite")) / 2**20
            rows.append(
                {
                    "items": items,
                    "items_jsonl_mb": round(items_mb, 1),
                    "index_mb": round(index_mb, 1),
                    "cold": cold,
                    "warm": warm,
                }  # fmt: skip
            )
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(
        "| items | items.jsonl | cold: first page (builds index) | warm: first page | last page | failed only "
        "| text search | sort by f1 | item page | server RSS warm (start → after) | peak RSS cold |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cold, warm = row["cold"], row["warm"]
        print(
            f"| {row['items']:,} | {row['items_jsonl_mb']} MB | {cold['first_page_s']:.2f} s | "
            f"{warm['first_page_s']:.3f} s | {warm['last_page_s']:.3f} s | {warm['failed_only_s']:.3f} s | "
            f"{warm['text_search_s']:.3f} s | {warm['sort_by_f1_s']:.3f} s | {warm['item_page_s']:.3f} s | "
            f"{warm['rss_start_mb']:.0f} → {warm['rss_after_mb']:.0f} MB | {cold['rss_peak_mb']:.0f} MB |"
        )
    slow = [row["items"] for row in rows if row["warm"]["first_page_s"] > GOAL_FIRST_PAGE_S]
    print(f"\nwarm first page under {GOAL_FIRST_PAGE_S:g} s: {'no, at ' + str(slow) if slow else 'yes, at every size'}")
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
