"""Which repeat of a question is being answered (`repeats = N` in a suite).

The runner answers repeat r of an item inside `answering_repeat(r)`; a backend that samples derives its
seed with `repeat_seed(seed)`, so the N repeats are N independent samples at the strategy's temperature
while repeat 0 is exactly what an unrepeated run answers. A strategy that decodes greedily (temperature
0) gives the same answer every time, and its `consistency` is then 1 by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_REPEAT: ContextVar[int] = ContextVar("evals_repeat", default=0)


def current_repeat() -> int:
    """The repeat being answered in this task or thread (0 outside a repeated run)."""
    return _REPEAT.get()


@contextmanager
def answering_repeat(repeat: int) -> Iterator[None]:
    """Answer repeat `repeat` inside this block (asyncio tasks and `asyncio.to_thread` inherit it)."""
    token = _REPEAT.set(repeat)
    try:
        yield
    finally:
        _REPEAT.reset(token)


def repeat_seed(seed: int) -> int:
    """The sampling seed for the current repeat: `seed` itself for repeat 0."""
    return seed + current_repeat()
