"""Fine-tuning a LoRA adapter on a dataset's train split (or the user's train file), cached by content hash.

The adapter is trained with transformers + peft (CPU or CUDA) on a GGUF file or a Hugging Face model folder and
kept in peft format, which vLLM serves; `TrainedAdapter.gguf_for` exports it as a GGUF adapter for llama.cpp
(in-process or server) on top of the same base GGUF the other strategies use, so latencies compare fairly.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evals.core.errors import ConfigError
from evals.core.types import QAItem, SetupReport
from evals.infra.atomic import locked
from evals.infra.hashing import content_hash, file_sha256
from strategies.backends.factory import GeneratorParams
from strategies.hf_models import base_model_sha256, validate_base_model
from strategies.lora_gguf import export_lora_gguf
from strategies.lora_training import (
    ADAPTER_SUBDIR,
    TRAINING_THREADS,
    LoraParams,
    LoraTrainingResult,
    TrainingExample,
    train_lora,
    training_steps,
)
from strategies.prompts import CLOSED_BOOK_SYSTEM
from strategies.train_file import read_train_file
from strategies.training_device import DeviceWish, PrecisionWish, Quantization, TrainingDevice, resolve_training_device

RESULT_FILE = "training.json"
GGUF_EXPORTS = "gguf"


class FinetuneParams(BaseModel):
    """LoRA hyper-parameters and how many train questions to learn from.

    Training lasts `epochs` passes over the training pairs, capped at `max_steps` optimizer steps:
    steps = min(max_steps, ceil(epochs × pairs / batch_size)). The defaults (1 epoch, batch 8, cap 60)
    train squad-mini's 1,157 train questions for 60 steps (480 pairs seen, as before epochs existed) and
    30 pairs for 4 steps (one pass), not 60 steps (16 passes over the same 30 answers).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_model: str | None = Field(
        default=None,
        description="GGUF file or Hugging Face model folder to train on (default: the generator's GGUF model)",
    )
    train_file: str | None = Field(
        default=None,
        description="JSONL of question/answer pairs or chat `messages` to train on instead of the train split",
    )
    max_examples: int | None = Field(default=None, ge=1, description="train questions used (a seeded sample)")
    rank: int = Field(default=16, ge=1)
    alpha: float = Field(default=32.0, gt=0)
    learning_rate: float = Field(default=1e-3, gt=0)
    epochs: float = Field(default=1.0, gt=0, description="passes over the training pairs (capped by max_steps)")
    max_steps: int = Field(default=60, ge=1, description="cap on optimizer steps, whatever the epochs ask for")
    batch_size: int = Field(default=8, ge=1, description="examples per forward pass")
    gradient_accumulation_steps: int = Field(default=1, ge=1, description="forward passes per optimizer step")
    max_length: int = Field(default=96, ge=16)
    seed: int = 0
    num_threads: int = Field(
        default=TRAINING_THREADS, ge=1, description="torch threads while training; part of the adapter's identity"
    )
    device: DeviceWish = Field(default="auto", description="auto: CUDA when torch sees a GPU, else the CPU")
    precision: PrecisionWish = Field(default="auto", description="auto: bf16 (or fp16) on a GPU, fp32 on the CPU")
    quantization: Quantization = Field(default="none", description="'4bit': QLoRA (CUDA and bitsandbytes)")

    def steps(self, examples: int) -> int:
        """Optimizer steps for `examples` training pairs (see the class doc); a step sees
        `batch_size × gradient_accumulation_steps` of them."""
        per_step = self.batch_size * self.gradient_accumulation_steps
        return training_steps(examples, self.epochs, per_step, self.max_steps)

    def lora_params(self, examples: int, hardware: TrainingDevice | None = None) -> LoraParams:
        """The training run for `examples` pairs: its `max_steps` is the number of steps it takes. The adapter
        cache hashes these (not `epochs`), so two settings that train the same steps share one adapter."""
        return LoraParams(
            rank=self.rank,
            alpha=self.alpha,
            learning_rate=self.learning_rate,
            max_steps=self.steps(examples),
            batch_size=self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            max_length=self.max_length,
            seed=self.seed,
            num_threads=self.num_threads,
            system_prompt=CLOSED_BOOK_SYSTEM,
            hardware=hardware or TrainingDevice(),
        )

    def hardware(self) -> TrainingDevice:
        """Where this machine trains: `device`, `precision` and `quantization` resolved (ConfigError if it cannot)."""
        return resolve_training_device(self.device, self.precision, self.quantization)

    def determinism(self) -> str:
        """How reproducible the trained adapter is, for `Strategy.determinism`."""
        if self.hardware().device == "cuda":
            return (
                f"best effort on one GPU type and software stack: seed {self.seed}, seeded batch order, "
                "deterministic CUDA algorithms where they exist (the adapter is cached by content hash, so a "
                "cached adapter gives the same answers; retraining may move its last bits)"
            )
        return (
            f"deterministic on one CPU type and software stack: seed {self.seed}, {self.num_threads} torch threads, "
            "deterministic algorithms, seeded batch order (the adapter is cached by content hash; "
            "another CPU instruction set or torch/MKL build may change its last bits)"
        )


class TrainedAdapter(BaseModel):
    """A trained adapter in the cache (peft format) and the setup report of the training that made it."""

    directory: Path
    setup: SetupReport

    @property
    def peft_dir(self) -> Path:
        """The adapter in peft format (what vLLM and transformers load)."""
        return self.directory / ADAPTER_SUBDIR

    @property
    def rank(self) -> int:
        return LoraTrainingResult.model_validate_json((self.directory / RESULT_FILE).read_text("utf-8")).params.rank

    def gguf_for(self, base_gguf: Path) -> Path:
        """The adapter as a GGUF LoRA adapter for llama.cpp on `base_gguf`, exported once per base file."""
        path = self.directory / GGUF_EXPORTS / f"{file_sha256(base_gguf)[:16]}.gguf"
        with locked(path.parent):
            if not path.is_file():
                export_lora_gguf(self.peft_dir, path, base_gguf)
        return path


