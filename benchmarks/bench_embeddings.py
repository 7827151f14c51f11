"""Embedding throughput: `Embedder.embed` against raw `SentenceTransformer.encode`.

Both embed the same squad-mini sentences with the same batch size in one process, repeated and
interleaved (the order alternates each repeat) so that machine-load drift hits both alike.
The ratio of median throughputs measures the wrapper's overhead (goal: >= 0.95).

    HF_HUB_OFFLINE=1 python benchmarks/bench_embeddings.py --format markdown
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sentence_transformers import SentenceTransformer

from evals.data import load_dataset
from strategies.retrieval.chunking import split_sentences
from strategies.retrieval.embeddings import Embedder, model_dir

GOAL_RATIO = 0.95


def corpus_sentences(dataset: str, count: int) -> list[str]:
    """The first `count` sentences of the dataset's corpus, in corpus order."""
    sentences = [s for document in load_dataset(dataset).corpus for s in split_sentences(document.text)]
    if len(sentences) < count:
        raise SystemExit(f"{dataset} has only {len(sentences)} sentences; ask for fewer")
    return sentences[:count]


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def benchmark(sentences: Sequence[str], repeats: int, batch_size: int) -> dict[str, Any]:
    embedder = Embedder()
    raw = SentenceTransformer(str(model_dir()), device="cpu")
    paths: dict[str, Callable[[], np.ndarray]] = {
        "Embedder.embed": lambda: embedder.embed(sentences, batch_size=batch_size),
        "SentenceTransformer.encode": lambda: raw.encode(
            list(sentences), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        ),
    }
    outputs = {name: run() for name, run in paths.items()}  # warm-up (and the lazy model load)
    max_difference = float(np.abs(outputs["Embedder.embed"] - outputs["SentenceTransformer.encode"]).max())
    runs: list[dict[str, Any]] = []
    for repeat in range(repeats):
        order = list(paths) if repeat % 2 == 0 else list(reversed(paths))
        for name in order:
            seconds = timed(paths[name])
            runs.append({"repeat": repeat + 1, "path": name, "seconds": seconds, "per_s": len(sentences) / seconds})
    median = {name: statistics.median(r["per_s"] for r in runs if r["path"] == name) for name in paths}
    ratio = median["Embedder.embed"] / median["SentenceTransformer.encode"]
    return {
        "sentences": len(sentences),
        "batch_size": batch_size,
        "repeats": repeats,
        "runs": runs,
        "median_per_s": median,
        "ratio": ratio,
        "goal": GOAL_RATIO,
        "meets_goal": ratio >= GOAL_RATIO,
        "max_abs_difference": max_difference,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = ["| repeat | path | seconds | sentences/s |", "|---:|---|---:|---:|"]
    lines += [f"| {r['repeat']} | {r['path']} | {r['seconds']:.2f} | {r['per_s']:.1f} |" for r in report["runs"]]
    lines.append("")
    lines += [f"- median {name}: {value:.1f} sentences/s" for name, value in report["median_per_s"].items()]
    lines.append(
        f"- ratio Embedder/raw: {report['ratio']:.3f} (goal >= {report['goal']}, "
        f"{'met' if report['meets_goal'] else 'NOT met'}); {report['sentences']} sentences, "
        f"batch {report['batch_size']}; max |difference| {report['max_abs_difference']:.1e}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="squad-mini")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--format", choices=["json", "markdown"], default="markdown")
    args = parser.parse_args()
    report = benchmark(corpus_sentences(args.dataset, args.sentences), args.repeats, args.batch_size)
    print(json.dumps(report, indent=2) if args.format == "json" else markdown(report))


if __name__ == "__main__":
    main()
