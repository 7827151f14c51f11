"""Test helper: an OpenAI-compatible judge on 127.0.0.1 that answers ragas prompts with scripted judgments.

ragas (through instructor's JSON mode) sends one user message holding the metric's prompt, ending in
`input: {...}\nOutput: `, and a system message with the JSON schema of the expected output. The server
reads the schema's title to know which output the metric wants and replies with valid JSON for it:

- StatementGeneratorOutput / ClaimDecompositionOutput: `statements` as the statements or claims;
- NLIStatementOutput: one verdict per statement in the input, from `verdicts` (round robin over calls, so
  a list of several rounds makes repeated judgments differ);
- ContextPrecisionOutput / ContextRecallOutput: verdict / attribution 1 (recall: one per statement).

`garbage=True` answers every request with text that is not JSON. Each reply reports
`usage = {prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS}`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from servers import loopback_http, send_json

PROMPT_TOKENS = 100
COMPLETION_TOKENS = 10


def _json_after(text: str, marker: str) -> Any:
    """The JSON value that starts at the first "{" after the last `marker` in `text`."""
    start = text.index("{", text.rindex(marker))
    return json.JSONDecoder().raw_decode(text[start:])[0]


class JudgeServer:
    """The scripted judge; use as a context manager, point clients at `base_url`."""

    def __init__(
        self,
        statements: Sequence[str] = ("S1.", "S2.", "S3.", "S4."),
        verdicts: Sequence[Sequence[int]] = ((1, 1, 0, 1),),
        garbage: bool = False,
    ) -> None:
        self.statements = list(statements)
        self.verdicts = [list(round_) for round_ in verdicts]
        self.garbage = garbage
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self._nli_calls = 0
        self._lock = threading.Lock()
        self._running = ExitStack()
        self.base_url = ""

    def __enter__(self) -> JudgeServer:
        self.base_url = self._running.enter_context(loopback_http(self._handler()))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._running.close()

    def reply(self, request: dict[str, Any]) -> str:
        """The message content answering one chat request."""
        if self.garbage:
            return "I think the answer is mostly faithful."
        messages = request["messages"]
        system = " ".join(m["content"] for m in messages if m["role"] == "system")
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        title = _json_after(system, "json_schema")["title"]
        if title in ("StatementGeneratorOutput", "ClaimDecompositionOutput"):
            key = "statements" if title == "StatementGeneratorOutput" else "claims"
            return json.dumps({key: self.statements})
        given = _json_after(prompt, "input:")
        if title == "NLIStatementOutput":
            with self._lock:
                verdicts = self.verdicts[self._nli_calls % len(self.verdicts)]
                self._nli_calls += 1
            judged = [
                {"statement": statement, "reason": "scripted", "verdict": verdicts[i % len(verdicts)]}
                for i, statement in enumerate(given["statements"])
            ]
            return json.dumps({"statements": judged})
        if title == "ContextPrecisionOutput":
            return json.dumps({"reason": "scripted", "verdict": 1})
        if title == "ContextRecallOutput":
            attributed = [{"statement": s, "reason": "scripted", "attributed": 1} for s in self.statements]
            return json.dumps({"classifications": attributed})
        raise ValueError(f"the judge server has no scripted reply for {title}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(request)
                    server.authorizations.append(self.headers.get("Authorization", ""))
                try:
                    content = server.reply(request)
                except (ValueError, KeyError, StopIteration) as error:
                    self._send(400, {"error": {"message": str(error)}})
                    return
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": request["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": PROMPT_TOKENS,
                            "completion_tokens": COMPLETION_TOKENS,
                            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                        },
                    },
                )

            def _send(self, status: int, body: dict[str, Any]) -> None:
                send_json(self, status, json.dumps(body).encode())

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                """Silence the per-request log lines."""

        return Handler
