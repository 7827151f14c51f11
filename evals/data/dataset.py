"""A loaded dataset: corpus, train and test splits, and a content fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.core.errors import DatasetError
from evals.core.types import Document, Knowledge, QAItem
from evals.data.clusters import ClusterBy, assign_clusters

SquadVersion = Literal["1.1", "2.0"]


class QADataset(BaseModel):
    """Questions to score (`test`), questions strategies may learn from (`train`), and the corpus.

    `squad_version` selects the EM/F1 rules: "2.0" when the dataset has unanswerable questions.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    corpus: list[Document]
    train: list[QAItem]
    test: list[QAItem]
    source: str
    card: str | None = None

    @property
    def squad_version(self) -> SquadVersion:
        has_impossible = any(item.is_impossible for item in (*self.train, *self.test))
        return "2.0" if has_impossible else "1.1"

    fingerprint: str = ""
    n_test_total: int = 0
    clusters: dict[str, str] = Field(default_factory=dict)
    """Test item id → cluster id (`evals.data.clusters`); not part of the fingerprint."""

    @classmethod
    def build(
        cls,
        name: str,
        corpus: list[Document],
        train: list[QAItem],
        test: list[QAItem],
        source: str,
        card: str | None = None,
        limit: int | None = None,
        cluster_by: ClusterBy = "auto",
    ) -> QADataset:
        """A dataset whose fingerprint covers all of its content, taken before `limit` cuts the test split;
        test items are grouped into clusters by `cluster_by`."""
        fingerprint = _fingerprint(corpus, train, test)
        return cls(
            name=name,
            corpus=corpus,
            train=train,
            test=test[:limit] if limit else test,
            source=source,
            card=card,
            fingerprint=fingerprint,
            n_test_total=len(test),
            clusters=assign_clusters(name, test, corpus, cluster_by),
        )

    def fingerprint_of(self, knowledge: Iterable[Knowledge]) -> str:
        """Fingerprint of the named parts of what strategies prepare on (corpus, train split): answers depend
        on it, not on which other questions are scored, and a strategy that never reads the train split keeps
        its cached answers when a train split is added."""
        parts = set(knowledge)
        return _fingerprint(self.corpus if "corpus" in parts else [], self.train if "train" in parts else [])

    def cluster_of(self, item: QAItem) -> str:
        """The cluster a test item is sampled with (the item itself when it was not assigned one)."""
        return self.clusters.get(item.id, f"item:{item.id}")

    def documents_by_id(self) -> dict[str, Document]:
        return {document.id: document for document in self.corpus}


def _fingerprint(*parts: Sequence[Document] | Sequence[QAItem]) -> str:
    """sha256 over the canonical JSON of the records: changes iff the content does."""
    digest = hashlib.sha256()
    for part in parts:
        for record in part:
            digest.update(record.model_dump_json().encode())
            digest.update(b"\n")
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def split_fraction(item_id: str) -> float:
    """A stable pseudo-random number in [0, 1) for an id: splits do not depend on row order."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") / 2**64


def split_items(items: Sequence[QAItem], test_fraction: float) -> tuple[list[QAItem], list[QAItem]]:
    """Deterministically split items into (train, test) by hashing their ids."""
    train = [item for item in items if split_fraction(item.id) >= test_fraction]
    test = [item for item in items if split_fraction(item.id) < test_fraction]
    return train, test


def check_unique_ids(records: Iterable[QAItem | Document], where: str) -> None:
    """Raise naming the first id that occurs twice."""
    seen: set[str] = set()
    for position, record in enumerate(records, start=1):
        if record.id in seen:
            raise DatasetError(f"{where}: duplicate id {record.id!r} (record {position})")
        seen.add(record.id)
