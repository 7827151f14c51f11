"""Which cluster each question belongs to: the unit the statistics resample (`evals.stats.clustered`).

Questions written about the same passage succeed and fail together; treating them as independent
makes confidence intervals too narrow. `cluster_by` chooses the grouping:

- ``paragraph``: the question's first gold document (for SQuAD JSON, its paragraph);
- ``article``: the title of that document (for SQuAD JSON, its article);
- ``column``: the table column mapped as `columns.cluster`;
- ``none``: every question is its own cluster;
- ``auto`` (default): the mapped column if there is one, else the first gold document, else the question.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from evals.core.errors import DatasetError
from evals.core.types import Document, QAItem

ClusterBy = Literal["auto", "paragraph", "article", "column", "none"]
CLUSTER_METADATA = "cluster"
"""The item metadata key a mapped cluster column is stored under."""


class ClusterGrouping:
    """Puts a dataset's questions into clusters: each question's cluster is derived from the question itself
    (and, by article, its document's title), so nothing is held per question."""

    def __init__(self, name: str, corpus: Sequence[Document], cluster_by: ClusterBy) -> None:
        self.name = name
        self.cluster_by = cluster_by
        self.titles = {document.id: document.title for document in corpus} if cluster_by == "article" else {}

    def check(self, items: Iterable[QAItem]) -> None:
        """A DatasetError naming the first question the grouping cannot place."""
        for _ in self.checked(items):
            pass

    def checked(self, items: Iterable[QAItem]) -> Iterator[QAItem]:
        """`items`, passed through once each is placed (a DatasetError names the first that cannot be)."""
        for item in items:
            self.cluster_of(item)
            yield item

    def cluster_of(self, item: QAItem) -> str:
        """The question's cluster id; a DatasetError when the grouping cannot place it."""
        column = item.metadata.get(CLUSTER_METADATA)
        gold = item.gold_doc_ids[0] if item.gold_doc_ids else None
        if self.cluster_by == "none":
            return f"item:{item.id}"
        if self.cluster_by == "column" or (self.cluster_by == "auto" and column is not None):
            if column is None:
                raise DatasetError(
                    f'dataset {self.name!r}: cluster_by = "column" needs a cluster column: map it with '
                    'columns = {cluster = "<column>"}'
                )
            return f"column:{column}"
        if gold is None:
            if self.cluster_by != "auto":
                raise DatasetError(
                    f'dataset {self.name!r}: cluster_by = "{self.cluster_by}" needs gold documents, but question '
                    f'{item.id!r} has none; use cluster_by = "column" or "none"'
                )
            return f"item:{item.id}"
        if self.cluster_by == "article":
            return f"article:{self.titles.get(gold) or gold}"
        return f"doc:{gold}"
