"""A chat backend for the OpenAI API and OpenAI-compatible servers (llama.cpp server, vLLM, ...)."""

from __future__ import annotations

import json
import time
from typing import Any

import openai

from evals.core.errors import TransientError
from evals.core.types import TokenUsage
from evals.infra.openai_compat import ApiKey, classify
from strategies.backends.base import ChatMessage, Completion


class OpenAIBackend:
    """Chat completions over the OpenAI API, or any OpenAI-compatible endpoint at `base_url`.

    The key is read from the environment variable `api_key_env`; it is required for the OpenAI
    API (`base_url=None`) and optional for a custom `base_url`. The client never retries itself:
    errors are sorted by `evals.infra.openai_compat.classify` (retryable ones raise
    `TransientError` for the harness to retry; bad keys, unknown models and rejected
    requests raise at once). The key never appears in `identity()`, `repr()` or error messages.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        model_name: str | None = None,
    ) -> None:
        self._key = ApiKey(api_key_env, base_url)
        self.model = model
        self._model_name = model_name or model
        self._client = openai.OpenAI(api_key=self._key.value, base_url=base_url, timeout=timeout, max_retries=0)

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
            raise classify(error, self._where(), self._key) from None
        except json.JSONDecodeError as error:
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
        """The first choice's text; TransientError if the reply lacks it."""
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError, KeyError):
            text = None
        if not isinstance(text, str):
            raise TransientError(f"{self._where()} returned a reply without choices[0].message.content")
        return text


def _usage_of(response: Any) -> TokenUsage:
    """The reply's token usage; zeros when the server does not report it."""
    usage = getattr(response, "usage", None)
    return TokenUsage(
        input_tokens=getattr(usage, "prompt_tokens", None) or 0,
        output_tokens=getattr(usage, "completion_tokens", None) or 0,
    )
