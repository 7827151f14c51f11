"""Means of clustered data: clustered standard errors, cluster-bootstrap CIs, minimum detectable effects.

Questions about the same paragraph or article succeed and fail together, so they carry less
information than as many independent questions (Miller 2024, "Adding Error Bars to Evals"). Every
estimate here treats the cluster, not the item, as the unit of sampling:

- the standard error is the cluster-robust (CR1) sandwich estimate of the mean's sampling error;
- the CI is a studentized (bootstrap-t) bootstrap that resamples whole clusters;
- the minimum detectable effect (MDE) is the smallest true difference a two-sided test at level
  alpha detects with the given power, for the design whose SE was observed: (z(1-alpha/2) + z(power)) x SE.

Items without a cluster id (`None`) are their own cluster, so unclustered data gets the usual answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from evals.stats.summary import BOOTSTRAP_RESAMPLES, CONFIDENCE, Values

POWER = 0.8
ALPHA = 0.05
Clusters = Sequence[str | None] | npt.NDArray[np.integer] | None
"""One cluster per value: its id (None: the item is its own cluster), or integer keys that sort as the ids do
(`ItemColumns.cluster_keys`); None for all-singleton clusters."""
_BOOTSTRAP_CELLS = 125_000
"""Resamples × clusters drawn at once: bounds the bootstrap's memory (1 MB per array) at any n. The draws do not
depend on it; at 100,000 clusters this size was also faster than 500,000 (1.4 s against 1.9 s)."""
_ROUNDING = 1e-12
"""A standard error at most this share of its mean (or of 1) is rounding noise, not sampling error."""


class ClusteredMean(BaseModel):
    """A mean over n defined values in n_clusters clusters: clustered SE and cluster-bootstrap CI."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    n_clusters: int


@dataclass(frozen=True)
class ClusterSums:
    """Per-cluster sums and counts of the defined values: all the bootstrap and the SE need."""

    sums: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64]

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def n_clusters(self) -> int:
        return int(self.counts.size)

    @property
    def mean(self) -> float:
        return float(self.sums.sum() / self.counts.sum()) if self.counts.size else math.nan


def cluster_sums(values: Values, clusters: Clusters = None) -> ClusterSums:
    """Group the defined (non-NaN) values by cluster; a cluster whose values are all NaN is dropped."""
    data = np.asarray(values, dtype=np.float64).ravel()
    keep = ~np.isnan(data)
    if clusters is None:
        return ClusterSums(sums=data[keep], counts=np.ones(int(keep.sum())))
    if len(clusters) != data.size:
        raise ValueError(f"{data.size} values but {len(clusters)} cluster ids")
    if isinstance(clusters, np.ndarray) and clusters.dtype.kind in "iu":
        _, codes = np.unique(clusters[keep], return_inverse=True)
    else:
        labels = [f"\0{index}" if cluster is None else cluster for index, cluster in enumerate(clusters)]
        _, codes = np.unique(np.asarray(labels, dtype=object)[keep].astype(str), return_inverse=True)
    sums = np.bincount(codes, weights=data[keep]).astype(np.float64) if codes.size else np.zeros(0)
    counts = np.bincount(codes).astype(np.float64) if codes.size else np.zeros(0)
    return ClusterSums(sums=sums, counts=counts)


def clustered_se(grouped: ClusterSums) -> float:
    """CR1 cluster-robust standard error of the mean: sqrt(G/(G-1) x sum_c (S_c - n_c x mean)^2) / n.
    With singleton clusters it is the usual s/sqrt(n) (sample sd, n-1). NaN with fewer than 2 clusters."""
    clusters = grouped.n_clusters
    if clusters < 2:
        return math.nan
    residuals = grouped.sums - grouped.counts * grouped.mean
    return float(math.sqrt(clusters / (clusters - 1) * float(np.sum(residuals**2))) / grouped.n)


class BootstrapInterval(BaseModel):
    """A studentized cluster-bootstrap interval and the matching two-sided p-value against 0."""

    ci_low: float
    ci_high: float
    p_value: float


