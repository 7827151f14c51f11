"""The same commit and suite give the same answers, whatever the thread settings of the process.

Two `evals run` processes, each with its own results and cache folders (nothing comes from a cache),
run RAG and closed-book at temperature 0 with different OpenMP/MKL and llama.cpp thread counts;
their answers must agree item by item, bit for bit, retrieval scores included.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

ITEMS = 8

SUITE = """
name = "reproducibility"
seed = 0
concurrency = 1
scorers = ["squad"]

[[datasets]]
name = "squad-mini"
limit = {items}

[[strategies]]
name = "rag"
params = {{generator = {{n_threads = {threads}}}, retrieval = {{retriever = "dense"}}}}

[[strategies]]
name = "closed_book"
params = {{generator = {{n_threads = {threads}}}}}
"""


def run_in(workdir: Path, threads: int) -> dict[tuple[str, str], dict[str, Any]]:
    """One `evals run` in its own folder (own results/ and cache/) with `threads` everywhere; its items by
    (strategy, item id)."""
    workdir.mkdir()
    suite = workdir / "suite.toml"
    suite.write_text(SUITE.format(items=ITEMS, threads=threads), encoding="utf-8")
    environment = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    result = run_cli("run", str(suite), "--no-progress", cwd=workdir, env=environment, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (items_file,) = (workdir / "results" / "runs").glob("*/items.jsonl")
    records = [json.loads(line) for line in items_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(record["strategy"], record["item_id"]): record for record in records}


def answer_of(record: dict[str, Any]) -> tuple[str, str, list[tuple[str, str, float]]]:
    answer = record["answer"]
    contexts = [(context["doc_id"], context["text"], context["score"]) for context in answer["contexts"]]
    return answer["text"], answer["metadata"]["raw_text"], contexts


@pytest.mark.slow
def test_rag_and_closed_book_answers_do_not_depend_on_thread_settings(tmp_path: Path) -> None:
    runs: dict[int, dict[tuple[str, str], dict[str, Any]]] = {}
    failures: list[BaseException] = []

    def run(threads: int) -> None:
        try:
            runs[threads] = run_in(tmp_path / f"threads-{threads}", threads)
        except BaseException as error:  # reported below, from the test's own thread
            failures.append(error)

    # Both processes at once: each is mostly single-threaded, and shared cores must not matter either.
    workers = [threading.Thread(target=run, args=(threads,)) for threads in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]

    one, two = runs[1], runs[2]
    assert set(one) == set(two)
    assert len(one) == 2 * ITEMS
    assert all(record["status"] == "ok" and not record["cached"] for record in (*one.values(), *two.values()))
    for key in sorted(one):
        assert answer_of(one[key]) == answer_of(two[key]), key
    assert all(answer_of(one[("rag", item)])[2] for strategy, item in one if strategy == "rag"), "rag retrieved"


@pytest.mark.slow
def test_lora_training_does_not_depend_on_the_callers_threads_or_rng(tmp_path: Path) -> None:
    """Training pins its own seed, thread count and deterministic kernels, and hands the caller's back."""
    import numpy as np
    import torch
    from safetensors.numpy import load_file

    from strategies.backends.model_files import default_generator_path
    from strategies.lora_training import LoraParams, TrainingExample, train_lora

    examples = [
        TrainingExample(prompt="Who founded the Normandy duchy?", completion="Rollo"),
        TrainingExample(prompt="Which river flows through Paris?", completion="the Seine"),
        TrainingExample(prompt="When was the Eiffel Tower completed?", completion="1889"),
        TrainingExample(prompt="What is the capital of Sicily?", completion="Palermo"),
    ]
    params = LoraParams(rank=4, max_steps=3, batch_size=2, max_length=48, seed=0)
    previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    adapters = []
    try:
        for caller_threads, caller_seed in ((1, 1), (2, 2)):
            torch.set_num_threads(caller_threads)
            torch.manual_seed(caller_seed)
            result = train_lora(default_generator_path(), examples, params, tmp_path / f"run-{caller_threads}")
            assert torch.get_num_threads() == caller_threads
            assert not torch.are_deterministic_algorithms_enabled()
            adapters.append((result.losses, load_file(str(result.adapter_dir / "adapter_model.safetensors"))))
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])
    (losses, first), (losses_again, second) = adapters
    assert losses == losses_again
    assert first.keys() == second.keys() and first
    for name in first:
        assert np.array_equal(first[name], second[name]), name
    assert any(np.any(tensor != 0) for name, tensor in second.items() if "lora_B" in name), "training moved lora_B"
