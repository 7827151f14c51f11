"""A loaded dataset: corpus, train and test splits, and a content fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from itertools import chain, pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from evals.core.errors import DatasetError
from evals.core.types import Document, Knowledge, QAItem
from evals.data.clusters import ClusterBy, ClusterGrouping
from evals.data.question_store import QuestionStore, as_question_store

SquadVersion = Literal["1.1", "2.0"]


class QADataset(BaseModel):
    """Questions to score (`test`), questions strategies may learn from (`train`), and the corpus.

    The test split is a `QuestionStore` (questions kept as JSON, parsed on access), so a 100,000-question split
    costs megabytes, not hundreds of them; a list given for it is stored. `squad_version` selects the EM/F1
    rules: "2.0" when the dataset has unanswerable questions.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    corpus: list[Document]
    train: list[QAItem]
    test: QuestionStore
    source: str
    card: str | None = None
    fingerprint: str = ""
    n_test_total: int = 0
    cluster_by: ClusterBy = "auto"
    """How test questions are grouped into clusters (`evals.data.clusters`); not part of the fingerprint."""

    @field_validator("test", mode="before")
    @classmethod
    def _stored(cls, items: Iterable[QAItem]) -> QuestionStore:
        return as_question_store(items)

    @property
    def squad_version(self) -> SquadVersion:
        has_impossible = self.test.has_impossible or any(item.is_impossible for item in self.train)
        return "2.0" if has_impossible else "1.1"

    @classmethod
    def build(
        cls,
        name: str,
        corpus: list[Document],
        train: list[QAItem],
        test: Iterable[QAItem],
        source: str,
        card: str | None = None,
        limit: int | None = None,
        cluster_by: ClusterBy = "auto",
    ) -> QADataset:
        """A dataset whose fingerprint covers all of its content, taken before `limit` cuts the test split.

        `test` may be a generator (consumed once, as it is stored). Every question must have a cluster under
        `cluster_by`: a DatasetError names the first that has none."""
        grouping = ClusterGrouping(name, corpus, cluster_by)
        if isinstance(test, QuestionStore):
            grouping.check(test)
            stored = test
        else:  # checked as it is stored: one pass
            stored = QuestionStore.from_items(grouping.checked(test))
        return cls(
            name=name,
            corpus=corpus,
            train=train,
            test=stored.head(limit) if limit else stored,
            source=source,
            card=card,
            fingerprint=_fingerprint(corpus, train, stored),
            n_test_total=len(stored),
            cluster_by=cluster_by,
        )

    def with_test(self, items: Iterable[QAItem]) -> QADataset:
        """The same dataset (name, fingerprint, knowledge) asking only `items`."""
        return self.model_copy(update={"test": as_question_store(items)})

    def fingerprint_of(self, knowledge: Iterable[Knowledge]) -> str:
        """Fingerprint of the named parts of what strategies prepare on (corpus, train split): answers depend
        on it, not on which other questions are scored, and a strategy that never reads the train split keeps
        its cached answers when a train split is added."""
        parts = set(knowledge)
        return _fingerprint(self.corpus if "corpus" in parts else [], self.train if "train" in parts else [])

    @cached_property
    def cluster_grouping(self) -> ClusterGrouping:
        return ClusterGrouping(self.name, self.corpus, self.cluster_by)

    def cluster_of(self, item: QAItem) -> str:
        """The cluster a test question is sampled with."""
        return self.cluster_grouping.cluster_of(item)

    def documents_by_id(self) -> dict[str, Document]:
        return {document.id: document for document in self.corpus}


def _fingerprint(*parts: Sequence[Document] | Sequence[QAItem]) -> str:
    """sha256 over the canonical JSON of the records, one per line: changes iff the content does (a store's
    lines are that JSON already)."""
    digest = hashlib.sha256()
    for part in parts:
        for line in _json_lines(part):
            digest.update(line)
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _json_lines(records: Sequence[Document] | Sequence[QAItem]) -> Iterator[bytes]:
    if isinstance(records, QuestionStore):
        return records.lines()
    return (record.model_dump_json().encode() + b"\n" for record in records)


def split_fraction(item_id: str) -> float:
    """A stable pseudo-random number in [0, 1) for an id: splits do not depend on row order."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") / 2**64


def split_items(items: Sequence[QAItem], test_fraction: float) -> tuple[list[QAItem], Iterator[QAItem]]:
    """Deterministically split items into (train, test) by hashing their ids; the test part is generated (a
    second pass over `items`), to be stored as it streams."""
    train = [item for item in items if split_fraction(item.id) >= test_fraction]
    return train, (item for item in items if split_fraction(item.id) < test_fraction)


def check_unique_ids(where: str, *parts: Iterable[QAItem | Document]) -> None:
    """Raise naming the first id that occurs twice in the parts (read as one sequence).

    Ids are compared by hash first, as a sorted list of numbers (a set of 100,000 ids would take about 10 MB);
    only when two hashes agree are the parts read again, to compare those ids exactly: each part must be a
    list or a store, not a one-pass iterator."""
    hashes = sorted(hash(record.id) for record in chain.from_iterable(parts))
    shared = {first for first, second in pairwise(hashes) if first == second}
    del hashes
    if not shared:
        return
    seen: set[str] = set()
    for position, record in enumerate(chain.from_iterable(parts), start=1):
        if hash(record.id) in shared:
            if record.id in seen:
                raise DatasetError(f"{where}: duplicate id {record.id!r} (record {position})")
            seen.add(record.id)
