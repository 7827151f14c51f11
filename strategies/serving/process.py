"""An OpenAI-compatible server run as a child process on 127.0.0.1: started, waited for until ready, stopped."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from evals.core.errors import ConfigError

LOG_TAIL_LINES = 20


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """A server the harness owns: `start` runs `command(port)` on a free port, logs to a file, and returns once
    `GET /v1/models` answers 200; `stop` terminates it (SIGTERM, then SIGKILL), and so does the interpreter's
    exit if nobody called `stop`. A server that exits or never becomes ready raises ConfigError with its
    command and the last lines of its log."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.name = name
        self.process = process
        self.port = port
        self.log_path = log_path
        atexit.register(self.stop)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, `http://127.0.0.1:<port>/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    @classmethod
    def start(
        cls,
        name: str,
        command: Callable[[int], list[str]],
        startup_timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess:
        port = free_port()
        argv = command(port)
        log_path = Path(tempfile.gettempdir()) / f"evals-{name}-{port}.log"
        with log_path.open("wb") as log:
            try:
                process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
                )
            except OSError as error:
                raise ConfigError(f"cannot start {name} ({' '.join(argv)}): {error}") from None
        server = cls(name, process, port, log_path)
        server._wait_ready(argv, startup_timeout)
        return server

    def log_tail(self) -> str:
        """The last lines the server wrote."""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server and reap it; nothing happens if it already exited."""
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _wait_ready(self, argv: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.stop()
                raise ConfigError(
                    f"{self.name} exited with code {self.process.returncode} before it was ready "
                    f"({' '.join(argv)}); last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ConfigError(
                    f"{self.name} was not ready on {self.base_url} within {timeout:g} s ({' '.join(argv)}); "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.2)
