"""Harness speed and memory at scale (issue #17): every figure is a ratio against a baseline measured in the
same run, on the same machine, so a busy machine moves both sides.

- cold: `evals run` of a trivial strategy (`echo`, from the example plugin: it returns the first gold answer,
  no model) over N generated items, squad scorer only, empty cache; against a plain loop that reads the same
  items, answers, scores them with the official SQuAD v1.1 functions and appends each record to a JSONL file.
  Two plain loops are timed: "durable" fsyncs every record (what the harness promised per item before group
  commit; the issue's baseline) and "buffered" fsyncs once at the end (the least a loop can do). Goal: <= 3x
  the durable loop.
- warm: the same run again (`--fresh`: a new run, every answer from the cache). Goal: <= 2x the durable loop.
- peak RSS: `evals run` (cold) at each size in --rss-items, each in its own process, measured with
  `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` by a wrapper process. Goal: <= 400 MB and flat in N. The
  peak of loading the same dataset alone (its own copy of the file, so Hugging Face `datasets` converts it
  afresh, as in the run) is reported next to it: the part of the run's peak that is the dataset's.
- `evals score` on a full-dev-sized SQuAD v1.1 file (the shared dev subset's articles repeated with new ids up
  to 10,570 questions) against the official v1.1 evaluation script (its logic, inline below). Goal: <= 1.5x.
- scorer throughput: `SquadScorer.score` (EM and F1, normalized) against ragas's non-LLM `ExactMatch` on the
  same items, through `ragas.evaluate` (how ragas scores a dataset); ragas's per-sample calls are reported
  too. Goal: >= 10x.
- concurrency: `closed_book` on the `openai` backend against a local OpenAI-compatible server (starlette +
  uvicorn on 127.0.0.1) that answers every request after 100 ms; efficiency = achieved requests/s (counted
  by the server, first arrival to last reply) / (concurrency / 0.1 s). Goals: >= 0.9 at 8, >= 0.8 at 32.

    HF_HUB_OFFLINE=1 python benchmarks/bench_scale.py --items 10000 --rss-items 10000,100000

Writes benchmarks/results/bench_scale.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evals.engine.model_runtime import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = REPO / "tests" / "example_plugin"
SQUAD_DEV_SUBSET = REPO.parent / "shared" / "data" / "squad" / "dev-v1.1-subset.json"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "bench_scale.json"
FULL_DEV_QUESTIONS = 10_570  # SQuAD v1.1 dev
SERVER_DELAY_S = 0.1

# The official SQuAD v1.1 evaluation script (evaluate-v1.1.py), as published with the dataset; only the
# Python 2 `from __future__ import print_function` line is left out. `evals/scoring/squad.py` mirrors it.
OFFICIAL_SQUAD_V11 = r'''
""" Official evaluation script for v1.1 of the SQuAD dataset. """
from collections import Counter
import string
import re
import argparse
import json
import sys


def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return (normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article['paragraphs']:
            for qa in paragraph['qas']:
                total += 1
                if qa['id'] not in predictions:
                    message = 'Unanswered question ' + qa['id'] + \
                              ' will receive score 0.'
                    print(message, file=sys.stderr)
                    continue
                ground_truths = list(map(lambda x: x['text'], qa['answers']))
                prediction = predictions[qa['id']]
                exact_match += metric_max_over_ground_truths(
                    exact_match_score, prediction, ground_truths)
                f1 += metric_max_over_ground_truths(
                    f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total

    return {'exact_match': exact_match, 'f1': f1}


if __name__ == '__main__':
    expected_version = '1.1'
    parser = argparse.ArgumentParser(
        description='Evaluation for SQuAD ' + expected_version)
    parser.add_argument('dataset_file', help='Dataset file')
    parser.add_argument('prediction_file', help='Prediction File')
    args = parser.parse_args()
    with open(args.dataset_file) as dataset_file:
        dataset_json = json.load(dataset_file)
        if (dataset_json['version'] != expected_version):
            print('Evaluation expects v-' + expected_version +
                  ', but got dataset with v-' + dataset_json['version'],
                  file=sys.stderr)
        dataset = dataset_json['data']
    with open(args.prediction_file) as prediction_file:
        predictions = json.load(prediction_file)
    print(json.dumps(evaluate(dataset, predictions)))
'''

# The plain loop: what `evals run` of the echo strategy does, without a harness. argv: items.jsonl, out.jsonl,
# durable (1: fsync every record, 0: once at the end). It imports the official script's functions.
PLAIN_LOOP = r"""
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
from official_squad_v11 import exact_match_score, f1_score, metric_max_over_ground_truths
items_path, out_path, durable = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
with open(items_path, encoding="utf-8") as items, open(out_path, "a", encoding="utf-8") as out:
    for line in items:
        item = json.loads(line)
        answer = item["answers"][0]  # the echo strategy
        record = {
            "item_id": item["id"],
            "answer": answer,
            "exact_match": float(metric_max_over_ground_truths(exact_match_score, answer, item["answers"])),
            "f1": float(metric_max_over_ground_truths(f1_score, answer, item["answers"])),
        }
        out.write(json.dumps(record) + "\n")
        if durable:
            out.flush()
            os.fsync(out.fileno())
    out.flush()
    os.fsync(out.fileno())
