"""Test helper: an OpenAI-compatible chat-completions server that answers deterministically and injects faults.

The reply to a question is its last word (trailing "?" removed), with token usage. Faults are
drawn per (question, attempt number) from a seeded RNG, so the same question meets the same
faults whatever the order requests arrive in. Kinds: `429` (with a small Retry-After), `500`,
`timeout` (sleeps past the client's timeout), `drop` (closes the socket without a reply) and
`malformed` (HTTP 200 with broken JSON). Error bodies quote the request's Authorization header
back, as careless servers do, so tests can check keys are redacted.

Marker words force an outcome: a question containing `ALWAYS429` is always rate-limited,
`ALWAYS500` always fails with HTTP 500, `REJECT` gets HTTP 400 (not worth retrying), `ECHOKEY` gets a
correct answer that also quotes the Authorization header, and a prompt longer than `max_prompt_chars`
gets HTTP 400 `context_length_exceeded`. `TRICKLE` gets a correct reply sent one byte every `trickle_s`
(each read is quick, the whole reply is not), `BADUTF8` an HTTP 200 body that is not UTF-8, and `ERROR200`
an HTTP 200 whose JSON body is an error, not a completion. With `deny_keys` every request gets HTTP 401.
`write_dataset` and `write_suite` make a synthetic dataset and a closed_book suite pointed at the server.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from servers import loopback_http, send_json

FAULT_KINDS = ("429", "500", "timeout", "drop", "malformed")
CLIENT_TIMEOUT_S = 0.3
"""The client timeout suites written by `write_suite` set; `hang_s` must exceed it."""


def write_dataset(path: Path, n: int, markers: dict[int, str] | None = None) -> list[str]:
    """A synthetic JSONL dataset of `n` questions; the fault server answers every even one correctly."""
    ids = []
    with path.open("w", encoding="utf-8") as stream:
        for index in range(n):
            token = f"tok{index}"
            marker = (markers or {}).get(index, "")
            question = f"Item {index} {marker}: which token is this, {token}?".replace("  ", " ")
            answers = [token] if index % 2 == 0 else [f"other{index}"]
            stream.write(json.dumps({"id": f"q{index:04d}", "question": question, "answers": answers}) + "\n")
            ids.append(f"q{index:04d}")
    return ids


def write_suite(
    folder: Path, data: Path, base_url: str, concurrency: int = 8, max_attempts: int = 6, model: str = "fault-model"
) -> Path:
    """A suite: closed_book on the openai backend at `base_url`, priced as gpt-4o-mini."""
    generator = (
        f'{{backend = "openai", base_url = "{base_url}", model = "{model}", price_as = "gpt-4o-mini", '
        f"timeout = {CLIENT_TIMEOUT_S}}}"
    )
    path = folder / "suite.toml"
    path.write_text(
        f'name = "faults"\nseed = 7\nconcurrency = {concurrency}\nmax_attempts = {max_attempts}\n\n'
        f'[[datasets]]\nname = "synthetic"\ntest = "{data.resolve()}"\n\n'
        f'[[strategies]]\nname = "closed_book"\nparams = {{generator = {generator}}}\n',
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class FaultConfig:
    """How often and how the server fails; `hang_s` must exceed the client's timeout."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after_s: tuple[float, float] = (0.01, 0.05)
    hang_s: float = 1.0
    delay_s: float = 0.0
    max_prompt_chars: int = 1_000_000
    deny_keys: bool = False
    trickle_s: float = 0.05


