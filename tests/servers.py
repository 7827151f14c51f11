"""Test helpers for real servers on 127.0.0.1: llama.cpp's OpenAI-compatible server
(`python -m llama_cpp.server`), and threaded HTTP servers for scripted endpoints."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free 127.0.0.1 port in a thread; yields the OpenAI-style base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def send_json(
    handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str] | None = None
) -> None:
    """Write one JSON response (status, extra headers, body) from inside a request handler."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


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
