"""Validate offline faithfulness metrics against human labels, out of sample.

k-fold cross-validation: each fold is scored by the metric as fitted on the other folds only (a fixed metric
has nothing to fit). HaluEval folds keep a question's two answers together; BEGIN folds are stratified by
label. The out-of-fold scores, pooled, give one figure per data source:

- HaluEval QA: pairwise accuracy, the share of pairs whose right answer scores strictly above the
  hallucinated one (ties and NaN fail);
- BEGIN: ROC-AUC of the score for "Fully attributable" against the rest (NaN counts as 0).

Each figure comes with a percentile bootstrap 95% CI (pairs or responses resampled, seeded), next to the
lexical-overlap baseline scored on the same folds and the paired difference (same resamples). The in-sample
figure (fitted and scored on every row) is reported as an extra: it flatters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel
from scipy.stats import rankdata
from sklearn.model_selection import KFold, StratifiedKFold

from evals.core.errors import DatasetError, EvalsError
from evals.infra.hashing import file_sha256
from evals.scoring.claim_support import claim_support
from evals.scoring.faithfulness_model import FaithfulnessModel, faithfulness_score, shipped_weights
from evals.scoring.judge_data import Fittable, Format, LabelledAnswer, Metric, load_labelled
from evals.scoring.ragas_judge import ragas_faithfulness
from evals.scoring.squad import normalize_answer

BASELINE = "lexical_overlap"
CHOSEN_ON_SHIPPED_DATA = ("faithfulness_lexical", "faithfulness_shipped")
"""Fixed metrics whose constants were chosen on the files the shipped weights were fitted on."""
BOOTSTRAP_RESAMPLES = 2000
Figure = Literal["pairwise_accuracy", "roc_auc"]


def lexical_overlap(answer: str, contexts: Sequence[str], question: str | None = None) -> float:
    """Baseline: share of the answer's normalized tokens that occur anywhere in the contexts."""
    tokens = normalize_answer(answer).split()
    if not tokens:
        return math.nan
    known = set(normalize_answer(" ".join(contexts)).split())
    return sum(token in known for token in tokens) / len(tokens)


METRICS: dict[str, Metric | Fittable] = {
    "faithfulness": FaithfulnessModel(),  # refitted within the folds
    "faithfulness_shipped": faithfulness_score,  # the shipped weights, fixed: fitted on datasets/judge-validation
    "faithfulness_lexical": claim_support,  # hand-tuned on this data: its figures here flatter it
    BASELINE: lexical_overlap,
    "ragas_faithfulness": ragas_faithfulness,  # needs a judge endpoint: EVALS_JUDGE_MODEL, EVALS_JUDGE_BASE_URL
}


def get_metric(name: str) -> Metric | Fittable:
    """The metric registered as `name`; an EvalsError listing the known names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise EvalsError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}") from None


class Estimate(BaseModel):
    value: float
    ci_low: float
    ci_high: float


class SourceResult(BaseModel):
    """One data source's out-of-sample figure for the metric and the baseline, and their difference."""

    source: str
    figure: Figure
    n: int
    """Units resampled by the bootstrap: HaluEval pairs or BEGIN responses."""
    n_positive: int
    metric: Estimate
    baseline: Estimate
    difference: Estimate
    """metric − baseline on the same folds and the same bootstrap resamples."""
    in_sample: float
    """The metric fitted on every row and scored on the same rows: flatters, for reference only."""


class ValidationReport(BaseModel):
    file: str
    format: Format
    metric: str
    baseline: str
    folds: int
    seed: int
    bootstrap_resamples: int
    sources: list[SourceResult]
    warnings: list[str] = []


def fold_tests(rows: Sequence[LabelledAnswer], format: Format, folds: int, seed: int) -> list[np.ndarray]:
    """Row indices of each fold's report part (HaluEval: whole pairs; BEGIN: stratified by label)."""
    if format == "halueval":
        groups = np.array([row.group for row in rows])
        unique = np.unique(groups)
        splits = KFold(folds, shuffle=True, random_state=seed).split(unique)
        return [np.flatnonzero(np.isin(groups, unique[test])) for _, test in splits]
    labels = np.array([row.supported for row in rows])
    return [test for _, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels)]


def _score(metric: Metric | Fittable, tune: Sequence[LabelledAnswer], rows: Sequence[LabelledAnswer]) -> np.ndarray:
    scorer = metric.fit(tune) if isinstance(metric, Fittable) else metric
    return np.array([scorer(row.answer, row.contexts, row.question) for row in rows], dtype=float)


def out_of_fold_scores(
    rows: Sequence[LabelledAnswer], metric: Metric | Fittable, tests: Sequence[np.ndarray]
) -> np.ndarray:
    """Each row's score by the metric fitted on the folds that do not contain it."""
    scores = np.full(len(rows), math.nan)
    for test in tests:
        held_out = set(test.tolist())
        scores[test] = _score(metric, [row for i, row in enumerate(rows) if i not in held_out], [rows[i] for i in test])
    return scores


def _pair_wins(rows: Sequence[LabelledAnswer], scores: np.ndarray) -> np.ndarray:
    """Per HaluEval pair: 1.0 when its right answer scores strictly above its hallucinated one."""
    right = {row.group: scores[i] for i, row in enumerate(rows) if row.supported}
    wrong = {row.group: scores[i] for i, row in enumerate(rows) if not row.supported}
    return np.array([float(right[group] > wrong[group]) for group in sorted(right)])


