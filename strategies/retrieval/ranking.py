"""A deterministic top-k: scores compared at a fixed resolution, ties broken by chunk position.

Float scores carry noise in their last bits (thread counts, CPU instruction sets, BLAS kernels), and
index libraries order equal scores as their internals happen to. Ranking by the score rounded to
`SCORE_DECIMALS`, then by the chunk's position in the corpus, makes the order a property of the
data: near-ties below the resolution no longer follow the noise, exact ties no longer follow the library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

SCORE_DECIMALS = 5
"""Scores equal to this many decimals count as tied (cosine and BM25 noise is around 1e-7)."""

TIE_RULE = f"scores compared to {SCORE_DECIMALS} decimals, ties broken by corpus position"
"""The rule in words, for determinism notes."""

Hit = tuple[int, float]
"""A chunk's position in the corpus and its score."""


def rank_key(hit: Hit) -> tuple[float, int]:
    """Best first: higher rounded score, then lower position."""
    position, score = hit
    return -round(score, SCORE_DECIMALS), position


def first_depth(k: int, total: int) -> int:
    """How many hits `deterministic_top_k` asks for first: a margin for ties beyond the k-th."""
    return min(total, 2 * k + 8)


def deterministic_top_k(search: Callable[[int], Sequence[Hit]], k: int, total: int) -> list[Hit]:
    """The `k` best hits in `rank_key` order.

    `search(depth)` returns (up to) the `depth` best hits by the index's own order, or fewer when no
    more hits qualify. The depth grows until no hit outside it can tie with the k-th best, so the
    result never depends on how the index ordered equal scores at its cut-off.
    """
    k = min(k, total)
    if k <= 0:
        return []
    depth = first_depth(k, total)
    while True:
        hits = sorted(search(depth), key=rank_key)
        exhausted = depth >= total or len(hits) < depth
        if exhausted or rank_key(hits[k - 1])[0] < rank_key(hits[-1])[0]:
            return hits[:k]
        depth = min(total, 2 * depth)
