"""Paired tests for two runs scored on the same items: cluster-bootstrap CI of the mean difference,
McNemar's exact test for binary scores, Wilcoxon signed-rank for latencies, Holm's correction."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel
from scipy import stats

from evals.stats.clustered import (
    ALPHA,
    Clusters,
    cluster_bootstrap,
    cluster_sums,
    clustered_se,
    minimum_detectable_effect,
)
from evals.stats.summary import BOOTSTRAP_RESAMPLES, Values


class PairedBootstrap(BaseModel):
    """Mean of `new - old` over n pairs in n_clusters clusters: its clustered SE, cluster-bootstrap CI,
    two-sided bootstrap p-value and the minimum detectable effect of the design (80% power at `alpha`)."""

    mean_diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    mde: float
    alpha: float
    n: int
    n_clusters: int


class McNemar(BaseModel):
    """Discordant pairs (`worse`: old 1 → new 0, `better`: old 0 → new 1) and the exact two-sided p-value."""

    worse: int
    better: int
    p_value: float


def _pairs(old: Values, new: Values) -> tuple[np.ndarray, np.ndarray]:
    """The two sequences as arrays, without the pairs where either value is NaN."""
    a, b = _aligned(old, new)
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def _aligned(old: Values, new: Values) -> tuple[np.ndarray, np.ndarray]:
    if len(old) != len(new):
        raise ValueError(f"paired samples differ in length: {len(old)} vs {len(new)}")
    return np.asarray(old, dtype=float), np.asarray(new, dtype=float)


def paired_bootstrap(
    old: Values,
    new: Values,
    clusters: Clusters = None,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    alpha: float = ALPHA,
) -> PairedBootstrap:
    """Resample whole clusters of pairs (each pair its own cluster when `clusters` is None) with the
    studentized cluster bootstrap (`evals.stats.clustered.cluster_bootstrap`) for the CI and the two-sided
    p-value; all NaN when there are no complete pairs, CI and p NaN with a single cluster."""
    a, b = _aligned(old, new)
    grouped = cluster_sums(b - a, clusters)  # a pair with a NaN side has a NaN difference: left out
    if grouped.n == 0:
        nan = math.nan
        return PairedBootstrap(
            mean_diff=nan, se=nan, ci_low=nan, ci_high=nan, p_value=nan, mde=nan, alpha=alpha, n=0, n_clusters=0
        )
    observed = grouped.mean
    se = clustered_se(grouped)
    if grouped.n_clusters < 2:
        low = high = p_value = math.nan
    else:
        interval = cluster_bootstrap(grouped, seed, resamples)
        low, high, p_value = interval.ci_low, interval.ci_high, interval.p_value
    return PairedBootstrap(
        mean_diff=observed,
        se=se,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        mde=minimum_detectable_effect(se, alpha),
        alpha=alpha,
        n=grouped.n,
        n_clusters=grouped.n_clusters,
    )


def mcnemar_exact(old: Values, new: Values) -> McNemar:
    """McNemar's exact test on 0/1 outcomes: a binomial test of the discordant pairs against 1/2."""
    a, b = _pairs(old, new)
    if not np.all(np.isin(a, (0.0, 1.0)) & np.isin(b, (0.0, 1.0))):
        raise ValueError("McNemar's test needs 0/1 outcomes")
    worse = int(np.sum((a == 1) & (b == 0)))
    better = int(np.sum((a == 0) & (b == 1)))
    discordant = worse + better
    p_value = float(stats.binomtest(better, discordant, 0.5).pvalue) if discordant else 1.0
    return McNemar(worse=worse, better=better, p_value=p_value)


def wilcoxon_signed_rank(old: Values, new: Values) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test on `new - old`; 1 when every pair is tied,
    NaN when there are no complete pairs."""
    a, b = _pairs(old, new)
    if a.size == 0:
        return math.nan
    if np.all(a == b):
        return 1.0
    return float(stats.wilcoxon(b, a).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input's order (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return [float(value) for value in adjusted]
