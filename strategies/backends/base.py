"""The chat backend contract shared by every model-backed strategy."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel

from evals.core.types import TokenUsage


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Completion(BaseModel):
    """A model's reply with the usage its backend reported and the seconds the call took."""

    text: str
    usage: TokenUsage
    seconds: float
    model: str


class ChatBackend(Protocol):
    """Generates one reply to a chat. Deterministic at temperature 0.

    Raises `evals.core.errors.TransientError` (with `retry_after` when known) for failures worth
    retrying, `evals.core.errors.ConfigError` for missing model files or keys.
    """

    @property
    def model_name(self) -> str:
        """The name the price table knows this model by."""
        ...

    def identity(self) -> dict[str, Any]:
        """What identifies the model (file sha256, endpoint and model name, adapter hash)."""
        ...

    def load(self) -> object:
        """Load the model now (local backends), so its load time counts as setup, not latency."""
        ...

    def complete(self, messages: list[ChatMessage], max_tokens: int, temperature: float = 0.0) -> Completion: ...

    def close(self) -> None: ...
