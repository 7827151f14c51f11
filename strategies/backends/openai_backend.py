"""A chat backend for the OpenAI API and OpenAI-compatible servers (llama.cpp server, vLLM, ...)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai

from evals.core.errors import TransientError
from evals.core.types import TokenUsage
from evals.infra.openai_compat import ApiKey, DeadlineTransport, classify
from strategies.backends.base import ChatMessage, Completion

KEEPALIVE_CONNECTIONS = 256
"""Idle connections kept open for reuse: as many as a run has requests in flight (`--concurrency`), up to this."""


class OpenAIBackend:
    """Chat completions over the OpenAI API, or any OpenAI-compatible endpoint at `base_url`.

    The key is read from the environment variable `api_key_env`; it is required for the OpenAI
    API (`base_url=None`) and optional for a custom `base_url`. The client never retries itself:
    errors are sorted by `evals.infra.openai_compat.classify` (retryable ones raise
    `TransientError` for the harness to retry; bad keys, unknown models and rejected
    requests raise at once). The key never appears in `identity()`, `repr()` or error messages. `timeout`
    bounds each request as a whole, not only each network read (`DeadlineTransport`): a server trickling its
    reply times out and is retried like one that never answers.

    The client is shared by the run's worker threads. Its connection pool has no cap of its own (the run's
    `--concurrency` bounds the requests in flight, one connection each) and keeps up to
    `KEEPALIVE_CONNECTIONS` of them open for the next requests, so at any concurrency up to that no request
    waits for a free connection or pays for a new one. `extra_body` adds request fields a server knows beyond
    OpenAI's (llama.cpp's `repeat_penalty`, vLLM's `repetition_penalty`).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        model_name: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self._key = ApiKey(api_key_env, base_url)
        self.model = model
        self._model_name = model_name or model
        self._extra_body = dict(extra_body or {})
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE_CONNECTIONS)
        self._client = openai.OpenAI(
            api_key=self._key.value,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=openai.DefaultHttpxClient(timeout=timeout, transport=DeadlineTransport(timeout, limits=limits)),
        )

    @property
    def model_name(self) -> str:
        """The name the price table knows this model by."""
        return self._model_name

    @property
    def endpoint(self) -> str:
        """The API base URL requests go to."""
        return str(self._client.base_url)

    def identity(self) -> dict[str, Any]:
        """The endpoint, model name and extra request fields (never the key)."""
        identity = {"backend": "openai", "base_url": self.endpoint, "model": self.model}
        return identity | ({"extra_body": self._extra_body} if self._extra_body else {})

    def load(self) -> None:
        """Nothing to load: the model runs behind the endpoint."""

    def complete(self, messages: list[ChatMessage], max_tokens: int, temperature: float = 0.0) -> Completion:
        """Generate one reply; `seconds` is the request's wall time.

        The request goes through the client's plain `post` (the SDK's documented way to call an endpoint
        directly): the same URL, headers, timeout and error classes as `chat.completions.create`, without
        its per-call conversion of the request and the reply into typed models, which cost twice the CPU
        (1.8 ms a request, against 0.8 ms): at 32 requests in flight that CPU, serialized by the GIL, was
        what bounded the throughput."""
        started = time.perf_counter()
        body = {
            "model": self.model,
            "messages": [message.model_dump() for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            **self._extra_body,
        }
        try:
            response = self._client.post("/chat/completions", cast_to=httpx.Response, body=body).json()
        except openai.APIError as error:
            raise classify(error, self._where(), self._key) from None
        except ValueError as error:  # not JSON, or not UTF-8
            raise TransientError(f"{self._where()} returned malformed JSON: {self._key.mask(str(error))}") from None
        seconds = time.perf_counter() - started
        text = self._text_of(response)
        return Completion(text=text, usage=_usage_of(response), seconds=seconds, model=self._model_name)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.endpoint!r})"

    def _where(self) -> str:
        return f"{self.endpoint} (model {self.model})"

    def _text_of(self, response: Any) -> str:
        """The first choice's text; TransientError if the reply (parsed JSON) lacks it."""
        try:
            text = response["choices"][0]["message"]["content"]
        except (AttributeError, IndexError, TypeError, KeyError):
            text = None
        if not isinstance(text, str):
            error = response.get("error") if isinstance(response, dict) else None
            said = f": it said {self._key.mask(json.dumps(error)[:500])}" if error else ""
            raise TransientError(f"{self._where()} returned a reply without choices[0].message.content{said}")
        return text


def _usage_of(response: Any) -> TokenUsage:
    """The reply's token usage; zeros when the server does not report it (or reports it malformed)."""
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        usage = {}
    return TokenUsage(
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
    )


def _count(value: Any) -> int:
    """A reported token count as an int (0 when missing, negative or not a whole number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        return 0
    return max(int(value), 0)