@dataclass
class FaultStats:
    """What the server saw: requests per outcome kind, and each 429's Retry-After vs the observed gap."""

    requests: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    retry_after_gaps: list[tuple[float, float]] = field(default_factory=list)
    authorizations: set[str] = field(default_factory=set)
    trickles_cut: int = 0
    """Trickled replies the client hung up on before the last byte."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def faults(self) -> int:
        return sum(self.requests[kind] for kind in FAULT_KINDS)


class FaultServer:
    """The server's state and decisions; `serve()` runs it on 127.0.0.1 in a thread."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.stats = FaultStats()
        self._pending_429: dict[str, tuple[float, float]] = {}

    def decide(self, question: str, prompt_chars: int) -> tuple[str, float]:
        """The outcome kind for this request and, for a 429, its Retry-After; records the Retry-After gap."""
        now = time.monotonic()
        with self.stats.lock:
            self.stats.attempts[question] += 1
            attempt = self.stats.attempts[question]
            pending = self._pending_429.pop(question, None)
            if pending is not None:
                sent_at, retry_after = pending
                self.stats.retry_after_gaps.append((retry_after, now - sent_at))
        rng = random.Random(f"{self.config.seed}:{question}:{attempt}")
        retry_after = round(rng.uniform(*self.config.retry_after_s), 3)
        if self.config.deny_keys:
            kind = "401"
        elif prompt_chars > self.config.max_prompt_chars:
            kind = "too_long"
        elif "ECHOKEY" in question:
            kind = "echo"
        elif "TRICKLE" in question:
            kind = "trickle"
        elif "BADUTF8" in question:
            kind = "bad_utf8"
        elif "ERROR200" in question:
            kind = "error200"
        elif "REJECT" in question:
            kind = "400"
        elif "ALWAYS429" in question:
            kind = "429"
        elif "ALWAYS500" in question:
            kind = "500"
        elif rng.random() < self.config.rate:
            kind = rng.choice(self.config.kinds)
        else:
            kind = "ok"
        with self.stats.lock:
            self.stats.requests[kind] += 1
            if kind == "429":
                self._pending_429[question] = (time.monotonic(), retry_after)
        return kind, retry_after

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run on a free port; yields the OpenAI base URL (`http://127.0.0.1:<port>/v1`)."""
        with loopback_http(_handler(self)) as base_url:
            yield base_url


def answer_for(question: str) -> str:
    """The server's deterministic answer: the question's last word without its question mark."""
    words = question.rstrip(" ?").split()
    return words[-1] if words else ""


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            messages = body.get("messages", [])
            question = str(messages[-1]["content"]) if messages else ""
            authorization = self.headers.get("Authorization", "")
            with server.stats.lock:
                server.stats.authorizations.add(authorization)
            kind, retry_after = server.decide(question, sum(len(str(m.get("content", ""))) for m in messages))
            if server.config.delay_s:
                time.sleep(server.config.delay_s)
            echoed = f"request with {authorization} failed"
            if kind == "ok":
                self._reply(200, _completion(body.get("model", ""), messages, answer_for(question)))
            elif kind == "echo":
                text = f"{answer_for(question)} ({authorization})"
                self._reply(200, _completion(body.get("model", ""), messages, text))
            elif kind == "401":
                self._reply(401, _error(f"invalid api key: {echoed}", code="invalid_api_key"))
            elif kind == "429":
                self._reply(429, _error(f"rate limited: {echoed}"), {"Retry-After": f"{retry_after:.3f}"})
            elif kind == "500":
                self._reply(500, _error(f"internal error: {echoed}"))
            elif kind == "400":
                self._reply(400, _error(f"invalid request: {echoed}"))
            elif kind == "too_long":
                self._reply(400, _error("maximum context length exceeded", code="context_length_exceeded"))
            elif kind == "trickle":
                self._trickle(_completion(body.get("model", ""), messages, answer_for(question)))
            elif kind == "bad_utf8":
                self._reply(200, b'{"choices": [{"message": {"content": "\xff\xfe caf\xe9"}}]}')
            elif kind == "error200":
                self._reply(200, _error("the model is overloaded, try again later"))
            elif kind == "malformed":
                self._reply(200, b'{"id": "chatcmpl-broken", "choices": [{"message": ')
            elif kind == "timeout":
                time.sleep(server.config.hang_s)
                self._close()
            else:  # drop
                self._close()

        def _reply(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                send_json(self, status, payload, headers)
            except OSError:  # the client gave up first
                self.close_connection = True

        def _trickle(self, payload: bytes) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()
                for index in range(len(payload)):
                    self.wfile.write(payload[index : index + 1])
                    self.wfile.flush()
                    time.sleep(server.config.trickle_s)
            except OSError:  # the client gave up: the point
                self.close_connection = True
                with server.stats.lock:
                    server.stats.trickles_cut += 1

        def _close(self) -> None:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
            pass

    return Handler


def _completion(model: str, messages: list[dict], text: str) -> bytes:
    prompt_tokens = sum(len(str(message.get("content", "")).split()) for message in messages)
    return json.dumps(
        {
            "id": "chatcmpl-fault-server",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
        }
    ).encode()


def _error(message: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": "server_error", "code": code}}).encode()