def untrainable_reason(generator: GeneratorParams, finetune: FinetuneParams) -> str | None:
    """Why no adapter can be trained for this generator (None when one can): a running endpoint's weights are
    not here to train on, so it needs a local copy as `finetune.base_model`."""
    if generator.backend == "openai" and finetune.base_model is None:
        return (
            "`finetune` for a running server trains on a local copy of the model it serves: set "
            "finetune.base_model to that model's Hugging Face folder (for OpenAI's own fine-tuning use the "
            "openai_finetuned strategy)"
        )
    return None


def training_base(generator: GeneratorParams, finetune: FinetuneParams) -> Path:
    """The model the adapter trains on: `finetune.base_model`, else the model the generator serves (its GGUF
    file, or a vLLM model folder). ConfigError where there is none (`untrainable_reason`)."""
    if (reason := untrainable_reason(generator, finetune)) is not None:
        raise ConfigError(reason)
    if finetune.base_model is not None:
        return Path(finetune.base_model).expanduser()
    gguf = generator.gguf_path()
    return gguf if gguf is not None else Path(str(generator.model_path)).expanduser()


def training_identity(finetune: FinetuneParams) -> dict[str, Any]:
    """What the adapter depends on beyond the dataset and the parameters: the device it trains on here (an
    `auto` device resolves per machine), and content hashes of a separate base model and of a train file."""
    identity: dict[str, Any] = {"training_hardware": finetune.hardware().model_dump()}
    if finetune.base_model is not None:
        identity["finetune_base_sha256"] = base_model_sha256(validate_base_model(Path(finetune.base_model)))
    if finetune.train_file is not None:
        train_file = Path(finetune.train_file).expanduser()
        if not train_file.is_file():
            raise ConfigError(f"finetune.train_file not found: {train_file}")
        identity["train_file_sha256"] = file_sha256(train_file)
    return identity


def training_examples(train: Sequence[QAItem], params: FinetuneParams) -> list[TrainingExample]:
    """The training pairs: the train file's examples when one is set, else question → first reference answer
    for every answerable train item; a seeded sample of `max_examples` if capped."""
    if params.train_file is not None:
        examples = read_train_file(Path(params.train_file))
    else:
        items = [item for item in train if item.answers and not item.is_impossible]
        examples = [TrainingExample(prompt=item.question, completion=item.answers[0]) for item in items]
    if params.max_examples is not None and params.max_examples < len(examples):
        examples = random.Random(params.seed).sample(examples, params.max_examples)
    return examples


def prepare_adapter(
    base_model: Path, model_name: str, train: Sequence[QAItem], params: FinetuneParams, cache_dir: Path
) -> TrainedAdapter:
    """Train (or reuse) the adapter for this base model (GGUF file or HF folder), data and hyper-parameters."""
    base_model = validate_base_model(base_model)
    examples = training_examples(train, params)
    if not examples:
        raise ValueError("the dataset has no answerable train questions to fine-tune on")
    hardware = params.hardware()
    lora = params.lora_params(len(examples), hardware)
    key = content_hash(
        {
            "base": base_model_sha256(base_model),
            "examples": [e.model_dump(exclude_defaults=True) for e in examples],
            "lora": lora.model_dump(mode="json"),
        },
        length=32,
    )
    directory = cache_dir / "adapters" / key
    with locked(directory):
        if (directory / ADAPTER_SUBDIR).is_dir() and (directory / RESULT_FILE).is_file():
            result = LoraTrainingResult.model_validate_json((directory / RESULT_FILE).read_text(encoding="utf-8"))
            return TrainedAdapter(
                directory=directory,
                setup=_setup_report(result, model_name, directory, params, len(examples), cached=True),
            )
        started = time.perf_counter()
        work = directory.with_name(f".{key}.training")
        shutil.rmtree(work, ignore_errors=True)
        result = _train_with_progress(base_model, examples, lora, work)
        result = result.model_copy(update={"seconds": time.perf_counter() - started})
        (work / RESULT_FILE).write_text(result.model_dump_json(indent=2), encoding="utf-8")
        shutil.rmtree(directory, ignore_errors=True)
        work.rename(directory)
    return TrainedAdapter(
        directory=directory,
        setup=_setup_report(result, model_name, directory, params, len(examples), cached=False),
    )


def _train_with_progress(
    base_model: Path, examples: list[TrainingExample], params: LoraParams, out_dir: Path
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
            base_model,
            examples,
            params,
            out_dir,
            progress=lambda step, total, loss: progress.update(task, completed=step, loss=loss),
        )


def _setup_report(
    result: LoraTrainingResult, model_name: str, directory: Path, params: FinetuneParams, examples: int, cached: bool
) -> SetupReport:
    seen = result.steps * min(result.params.batch_size, examples) * result.params.gradient_accumulation_steps
    hardware = result.params.hardware
    return SetupReport(
        seconds=result.seconds,
        training_tokens=result.trained_tokens,
        model=model_name,
        cached=cached,
        accelerator="gpu" if hardware.device == "cuda" else "cpu",
        details={
            "adapter": str(directory / ADAPTER_SUBDIR),
            "adapter_sha256": file_sha256(directory / ADAPTER_SUBDIR / "adapter_model.safetensors"),
            "device": hardware.device,
            "precision": hardware.precision,
            "quantization": hardware.quantization,
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
