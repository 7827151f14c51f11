"""Choosing a chat backend from a strategy's parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evals.core.errors import ConfigError
from strategies.backends.base import ChatBackend
from strategies.backends.llama_cpp_backend import LlamaCppBackend
from strategies.backends.openai_backend import OpenAIBackend


class GeneratorParams(BaseModel):
    """Which model answers: the embedded SmolLM2 on llama.cpp (default), another GGUF file, or
    any OpenAI-compatible endpoint (`backend = "openai"`, `model`, optional `base_url`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["llama_cpp", "openai"] = "llama_cpp"
    model_path: str | None = None
    n_ctx: int = Field(default=2048, ge=256)
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    price_as: str | None = Field(default=None, description="price-table name, when it differs from `model`")
    max_tokens: int = Field(default=24, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int = 0
    timeout: float | None = Field(
        default=None, gt=0, exclude=True, description="seconds per request (openai backend); not part of the identity"
    )
    n_threads: int | None = Field(
        default=None,
        ge=1,
        exclude=True,
        description="llama.cpp threads (generation and prompt); default: half the CPUs. Not part of the identity: "
        "llama.cpp's CPU kernels give the same logits on any thread count",
    )

    @model_validator(mode="after")
    def _openai_needs_model(self) -> GeneratorParams:
        if self.backend == "openai" and not self.model:
            raise ValueError("backend 'openai' needs `model` (the endpoint's model name)")
        return self

    def determinism(self) -> str:
        """How reproducible this generator's replies are, for `Strategy.determinism`."""
        if self.backend == "openai":
            return (
                f"nondeterministic: remote endpoint model {self.model!r} at temperature {self.temperature:g}; "
                "servers do not guarantee identical replies (batching, hardware, silent model updates)"
            )
        decoding = (
            "greedy decoding (temperature 0)"
            if self.temperature == 0
            else f"sampling at temperature {self.temperature:g} with seed {self.seed}, reseeded every call"
        )
        return (
            f"deterministic on one CPU type: llama.cpp {decoding}, every prompt evaluated from scratch, "
            "the same logits on any thread count; another CPU instruction set or llama.cpp build can move a near-tie"
        )


def make_backend(params: GeneratorParams, lora_path: Path | None = None) -> ChatBackend:
    """A backend for `params`; `lora_path` adds a GGUF LoRA adapter (llama.cpp only)."""
    if params.backend == "openai":
        if lora_path is not None:
            raise ValueError("LoRA adapters are served by the llama_cpp backend only")
        if params.model is None:  # GeneratorParams validation rejects this; kept for params built in code
            raise ConfigError("backend 'openai' needs `model` (the endpoint's model name)")
        return OpenAIBackend(
            model=params.model,
            base_url=params.base_url,
            api_key_env=params.api_key_env,
            model_name=params.price_as,
            **({"timeout": params.timeout} if params.timeout is not None else {}),
        )
    return make_local_backend(params, lora_path)


def make_local_backend(params: GeneratorParams, lora_path: Path | None = None) -> LlamaCppBackend:
    """The in-process llama.cpp backend fine-tuning strategies train on and serve from; a clear error for any other."""
    if params.backend != "llama_cpp":
        raise ConfigError(
            f"fine-tuning trains a LoRA adapter on a local GGUF model: generator.backend must be 'llama_cpp', "
            f"not {params.backend!r}"
        )
    return LlamaCppBackend(
        model_path=params.model_path,
        lora_path=lora_path,
        n_ctx=params.n_ctx,
        n_threads=params.n_threads,
        n_threads_batch=params.n_threads,
        seed=params.seed,
        model_name=params.price_as,
    )
