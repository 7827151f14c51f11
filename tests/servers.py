"""Test helper: run a real llama.cpp OpenAI-compatible server (`python -m llama_cpp.server`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_llama_server(
    model_path: Path,
    port: int | None = None,
    model_alias: str | None = None,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    timeout: float = 60.0,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start llama_cpp.server on 127.0.0.1 and wait until /v1/models answers.

    Returns the OpenAI base URL (`http://127.0.0.1:<port>/v1`) and the process; stop it with
    `stop_llama_server`. The server uses the chat template stored in the GGUF file, as
    `LlamaCppBackend` does, and logs to `<tempdir>/llama_server_<port>.log`. Raises
    RuntimeError with the log's tail if it exits or does not answer within `timeout` seconds.
    """
    port = port or free_port()
    threads = str(n_threads or os.cpu_count() or 1)
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        threads,
        "--n_threads_batch",
        threads,
        "--seed",
        "0",
    ]
    if model_alias:
        command += ["--model_alias", model_alias]
    log_path = Path(tempfile.gettempdir()) / f"llama_server_{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with code {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return base_url, process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            stop_llama_server(process)
            raise RuntimeError(
                f"llama_cpp.server did not answer on {base_url} within {timeout:.0f} s:\n{_tail(log_path)}"
            )
        time.sleep(0.2)


def stop_llama_server(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate the server (SIGTERM, then SIGKILL after `timeout` seconds) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log_path: Path) -> str:
    """The end of the server's log."""
    return log_path.read_text(errors="replace")[-4000:]
