"""A chat backend that starts its own OpenAI-compatible server (llama.cpp's or vLLM's), with a LoRA adapter
loaded next to the base model, and stops it on `close`.

The commands follow each server's documented CLI:
- `python -m llama_cpp.server --model BASE.gguf --lora_path ADAPTER.gguf --model_alias NAME ...`
- `vllm serve BASE --enable-lora --lora-modules NAME=PEFT_DIR --max-lora-rank R ...`; requests name the
  adapter as their `model` (the base model answers under `--served-model-name`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.core.errors import ConfigError
from strategies.backends.base import ChatMessage, Completion
from strategies.backends.openai_backend import OpenAIBackend
from strategies.serving.process import ServerProcess

LLAMA_CPP_SERVER_SAMPLING = {"repeat_penalty": 1.0}
"""llama_cpp.server penalises repeated tokens by default (1.1), the in-process `create_chat_completion` does not
(1.0): the requests ask for in-process sampling, so both runtimes give the same answers."""

LOCAL_SERVER_KEY_ENV = "EVALS_LOCAL_SERVER_KEY"
"""Servers the harness starts need no key; naming an unused variable keeps a user's OpenAI key off them."""

Command = Callable[[int], list[str]]
"""The server's argv for a given port."""


class LaunchedServerBackend:
    """Starts `command` on `load` (its start-up time counts as setup) and sends chat requests to it as
    `request_model`. One server per backend: a fine-tuned strategy and its base-model peers can each start
    their own on the same runtime, so latencies and costs compare."""

    def __init__(
        self,
        runtime: str,
        command: Command,
        request_model: str,
        model_name: str,
        identity: dict[str, Any],
        startup_timeout: float,
        timeout: float,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.runtime = runtime
        self._extra_body = extra_body
        self._command = command
        self._request_model = request_model
        self._model_name = model_name
        self._identity = {**identity, "backend": runtime}
        self._startup_timeout = startup_timeout
        self._timeout = timeout
        self._server: ServerProcess | None = None
        self._client: OpenAIBackend | None = None

    @property
    def model_name(self) -> str:
        """The name the price table knows this model by."""
        return self._model_name

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def load(self) -> OpenAIBackend:
        """Start the server if it is not running; return the client that talks to it."""
        if self._client is None:
            self._server = ServerProcess.start(self.runtime, self._command, self._startup_timeout)
            self._client = OpenAIBackend(
                model=self._request_model,
                base_url=self._server.base_url,
                api_key_env=LOCAL_SERVER_KEY_ENV,
                timeout=self._timeout,
                model_name=self._model_name,
                extra_body=self._extra_body,
            )
        return self._client

    def complete(self, messages: list[ChatMessage], max_tokens: int, temperature: float = 0.0) -> Completion:
        return self.load().complete(messages, max_tokens, temperature)

    def close(self) -> None:
        """Stop the server; a later `complete` starts it again."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __repr__(self) -> str:
        return f"LaunchedServerBackend(runtime={self.runtime!r}, model={self._request_model!r})"


def llama_cpp_server_command(
    model: Path, lora: Path | None, alias: str, n_ctx: int, n_threads: int, seed: int
) -> Command:
    """`python -m llama_cpp.server` on the base GGUF, with the GGUF LoRA adapter when given."""
    adapter = ["--lora_path", str(lora)] if lora is not None else []
    return lambda port: [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        *adapter,
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(n_threads),
        "--seed",
        str(seed),
    ]


def vllm_command(model: str, served_name: str, adapter: tuple[str, Path, int] | None, seed: int) -> Command:
    """`vllm serve` on a Hugging Face model (folder or hub id); `adapter` is (name, peft folder, rank)."""
    executable = shutil.which(
        "vllm", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if executable is None:
        raise ConfigError(
            "generator.backend = 'vllm' needs vLLM installed (pip install vllm, on a machine with a GPU); "
            "or start a vLLM server yourself and use backend = 'openai' with its base_url"
        )
    lora = (
        ["--enable-lora", "--lora-modules", f"{adapter[0]}={adapter[1]}", "--max-lora-rank", str(adapter[2])]
        if adapter is not None
        else []
    )
    return lambda port: [
        executable,
        "serve",
        model,
        "--served-model-name",
        served_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--seed",
        str(seed),
        *lora,
    ]
