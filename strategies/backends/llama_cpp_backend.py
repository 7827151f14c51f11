"""A chat backend that runs a GGUF model in-process with llama.cpp (llama-cpp-python)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.core.errors import ConfigError
from evals.core.sampling import repeat_seed
from evals.core.types import TokenUsage
from evals.infra.hashing import file_sha256
from strategies.backends.base import ChatMessage, Completion
from strategies.backends.model_files import (
    GENERATOR_MODEL_NAME,
    default_generator_path,
    validate_gguf_path,
    validate_lora_adapter,
)

if TYPE_CHECKING:
    from llama_cpp import Llama


class LlamaCppBackend:
    """Chat completions from a local GGUF model, optionally with a GGUF LoRA adapter.

    `model_path` defaults to the bundled SmolLM2-135M-Instruct, `model_name` (the price-table
    name) to GENERATOR_MODEL_NAME, `n_threads` to half the CPUs (as llama.cpp does: one thread
    per physical core; measured faster than all CPUs on 2 cores), `n_threads_batch` (prompt
    evaluation) to llama.cpp's default, all CPUs. Thread counts change speed, not replies: ggml
    computes each dot product on one thread, so logits are bit-identical on any count (measured on
    squad-mini prompts at 1, 2 and 4 threads). Decoding is seeded with `seed` on every call.

    The model loads on `load` or the first `complete` (construction only checks the files) and stays
    loaded until `close`. Prompts use the chat template stored in the GGUF file.

    Not thread-safe: a llama.cpp context serves one call at a time, so use one backend per
    thread (or serialise calls to it).
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        lora_path: Path | str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        seed: int = 0,
        model_name: str | None = None,
    ) -> None:
        self.model_path = default_generator_path() if model_path is None else validate_gguf_path(model_path)
        self.lora_path = None if lora_path is None else validate_lora_adapter(lora_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max((os.cpu_count() or 2) // 2, 1)
        self.n_threads_batch = n_threads_batch
        self.seed = seed
        self._model_name = model_name or GENERATOR_MODEL_NAME
        self._llm: Llama | None = None

    @property
    def model_name(self) -> str:
        """The name the price table knows this model by."""
        return self._model_name

    def identity(self) -> dict[str, Any]:
        """The GGUF file's sha256 (and the adapter's), context size and seed."""
        return {
            "backend": "llama_cpp",
            "model": self._model_name,
            "model_file": self.model_path.name,
            "model_sha256": file_sha256(self.model_path),
            "lora_file": self.lora_path.name if self.lora_path else None,
            "lora_sha256": file_sha256(self.lora_path) if self.lora_path else None,
            "n_ctx": self.n_ctx,
            "seed": self.seed,
        }

    def load(self) -> Llama:
        """Load the model (and adapter) if not loaded yet; return it."""
        if self._llm is None:
            from llama_cpp import Llama

            try:
                self._llm = Llama(
                    model_path=str(self.model_path),
                    lora_path=str(self.lora_path) if self.lora_path else None,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads_batch,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as error:
                adapter = f" with LoRA adapter {self.lora_path}" if self.lora_path else ""
                raise ConfigError(f"llama.cpp cannot load {self.model_path}{adapter}: {error}") from error
        return self._llm

    def complete(self, messages: list[ChatMessage], max_tokens: int, temperature: float = 0.0) -> Completion:
        """Generate one reply; `seconds` covers generation only, not the first call's model load.

        Each call evaluates its prompt from scratch, so a reply does not depend on earlier calls.
        """
        llm = self.load()
        started = time.perf_counter()
        llm.reset()  # evaluate the whole prompt: no KV reuse from the previous call, so no order effects
        response = llm.create_chat_completion(
            messages=[message.model_dump() for message in messages],  # type: ignore[misc]
            max_tokens=max_tokens,
            temperature=temperature,
            seed=repeat_seed(self.seed),  # repeat r of a repeated run samples with seed + r
        )
        seconds = time.perf_counter() - started
        assert isinstance(response, dict)  # not streaming
        usage = response["usage"]
        return Completion(
            text=response["choices"][0]["message"]["content"] or "",
            usage=TokenUsage(input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),
            seconds=seconds,
            model=self._model_name,
        )

    def close(self) -> None:
        """Free the model; a later `complete` loads it again."""
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def __repr__(self) -> str:
        adapter = f", lora_path={str(self.lora_path)!r}" if self.lora_path else ""
        return f"LlamaCppBackend(model_path={str(self.model_path)!r}{adapter}, n_ctx={self.n_ctx})"
