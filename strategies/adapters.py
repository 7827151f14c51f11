"""Fine-tuning a LoRA adapter on a dataset's train split, cached by content hash.

The adapter is trained with transformers + peft on the CPU, exported to GGUF and served by
llama.cpp on top of the same base GGUF the other strategies use, so latencies compare fairly.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evals.core.types import QAItem, SetupReport
from evals.infra.atomic import locked
from evals.infra.hashing import content_hash, file_sha256
from strategies.lora_gguf import export_lora_gguf
from strategies.lora_training import (
    TRAINING_THREADS,
    LoraParams,
    LoraTrainingResult,
    TrainingExample,
    train_lora,
    training_steps,
)
from strategies.prompts import CLOSED_BOOK_SYSTEM

ADAPTER_FILE = "adapter.gguf"
RESULT_FILE = "training.json"


class FinetuneParams(BaseModel):
    """LoRA hyper-parameters and how many train questions to learn from.

    Training lasts `epochs` passes over the training pairs, capped at `max_steps` optimizer steps:
    steps = min(max_steps, ceil(epochs × pairs / batch_size)). The defaults (1 epoch, batch 8, cap 60)
    train squad-mini's 1,157 train questions for 60 steps (480 pairs seen, as before epochs existed) and
    30 pairs for 4 steps (one pass), not 60 steps (16 passes over the same 30 answers).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_examples: int | None = Field(default=None, ge=1, description="train questions used (a seeded sample)")
    rank: int = Field(default=16, ge=1)
    alpha: float = Field(default=32.0, gt=0)
    learning_rate: float = Field(default=1e-3, gt=0)
    epochs: float = Field(default=1.0, gt=0, description="passes over the training pairs (capped by max_steps)")
    max_steps: int = Field(default=60, ge=1, description="cap on optimizer steps, whatever the epochs ask for")
    batch_size: int = Field(default=8, ge=1)
    max_length: int = Field(default=96, ge=16)
    seed: int = 0
    num_threads: int = Field(
        default=TRAINING_THREADS, ge=1, description="torch threads while training; part of the adapter's identity"
    )

    def steps(self, examples: int) -> int:
        """Optimizer steps for `examples` training pairs (see the class doc)."""
        return training_steps(examples, self.epochs, self.batch_size, self.max_steps)

    def lora_params(self, examples: int) -> LoraParams:
        """The training run for `examples` pairs: its `max_steps` is the number of steps it takes. The adapter
        cache hashes these (not `epochs`), so two settings that train the same steps share one adapter."""
        return LoraParams(
            rank=self.rank,
            alpha=self.alpha,
            learning_rate=self.learning_rate,
            max_steps=self.steps(examples),
            batch_size=self.batch_size,
            max_length=self.max_length,
            seed=self.seed,
            num_threads=self.num_threads,
            system_prompt=CLOSED_BOOK_SYSTEM,
        )

    def determinism(self) -> str:
        """How reproducible the trained adapter is, for `Strategy.determinism`."""
        return (
            f"deterministic on one CPU type and software stack: seed {self.seed}, {self.num_threads} torch threads, "
            "deterministic algorithms, seeded batch order (the adapter is cached by content hash; "
            "another CPU instruction set or torch/MKL build may change its last bits)"
        )


class TrainedAdapter(BaseModel):
    """An adapter on disk and the setup report of the training that made it."""

    path: Path
    setup: SetupReport


def training_examples(train: Sequence[QAItem], params: FinetuneParams) -> list[TrainingExample]:
    """Question → first reference answer for every answerable train item (a seeded sample if capped)."""
    items = [item for item in train if item.answers and not item.is_impossible]
    if params.max_examples is not None and params.max_examples < len(items):
        items = random.Random(params.seed).sample(items, params.max_examples)
    return [TrainingExample(prompt=item.question, completion=item.answers[0]) for item in items]


def prepare_adapter(
    base_gguf: Path, model_name: str, train: Sequence[QAItem], params: FinetuneParams, cache_dir: Path
) -> TrainedAdapter:
    """Train (or reuse) the adapter for this base model, data and hyper-parameters."""
    examples = training_examples(train, params)
    if not examples:
        raise ValueError("the dataset has no answerable train questions to fine-tune on")
    key = content_hash(
        {
            "base": file_sha256(base_gguf),
            "examples": [e.model_dump() for e in examples],
            "lora": params.lora_params(len(examples)).model_dump(mode="json"),
        },
        length=32,
    )
    directory = cache_dir / "adapters" / key
    with locked(directory):
        if (directory / ADAPTER_FILE).is_file() and (directory / RESULT_FILE).is_file():
            result = LoraTrainingResult.model_validate_json((directory / RESULT_FILE).read_text(encoding="utf-8"))
            return TrainedAdapter(
                path=directory / ADAPTER_FILE,
                setup=_setup_report(result, model_name, directory, params, len(examples), cached=True),
            )
        started = time.perf_counter()
        work = directory.with_name(f".{key}.training")
        shutil.rmtree(work, ignore_errors=True)
        result = _train_with_progress(base_gguf, examples, params.lora_params(len(examples)), work)
        export_lora_gguf(result.adapter_dir, work / ADAPTER_FILE, base_gguf)
        result = result.model_copy(update={"seconds": time.perf_counter() - started})
        (work / RESULT_FILE).write_text(result.model_dump_json(indent=2), encoding="utf-8")
        shutil.rmtree(directory, ignore_errors=True)
        work.rename(directory)
    return TrainedAdapter(
        path=directory / ADAPTER_FILE,
        setup=_setup_report(result, model_name, directory, params, len(examples), cached=False),
    )


def _train_with_progress(
    base_gguf: Path, examples: list[TrainingExample], params: LoraParams, out_dir: Path
) -> LoraTrainingResult:
    progress = Progress(
        TextColumn("fine-tuning LoRA"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    task = progress.add_task("train", total=params.max_steps, loss=float("nan"))
    with progress:
        return train_lora(
            base_gguf,
            examples,
            params,
            out_dir,
            progress=lambda step, total, loss: progress.update(task, completed=step, loss=loss),
        )


def _setup_report(
    result: LoraTrainingResult, model_name: str, directory: Path, params: FinetuneParams, examples: int, cached: bool
) -> SetupReport:
    seen = result.steps * min(result.params.batch_size, examples)
    return SetupReport(
        seconds=result.seconds,
        training_tokens=result.trained_tokens,
        model=model_name,
        cached=cached,
        details={
            "adapter": str(directory / ADAPTER_FILE),
            "adapter_sha256": file_sha256(directory / ADAPTER_FILE),
            "steps": result.steps,
            "max_steps": params.max_steps,
            "epochs": params.epochs,
            "epochs_trained": round(seen / examples, 3),
            "training_examples": examples,
            "final_loss": result.final_loss,
            "examples_seen": seen,
            "completion_tokens": result.completion_tokens,
            "losses": [round(loss, 4) for loss in result.losses],
        },
    )