def cluster_bootstrap(grouped: ClusterSums, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> BootstrapInterval:
    """Resample whole clusters (with replacement) and studentize each resampled mean by its own CR1 SE
    (bootstrap-t): second-order accurate, so a few dozen clusters keep the 95% interval near 95% where the plain
    percentile interval covers about 93%. The p-value inverts the same equal-tailed interval: twice the smaller
    share of t* on either side of the observed t (+1 corrected). Needs at least 2 clusters; vectorised in chunks
    of bounded memory.

    Rare events break studentizing: with one failure in 40 clusters a third of the resamples hold no failure,
    have SE 0 and an infinite t*. Where a t* quantile is infinite, the interval and the p-value are the
    percentile bootstrap's, from the same resamples, instead; either way the interval is clipped to the range of
    the cluster means, which no mean of the data can leave."""
    mean, se = grouped.mean, clustered_se(grouped)
    if se <= _ROUNDING * max(1.0, abs(mean)):  # every cluster agrees (up to rounding): no sampling error is visible
        return BootstrapInterval(ci_low=mean, ci_high=mean, p_value=1.0 if mean == 0 else 1 / (resamples + 1))
    rng = np.random.default_rng(seed)
    clusters = grouped.n_clusters
    chunk = max(1, _BOOTSTRAP_CELLS // clusters)
    t_stars, mean_stars = np.empty(resamples), np.empty(resamples)
    for start in range(0, resamples, chunk):
        picks = rng.integers(0, clusters, size=(min(chunk, resamples - start), clusters))
        sums, counts = grouped.sums[picks], grouped.counts[picks]
        totals = counts.sum(axis=1)
        means = sums.sum(axis=1) / totals
        residuals = sums - counts * means[:, None]
        ses = np.sqrt(clusters / (clusters - 1) * np.sum(residuals**2, axis=1)) / totals
        ses[ses <= _ROUNDING * np.maximum(1.0, np.abs(means))] = 0.0  # rounding noise, not sampling error
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(ses > 0, (means - mean) / ses, np.where(means == mean, 0.0, np.sign(means - mean) * np.inf))
        t_stars[start : start + picks.shape[0]] = t
        mean_stars[start : start + picks.shape[0]] = means
    tail = (1 - CONFIDENCE) / 2
    low_t, high_t = np.quantile(t_stars, [tail, 1 - tail], method="inverted_cdf")  # no inf - inf interpolation
    if np.isfinite(low_t) and np.isfinite(high_t):
        low, high = mean - high_t * se, mean - low_t * se
        observed_t = mean / se  # equal-tailed, as the interval is: p < 0.05 exactly when it excludes 0
        below, above = int(np.sum(t_stars <= observed_t + 1e-12)), int(np.sum(t_stars >= observed_t - 1e-12))
        p_value = 2 * (min(below, above) + 1) / (resamples + 1)
    else:  # the percentile interval, and the p-value of the same resamples, so the two never disagree
        low, high = np.quantile(mean_stars, [tail, 1 - tail])
        below, above = int(np.sum(mean_stars <= 0)), int(np.sum(mean_stars >= 0))
        p_value = 2 * (min(below, above) + 1) / (resamples + 1)
    cluster_means = grouped.sums / grouped.counts
    floor, ceiling = float(cluster_means.min()), float(cluster_means.max())
    p_value = min(1.0, p_value)
    return BootstrapInterval(
        ci_low=min(max(float(low), floor), ceiling), ci_high=min(max(float(high), floor), ceiling), p_value=p_value
    )


def clustered_mean(
    values: Values, clusters: Clusters = None, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> ClusteredMean:
    """Mean of the defined values, its clustered SE and a 95% cluster-bootstrap CI; NaN where undefined
    (no values: everything; one cluster: SE and CI)."""
    grouped = cluster_sums(values, clusters)
    if grouped.n == 0:
        return ClusteredMean(mean=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan, n=0, n_clusters=0)
    low = high = math.nan
    if grouped.n_clusters >= 2:
        interval = cluster_bootstrap(grouped, seed, resamples)
        low, high = interval.ci_low, interval.ci_high
    return ClusteredMean(
        mean=grouped.mean,
        se=clustered_se(grouped),
        ci_low=low,
        ci_high=high,
        n=grouped.n,
        n_clusters=grouped.n_clusters,
    )


def minimum_detectable_effect(se: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true difference a two-sided level-`alpha` test detects with probability `power`,
    for an estimate with standard error `se` (normal approximation)."""
    return (NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)) * se


def clusters_needed(se: float, n_clusters: int, effect: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Clusters needed for `effect` to be detectable, scaling a pilot's SE (from `n_clusters` clusters
    of the same make-up) by 1/sqrt(clusters)."""
    if not effect > 0:
        raise ValueError(f"the effect must be positive, not {effect}")
    return max(2, math.ceil(n_clusters * (minimum_detectable_effect(se, alpha, power) / effect) ** 2))
