"""Paired tests for two runs scored on the same items: bootstrap CI of the mean difference,
McNemar's exact test for binary scores, Wilcoxon signed-rank for latencies, Holm's correction."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel
from scipy import stats

from evals.stats.summary import BOOTSTRAP_RESAMPLES, CONFIDENCE, Values


class PairedBootstrap(BaseModel):
    """Mean of `new - old` over n pairs, its percentile-bootstrap CI and a two-sided bootstrap p-value."""

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int


class McNemar(BaseModel):
    """Discordant pairs (`worse`: old 1 → new 0, `better`: old 0 → new 1) and the exact two-sided p-value."""

    worse: int
    better: int
    p_value: float


def _pairs(old: Values, new: Values) -> tuple[np.ndarray, np.ndarray]:
    """The two sequences as arrays, without the pairs where either value is NaN."""
    if len(old) != len(new):
        raise ValueError(f"paired samples differ in length: {len(old)} vs {len(new)}")
    a, b = np.asarray(old, dtype=float), np.asarray(new, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def paired_bootstrap(old: Values, new: Values, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> PairedBootstrap:
    """Resample items (pairs together). The p-value is the share of resampled means at least as far
    from the observed mean as the observed mean is from 0 (the bootstrap shifted to the null), with
    the +1 correction; all NaN when there are no complete pairs."""
    a, b = _pairs(old, new)
    if a.size == 0:
        return PairedBootstrap(mean_diff=math.nan, ci_low=math.nan, ci_high=math.nan, p_value=math.nan, n=0)
    diff = b - a
    observed = float(diff.mean())
    means = diff[np.random.default_rng(seed).integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    extreme = int(np.sum(np.abs(means - observed) >= abs(observed) - 1e-12))
    p_value = min(1.0, (extreme + 1) / (resamples + 1))
    return PairedBootstrap(mean_diff=observed, ci_low=float(low), ci_high=float(high), p_value=p_value, n=int(a.size))


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
