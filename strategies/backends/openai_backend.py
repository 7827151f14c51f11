"""A chat backend for the OpenAI API and OpenAI-compatible servers (llama.cpp server, vLLM, ...)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx
import openai

from evals.core.errors import ConfigError, TransientError
from evals.core.types import TokenUsage
from strategies.backends.base import ChatMessage, Completion

LOCAL_PLACEHOLDER_KEY = "not-needed"
"""The key sent to a custom `base_url` when no key is set; local servers ignore it."""


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


class OpenAIBackend:
    """Chat completions over the OpenAI API, or any OpenAI-compatible endpoint at `base_url`.

    The key is read from the environment variable `api_key_env`; it is required for the OpenAI
    API (`base_url=None`) and optional for a custom `base_url`. The client never retries:
    rate limits, timeouts, dropped connections, 5xx and malformed replies raise
    `TransientError` for the harness to retry; bad keys, unknown models and rejected
    requests raise at once. The key never appears in `identity()`, `repr()` or error messages.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        model_name: str | None = None,
    ) -> None:
        api_key = os.environ.get(api_key_env) or None
        if api_key is None:
            if base_url is None:
                raise ConfigError(
                    f"set {api_key_env} to your OpenAI API key (or give a base_url for an OpenAI-compatible server)"
                )
            api_key = LOCAL_PLACEHOLDER_KEY
        self.model = model
        self._secret = api_key
        self._model_name = model_name or model
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    @property
    def model_name(self) -> str:
        """The name the price table knows this model by."""
        return self._model_name

    @property
    def endpoint(self) -> str:
        """The API base URL requests go to."""
        return str(self._client.base_url)

    def identity(self) -> dict[str, Any]:
        """The endpoint and model name (never the key)."""
        return {"backend": "openai", "base_url": self.endpoint, "model": self.model}

    def load(self) -> None:
        """Nothing to load: the model runs behind the endpoint."""

    def complete(self, messages: list[ChatMessage], max_tokens: int, temperature: float = 0.0) -> Completion:
        """Generate one reply; `seconds` is the request's wall time."""
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[message.model_dump() for message in messages],  # type: ignore[misc]
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except openai.APIError as error:
            self._raise_for(error)
        except json.JSONDecodeError as error:
            raise TransientError(f"{self._where()} returned malformed JSON: {self._redact(str(error))}") from None
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

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret != LOCAL_PLACEHOLDER_KEY else text

    def _text_of(self, response: Any) -> str:
        """The first choice's text; TransientError if the reply lacks it."""
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError, KeyError):
            text = None
        if not isinstance(text, str):
            raise TransientError(f"{self._where()} returned a reply without choices[0].message.content")
        return text

    def _raise_for(self, error: openai.APIError) -> NoReturn:
        """Map an openai error to TransientError (worth retrying), ConfigError or RuntimeError.

        Raised `from None`: the openai error may quote the key back, and its message is
        already included, redacted.
        """
        detail = self._redact(str(error))
        where = self._where()
        if isinstance(error, openai.APITimeoutError):
            raise TransientError(f"{where} timed out: {detail}") from None
        if isinstance(error, openai.APIConnectionError):
            raise TransientError(f"cannot connect to {where}: {detail}") from None
        if isinstance(error, openai.APIResponseValidationError):
            raise TransientError(f"{where} returned a malformed reply: {detail}") from None
        if not isinstance(error, openai.APIStatusError):
            raise TransientError(f"{where} failed: {detail}") from None
        status = error.status_code
        retry_after = parse_retry_after(error.response.headers)
        if isinstance(error, openai.RateLimitError):
            raise TransientError(f"{where} rate-limited the request (HTTP 429): {detail}", retry_after) from None
        if status >= 500 or status in (408, 409):
            raise TransientError(f"{where} failed with HTTP {status}: {detail}", retry_after) from None
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            raise ConfigError(f"{where} refused the API key (HTTP {status}); check the key's value: {detail}") from None
        if isinstance(error, openai.NotFoundError):
            raise ConfigError(f"{where} does not know this model or path (HTTP 404): {detail}") from None
        raise RuntimeError(f"{where} rejected the request (HTTP {status}): {detail}") from None


def _usage_of(response: Any) -> TokenUsage:
    """The reply's token usage; zeros when the server does not report it."""
    usage = getattr(response, "usage", None)
    return TokenUsage(
        input_tokens=getattr(usage, "prompt_tokens", None) or 0,
        output_tokens=getattr(usage, "completion_tokens", None) or 0,
    )
