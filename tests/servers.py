"""Test helpers for real servers on 127.0.0.1: llama.cpp's OpenAI-compatible server
(`python -m llama_cpp.server`), and threaded HTTP servers for scripted endpoints."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from strategies.serving.launched import llama_cpp_server_command
from strategies.serving.process import ServerProcess, free_port

__all__ = ["free_port", "llama_server", "loopback_http", "send_json"]


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


@contextmanager
def llama_server(model_path: Path, model_alias: str, lora_path: Path | None = None) -> Iterator[str]:
    """A real `llama_cpp.server` on 127.0.0.1 serving `model_path` (with a GGUF LoRA adapter) as `model_alias`,
    started the way a strategy starts one; yields its OpenAI base URL and stops it afterwards."""
    threads = os.cpu_count() or 1
    command = llama_cpp_server_command(model_path, lora_path, model_alias, n_ctx=2048, n_threads=threads, seed=0)
    server = ServerProcess.start("llama_cpp_server", command, startup_timeout=120)
    try:
        yield server.base_url
    finally:
        server.stop()