"""

# Runs a command and reports its wall time and its peak RSS (the only child this process ever waits for).
MEASURE = r"""
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
result = {"seconds": seconds, "max_rss_mb": peak, "returncode": done.returncode, "stderr": done.stderr[-3000:]}
print(json.dumps(result))
"""

# Loads a suite's datasets and does nothing else: the share of a run's peak RSS that is the loaded dataset's.
LOAD_ONLY = r"""
import sys
from pathlib import Path
from evals import load_suite
from evals.data import load_dataset
datasets = [load_dataset(spec) for spec in load_suite(Path(sys.argv[1])).dataset_specs()]
"""

# A local OpenAI-compatible endpoint: every chat completion is answered after SERVER_DELAY_S; /stats says how
# many were answered between the first arrival and the last reply.
SERVER = r"""
import asyncio, sys, time
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

DELAY = float(sys.argv[2])
state = {"count": 0, "first": None, "last": None, "in_flight": 0, "peak_in_flight": 0}

async def completions(request):
    started = time.perf_counter()
    if state["first"] is None:
        state["first"] = started
    state["in_flight"] += 1
    state["peak_in_flight"] = max(state["peak_in_flight"], state["in_flight"])
    await request.body()
    await asyncio.sleep(DELAY)
    state["in_flight"] -= 1
    state["count"] += 1
    state["last"] = time.perf_counter()
    return JSONResponse({
        "id": "cmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    })

async def stats(request):
    return JSONResponse(state)

async def reset(request):
    state.update(count=0, first=None, last=None, in_flight=0, peak_in_flight=0)
    return JSONResponse(state)

app = Starlette(routes=[
    Route("/v1/chat/completions", completions, methods=["POST"]),
    Route("/stats", stats), Route("/reset", reset, methods=["POST"]),
])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=2048)
"""


# ----------------------------------------------------------------------------------------------- helpers


def environment(cache_dir: Path) -> dict[str, str]:
    """The environment `evals` runs in: offline, the example plugin installed, its own answer cache."""
    python_path = os.pathsep.join(filter(None, [str(EXAMPLE_PLUGIN), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, **OFFLINE_ENV, "PYTHONPATH": python_path, "EVALS_CACHE_DIR": str(cache_dir)}


def measured(command: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall seconds and peak RSS (MB) of `command`, run to completion in its own process; fails loudly."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    if result["returncode"] != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result['returncode']}:\n{result['stderr']}")
    return result


def evals_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "evals", *args]


def write_items(folder: Path, n: int, seed: int = 0) -> Path:
    """N SQuAD-like question records (id, question, two answers) as JSON Lines."""
    rng = random.Random(seed)
    words = ("the", "of", "a", "river", "king", "city", "war", "music", "science", "paris", "1990", "water", "north")
    path = folder / f"items-{n}.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        for i in range(n):
            question = " ".join(rng.choice(words) for _ in range(12)) + "?"
            answers = [" ".join(rng.choice(words) for _ in range(3)) for _ in range(2)]
            stream.write(json.dumps({"id": f"q{i:07d}", "question": question, "answers": answers}) + "\n")
    return path


def write_suite(folder: Path, items: Path, name: str, strategy: str, concurrency: int = 8) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nconcurrency = {concurrency}\nscorers = ["squad"]\n\n'
        f'[[datasets]]\nname = "{items.stem}"\nformat = "jsonl"\ntest = "{items.name}"\n\n{strategy}',
        encoding="utf-8",
    )
    return path


ECHO = '[[strategies]]\nname = "echo"\n'


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else float("nan")


def figure(name: str, value: float, baseline: float, unit: str, goal: str, met: bool, **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "baseline": baseline, "unit": unit, "goal": goal, "met": met, **extra}


# ------------------------------------------------------------------------------------- cold, warm, memory


def bench_runs(scratch: Path, n: int, repeats: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cold and warm `evals run` of the echo strategy over N items against the plain loops, interleaved."""
    items = write_items(scratch, n)
    suite = write_suite(scratch, items, f"scale-{n}", ECHO)
    loop = scratch / "plain_loop.py"
    loop.write_text(PLAIN_LOOP, encoding="utf-8")
    (scratch / "official_squad_v11.py").write_text(OFFICIAL_SQUAD_V11, encoding="utf-8")
    small = write_suite(scratch, write_items(scratch, 100), "scale-100", ECHO)
    runs: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": [], "durable": [], "buffered": [], "startup": []}
    for repeat in range(repeats):
        work = scratch / f"repeat-{repeat}"
        work.mkdir()
        env = environment(work / "cache")
        units: list[list[tuple[str, list[str], dict[str, str] | None]]] = [  # warm follows its cold run
            [("durable", [sys.executable, str(loop), str(items), str(work / "d.jsonl"), "1"], None)],
            [
                ("cold", evals_command("run", str(suite), "--no-progress"), env),
                ("warm", evals_command("run", str(suite), "--no-progress", "--fresh"), env),
            ],
            [("buffered", [sys.executable, str(loop), str(items), str(work / "b.jsonl"), "0"], None)],
            [("startup", evals_command("run", str(small), "--no-progress"), env)],
        ]
        for unit in units if repeat % 2 == 0 else units[::-1]:
            for name, command, run_env in unit:
                runs[name].append(measured(command, work, run_env))
    median = {name: statistics.median(r["seconds"] for r in results) for name, results in runs.items() if results}
    rss = max(r["max_rss_mb"] for r in runs["cold"])
    per_item_ms = (median["cold"] - median["startup"]) / (n - 100) * 1000
    figures = [
        figure(
            f"cold run, {n:,} items vs plain loop (fsync per record)",
            median["cold"],
            median["durable"],
            "s",
            "<= 3x",
            median["cold"] <= 3 * median["durable"],
            ratio=ratio(median["cold"], median["durable"]),
            vs_buffered_loop=ratio(median["cold"], median["buffered"]),
        ),
        figure(
            f"warm re-run (all cached), {n:,} items vs plain loop (fsync per record)",
            median["warm"],
            median["durable"],
            "s",
            "<= 2x",
            median["warm"] <= 2 * median["durable"],
            ratio=ratio(median["warm"], median["durable"]),
            vs_buffered_loop=ratio(median["warm"], median["buffered"]),
        ),
    ]
    details = {
        "items": n,
        "repeats": repeats,
        "median_seconds": median,
        "cold_harness_ms_per_item_above_startup": per_item_ms,
        "plain_loop_buffered_ms_per_item": median["buffered"] / n * 1000,
        "cold_peak_rss_mb": rss,
        "runs": {
            name: [{k: r[k] for k in ("seconds", "max_rss_mb")} for r in results] for name, results in runs.items()
        },
    }
    return figures, details


def bench_memory(scratch: Path, sizes: Sequence[int], known: dict[int, float]) -> tuple[list[dict[str, Any]], dict]:
    """Peak RSS of a cold `evals run` at each size (each in its own process), and of loading its dataset alone."""
    peaks = dict(known)
    loading: dict[int, float] = {}
    for n in sizes:
        alone = scratch / f"load-{n}"
        alone.mkdir()
        suite = write_suite(alone, write_items(alone, n), f"load-{n}", ECHO)
        loaded = measured([sys.executable, "-c", LOAD_ONLY, str(suite)], alone, environment(alone / "cache"))
        loading[n] = loaded["max_rss_mb"]
        if n not in peaks:
            folder = scratch / f"rss-{n}"
            folder.mkdir()
            suite = write_suite(folder, write_items(folder, n), f"rss-{n}", ECHO)
            result = measured(evals_command("run", str(suite), "--no-progress"), folder, environment(folder / "cache"))
            peaks[n] = result["max_rss_mb"]
        note = f"loading the dataset alone: {loading[n]:.0f} MB"
        print(f"  peak RSS at {n:,} items: {peaks[n]:.0f} MB ({note})", file=sys.stderr)
    smallest, largest = min(sizes), max(sizes)
    growth = ratio(peaks[largest], peaks[smallest])
    figures = [
        figure(
            f"peak RSS, {n:,} items", peaks[n], 400.0, "MB", "<= 400 MB", peaks[n] <= 400, ratio=ratio(peaks[n], 400)
        )
        for n in sorted(sizes)
    ]
    if largest > smallest:
        figures.append(
            figure(
                f"peak RSS growth, {smallest:,} -> {largest:,} items",
                peaks[largest],
                peaks[smallest],
                "MB",
                "flat (<= 1.1x)",
                growth <= 1.1,
                ratio=growth,
            )
        )
    return figures, {
        "peak_rss_mb": {str(n): peaks[n] for n in sorted(peaks)},
        "dataset_load_peak_rss_mb": {str(n): loading[n] for n in sorted(loading)},
    }


# ------------------------------------------------------------------------------------------- evals score


def write_full_dev(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """A SQuAD v1.1 file of full-dev size (the dev subset's articles repeated with new ids) and predictions:
    the first gold answer for 60%, the paragraph's first words for 35%, nothing for 5%."""
    subset = json.loads(SQUAD_DEV_SUBSET.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    data, predictions = [], {}
    copy = 0
    while len(predictions) < FULL_DEV_QUESTIONS:
        for article in subset["data"]:
            paragraphs = []
            for paragraph in article["paragraphs"]:
                qas = []
                for qa in paragraph["qas"]:
                    if len(predictions) == FULL_DEV_QUESTIONS:
                        break
                    qid = f"{qa['id']}-{copy}"
                    qas.append({**qa, "id": qid})
                    draw, words = rng.random(), paragraph["context"].split()
                    first = " ".join(words[: rng.randint(1, 8)])
                    predictions[qid] = qa["answers"][0]["text"] if draw < 0.6 else first if draw < 0.95 else ""
                if qas:
                    paragraphs.append({**paragraph, "qas": qas})
            if paragraphs:
                data.append({"title": f"{article['title']} ({copy})", "paragraphs": paragraphs})
        copy += 1
    dev, preds = folder / "dev-full-v1.1.json", folder / "predictions.json"
    dev.write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    preds.write_text(json.dumps(predictions), encoding="utf-8")
    return dev, preds


def bench_score(scratch: Path, repeats: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`evals score` against the official script on the same full-dev-sized file, interleaved; their scores
    must agree."""
    folder = scratch / "score"
    folder.mkdir()
    dev, preds = write_full_dev(folder)
    official = folder / "evaluate-v1.1.py"
    official.write_text(OFFICIAL_SQUAD_V11, encoding="utf-8")
    env = environment(folder / "cache")
    commands = {
        "official": [sys.executable, str(official), str(dev), str(preds)],
        "evals": evals_command("score", str(dev), str(preds), "--json"),
    }
    outputs = {name: json.loads(subprocess.run(c, env=env, capture_output=True, text=True, check=True).stdout)
               for name, c in commands.items()}  # fmt: skip
    agree = outputs["evals"] == outputs["official"]  # to the last digit
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for repeat in range(repeats):
        for name in commands if repeat % 2 == 0 else list(commands)[::-1]:
            seconds[name].append(measured(commands[name], folder, env)["seconds"])
    median = {name: statistics.median(values) for name, values in seconds.items()}
    r = ratio(median["evals"], median["official"])
    return [
        figure(
            f"evals score, full dev ({FULL_DEV_QUESTIONS:,} questions) vs official script",
            median["evals"],
            median["official"],
            "s",
            "<= 1.5x",
            r <= 1.5 and agree,
            ratio=r,
        )
    ], {"score_seconds": seconds, "scores": outputs, "scores_agree": agree}


# ----------------------------------------------------------------------------------------- scorer speed


def bench_scorer(scratch: Path, repeats: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Items per second: SquadScorer.score vs ragas ExactMatch on the full-dev-sized items."""
    from evals.core.types import Answer, QAItem
    from evals.data.dataset import QADataset
    from evals.scoring.squad import SquadScorer

    folder = scratch / "scorer"
    folder.mkdir()
    dev, preds = write_full_dev(folder)
    predictions = json.loads(preds.read_text(encoding="utf-8"))
    payload = json.loads(dev.read_text(encoding="utf-8"))
    items = [
        QAItem(id=qa["id"], question=qa["question"], answers=[a["text"] for a in qa["answers"]])
        for article in payload["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    answers = [Answer(text=predictions[item.id]) for item in items]
    n = len(items)

    def squad_rate() -> float:
        scorer = SquadScorer(QADataset(name="dev", corpus=[], train=[], test=items, source="bench"))
        started = time.perf_counter()
        for item, answer in zip(items, answers, strict=True):
            scorer.score(item, answer)
        return n / (time.perf_counter() - started)

    warnings.simplefilter("ignore")  # ragas deprecation notices
    from ragas import EvaluationDataset, evaluate
    from ragas.dataset_schema import SingleTurnSample
    from ragas.metrics import ExactMatch as LegacyExactMatch
    from ragas.metrics.collections import ExactMatch

    rows = [
        {"reference": item.answers[0], "response": answer.text} for item, answer in zip(items, answers, strict=True)
    ]

    def ragas_evaluate_rate() -> float:
        dataset = EvaluationDataset.from_list(rows)
        started = time.perf_counter()
        evaluate(dataset, metrics=[LegacyExactMatch()], show_progress=False)
        return n / (time.perf_counter() - started)

    def ragas_sample_rate() -> float:
        metric, sample = LegacyExactMatch(), rows[: min(n, 3000)]
        started = time.perf_counter()
        for row in sample:
            metric.single_turn_score(SingleTurnSample(**row))
        return len(sample) / (time.perf_counter() - started)

    def ragas_collections_rate() -> float:
        metric, sample = ExactMatch(), rows[: min(n, 3000)]
        started = time.perf_counter()
        for row in sample:
            metric.score(**row)
        return len(sample) / (time.perf_counter() - started)

    def ragas_bare_coroutine_rate() -> float:
        metric = ExactMatch()

        async def all_rows() -> float:
            started = time.perf_counter()
            for row in rows:
                await metric.ascore(**row)
            return n / (time.perf_counter() - started)

        return asyncio.run(all_rows())

    rates: dict[str, list[float]] = {
        "squad_scorer": [],
        "ragas_evaluate": [],
        "ragas_single_turn_score": [],
        "ragas_collections_score": [],
        "ragas_collections_ascore_loop": [],
    }
    for _ in range(repeats):
        rates["squad_scorer"].append(squad_rate())
        rates["ragas_evaluate"].append(ragas_evaluate_rate())
        rates["ragas_single_turn_score"].append(ragas_sample_rate())
        rates["ragas_collections_score"].append(ragas_collections_rate())
        rates["ragas_collections_ascore_loop"].append(ragas_bare_coroutine_rate())
    median = {name: statistics.median(values) for name, values in rates.items()}
    r = ratio(median["squad_scorer"], median["ragas_evaluate"])
    return [
        figure(
            "SquadScorer (EM+F1) vs ragas ExactMatch via ragas.evaluate, items/s",
            median["squad_scorer"],
            median["ragas_evaluate"],
            "items/s",
            ">= 10x",
            r >= 10,
            ratio=r,
            vs_ragas_per_sample={
                name: ratio(median["squad_scorer"], median[name])
                for name in ("ragas_single_turn_score", "ragas_collections_score", "ragas_collections_ascore_loop")
            },
        )
    ], {"scorer_items_per_second": median, "scorer_items": n}


# ------------------------------------------------------------------------------------------ concurrency


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_json(url: str, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def bench_concurrency(scratch: Path, levels: Sequence[int], rounds: int) -> tuple[list[dict[str, Any]], dict]:
    """Efficiency of `closed_book` on the openai backend against the 100 ms local server."""
    folder = scratch / "concurrency"
    folder.mkdir()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(SERVER_DELAY_S)], env=environment(folder))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                http_json(f"{base}/stats")
                break
            except OSError:
                time.sleep(0.05)
        items = write_items(folder, max(levels) * rounds)
        strategy = (
            '[[strategies]]\nname = "closed_book"\n'
            f'params = {{generator = {{backend = "openai", model = "bench", base_url = "{base}/v1", '
            'api_key_env = "BENCH_SCALE_NO_KEY"}}\n'
        )
        suite = write_suite(folder, items, "concurrency", strategy)
        figures, details = [], {}
        for level in levels:
            http_json(f"{base}/reset", "POST")
            n = level * rounds
            work = folder / f"c{level}"
            work.mkdir()
            command = evals_command(
                "run", str(suite), "--limit", str(n), "--concurrency", str(level), "--no-progress", "--no-cache"
            )
            measured(command, work, environment(work / "cache"))
            stats = http_json(f"{base}/stats")
            achieved = stats["count"] / (stats["last"] - stats["first"])
            ideal = level / SERVER_DELAY_S
            efficiency = achieved / ideal
            goal = 0.9 if level <= 8 else 0.8
            figures.append(
                figure(
                    f"concurrency {level}: achieved / ideal requests per second",
                    achieved,
                    ideal,
                    "req/s",
                    f">= {goal}",
                    efficiency >= goal,
                    ratio=efficiency,
                    peak_in_flight=stats["peak_in_flight"],
                )
            )
            details[str(level)] = {**stats, "requests": n, "achieved_rps": achieved, "ideal_rps": ideal}
        return figures, {"concurrency": details}
    finally:
        server.terminate()
        server.wait(timeout=10)


# ------------------------------------------------------------------------------------------------- main


def print_table(figures: Sequence[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="evals at scale (ratio = harness / baseline measured in the same run)")
    for header in ("figure", "harness", "baseline", "ratio", "goal", "met"):
        table.add_column(header, justify="left" if header in ("figure", "goal") else "right")
    for f in figures:
        unit = f["unit"]
        table.add_row(
            f["name"],
            f"{f['value']:,.3g} {unit}",
            f"{f['baseline']:,.3g} {unit}",
            f"{f['ratio']:.2f}x" if "ratio" in f else "",
            f["goal"],
            "yes" if f["met"] else "NO",
        )
    Console(width=160).print(table)


def write_report(path: Path, figures: list[dict[str, Any]], details: dict[str, Any], seconds: float) -> None:
    report = {
        "benchmark": "bench_scale",
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "seconds": seconds,
        "figures": figures,
        "details": details,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="items of the cold/warm runs")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of each timing (medians)")
    parser.add_argument(
        "--rss-items", default="10000,100000", help="comma-separated sizes for peak RSS (100k takes minutes)"
    )
    parser.add_argument("--concurrency", default="8,32", help="comma-separated concurrency levels")
    parser.add_argument("--rounds", type=int, default=50, help="requests per concurrency slot")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: runs,memory,score,scorer,concurrency"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    figures: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as temporary:
        scratch = Path(temporary)
        known: dict[int, float] = {}
        parts: list[tuple[str, Callable[[], tuple[list[dict[str, Any]], dict[str, Any]]]]] = [
            ("runs", lambda: bench_runs(scratch, args.items, args.repeats)),
            ("memory", lambda: bench_memory(scratch, [int(s) for s in args.rss_items.split(",")], known)),
            ("score", lambda: bench_score(scratch, max(args.repeats, 3))),
            ("scorer", lambda: bench_scorer(scratch, max(args.repeats, 3))),
            (
                "concurrency",
                lambda: bench_concurrency(scratch, [int(c) for c in args.concurrency.split(",")], args.rounds),
            ),
        ]
        for name, part in parts:
            if name in skip:
                continue
            print(f"{name} …", file=sys.stderr)
            part_figures, part_details = part()
            figures += part_figures
            details[name] = part_details
            if name == "runs":
                known[args.items] = part_details["cold_peak_rss_mb"]
            write_report(args.out, figures, details, time.perf_counter() - started)  # after each part
    print_table(figures)
    print(f"figures: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
