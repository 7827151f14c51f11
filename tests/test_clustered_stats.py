"""Clustered statistics by simulation (seeded): CI coverage under within-cluster correlation, the minimum
detectable effect's power, and the clustered SE's agreement with the textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evals.stats.clustered import (
    cluster_sums,
    clustered_mean,
    clustered_se,
    clusters_needed,
    minimum_detectable_effect,
)
from evals.stats.paired import paired_bootstrap
from evals.stats.summary import bootstrap_mean

SIMULATIONS = 500
RESAMPLES = 1000


def _clustered_binary(rng: np.random.Generator, clusters: int, mean: float) -> tuple[np.ndarray, list[str]]:
    """0/1 outcomes whose success probability is shared within a cluster (strong intra-cluster correlation),
    clusters of 2–7 questions, like the questions of a SQuAD paragraph."""
    sizes = rng.integers(2, 8, size=clusters)
    probabilities = rng.beta(2 * mean, 2 * (1 - mean), size=clusters)
    values = np.concatenate([rng.binomial(1, p, size=k) for p, k in zip(probabilities, sizes, strict=True)])
    labels = [f"c{index}" for index, size in enumerate(sizes) for _ in range(size)]
    return values.astype(float), labels


def test_clustered_ci_covers_the_truth_at_its_nominal_rate_and_the_naive_one_does_not() -> None:
    rng = np.random.default_rng(20261205)
    clustered = naive = 0
    for simulation in range(SIMULATIONS):
        values, labels = _clustered_binary(rng, clusters=60, mean=0.4)
        ci = clustered_mean(values, labels, seed=simulation, resamples=RESAMPLES)
        iid = bootstrap_mean(values, seed=simulation, resamples=RESAMPLES)
        clustered += ci.ci_low <= 0.4 <= ci.ci_high
        naive += iid.ci_low <= 0.4 <= iid.ci_high
    assert 0.93 <= clustered / SIMULATIONS <= 0.97
    assert naive / SIMULATIONS < 0.88  # clearly below 95%: the naive CI is too narrow


def test_clustered_ci_of_a_paired_difference_covers_the_truth() -> None:
    rng = np.random.default_rng(7)
    clustered = naive = 0
    for simulation in range(SIMULATIONS):
        old, labels = _clustered_binary(rng, clusters=60, mean=0.5)
        cluster_shift = {label: rng.normal(0.1, 0.3) for label in sorted(set(labels))}  # the change differs by topic
        new = old + np.array([cluster_shift[label] for label in labels]) + rng.normal(0, 0.05, size=old.size)
        truth = 0.1
        paired = paired_bootstrap(old, new, labels, seed=simulation, resamples=RESAMPLES)
        iid = paired_bootstrap(old, new, seed=simulation, resamples=RESAMPLES)
        clustered += paired.ci_low <= truth <= paired.ci_high
        naive += iid.ci_low <= truth <= iid.ci_high
    assert 0.93 <= clustered / SIMULATIONS <= 0.97
    assert naive / SIMULATIONS < 0.85


def test_an_effect_of_the_reported_mde_is_detected_with_about_80_percent_power() -> None:
    """Each simulation: a pilot reports its MDE; that effect, planted in a fresh sample of the same design,
    is detected (p < 0.05) about 80% of the time."""
    rng = np.random.default_rng(11)

    def sample(effect: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
        old, labels = _clustered_binary(rng, clusters=60, mean=0.5)
        shift = {label: rng.normal(0, 0.15) for label in sorted(set(labels))}
        new = old + effect + np.array([shift[label] for label in labels]) + rng.normal(0, 0.3, size=old.size)
        return old, new, labels

    simulations = 300
    detected = 0
    for simulation in range(simulations):
        mde = paired_bootstrap(*sample(0.0), resamples=100).mde
        detected += paired_bootstrap(*sample(mde), seed=simulation, resamples=RESAMPLES).p_value < 0.05
    assert 0.70 <= detected / simulations <= 0.90


def test_clustered_se_reduces_to_the_textbook_formulas() -> None:
    values = np.array([0.0, 1.0, 1.0, 0.5, 0.25, math.nan])
    singletons = cluster_sums(values)
    assert singletons.n == 5 and singletons.n_clusters == 5  # NaN is left out
    assert clustered_se(singletons) == pytest.approx(np.std(values[:5], ddof=1) / math.sqrt(5))
    one_cluster = cluster_sums([1.0, 0.0, 1.0], ["a", "a", "a"])
    assert math.isnan(clustered_se(one_cluster))
    summary = clustered_mean([1.0, 1.0, 0.0, 0.0], ["a", "a", "b", "b"], resamples=200)
    assert (summary.mean, summary.n, summary.n_clusters) == (0.5, 4, 2)
    # two perfectly correlated clusters: the clustered SE is that of two observations, not four
    assert summary.se == pytest.approx(clustered_se(cluster_sums([1.0, 0.0])))
    assert clustered_mean([], []).n == 0 and math.isnan(clustered_mean([], []).mean)
    unassigned = cluster_sums([1.0, 0.0], [None, None])  # None: each its own cluster
    assert unassigned.n_clusters == 2


def test_clusters_needed_inverts_the_mde() -> None:
    se, clusters = 0.04, 50
    needed = clusters_needed(se, clusters, effect=0.05)
    assert minimum_detectable_effect(se * math.sqrt(clusters / needed)) <= 0.05
    assert minimum_detectable_effect(se * math.sqrt(clusters / (needed - 1))) > 0.05
    with pytest.raises(ValueError, match="positive"):
        clusters_needed(se, clusters, effect=0)
