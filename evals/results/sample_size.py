"""How many questions a comparison of two strategies needs: from a pilot run's paired, clustered variance.

For each pair of strategies on a dataset, the per-question differences of a metric (the item-metric
rule of `evals.results.item_values`) give the clustered SE of the mean difference on the pilot's
clusters. The SE of a test set drawn the same way shrinks with the square root of its clusters, so the
clusters needed for an effect to be detected with the given power at level alpha follow directly
(`evals.stats.clustered.clusters_needed`); questions are clusters × the pilot's questions per cluster.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from pydantic import BaseModel

from evals.core.errors import EvalsError
from evals.results.item_values import answers_by_question, item_means
from evals.results.records import ItemResult, RunManifest
from evals.stats.clustered import ALPHA, POWER, cluster_sums, clustered_se, clusters_needed, minimum_detectable_effect


class PairPlan(BaseModel):
    """What the pilot says about telling strategy `a` from `b` on `metric`."""

    dataset: str
    a: str
    b: str
    metric: str
    observed_difference: float
    """Mean of b − a on the pilot's paired questions."""
    se: float
    pilot_questions: int
    pilot_clusters: int
    pilot_mde: float
    """The smallest difference the pilot itself detects with the given power."""
    clusters_needed: int | None
    questions_needed: int | None
    available_questions: int
    """Test questions the dataset has in all (the pilot may have used a `limit`)."""


class SampleSizePlan(BaseModel):
    run_id: str
    effect: float
    alpha: float
    power: float
    pairs: list[PairPlan]


def plan_sample_size(
    manifest: RunManifest,
    items: Sequence[ItemResult],
    effect: float,
    metric: str = "f1",
    strategies: Sequence[str] | None = None,
    dataset: str | None = None,
    alpha: float = ALPHA,
    power: float = POWER,
) -> SampleSizePlan:
    """A plan for every pair of `strategies` (all of the run's when None) on `dataset` (each dataset of
    the run when None); an EvalsError when the run cannot give one."""
    if not effect > 0:
        raise EvalsError(f"--effect must be a positive difference in {metric}, not {effect}")
    datasets = [dataset] if dataset else sorted({item.dataset for item in items})
    pairs: list[PairPlan] = []
    for name in datasets:
        on_dataset = [item for item in items if item.dataset == name]
        if not on_dataset:
            raise EvalsError(f"run {manifest.run_id} has no items on dataset {name!r}; it has {', '.join(datasets)}")
        present = sorted({item.strategy for item in on_dataset})
        chosen = list(strategies) if strategies else present
        unknown = [strategy for strategy in chosen if strategy not in present]
        if unknown:
            raise EvalsError(
                f"run {manifest.run_id} has no strategy {', '.join(unknown)} on {name}; it has {', '.join(present)}"
            )
        if len(set(chosen)) < 2:
            where = (
                f"--strategies names only {', '.join(chosen)}"
                if strategies
                else (f"run {manifest.run_id} has only {', '.join(present)} on {name}")
            )
            raise EvalsError(
                f"planning compares two strategies, but {where}; give --strategies A B (of a pilot run with both)"
            )
        if metric not in {score for item in on_dataset for score in item.scores}:
            raise EvalsError(f"run {manifest.run_id} has no metric {metric!r} on {name}")
        by_strategy = {s: answers_by_question(item for item in on_dataset if item.strategy == s) for s in chosen}
        available = manifest.datasets[name].n_test_total if name in manifest.datasets else 0
        for a, b in itertools.combinations(chosen, 2):
            pairs.append(
                _pair_plan(name, a, b, by_strategy[a], by_strategy[b], metric, effect, available, alpha, power)
            )
    return SampleSizePlan(run_id=manifest.run_id, effect=effect, alpha=alpha, power=power, pairs=pairs)


def _pair_plan(
    dataset: str,
    a: str,
    b: str,
    items_a: dict[str, list[ItemResult]],
    items_b: dict[str, list[ItemResult]],
    metric: str,
    effect: float,
    available: int,
    alpha: float,
    power: float,
) -> PairPlan:
    shared = sorted(items_a.keys() & items_b.keys())
    first = item_means([answer for i in shared for answer in items_a[i]], metric)
    second = item_means([answer for i in shared for answer in items_b[i]], metric)
    clusters = [items_b[i][0].cluster or items_a[i][0].cluster for i in shared]
    grouped = cluster_sums(second - first, clusters)
    se = clustered_se(grouped)
    needed = clusters_needed(se, grouped.n_clusters, effect, alpha, power) if math.isfinite(se) and se > 0 else None
    per_cluster = grouped.n / grouped.n_clusters if grouped.n_clusters else math.nan
    return PairPlan(
        dataset=dataset,
        a=a,
        b=b,
        metric=metric,
        observed_difference=grouped.mean,
        se=se,
        pilot_questions=grouped.n,
        pilot_clusters=grouped.n_clusters,
        pilot_mde=minimum_detectable_effect(se, alpha, power),
        clusters_needed=needed,
        questions_needed=math.ceil(needed * per_cluster) if needed is not None else None,
        available_questions=available,
    )
