"""Retrieval quality from the doc ids of the contexts a strategy retrieved, against the item's gold documents.

Relevance is binary (a doc is gold or not). The ranking is the contexts' doc ids with repeats dropped
(a document counts at its first rank); `k` is the number of distinct documents retrieved, and the @1 and
@5 variants cut the ranking there. Precision@n divides by n even when fewer documents were retrieved.

- `recall_at_n`: the *fraction* of the question's gold documents among the first n ranks (a question with
  three gold documents and one of them retrieved scores 1/3).
- `hit_at_n`: 1 when *any* gold document is among the first n ranks, else 0 (the "hit rate" or "success@n"
  often loosely called recall@n). Equal to recall_at_n for questions with a single gold document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from evals.core.types import Answer, QAItem
from evals.scoring.base import Scorer


def recall_at(ranked: Sequence[str], gold: set[str], n: int) -> float:
    """Share of gold documents among the first `n` ranked."""
    return len(gold.intersection(ranked[:n])) / len(gold)


def hit_at(ranked: Sequence[str], gold: set[str], n: int) -> float:
    """1.0 when any gold document is among the first `n` ranked, else 0.0."""
    return float(not gold.isdisjoint(ranked[:n]))


def precision_at(ranked: Sequence[str], gold: set[str], n: int) -> float:
    """Share of the first `n` ranks holding a gold document."""
    return len(gold.intersection(ranked[:n])) / n


def reciprocal_rank(ranked: Sequence[str], gold: set[str]) -> float:
    """1 / rank of the first gold document; 0 if none was retrieved."""
    return next((1.0 / rank for rank, doc_id in enumerate(ranked, start=1) if doc_id in gold), 0.0)


def ndcg_at(ranked: Sequence[str], gold: set[str], n: int) -> float:
    """Binary-relevance nDCG of the first `n` ranks (DCG over the DCG of gold documents ranked first)."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc_id in enumerate(ranked[:n], start=1) if doc_id in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n, len(gold)) + 1))
    return dcg / ideal


class RetrievalScorer(Scorer):
    """Hit rate, recall, precision, MRR and nDCG of the retrieved documents; NaN without gold documents or
    contexts."""

    metrics: ClassVar[tuple[str, ...]] = (
        "hit_at_1",
        "hit_at_5",
        "hit_at_k",
        "recall_at_1",
        "recall_at_5",
        "recall_at_k",
        "precision_at_5",
        "precision_at_k",
        "mrr",
        "ndcg_at_5",
        "ndcg_at_k",
    )

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        gold = set(item.gold_doc_ids)
        ranked = list(dict.fromkeys(context.doc_id for context in answer.contexts))
        if not gold or not ranked:
            return dict.fromkeys(self.metrics, math.nan)
        k = len(ranked)
        return {
            "hit_at_1": hit_at(ranked, gold, 1),
            "hit_at_5": hit_at(ranked, gold, 5),
            "hit_at_k": hit_at(ranked, gold, k),
            "recall_at_1": recall_at(ranked, gold, 1),
            "recall_at_5": recall_at(ranked, gold, 5),
            "recall_at_k": recall_at(ranked, gold, k),
            "precision_at_5": precision_at(ranked, gold, 5),
            "precision_at_k": precision_at(ranked, gold, k),
            "mrr": reciprocal_rank(ranked, gold),
            "ndcg_at_5": ndcg_at(ranked, gold, 5),
            "ndcg_at_k": ndcg_at(ranked, gold, k),
        }
