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

from collections.abc import Sequence
from typing import Literal

from evals.core.errors import DatasetError
from evals.core.types import Document, QAItem

ClusterBy = Literal["auto", "paragraph", "article", "column", "none"]
CLUSTER_METADATA = "cluster"
"""The item metadata key a mapped cluster column is stored under."""


def assign_clusters(
    name: str, items: Sequence[QAItem], corpus: Sequence[Document], cluster_by: ClusterBy
) -> dict[str, str]:
    """Item id → cluster id; a DatasetError naming the first item the grouping cannot place."""
    titles = {document.id: document.title for document in corpus}
    clusters: dict[str, str] = {}
    for item in items:
        column = item.metadata.get(CLUSTER_METADATA)
        gold = item.gold_doc_ids[0] if item.gold_doc_ids else None
        if cluster_by == "none":
            cluster = f"item:{item.id}"
        elif cluster_by == "column" or (cluster_by == "auto" and column is not None):
            if column is None:
                raise DatasetError(
                    f'dataset {name!r}: cluster_by = "column" needs a cluster column: map it with '
                    'columns = {cluster = "<column>"}'
                )
            cluster = f"column:{column}"
        elif gold is None:
            if cluster_by != "auto":
                raise DatasetError(
                    f'dataset {name!r}: cluster_by = "{cluster_by}" needs gold documents, but question '
                    f'{item.id!r} has none; use cluster_by = "column" or "none"'
                )
            cluster = f"item:{item.id}"
        elif cluster_by == "article":
            cluster = f"article:{titles.get(gold) or gold}"
        else:
            cluster = f"doc:{gold}"
        clusters[item.id] = cluster
    return clusters
