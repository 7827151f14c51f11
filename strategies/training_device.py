"""Where LoRA training runs: the device, the weights' precision and optional 4-bit quantization (QLoRA).

`resolve_training_device` turns the user's wishes ("auto" included) into what this machine can do, or a clear
ConfigError: CUDA asked for where there is none, half precision on the CPU, QLoRA without CUDA or bitsandbytes.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import BaseModel, ConfigDict

from evals.core.errors import ConfigError

DeviceWish = Literal["auto", "cpu", "cuda"]
PrecisionWish = Literal["auto", "fp32", "bf16", "fp16"]
Quantization = Literal["none", "4bit"]


class TrainingDevice(BaseModel):
    """A resolved device: part of the adapter's identity (another device or precision trains other floats)."""

    model_config = ConfigDict(frozen=True)

    device: Literal["cpu", "cuda"] = "cpu"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    quantization: Quantization = "none"


def resolve_training_device(
    device: DeviceWish = "auto", precision: PrecisionWish = "auto", quantization: Quantization = "none"
) -> TrainingDevice:
    """`auto` picks CUDA when torch sees a GPU; precision `auto` is bf16 on GPUs that support it, else fp16 on
    CUDA and fp32 on the CPU. QLoRA (4-bit base weights) needs CUDA and bitsandbytes."""
    import torch

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise ConfigError(
            "finetune.device = 'cuda' but torch sees no CUDA GPU here (torch "
            f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use 'cpu' or 'auto'"
        )
    chosen: Literal["cpu", "cuda"] = "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"
    if precision == "auto":
        resolved: Literal["fp32", "bf16", "fp16"] = (
            "fp32" if chosen == "cpu" else "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        )
    elif chosen == "cpu" and precision != "fp32":
        raise ConfigError(f"finetune.precision = {precision!r} needs a GPU; CPU training runs in fp32")
    elif precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError("finetune.precision = 'bf16' but this GPU does not support bfloat16; use 'fp16'")
    else:
        resolved = precision
    if quantization == "4bit":
        if chosen != "cuda":
            raise ConfigError("finetune.quantization = '4bit' (QLoRA) needs a CUDA GPU; this run trains on the CPU")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError("finetune.quantization = '4bit' (QLoRA) needs bitsandbytes: pip install bitsandbytes")
        if resolved == "fp32":
            raise ConfigError("QLoRA computes in half precision: set finetune.precision to 'bf16', 'fp16' or 'auto'")
    return TrainingDevice(device=chosen, precision=resolved, quantization=quantization)
