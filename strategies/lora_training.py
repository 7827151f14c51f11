"""LoRA fine-tuning with transformers + peft, on the CPU or a CUDA GPU.

The base model is a GGUF file (transformers dequantizes it to fp32) or a Hugging Face model folder; it is
trained with a LoRA adapter on chat-formatted question/answer pairs (optionally in bf16/fp16, or 4-bit QLoRA
on CUDA) and saved as a peft adapter directory, which vLLM serves as it is.
`strategies.lora_gguf.export_lora_gguf` turns that directory into a GGUF LoRA adapter that llama.cpp loads
next to the base GGUF.

Prompts are rendered with the model's own chat template (system + user message, then the
assistant header), exactly as llama.cpp's `create_chat_completion` renders them, and the
loss covers only the completion tokens (the answer plus the end-of-turn token).
"""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from strategies.training_device import TrainingDevice

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_SYSTEM_PROMPT = "Answer the question with a short answer."
"""System message used for training; use the same one at inference time."""

DEFAULT_TARGET_MODULES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
IGNORE_INDEX = -100
ADAPTER_SUBDIR = "adapter"
RESULT_FILE = "training_result.json"

TRAINING_THREADS = 2
"""torch intra-op threads for training, whatever the machine: torch does not promise the same floats on
another thread count. Two is torch's own default on the 2-core machines the default suite is sized for."""

ProgressCallback = Callable[[int, int, float], None]
"""Called after each optimizer step with (step, max_steps, loss)."""


class ChatTurn(BaseModel):
    """One earlier message of a multi-turn training conversation."""

    model_config = ConfigDict(frozen=True)

    role: Literal["user", "assistant"]
    content: str


class TrainingExample(BaseModel):
    """One supervised pair: the user's question and the assistant's answer, after optional earlier turns.

    `system` replaces the run's system prompt for this example (a chat-format train file's own system message).
    """

    model_config = ConfigDict(frozen=True)

    prompt: str = Field(min_length=1)
    completion: str = Field(min_length=1)
    system: str | None = None
    history: tuple[ChatTurn, ...] = ()


