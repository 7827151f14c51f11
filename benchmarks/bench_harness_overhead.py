"""Harness overhead: answering through `evals` (runner, strategy, scoring, result files) against the
same prompts on raw llama.cpp, in one process, repeated and interleaved.

The harness side runs the `closed_book` strategy over N squad-mini test questions with the answer
cache off; its time is the run's wall time minus the one-off model load (setup). The raw side calls
`Llama.create_chat_completion` on the identical messages, resetting the KV cache between prompts as
the backend does. The ratio of median seconds per answer is the overhead (goal: <= 1.05).

    HF_HUB_OFFLINE=1 python benchmarks/bench_harness_overhead.py --items 30 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from evals.core.suite import Suite
from evals.data import load_dataset
from evals.engine.runner import RunSettings, SuiteRun
from strategies.backends.model_files import default_generator_path
from strategies.prompts import closed_book_messages

GOAL_RATIO = 1.05
MAX_TOKENS = 24


def raw_llama_seconds(questions: list[str]) -> float:
    """Seconds per answer on raw llama-cpp-python (model load excluded)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(default_generator_path()), n_ctx=2048, seed=0, verbose=False)
    started = time.perf_counter()
    for question in questions:
        llm.reset()
        messages = [message.model_dump() for message in closed_book_messages(question)]
        llm.create_chat_completion(messages=messages, max_tokens=MAX_TOKENS, temperature=0.0, seed=0)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    llm.close()
    return elapsed / len(questions)


def harness_seconds(items: int, folder: Path) -> float:
    """Seconds per answer through the harness (model load excluded)."""
    suite = Suite(
        name="overhead",
        datasets=[{"name": "squad-mini", "limit": items}],
        strategies=[{"name": "closed_book", "params": {"generator": {"max_tokens": MAX_TOKENS}}}],
    )
    settings = RunSettings(
        results_dir=folder / "results", cache_dir=folder / "cache", use_cache=False, resume=False, show_progress=False
    )
    run = SuiteRun(suite, settings, Console(stderr=True, quiet=True))
    started = time.perf_counter()
    outcome = asyncio.run(run.run())
    elapsed = time.perf_counter() - started - outcome.manifest.setups[0].setup.seconds
    return elapsed / items


def benchmark(items: int, repeats: int) -> dict[str, Any]:
    questions = [item.question for item in load_dataset("squad-mini").test[:items]]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(repeats):
            order = ["raw", "harness"] if repeat % 2 == 0 else ["harness", "raw"]
            for path in order:
                folder = Path(scratch) / f"{repeat}-{path}"
                seconds = raw_llama_seconds(questions) if path == "raw" else harness_seconds(items, folder)
                runs.append({"repeat": repeat + 1, "path": path, "seconds_per_answer": seconds})
    median = {p: statistics.median(r["seconds_per_answer"] for r in runs if r["path"] == p) for p in ("raw", "harness")}
    ratio = median["harness"] / median["raw"]
    return {
        "items": items,
        "repeats": repeats,
        "median_seconds_per_answer": median,
        "ratio": ratio,
        "goal": f"<= {GOAL_RATIO}",
        "met": ratio <= GOAL_RATIO,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = benchmark(args.items, args.repeats)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
