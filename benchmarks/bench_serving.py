"""Fine-tuning an HF model folder on this machine and serving the adapter: training time, and answers per second
in-process against a `llama_cpp.server` the strategy starts (issue #13). Ratios come from one run on one machine.

Steps, each timed:
1. an HF-format copy of the embedded SmolLM2 (`strategies.hf_models.export_hf_copy`), unless --hf-model names one;
2. LoRA training on that folder with the default fine-tuning parameters (squad-mini's train split; 60 steps),
   in a fresh cache so it really trains;
3. the same N squad-mini test questions answered closed-book by the fine-tuned model in-process (llama.cpp) and
   through the server (start-up timed apart), alternating blocks of 10 so a busy machine slows both alike; the
   answers must be identical.

    HF_HUB_OFFLINE=1 python benchmarks/bench_serving.py --items 100

Writes benchmarks/results/bench_serving.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from evals.core.types import RunContext
from evals.data import load_dataset
from evals.engine.model_runtime import configure_model_runtime
from strategies.backends.model_files import default_generator_path
from strategies.finetuned import Finetuned, FinetunedParams
from strategies.hf_models import export_hf_copy

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "bench_serving.json"
BLOCK = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100, help="squad-mini test questions answered per runtime")
    parser.add_argument("--hf-model", type=Path, help="an HF copy of the embedded model (default: made here)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    configure_model_runtime()
    with tempfile.TemporaryDirectory() as scratch:
        figures = measure(args.items, args.hf_model, Path(scratch))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    for name, value in figures.items():
        print(f"{name:32} {value}")


def measure(n_items: int, hf_model: Path | None, scratch: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "items": n_items}
    if hf_model is None:
        started = time.perf_counter()
        hf_model = export_hf_copy(default_generator_path(), scratch / "smollm2-hf")
        figures["hf_copy_s"] = round(time.perf_counter() - started, 1)
    dataset = load_dataset("squad-mini")
    test = list(dataset.test[:n_items])
    context = RunContext(cache_dir=scratch / "cache")
    finetune = {"base_model": str(hf_model), "device": "cpu"}
    in_process = Finetuned(FinetunedParams.model_validate({"finetune": finetune}), context)
    served = Finetuned(
        FinetunedParams.model_validate({"generator": {"backend": "llama_cpp_server"}, "finetune": finetune}), context
    )
    setup = in_process.prepare(dataset.train, [])
    figures["training_s"] = round(setup.seconds, 1)
    figures["training_steps"] = setup.details["steps"]
    figures["training_tokens"] = setup.training_tokens
    started = time.perf_counter()
    served.prepare(dataset.train, [])  # the adapter is cached now: this is the server's start-up
    figures["server_start_s"] = round(time.perf_counter() - started, 1)
    seconds = {"in_process": 0.0, "served": 0.0}
    answers: dict[str, list[str]] = {"in_process": [], "served": []}
    try:
        for block in range(0, len(test), BLOCK):
            for name, strategy in (("in_process", in_process), ("served", served)):
                started = time.perf_counter()
                answers[name] += [strategy.answer(item).text for item in test[block : block + BLOCK]]
                seconds[name] += time.perf_counter() - started
    finally:
        in_process.close()
        served.close()
    figures["answers_per_s_in_process"] = round(n_items / seconds["in_process"], 2)
    figures["answers_per_s_served"] = round(n_items / seconds["served"], 2)
    figures["served_over_in_process_time"] = round(seconds["served"] / seconds["in_process"], 2)
    figures["identical_answers"] = sum(a == b for a, b in zip(answers["in_process"], answers["served"], strict=True))
    return figures


if __name__ == "__main__":
    main()
