"""Result objects for eval suites written as pytest tests (see `evals.testing.pytest_plugin`).

A run's leaderboard rows become `StrategyResults`, one per dataset × strategy, whose metrics are
`MetricValue`s: floats that remember which metric, strategy and dataset they measure, their 95% CI
and the per-item values behind them, so a failing `assert results["rag"].f1 >= 0.6` can say which
items pulled the score down.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.core.suite import Suite
from evals.core.types import QAItem
from evals.data import QADataset
from evals.engine.runner import RunOutcome
from evals.results.item_values import metric_values
from evals.results.leaderboard import LeaderboardRow
from evals.results.records import ItemResult, RunManifest
from evals.results.run_store import runs_dir

SHOWN_ITEMS = 5
TOTAL_LATENCY_METRICS = frozenset({"latency_p50_s", "latency_p95_s", "latency_p99_s", "latency_mean_s"})
STAGE_LATENCY_METRIC = re.compile(r"latency_(?P<stage>.+)_p(?:50|95)_s")
STATISTIC_SUFFIX = re.compile(r"_(?:ci_low|ci_high|se)$")
"""Statistics of a quality metric: their items are the metric's."""
COUNT_FIELDS = ("n_items", "n_clusters", "n_ok", "n_errors", "n_cached")
MIRRORED_OPS = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class ItemValue:
    """One item's contribution to a metric: its value, the answer given and a reference answer."""

    item_id: str
    value: float
    answer: str
    reference: str


class MetricValue(float):
    """A leaderboard metric: a float that also carries its name, strategy, dataset, CI and item values."""

    name: str
    strategy: str
    dataset: str
    ci: tuple[float, float] | None
    n: int
    items: tuple[ItemValue, ...]

    def __new__(
        cls,
        value: float,
        *,
        name: str,
        strategy: str,
        dataset: str,
        ci: tuple[float, float] | None = None,
        n: int = 0,
        items: Sequence[ItemValue] = (),
    ) -> MetricValue:
        metric = super().__new__(cls, value)
        metric.name, metric.strategy, metric.dataset = name, strategy, dataset
        metric.ci, metric.n, metric.items = ci, n, tuple(items)
        return metric

    def lowest(self, k: int = SHOWN_ITEMS) -> list[ItemValue]:
        """The k items with the lowest values (the worst, for a score)."""
        return sorted(self.items, key=lambda item: (item.value, item.item_id))[:k]

    def highest(self, k: int = SHOWN_ITEMS) -> list[ItemValue]:
        """The k items with the highest values (the worst, for a latency, cost or error count)."""
        return sorted(self.items, key=lambda item: (-item.value, item.item_id))[:k]


class StrategyResults:
    """One strategy on one dataset: every leaderboard metric as an attribute, and `.items`."""

    def __init__(self, row: LeaderboardRow, items: Sequence[ItemResult], questions: Mapping[str, QAItem]) -> None:
        self.row = row
        self.items = sorted(items, key=lambda item: item.item_id)
        self.metrics = _metric_values(row, self.items, questions)

    @property
    def strategy(self) -> str:
        return self.row.strategy

    @property
    def dataset(self) -> str:
        return self.row.dataset

    def __getattr__(self, name: str) -> MetricValue:
        metrics: dict[str, MetricValue] = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(f"{self.strategy} on {self.dataset} has no metric {name!r}; it has {', '.join(metrics)}")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.metrics]

    def __repr__(self) -> str:
        return f"StrategyResults({self.strategy!r}, {self.dataset!r})"


class EvalResults(Mapping[str, StrategyResults]):
    """Strategy label → `StrategyResults`; with several datasets, index as `results["rag", "squad-mini"]`
    or narrow first with `results.dataset("squad-mini")["rag"]`."""

    def __init__(self, by_key: Mapping[tuple[str, str], StrategyResults]) -> None:
        self.by_key = dict(by_key)
        self.strategies = list(dict.fromkeys(strategy for strategy, _ in self.by_key))
        self.datasets = list(dict.fromkeys(dataset for _, dataset in self.by_key))

    def __getitem__(self, key: str | tuple[str, str]) -> StrategyResults:
        if isinstance(key, tuple):
            if key not in self.by_key:
                raise KeyError(f"no results for strategy {key[0]!r} on dataset {key[1]!r}; have {list(self.by_key)}")
            return self.by_key[key]
        if key not in self.strategies:
            raise KeyError(f"no strategy {key!r}; the suite ran {', '.join(self.strategies)}")
        if len(self.datasets) > 1:
            raise KeyError(
                f"the suite has several datasets ({', '.join(self.datasets)}): "
                f"use results[{key!r}, DATASET] or results.dataset(DATASET)[{key!r}]"
            )
        return self.by_key[(key, self.datasets[0])]

    def __contains__(self, key: object) -> bool:
        return key in self.by_key if isinstance(key, tuple) else key in self.strategies

    def __iter__(self) -> Iterator[str]:
        return iter(self.strategies)

    def __len__(self) -> int:
        return len(self.strategies)

    def dataset(self, name: str) -> EvalResults:
        """The results on one dataset only."""
        if name not in self.datasets:
            raise KeyError(f"no dataset {name!r}; the suite ran {', '.join(self.datasets)}")
        return EvalResults({key: value for key, value in self.by_key.items() if key[1] == name})

    def __repr__(self) -> str:
        return f"EvalResults(strategies={self.strategies}, datasets={self.datasets})"