def _auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of `scores` (resamples × items) against the matching row of `labels` (ties count 1/2)."""
    positives = labels.sum(axis=-1)
    negatives = labels.shape[-1] - positives
    ranks = rankdata(scores, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * labels).sum(axis=-1) - positives * (positives + 1) / 2) / (positives * negatives)


def _estimates(
    figure: Figure, labels: np.ndarray, metric: np.ndarray, baseline: np.ndarray, seed: int
) -> list[Estimate]:
    """Metric, baseline and difference with percentile bootstrap CIs over the same resampled units."""
    resamples = np.random.default_rng(seed).integers(0, len(metric), size=(BOOTSTRAP_RESAMPLES, len(metric)))
    if figure == "pairwise_accuracy":
        points = [metric.mean(), baseline.mean()]
        boots = [metric[resamples].mean(axis=1), baseline[resamples].mean(axis=1)]
    else:
        points = [float(_auc(labels, metric)), float(_auc(labels, baseline))]
        boots = [_auc(labels[resamples], metric[resamples]), _auc(labels[resamples], baseline[resamples])]
    values = [*points, points[0] - points[1]]
    draws = [*boots, boots[0] - boots[1]]
    return [
        Estimate(value=float(value), ci_low=float(np.nanpercentile(d, 2.5)), ci_high=float(np.nanpercentile(d, 97.5)))
        for value, d in zip(values, draws, strict=True)
    ]


def _check(rows: Sequence[LabelledAnswer], format: Format, folds: int, where: str) -> None:
    if folds < 2:
        raise EvalsError(f"--folds must be at least 2, not {folds}")
    units = len({row.group for row in rows})
    if units < folds:
        kind = "pairs" if format == "halueval" else "rows"
        raise DatasetError(f"{where}: {units} {kind}, fewer than the {folds} folds")
    if format == "begin":
        for source in sorted({row.source for row in rows}):
            counts = [sum(row.supported == label for row in rows if row.source == source) for label in (True, False)]
            if 0 in counts:
                raise DatasetError(
                    f"{where}: data source {source!r} has only {'un' * (counts[0] == 0)}supported responses; "
                    "ROC-AUC needs both fully attributable and other responses"
                )
        if min(sum(row.supported == label for row in rows) for label in (True, False)) < folds:
            raise DatasetError(f"{where}: fewer responses of one label than the {folds} folds")


def cross_validate(
    rows: Sequence[LabelledAnswer],
    format: Format,
    metric: str | Metric | Fittable,
    folds: int = 5,
    seed: int = 0,
    where: str = "validation data",
) -> ValidationReport:
    """Out-of-sample figures of `metric` and the lexical-overlap baseline on the same folds, per data source."""
    _check(rows, format, folds, where)
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", type(metric).__name__)
    scorer = get_metric(metric) if isinstance(metric, str) else metric
    tests = fold_tests(rows, format, folds, seed)
    ours, baseline = out_of_fold_scores(rows, scorer, tests), out_of_fold_scores(rows, lexical_overlap, tests)
    in_sample = _score(scorer, rows, rows)
    figure: Figure = "pairwise_accuracy" if format == "halueval" else "roc_auc"
    results = []
    for source in sorted({row.source for row in rows}):
        index = [i for i, row in enumerate(rows) if row.source == source]
        part = [rows[i] for i in index]
        labels = np.array([row.supported for row in part], dtype=float)
        if figure == "pairwise_accuracy":
            columns = [_pair_wins(part, values[index]) for values in (ours, baseline, in_sample)]
        else:
            columns = [np.nan_to_num(values[index], nan=0.0) for values in (ours, baseline, in_sample)]
        metric_estimate, baseline_estimate, difference = _estimates(figure, labels, columns[0], columns[1], seed)
        results.append(
            SourceResult(
                source=source,
                figure=figure,
                n=len(columns[0]),
                n_positive=int(labels.sum()) if figure == "roc_auc" else len(columns[0]),
                metric=metric_estimate,
                baseline=baseline_estimate,
                difference=difference,
                in_sample=float(columns[2].mean() if figure == "pairwise_accuracy" else _auc(labels, columns[2])),
            )
        )
    return ValidationReport(
        file=where,
        format=format,
        metric=name,
        baseline=BASELINE,
        folds=folds,
        seed=seed,
        bootstrap_resamples=BOOTSTRAP_RESAMPLES,
        sources=results,
    )


def validate_file(
    path: Path, format: Format, metric: str = "faithfulness", folds: int = 5, seed: int = 0
) -> ValidationReport:
    """`cross_validate` on a HaluEval QA JSONL or BEGIN TSV file, warning when the metric was tuned on it."""
    get_metric(metric)
    report = cross_validate(load_labelled(path, format), format, metric, folds, seed, where=str(path))
    if metric in CHOSEN_ON_SHIPPED_DATA and file_sha256(path) in {f.sha256 for f in shipped_weights().fitted_on}:
        report.warnings.append(f"{metric}'s constants were chosen on this file: its figures here are in-sample")
    return report
