"""API keys read in this process, so that nothing stored (answers, contexts, caches) carries one.

A careless server can echo the request's Authorization header back inside a successful answer;
`redact_keys` removes every key `remember_key` was told about. Kept free of heavy imports: the
runner applies it to every fresh answer.
"""

from __future__ import annotations

_KEYS_READ: set[str] = set()


def remember_key(value: str) -> None:
    """Register a key read from the environment."""
    _KEYS_READ.add(value)


def keys_known() -> bool:
    """Whether any key was registered (when none was, there is nothing to redact)."""
    return bool(_KEYS_READ)


def redact_keys(text: str) -> str:
    """`text` with every registered key replaced by ***."""
    for key in _KEYS_READ:
        text = text.replace(key, "***")
    return text
