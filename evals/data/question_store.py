"""A dataset's test questions held as their JSON in a spooled file, not as Python objects.

A `QAItem` object costs about 1.8 KB; a 100,000-question test split held as objects took 180 MB, and the run's
peak memory grew with the dataset. `QuestionStore` writes each validated question once, as one JSON line, to a
`tempfile.SpooledTemporaryFile`: in memory while the split is small, a nameless file on disk past
`SPOOL_BYTES`. It keeps only each line's offset (8 bytes), and parses a question back (about 2 µs) when it is
read. The lines are the questions' canonical JSON, so the dataset fingerprint is a hash of the file's bytes.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from tempfile import SpooledTemporaryFile
from typing import IO, Any, overload

from evals.core.types import QAItem

SPOOL_BYTES = 4 * 1024 * 1024
"""Questions are kept in memory up to this many bytes of JSON (about 20,000 SQuAD questions), on disk past it."""
READ_BYTES = 1024 * 1024
"""Iteration reads the file in blocks of about this size."""


class _SpoolFile:
    """The spooled file and the lock its shared read position needs (views of a store share one)."""

    def __init__(self) -> None:
        self.handle: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (lives with the store)
        self.lock = threading.Lock()

    def read(self, start: int, stop: int) -> bytes:
        with self.lock:
            self.handle.seek(start)
            return self.handle.read(stop - start)


class QuestionStore(Sequence[QAItem]):
    """An immutable sequence of questions, read back from their JSON lines on access.

    `store[i]` parses one question; iterating reads the file in blocks; `store[:n]` is a view of the first n
    sharing the file. Two stores (or a store and a list) are equal when they hold equal questions in order."""

    def __init__(self, spool: _SpoolFile, offsets: array[int], first_impossible: int | None) -> None:
        self._spool = spool
        self._offsets = offsets  # line i spans offsets[i]:offsets[i + 1]
        self._first_impossible = first_impossible

    @classmethod
    def from_items(cls, items: Iterable[QAItem]) -> QuestionStore:
        """Write questions (any iterable, consumed once: a generator streams through) to a new store."""
        spool = _SpoolFile()
        offsets = array("Q", [0])
        first_impossible = None
        for index, item in enumerate(items):
            if item.is_impossible and first_impossible is None:
                first_impossible = index
            line = item.model_dump_json().encode() + b"\n"
            spool.handle.write(line)
            offsets.append(offsets[-1] + len(line))
        return cls(spool, offsets, first_impossible)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> QAItem: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[QAItem]: ...

    def __getitem__(self, index: int | slice) -> QAItem | Sequence[QAItem]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1 or start != 0:
                return [self[i] for i in range(start, stop, step)]
            return self.head(stop)
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(f"question {index} of {len(self)}")
        return QAItem.model_validate_json(self._spool.read(self._offsets[position], self._offsets[position + 1]))

    def head(self, count: int) -> QuestionStore:
        """The first `count` questions (all of them when there are fewer), sharing this store's file."""
        count = max(0, min(count, len(self)))
        first = self._first_impossible
        impossible_in_head = first if first is not None and first < count else None
        return QuestionStore(self._spool, self._offsets[: count + 1], impossible_in_head)

    def __iter__(self) -> Iterator[QAItem]:
        for line in self.lines():
            yield QAItem.model_validate_json(line)

    def lines(self) -> Iterator[bytes]:
        """Each question's canonical JSON (`QAItem.model_dump_json()`) and a newline, in order, unparsed."""
        offsets, count, position = self._offsets, len(self), 0
        while position < count:
            end = position + 1
            while end < count and offsets[end + 1] - offsets[position] <= READ_BYTES:
                end += 1
            block, base = self._spool.read(offsets[position], offsets[end]), offsets[position]
            for index in range(position, end):
                yield block[offsets[index] - base : offsets[index + 1] - base]
            position = end

    @property
    def has_impossible(self) -> bool:
        """Whether some question is unanswerable (SQuAD 2.0)."""
        return self._first_impossible is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal by content, and not hashable, like a list

    def __repr__(self) -> str:
        return f"QuestionStore({len(self)} questions)"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (for Ray's object store) as the JSON lines themselves."""
        return _restore, (b"".join(self.lines()),)


def _restore(data: bytes) -> QuestionStore:
    return QuestionStore.from_items(QAItem.model_validate_json(line) for line in data.split(b"\n") if line)


def as_question_store(items: Sequence[QAItem] | Iterable[QAItem]) -> QuestionStore:
    """`items` as a store (a store is returned as it is)."""
    return items if isinstance(items, QuestionStore) else QuestionStore.from_items(items)