class LoraParams(BaseModel):
    """Hyper-parameters of one LoRA training run."""

    model_config = ConfigDict(frozen=True)

    rank: int = Field(default=8, ge=1)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    learning_rate: float = Field(default=1e-3, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float | None = 1.0
    max_steps: int = Field(default=60, ge=1)
    """Optimizer steps this run takes (callers size it from epochs with `training_steps`)."""
    batch_size: int = Field(default=8, ge=1)
    """Examples per forward pass (a micro-batch)."""
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    """Micro-batches whose gradients add up to one optimizer step."""
    max_length: int = Field(default=128, ge=8)
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    seed: int = 0
    num_threads: int = Field(default=TRAINING_THREADS, ge=1)
    """torch intra-op threads; fixed (not the machine's core count) so that the adapter does not depend on it."""
    hardware: TrainingDevice = Field(default_factory=TrainingDevice)


class LoraTrainingResult(BaseModel):
    """What a training run produced and what it cost."""

    adapter_dir: Path
    steps: int
    trained_tokens: int
    """Non-padding tokens fed through the model, summed over all steps."""
    completion_tokens: int
    """Of `trained_tokens`, those that carried loss."""
    seconds: float
    final_loss: float
    losses: list[float] = Field(default_factory=list)
    params: LoraParams


def training_steps(examples: int, epochs: float, batch_size: int, max_steps: int) -> int:
    """Optimizer steps for `epochs` passes over `examples` training pairs, capped at `max_steps`:
    min(max_steps, ceil(epochs × examples / batch)), at least 1. A batch holds at most every example
    (`_train_loop` never repeats one within a batch), so batch = min(batch_size, examples)."""
    if examples < 1:
        raise ValueError("no training examples")
    if epochs <= 0 or batch_size < 1 or max_steps < 1:
        raise ValueError(f"need epochs > 0, batch_size ≥ 1 and max_steps ≥ 1 (got {epochs}, {batch_size}, {max_steps})")
    wanted = math.ceil(round(epochs * examples / min(batch_size, examples), 9))  # round: 0.3 × 10 is 3.0000000000000004
    return max(1, min(max_steps, wanted))


def chat_messages(prompt: str, system_prompt: str | None) -> list[dict[str, str]]:
    """The chat messages for one question, as passed to `create_chat_completion`."""
    messages: list[dict[str, str]] = []
    if system_prompt is not None:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": prompt})
    return messages


def example_messages(example: TrainingExample, system_prompt: str | None) -> list[dict[str, str]]:
    """The chat messages before the example's answer: its system prompt (or the run's), earlier turns, question."""
    messages = chat_messages(example.prompt, example.system if example.system is not None else system_prompt)
    earlier = [turn.model_dump() for turn in example.history]
    return messages[:-1] + earlier + messages[-1:]


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> str:
    """The prompt text up to and including the assistant header, as llama.cpp renders it."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert isinstance(text, str)
    return text


def end_of_turn_text(tokenizer: PreTrainedTokenizerBase) -> str:
    """The text that closes an assistant turn (the EOS token, e.g. `<|im_end|>`)."""
    eos = tokenizer.eos_token
    if not isinstance(eos, str) or not eos:
        raise ValueError("tokenizer has no EOS token to end the assistant turn with")
    return eos


def encode_example(
    tokenizer: PreTrainedTokenizerBase,
    example: TrainingExample,
    system_prompt: str | None,
    max_length: int,
) -> tuple[list[int], list[int]]:
    """Token ids and labels for one example; prompt tokens are masked out of the loss.

    Prompt and completion are tokenized separately, as llama.cpp tokenizes the prompt and
    then generates the completion token by token. Too-long examples lose prompt tokens
    from the left, never completion tokens.
    """
    prompt_ids = _encode(tokenizer, render_prompt(tokenizer, example_messages(example, system_prompt)))
    completion_ids = _encode(tokenizer, example.completion + end_of_turn_text(tokenizer))
    if len(completion_ids) >= max_length:
        raise ValueError(
            f"completion of {example.prompt!r} has {len(completion_ids)} tokens; max_length is {max_length}"
        )
    prompt_ids = prompt_ids[-(max_length - len(completion_ids)) :]
    ids = prompt_ids + completion_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
    return ids, labels


def load_base_model(
    base_model: Path, hardware: TrainingDevice | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a GGUF file or a Hugging Face model folder and its tokenizer into transformers, on `hardware`
    (default: fp32 on the CPU). A GGUF file is dequantized to fp32; 4-bit quantization loads through
    bitsandbytes (QLoRA)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hardware = hardware or TrainingDevice()
    base_model = Path(base_model)
    if not base_model.exists():
        raise FileNotFoundError(f"base model not found: {base_model}")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[hardware.precision]
    options: dict[str, Any]
    if base_model.is_dir():
        location, options = str(base_model), {}
    else:
        location, options = str(base_model.parent), {"gguf_file": base_model.name}
    tokenizer = AutoTokenizer.from_pretrained(location, **options)
    if hardware.quantization == "4bit":
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=True
        )
        options["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **options)
    if hardware.quantization == "none" and hardware.device != "cpu":
        model = model.to(hardware.device)  # type: ignore[arg-type]  # transformers' wrapper hides Module.to
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def train_lora(
    base_model: Path,
    examples: Sequence[TrainingExample],
    params: LoraParams,
    out_dir: Path,
    progress: ProgressCallback | None = None,
) -> LoraTrainingResult:
    """Train a LoRA adapter on `examples` and save it under `out_dir/adapter`.

    On the CPU, deterministic for a given seed, thread count, CPU type and software stack: torch is seeded
    (inside a forked RNG state, so the caller's is untouched), runs `params.num_threads` threads with
    deterministic algorithms, and batches follow a seeded order. On CUDA the same seeds apply and
    deterministic algorithms are asked for where CUDA has them (warn-only), which narrows but does not remove
    run-to-run differences. torch's thread count and deterministic-algorithms flag are process-wide; both are
    restored afterwards. Writes `out_dir/training_result.json` next to the adapter.
    """
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if not examples:
        raise ValueError("no training examples")
    out_dir = Path(out_dir)
    hardware = params.hardware
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    started = time.perf_counter()
    try:
        torch.set_num_threads(params.num_threads)
        if hardware.device == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic mode
        torch.use_deterministic_algorithms(True, warn_only=hardware.device == "cuda")
        rng_devices = [torch.cuda.current_device()] if hardware.device == "cuda" else []
        with torch.random.fork_rng(devices=rng_devices), warnings.catch_warnings():
            # transformers 5 warns about its own deprecated attribute when peft checks it; nothing to act on.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            torch.manual_seed(params.seed)
            model, tokenizer = load_base_model(base_model, hardware)
            if hardware.quantization == "4bit":
                model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
            encoded = [encode_example(tokenizer, ex, params.system_prompt, params.max_length) for ex in examples]
            config = LoraConfig(
                r=params.rank,
                lora_alpha=params.alpha,  # type: ignore[arg-type]  # peft annotates int; float works
                lora_dropout=params.dropout,
                target_modules=list(params.target_modules),
                bias="none",
                task_type="CAUSAL_LM",
            )
            peft_model = get_peft_model(model, config)
            losses, trained, completion = _train_loop(
                peft_model, encoded, int(tokenizer.pad_token_id), params, progress
            )
            adapter_dir = out_dir / ADAPTER_SUBDIR
            peft_model.save_pretrained(str(adapter_dir), save_embedding_layers=False)
    finally:
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)
        torch.set_num_threads(previous_threads)
    result = LoraTrainingResult(
        adapter_dir=adapter_dir,
        steps=len(losses),
        trained_tokens=trained,
        completion_tokens=completion,
        seconds=time.perf_counter() - started,
        final_loss=losses[-1],
        losses=losses,
        params=params,
    )
    (out_dir / RESULT_FILE).write_text(result.model_dump_json(indent=2))
    return result


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [int(i) for i in ids]


def _train_loop(
    model: Any,
    encoded: list[tuple[list[int], list[int]]],
    pad_id: int,
    params: LoraParams,
    progress: ProgressCallback | None,
) -> tuple[list[float], int, int]:
    """Run `params.max_steps` AdamW steps of `gradient_accumulation_steps` micro-batches each; return per-step
    losses (the mean over the step's micro-batches) and token counts. fp16 scales the loss (GradScaler)."""
    import torch

    device = params.hardware.device
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=params.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, params.warmup_steps, params.max_steps)
    )
    scaler = torch.amp.GradScaler(device, enabled=params.hardware.precision == "fp16")
    order = random.Random(params.seed)
    queue: list[int] = []
    losses: list[float] = []
    trained_tokens = completion_tokens = 0
    accumulate = params.gradient_accumulation_steps
    model.train()
    for step in range(1, params.max_steps + 1):
        step_loss = 0.0
        for _ in range(accumulate):
            batch: list[int] = []
            while len(batch) < min(params.batch_size, len(encoded)):
                if not queue:
                    queue = list(range(len(encoded)))
                    order.shuffle(queue)
                batch.append(queue.pop())
            input_ids, attention, labels = (t.to(device) for t in _collate([encoded[i] for i in batch], pad_id))
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            scaler.scale(loss / accumulate).backward()
            step_loss += float(loss.detach()) / accumulate
            trained_tokens += int(attention.sum())
            completion_tokens += int((labels != IGNORE_INDEX).sum())
        if params.max_grad_norm is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(trainable, params.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        if progress is not None:
            progress(step, params.max_steps, losses[-1])
    model.eval()
    return losses, trained_tokens, completion_tokens


def _collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-pad a batch into input ids, attention mask and labels tensors."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for row, (ids, labs) in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        labels[row, : len(labs)] = torch.tensor(labs)
    return input_ids, attention, labels


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak rate."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))