@dataclass(frozen=True)
class EvalRun:
    """A finished run of a suite: what ran, where it was recorded, and its results."""

    suite: Suite
    outcome: RunOutcome
    results_dir: Path
    results: EvalResults

    @property
    def manifest(self) -> RunManifest:
        return self.outcome.manifest

    @property
    def run_id(self) -> str:
        return self.outcome.manifest.run_id

    @property
    def run_dir(self) -> Path:
        return runs_dir(self.results_dir) / self.run_id

    @classmethod
    def from_outcome(
        cls, suite: Suite, outcome: RunOutcome, results_dir: Path, datasets: Sequence[QADataset]
    ) -> EvalRun:
        """Group the outcome's item results by leaderboard row, with the datasets' reference answers."""
        questions = {dataset.name: {item.id: item for item in dataset.test} for dataset in datasets}
        items: dict[tuple[str, str], list[ItemResult]] = {}
        for item in outcome.items():
            items.setdefault((item.strategy, item.dataset), []).append(item)
        by_key = {
            (row.strategy, row.dataset): StrategyResults(
                row, items.get((row.strategy, row.dataset), []), questions.get(row.dataset, {})
            )
            for row in outcome.rows
        }
        return cls(suite=suite, outcome=outcome, results_dir=results_dir, results=EvalResults(by_key))


def _metric_values(
    row: LeaderboardRow, items: Sequence[ItemResult], questions: Mapping[str, QAItem]
) -> dict[str, MetricValue]:
    quality = {name.removesuffix("_ci_low") for name in row.metrics if name.endswith("_ci_low")}
    quality_values = {name: metric_values(items, name) for name in quality}  # the leaderboard's item-metric rule
    values: dict[str, MetricValue] = {}
    for name, value in [*row.metrics.items(), *((field, float(getattr(row, field))) for field in COUNT_FIELDS)]:
        base = STATISTIC_SUFFIX.sub("", name)
        contributions = (
            [float(v) for v in quality_values[base]] if base in quality else [_item_value(name, item) for item in items]
        )
        item_values = [
            ItemValue(item.item_id, contribution, _answer_text(item), _reference(questions.get(item.item_id)))
            for item, contribution in zip(items, contributions, strict=True)
            if contribution is not None and not math.isnan(contribution)
        ]
        ci = (row.metrics[f"{name}_ci_low"], row.metrics[f"{name}_ci_high"]) if name in quality else None
        values[name] = MetricValue(
            value,
            name=name,
            strategy=row.strategy,
            dataset=row.dataset,
            ci=ci,
            n=len(item_values) if item_values else row.n_items,
            items=item_values,
        )
    return values


def _item_value(name: str, item: ItemResult) -> float | None:
    """What one item contributes to a metric that is not a score (those follow
    `evals.results.item_values`), as the leaderboard aggregates it; None when nothing."""
    if name == "n_errors":
        return 1.0 if item.status == "error" else None
    answer = item.answer if item.status == "ok" else None
    if answer is None:
        return None
    if name in TOTAL_LATENCY_METRICS:
        return answer.timings.get("total")
    if stage := STAGE_LATENCY_METRIC.fullmatch(name):
        return answer.timings.get(stage["stage"])
    if name == "input_tokens_mean":
        return float(answer.usage.input_tokens)
    if name == "output_tokens_mean":
        return float(answer.usage.output_tokens)
    if name == "cost_per_query_usd":
        return item.cost_usd
    return None


def _answer_text(item: ItemResult) -> str:
    if item.error is not None:
        return f"[{item.error.stage} error] {item.error.type}: {item.error.message}"
    return item.answer.text if item.answer is not None else ""


def _reference(question: QAItem | None) -> str:
    if question is None:
        return "?"
    return question.answers[0] if question.answers else "(unanswerable)"


def explain_comparison(op: str, left: object, right: object) -> list[str] | None:
    """Explain a failed comparison of a `MetricValue` with a threshold: the metric, the gap, the CI
    and the items that pulled it the wrong way; None when neither side is a metric."""
    if isinstance(left, MetricValue):
        metric, other = left, right
    elif isinstance(right, MetricValue):
        metric, other, op = right, left, MIRRORED_OPS.get(op, op)
    else:
        return None
    if op not in MIRRORED_OPS or isinstance(other, bool) or not isinstance(other, int | float):
        return None
    threshold = float(other)
    gap = float(metric) - threshold
    described = f"{threshold:.4g}" + (f" ({other.name} of {other.strategy})" if isinstance(other, MetricValue) else "")
    lines = [
        f"{metric.name} of {metric.strategy} on {metric.dataset} is {float(metric):.4g}, "
        f"expected {op} {described}: gap {gap:+.4g}"
    ]
    spread = f"95% CI [{metric.ci[0]:.4g}, {metric.ci[1]:.4g}], " if metric.ci else ""
    if not metric.items:
        return [*lines, f"{spread}n={metric.n}"]
    show_lowest = op in (">", ">=") or (op in ("==", "!=") and gap <= 0)
    shown = metric.lowest() if show_lowest else metric.highest()
    lines.append(f"{spread}n={metric.n}; {'lowest' if show_lowest else 'highest'} {len(shown)} items:")
    lines += [
        f"{item.item_id} {metric.name}={item.value:.3g}: {_clip(item.answer, 40)!r} (ref {_clip(item.reference, 24)!r})"
        for item in shown
    ]
    return lines


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
