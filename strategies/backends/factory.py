"""Choosing a chat backend (the runtime that serves a strategy's model) from a strategy's parameters."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evals.core.errors import ConfigError
from strategies.backends.base import ChatBackend
from strategies.backends.llama_cpp_backend import LlamaCppBackend
from strategies.backends.model_files import GENERATOR_MODEL_NAME, default_generator_path, validate_gguf_path
from strategies.backends.openai_backend import OpenAIBackend
from strategies.serving.launched import (
    LLAMA_CPP_SERVER_SAMPLING,
    LaunchedServerBackend,
    llama_cpp_server_command,
    vllm_command,
)
from strategies.serving.remote_adapter import load_adapter

if TYPE_CHECKING:
    from strategies.adapters import TrainedAdapter

Runtime = Literal["llama_cpp", "llama_cpp_server", "vllm", "openai"]
GGUF_RUNTIMES: frozenset[str] = frozenset({"llama_cpp", "llama_cpp_server"})
DEFAULT_REQUEST_TIMEOUT = 120.0


class GeneratorParams(BaseModel):
    """Which model answers, on which runtime (`backend`):

    - `llama_cpp` (default): a GGUF file (`model_path`, default the embedded SmolLM2) in-process;
    - `llama_cpp_server`: the same GGUF behind a `llama_cpp.server` process the strategy starts and stops;
    - `vllm`: a Hugging Face model (`model_path`: folder or hub id) behind a `vllm serve` process it starts;
    - `openai`: any running OpenAI-compatible endpoint (`model`, optional `base_url`); a fine-tuned strategy
      uses the adapter the server serves as `adapter_name`, or loads it through the server's API.

    A fine-tuned strategy serves its LoRA adapter on the same runtime as its base model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Runtime = "llama_cpp"
    model_path: str | None = None
    n_ctx: int = Field(default=2048, ge=256)
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    adapter_name: str | None = Field(
        default=None, description="openai backend: the name the running server serves the fine-tuned adapter as"
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="server backends: request fields beyond OpenAI's, e.g. {repeat_penalty = 1.0} for a running "
        "llama.cpp server (its default, 1.1, differs from in-process llama.cpp's 1.0)",
    )
    price_as: str | None = Field(default=None, description="price-table name, when it differs from `model`")
    startup_timeout: float = Field(
        default=300.0, gt=0, exclude=True, description="seconds a server the strategy starts may take to be ready"
    )
    max_tokens: int = Field(default=24, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int = 0
    timeout: float | None = Field(
        default=None, gt=0, exclude=True, description="seconds per request (server backends); not part of the identity"
    )
    n_threads: int | None = Field(
        default=None,
        ge=1,
        exclude=True,
        description="llama.cpp threads (generation and prompt); default: half the CPUs. Not part of the identity: "
        "llama.cpp's CPU kernels give the same logits on any thread count",
    )

    @model_validator(mode="after")
    def _runtime_needs_model(self) -> GeneratorParams:
        if self.backend == "openai" and not self.model:
            raise ValueError("backend 'openai' needs `model` (the endpoint's model name)")
        if self.backend == "vllm" and not self.model_path:
            raise ValueError("backend 'vllm' needs `model_path` (a Hugging Face model folder or hub id)")
        if self.adapter_name is not None and self.backend != "openai":
            raise ValueError("`adapter_name` names an adapter on a running server: it needs backend 'openai'")
        return self

    def gguf_path(self) -> Path | None:
        """The base GGUF file a llama.cpp runtime serves (the embedded model by default); None for other runtimes."""
        if self.backend not in GGUF_RUNTIMES:
            return None
        return default_generator_path() if self.model_path is None else validate_gguf_path(self.model_path)

    def max_concurrency(self) -> int | None:
        """Requests worth sending at once: one where llama.cpp answers one at a time (in process, or the
        `llama_cpp.server` a strategy starts), else the run's concurrency (None)."""
        return 1 if self.backend in GGUF_RUNTIMES else None

    def price_name(self) -> str:
        """The price-table name of the base model."""
        if self.price_as:
            return self.price_as
        if self.backend in GGUF_RUNTIMES:
            return GENERATOR_MODEL_NAME
        return self.model or Path(str(self.model_path)).name

    def determinism(self) -> str:
        """How reproducible this generator's replies are, for `Strategy.determinism`."""
        if self.backend == "vllm":
            return (
                f"nondeterministic across batches: vLLM at temperature {self.temperature:g}, seed {self.seed}; "
                "continuous batching changes the kernels' reduction order, so a near-tie can flip between runs"
            )
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
        evaluation = (
            "every prompt evaluated from scratch"
            if self.backend == "llama_cpp"
            else "the server reuses the previous prompt's cached prefix"
        )
        return (
            f"deterministic on one CPU type: llama.cpp {decoding}, {evaluation}, the same logits on any thread "
            "count; another CPU instruction set or llama.cpp build can move a near-tie"
        )


def make_backend(params: GeneratorParams, adapter: TrainedAdapter | None = None) -> ChatBackend:
    """A backend for `params` on its runtime; `adapter` serves a trained LoRA adapter on top of the base model."""
    if params.backend == "llama_cpp":
        return _in_process(params, adapter.gguf_for(_gguf(params)) if adapter is not None else None)
    if params.backend == "llama_cpp_server":
        return _llama_cpp_server(params, adapter)
    if params.backend == "vllm":
        return _vllm_server(params, adapter)
    return _endpoint(params, adapter)


def _in_process(params: GeneratorParams, lora_path: Path | None) -> LlamaCppBackend:
    return LlamaCppBackend(
        model_path=params.model_path,
        lora_path=lora_path,
        n_ctx=params.n_ctx,
        n_threads=params.n_threads,
        n_threads_batch=params.n_threads,
        seed=params.seed,
        model_name=params.price_as,
    )


def _llama_cpp_server(params: GeneratorParams, adapter: TrainedAdapter | None) -> LaunchedServerBackend:
    gguf = _gguf(params)
    lora = adapter.gguf_for(gguf) if adapter is not None else None
    threads = params.n_threads or max((os.cpu_count() or 2) // 2, 1)
    alias = params.price_name() if adapter is None else f"{params.price_name()}+lora"
    return LaunchedServerBackend(
        runtime="llama_cpp_server",
        command=llama_cpp_server_command(gguf, lora, alias, params.n_ctx, threads, params.seed),
        request_model=alias,
        model_name=params.price_name(),
        identity=_in_process(params, lora).identity(),
        startup_timeout=params.startup_timeout,
        timeout=params.timeout or DEFAULT_REQUEST_TIMEOUT,
        extra_body=LLAMA_CPP_SERVER_SAMPLING | params.extra_body,
    )


def _vllm_server(params: GeneratorParams, adapter: TrainedAdapter | None) -> LaunchedServerBackend:
    assert params.model_path is not None  # GeneratorParams validation
    served = params.model or Path(params.model_path).name
    module = (f"{served}-lora-{adapter.directory.name[:12]}", adapter.peft_dir, adapter.rank) if adapter else None
    return LaunchedServerBackend(
        runtime="vllm",
        command=vllm_command(params.model_path, served, module, params.seed),
        request_model=module[0] if module else served,
        model_name=params.price_name(),
        identity={"model": params.model_path, "adapter": module[0] if module else None, "seed": params.seed},
        startup_timeout=params.startup_timeout,
        timeout=params.timeout or DEFAULT_REQUEST_TIMEOUT,
        extra_body=params.extra_body,
    )


def _endpoint(params: GeneratorParams, adapter: TrainedAdapter | None) -> OpenAIBackend:
    """A running server; with an adapter, the name it serves it under (given, or loaded through its API)."""
    if params.model is None:  # GeneratorParams validation rejects this; kept for params built in code
        raise ConfigError("backend 'openai' needs `model` (the endpoint's model name)")
    timeout = params.timeout or DEFAULT_REQUEST_TIMEOUT
    model = params.model
    if adapter is not None:
        model = params.adapter_name or load_adapter(
            params.base_url or "https://api.openai.com/v1",
            params.api_key_env,
            f"{params.model}-lora-{adapter.directory.name[:12]}",
            adapter.peft_dir,
            timeout,
        )
    return OpenAIBackend(
        model=model,
        base_url=params.base_url,
        api_key_env=params.api_key_env,
        timeout=timeout,
        model_name=params.price_as or params.model,
        extra_body=params.extra_body,
    )


def _gguf(params: GeneratorParams) -> Path:
    path = params.gguf_path()
    assert path is not None  # a llama.cpp runtime
    return path
