"""OpenAI-compatible plumbing shared by the chat backend, the OpenAI fine-tuning strategy and the LLM judge:
reading and masking the API key, sorting an `openai` error into retry, configuration error or rejection, and
an HTTP transport whose replies must arrive in full before a deadline.

The one rule for errors: timeouts, dropped connections, malformed replies, HTTP 408, 409, 429 and 5xx are
retried (`TransientError`, carrying the server's Retry-After); 401/403 (the key) and 404 (model or path)
are configuration errors; every other 4xx is the request's own fault and is never retried
(`RequestRejected`). Every message passes through the key's mask.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import openai

from evals.core.errors import ConfigError, TransientError
from evals.infra.secrets import remember_key

LOCAL_PLACEHOLDER_KEY = "not-needed"
"""The key sent to a custom `base_url` when no key is set; local servers ignore it."""
RETRIED_STATUS = frozenset({408, 409, 429})


class RequestRejected(RuntimeError):
    """The server refused this request as malformed (a 4xx other than 401/403/404/408/409/429): not retried."""


class ApiKey:
    """An API key read from a named environment variable; it never appears in `repr`, `str` or messages."""

    def __init__(self, env_var: str, base_url: str | None, what: str = "your OpenAI API key") -> None:
        value = os.environ.get(env_var) or None
        if value is None and base_url is None:
            raise ConfigError(f"set {env_var} to {what} (or give a base_url for an OpenAI-compatible server)")
        if value is not None and value != value.strip():
            raise ConfigError(
                f"{env_var} starts or ends with whitespace (a stray space or newline when it was set); "
                "it cannot be sent in an HTTP header: remove it"
            )
        self.env_var = env_var
        self.value = value or LOCAL_PLACEHOLDER_KEY
        self.is_set = value is not None
        if value is not None:
            remember_key(value)

    def mask(self, text: str) -> str:
        """`text` with the key replaced by ***."""
        return text.replace(self.value, "***") if self.is_set else text

    def __repr__(self) -> str:
        return f"ApiKey(env_var={self.env_var!r})"

    __str__ = __repr__


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP-date; None if absent."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(float(milliseconds) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def is_retryable(error: openai.APIError) -> bool:
    """Whether the rule above retries this error."""
    if not isinstance(error, openai.APIStatusError):
        return True  # timeouts, connection errors, malformed replies
    return error.status_code >= 500 or error.status_code in RETRIED_STATUS


def classify(error: openai.APIError, where: str, key: ApiKey) -> Exception:
    """The exception to raise for `error` from the request described by `where` (raise it `from None`:
    the openai error may quote the key back; its message is included here, masked)."""
    detail = key.mask(str(error))
    if isinstance(error, openai.APITimeoutError):
        return TransientError(f"{where} timed out: {detail}")
    if isinstance(error, openai.APIConnectionError):
        return TransientError(f"cannot connect to {where}: {detail}")
    if not isinstance(error, openai.APIStatusError):
        return TransientError(f"{where} returned a malformed reply: {detail}")
    status = error.status_code
    if is_retryable(error):
        return TransientError(f"{where} failed with HTTP {status}: {detail}", parse_retry_after(error.response.headers))
    if status in (401, 403):
        return ConfigError(f"{where} refused the API key in {key.env_var} (HTTP {status}); check its value: {detail}")
    if status == 404:
        return ConfigError(f"{where} does not know this model or path (HTTP 404): {detail}")
    return RequestRejected(f"{where} rejected the request (HTTP {status}): {detail}")


class DeadlineTransport(httpx.HTTPTransport):
    """An HTTP transport that gives each request `deadline_s` in total to deliver its whole reply.

    httpx's timeouts bound each network read, so a server that sends one byte every few seconds keeps a
    request alive forever; here the reply's body raises `httpx.ReadTimeout` (a retried timeout, like any
    other) at the first chunk that arrives after the deadline, so a request ends within the deadline plus
    one read timeout. Connecting and reading the headers stay bounded per read by the client's own timeout.
    Used by the chat backend; the judge (async) and the fine-tuning jobs API are bounded per read only."""

    def __init__(self, deadline_s: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.deadline_s = deadline_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.deadline_s
        response = super().handle_request(request)
        response.stream = _DeadlineStream(response.stream, deadline, self.deadline_s, request)  # type: ignore[arg-type]
        return response


class _DeadlineStream(httpx.SyncByteStream):
    """A reply body that raises `httpx.ReadTimeout` when a chunk arrives after the deadline."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: float, deadline_s: float, request: httpx.Request):
        self._inner, self._deadline, self._deadline_s, self._request = inner, deadline, deadline_s, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout(f"no complete reply within {self._deadline_s:g} s", request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()
