"""Answer the five questions of the RAG-or-fine-tuning decision with measurements, then recommend.

The five questions (how often the knowledge changes, how fast answers must be, what the budget
looks like at the expected volume, how much the domain needs learning rather than looking up,
whether answers need sources) are each answered from the leaderboard rows of one dataset and,
where the run folders are still there, from the per-item results.

How the recommendation is chosen, in order:

1. Hard constraints remove strategies:
   - latency: fewer than `required_share` of its answers within `latency_target_s` (measured per
     item when the run's items exist, else from the leaderboard's p50/p95/p99);
   - sources: `need_sources` and its answers carry no retrieved sources (no source metric measured);
   - freshness: with knowledge updates, a setup (retraining or re-indexing) that takes longer than
     the interval between two updates, so the strategy could never be current;
   - budget: a monthly cost of ownership above `monthly_budget_usd`, when one is given;
   - untrusted sources (`untrusted_sources`): a strategy that reads the corpus and, in `evals robustness`,
     repeated a planted wrong document in more than `max_misled_rate` of its answers. Where that scenario
     was run its figures are evidence for every strategy it measured, constraint or not.
2. Quality decides among the rest: the best `metric` (F1 by default) wins. Token F1 rewards short answers
   (a terse wrong answer can outscore a verbose correct one), so the choice is cross-checked on a second
   metric (`answer_contains_gold`, or F1 when the ranking already is a containment metric): when another
   candidate is better on it beyond the 95% CIs (the two intervals do not overlap), the recommendation is
   *contested* and says so first, in its reasons, `disagreements` and JSON. The choice itself still follows
   the metric asked for; `ranking` says which metric that was and why.
3. Cost breaks near-ties: every remaining strategy within `quality_tolerance` of the best counts
   as equally good, and the one with the lowest monthly cost of ownership at `monthly_queries`
   wins (see `cost_model`: amortised setup + setup × updates per month + hosting + per-query
   cost). This is where the update frequency weighs in: each update re-pays a fine-tuned
   strategy's training and a retrieval strategy's indexing.

The hybrid is one of the measured strategies and is recommended like any other; when its items
are available the oracle router shows how much a better router could gain (per-item quality valued
by the leaderboard's rule, `evals.results.item_values`).

Run folders are read with the run store's read-only reader: a run still being written can be used,
and lines it cannot read are skipped and reported in `Recommendation.notes`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.core.errors import EvalsError
from evals.decision.cost_model import (
    BreakEven,
    CostAssumptions,
    MeasuredStrategy,
    MonthlyCost,
    break_evens,
    monthly_cost,
)
from evals.decision.latency_slo import LatencyCheck, latency_from_items, latency_from_leaderboard
from evals.decision.oracle import OracleReport, oracle_report
from evals.decision.robustness import SourceRisk
from evals.results.leaderboard import LEADERBOARD_FILE, latest_rows, read_table
from evals.results.records import ItemResult
from evals.results.run_store import ItemsReadout, RunStore, runs_dir

SECONDS_PER_MONTH = 30.44 * 86400
CROSS_CHECK_METRIC = "answer_contains_gold"
"""The length-robust metric a ranking by F1 (or EM, or anything else) is checked against."""
CONTAINMENT_METRICS = ("answer_contains_gold", "concise_correct")
"""Length-robust metrics (`evals.scoring.correctness`); a ranking by one of them is checked against F1."""
METRIC_REASONS = {
    "f1": "token F1, the default (--metric): partial credit for overlapping words, but it rewards short answers",
    "exact_match": "exact match (--metric): all-or-nothing on the normalised answer; a correct sentence scores 0",
    "answer_contains_gold": "answer_contains_gold (--metric): whether the answer contains an acceptable answer, "
    "whatever its length",
    "concise_correct": "concise_correct (--metric): containment discounted by padding, robust to answer length",
}
MEANINGFUL_VOLUMES = (1.0, 1e12)
"""Monthly query volumes a break-even can mean something at: from one query a month to ~380,000 a second."""
QuestionKey = Literal["knowledge_change", "latency", "budget", "domain", "sources"]


class Constraints(BaseModel):
    """The workload's requirements and the cost model's assumptions."""

    model_config = ConfigDict(frozen=True)

    updates_per_month: float = Field(default=4.0, ge=0)
    latency_target_s: float = Field(default=1.0, gt=0)
    monthly_queries: float = Field(default=100_000, ge=0)
    need_sources: bool = False
    required_share: float = Field(default=0.95, gt=0, le=1, description="share of answers within the latency target")
    quality_tolerance: float = Field(default=0.02, ge=0, description="quality gap counted as a tie, broken by cost")
    monthly_budget_usd: float | None = Field(default=None, ge=0)
    horizon_months: float = Field(default=12.0, gt=0)
    hosting_usd_per_hour: dict[str, float] = Field(default_factory=dict)
    metric: str = "f1"
    untrusted_sources: bool = Field(default=False, description="the corpus may hold wrong or outdated documents")
    max_misled_rate: float = Field(
        default=0.10, ge=0, le=1, description="with untrusted sources: most answers a planted wrong document may steer"
    )

    @property
    def cost_assumptions(self) -> CostAssumptions:
        return CostAssumptions(
            horizon_months=self.horizon_months,
            updates_per_month=self.updates_per_month,
            hosting_usd_per_hour=self.hosting_usd_per_hour,
        )


class Assessment(BaseModel):
    """One strategy against the constraints."""

    measured: MeasuredStrategy
    latency: LatencyCheck
    cost: MonthlyCost
    monthly_total_usd: float
    source_risk: SourceRisk | None = Field(default=None, description="its `evals robustness` figures, if measured")
    exclusions: list[str] = Field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.exclusions


class QuestionAnswer(BaseModel):
    """One of the five questions, a one-line answer and the measurements behind it."""

    key: QuestionKey
    question: str
    answer: str
    evidence: list[str]


class Ranking(BaseModel):
    """Which quality metric ranked the strategies, why, and which metric the choice was cross-checked on."""

    metric: str
    reason: str
    cross_check_metric: str
    cross_checked: bool
    """False when the leaderboard has no cross-check column with CIs (e.g. the `correctness` scorer was not run)."""


class Disagreement(BaseModel):
    """The chosen strategy is worse than `other` on the cross-check metric beyond both 95% CIs, though the
    ranking metric put it first: the two metrics disagree on which answers are right."""

    chosen: str
    other: str
    ranking_metric: str
    chosen_ranking: float
    other_ranking: float
    check_metric: str
    chosen_check: float
    chosen_check_ci: tuple[float, float]
    other_check: float
    other_check_ci: tuple[float, float]
    message: str


class Recommendation(BaseModel):
    """The recommended strategy (None when no strategy meets the constraints) and why; `contested` when the
    cross-check metric disagrees with the ranking beyond the CIs (see `disagreements`)."""

    dataset: str
    constraints: Constraints
    choice: str | None
    contested: bool = False
    ranking: Ranking | None = None
    disagreements: list[Disagreement] = Field(default_factory=list)
    reasons: list[str]
    questions: list[QuestionAnswer]
    assessments: list[Assessment]
    break_evens: list[BreakEven]
    oracle: OracleReport | None = None
    notes: list[str] = Field(default_factory=list, description="caveats about the measurements, e.g. lines skipped")


def usd(value: float) -> str:
    """Dollars with sensible precision: $1,234.50, $12.35, $0.0037."""
    if math.isnan(value):
        return "unknown"
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:.2g}"


def duration(seconds: float) -> str:
    """Seconds as "13 s", "2.5 min" or "1.2 h"."""
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def quality_text(measured: MeasuredStrategy) -> str:
    """The quality metric with its CI, e.g. `F1 0.282 [0.21, 0.37]`."""
    low, high = measured.quality_ci_low, measured.quality_ci_high
    ci = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
    return f"{measured.metric.upper() if measured.metric == 'f1' else measured.metric} {measured.quality:.3f}{ci}"


class RunItems(BaseModel):
    """The per-item results of the runs behind some leaderboard rows, and what could not be read."""

    items: list[ItemResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="per run, the unreadable lines of items.jsonl skipped")


def load_strategies(
    results_dir: Path, dataset: str | None = None, metric: str = "f1", suite: str | None = None
) -> list[MeasuredStrategy]:
    """The leaderboard rows of one dataset and suite (needed when the leaderboard has several), ranked by
    `metric`: rows of different suites measure different configurations and are never mixed."""
    frame = latest_rows(read_table(results_dir / LEADERBOARD_FILE), suite)
    names = sorted(frame["dataset"].astype(str).unique())
    if dataset is None:
        if len(names) != 1:
            raise EvalsError(f"the leaderboard has datasets {', '.join(names)}; choose one with --dataset")
        dataset = names[0]
    rows = frame[frame["dataset"].astype(str) == dataset]
    if rows.empty:
        raise EvalsError(f"dataset {dataset!r} is not in {results_dir / LEADERBOARD_FILE} ({', '.join(names)})")
    suites = sorted(rows["suite"].astype(str).unique()) if "suite" in rows.columns else []
    if len(suites) > 1:
        raise EvalsError(f"dataset {dataset!r} has rows of suites {', '.join(suites)}; choose one with --suite")
    if metric not in frame.columns:
        raise EvalsError(f"metric {metric!r} is not a leaderboard column")
    return [MeasuredStrategy.from_row(row, metric) for row in rows.to_dict(orient="records")]


def read_runs(results_dir: Path, run_ids: Iterable[str]) -> dict[str, ItemsReadout]:
    """Each run's items, read-only (`RunStore.read_items_readonly`); a run whose folder is gone (runs/ is
    not committed) has none."""
    return {run_id: RunStore(runs_dir(results_dir) / run_id).read_items_readonly() for run_id in sorted(set(run_ids))}


def load_items(
    results_dir: Path, strategies: Sequence[MeasuredStrategy], runs: Mapping[str, ItemsReadout] | None = None
) -> RunItems:
    """The items of the runs and strategies behind `strategies` (leaderboard rows of one dataset) that are
    still on disk; `runs` when already read (see `read_runs`)."""
    run_ids = {m.run_id for m in strategies}
    readouts = runs if runs is not None else read_runs(results_dir, run_ids)
    wanted = {(m.dataset, m.run_id, m.strategy) for m in strategies}
    items = [
        item
        for run_id in sorted(run_ids)
        for item in (readouts[run_id].items if run_id in readouts else [])
        if (item.dataset, run_id, item.strategy) in wanted
    ]
    notes = [readouts[run_id].skipped_note(run_id) for run_id in sorted(run_ids) if run_id in readouts]
    return RunItems(items=items, notes=[note for note in notes if note])


def load_measurements(
    results_dir: Path, dataset: str | None = None, metric: str = "f1", suite: str | None = None
) -> tuple[list[MeasuredStrategy], list[ItemResult]]:
    """`load_strategies` and the items of `load_items` (whose notes say whether lines were skipped)."""
    strategies = load_strategies(results_dir, dataset, metric, suite)
    return strategies, load_items(results_dir, strategies).items


def cross_check_metric(ranking_metric: str) -> str:
    """The metric a ranking by `ranking_metric` is checked against: containment, or F1 for a containment ranking."""
    return "f1" if ranking_metric in CONTAINMENT_METRICS else CROSS_CHECK_METRIC


def load_cross_check(
    results_dir: Path, dataset: str | None, ranking_metric: str, suite: str | None = None
) -> list[MeasuredStrategy]:
    """The same leaderboard rows measured on `cross_check_metric(ranking_metric)`; empty when the leaderboard
    lacks that metric (its scorer was not run)."""
    frame = read_table(results_dir / LEADERBOARD_FILE)
    metric = cross_check_metric(ranking_metric)
    if f"{metric}_ci_low" not in frame.columns:
        return []
    return load_strategies(results_dir, dataset, metric, suite)


def find_disagreements(
    chosen: MeasuredStrategy, candidates: Sequence[MeasuredStrategy], checks: Sequence[MeasuredStrategy]
) -> list[Disagreement]:
    """Candidates better than `chosen` on the cross-check metric (rows of `checks`) with non-overlapping 95%
    CIs; best first."""
    by_row = {(m.strategy, m.run_id): m for m in checks}
    mine = by_row.get((chosen.strategy, chosen.run_id))
    if mine is None or mine.quality_ci_low is None or mine.quality_ci_high is None:
        return []
    found = []
    for candidate in candidates:
        theirs = by_row.get((candidate.strategy, candidate.run_id))
        if candidate is chosen or theirs is None or theirs.quality_ci_low is None or theirs.quality_ci_high is None:
            continue
        if theirs.quality_ci_low > mine.quality_ci_high:
            found.append(
                Disagreement(
                    chosen=chosen.strategy,
                    other=candidate.strategy,
                    ranking_metric=chosen.metric,
                    chosen_ranking=chosen.quality,
                    other_ranking=candidate.quality,
                    check_metric=mine.metric,
                    chosen_check=mine.quality,
                    chosen_check_ci=(mine.quality_ci_low, mine.quality_ci_high),
                    other_check=theirs.quality,
                    other_check_ci=(theirs.quality_ci_low, theirs.quality_ci_high),
                    message=(
                        f"{chosen.strategy} ranks first on {chosen.metric} ({chosen.quality:.3f} against "
                        f"{candidate.quality:.3f}), but {candidate.strategy} is better on {mine.metric} beyond the "
                        f"95% CIs: {quality_text(theirs)} against {quality_text(mine)}"
                    ),
                )
            )
    return sorted(found, key=lambda d: -d.other_check)


def meaningful_break_evens(pairs: Iterable[BreakEven]) -> tuple[list[BreakEven], list[str]]:
    """The crossings at a volume a workload can have (`MEANINGFUL_VOLUMES`), and why each other crossing is left
    out: one below a query a month ("0 queries/month" once rounded) only says the line that is cheaper at any
    real volume is cheaper at all of them; one beyond any real traffic never happens."""
    low, high = MEANINGFUL_VOLUMES
    shown, left_out = [], []
    for pair in pairs:
        volume = pair.queries_per_month
        if volume is None:
            continue
        if low <= volume <= high:
            shown.append(pair)
        elif volume < low:
            left_out.append(
                f"{pair.a} · {pair.b}: their costs cross at {volume:.2g} queries/month, below one query a month; "
                f"{pair.cheaper_above} is cheaper at every real volume"
            )
        else:
            left_out.append(
                f"{pair.a} · {pair.b}: their costs cross only at {volume:.2g} queries/month, beyond any real "
                f"traffic; {pair.cheaper_below} is cheaper at every real volume"
            )
    return shown, left_out


def recommend_strategy(
    strategies: Sequence[MeasuredStrategy],
    constraints: Constraints,
    items: Sequence[ItemResult] = (),
    notes: Sequence[str] = (),
    checks: Sequence[MeasuredStrategy] = (),
    risks: Mapping[str, SourceRisk] | None = None,
) -> Recommendation:
    """Assess every strategy against the constraints, answer the five questions and pick one; `notes`
    (e.g. `RunItems.notes`) travel with the recommendation. `checks` are the same rows measured on the
    cross-check metric (`load_cross_check`): the choice is contested when another eligible strategy beats it
    there beyond the CIs. `risks` are `evals robustness` figures by strategy name (`load_source_risks`)."""
    if not strategies:
        raise EvalsError("no measured strategies to recommend from")
    risks = risks or {}
    latency = latency_from_leaderboard(strategies, constraints.latency_target_s, constraints.required_share)
    latency |= latency_from_items(items, constraints.latency_target_s, constraints.required_share)
    assessments = [
        _assess(measured, latency[measured.strategy], constraints, risks.get(measured.strategy))
        for measured in strategies
    ]
    if constraints.untrusted_sources:
        notes = [*notes, *_unmeasured_risks(assessments)]
    elsewhere = sorted({risk.dataset for risk in risks.values()} - {strategies[0].dataset})
    if elsewhere:
        notes = [
            *notes,
            f"robustness figures were measured on {', '.join(elsewhere)} (`evals robustness`), not on "
            f"{strategies[0].dataset}: they carry over as far as its documents and questions resemble these",
        ]
    eligible = [a for a in assessments if a.eligible]
    choice = None
    if eligible:
        best = max(eligible, key=lambda a: a.measured.quality)
        ties = [a for a in eligible if a.measured.quality >= best.measured.quality - constraints.quality_tolerance]
        choice = min(ties, key=lambda a: (_sortable(a.monthly_total_usd), -a.measured.quality))
    oracle, oracle_notes = _oracle(items, constraints.metric, strategies)
    pairs = break_evens(strategies, constraints.cost_assumptions)
    chosen = choice.measured.strategy if choice else None
    check_metric = cross_check_metric(constraints.metric)
    disagreements = find_disagreements(choice.measured, [a.measured for a in eligible], checks) if choice else []
    ranking = Ranking(
        metric=constraints.metric,
        reason=METRIC_REASONS.get(constraints.metric, f"{constraints.metric} (--metric)"),
        cross_check_metric=check_metric,
        cross_checked=bool(checks),
    )
    checked = (
        f"cross-checked on {check_metric}"
        if checks
        else f"not cross-checked: no {check_metric} with CIs on the leaderboard (add the `correctness` scorer)"
    )
    return Recommendation(
        dataset=strategies[0].dataset,
        constraints=constraints,
        choice=chosen,
        contested=bool(disagreements),
        ranking=ranking,
        disagreements=disagreements,
        reasons=[
            *(_contested_reason(d) for d in disagreements),
            *_reasons(choice, assessments, constraints, oracle),
            f"ranked by {ranking.reason}; {checked}",
        ],
        questions=[
            _knowledge_change(assessments, constraints),
            _latency(assessments, constraints),
            _budget(assessments, constraints, meaningful_break_evens(p for p in pairs if chosen in (p.a, p.b))[0]),
            _domain(assessments),
            _sources(assessments, constraints),
        ],
        assessments=assessments,
        break_evens=pairs,
        oracle=oracle,
        notes=[*notes, *oracle_notes],
    )


def _contested_reason(disagreement: Disagreement) -> str:
    better = (
        "a length-robust correctness metric"
        if disagreement.check_metric in CONTAINMENT_METRICS
        else "token overlap with the gold answers"
    )
    return (
        f"CONTESTED: {disagreement.message}. The metrics disagree on which answers are right ({better} prefers "
        f"{disagreement.other}): read both strategies' answers (`evals view`), or rank with "
        f"--metric {disagreement.check_metric}"
    )


def _sortable(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _assess(
    measured: MeasuredStrategy, latency: LatencyCheck, constraints: Constraints, risk: SourceRisk | None
) -> Assessment:
    cost = monthly_cost(measured, constraints.cost_assumptions, constraints.monthly_queries)
    exclusions = []
    misled = risk.misled_rate if risk is not None and risk.reads_corpus else None
    if constraints.untrusted_sources and misled is not None and misled > constraints.max_misled_rate:
        exclusions.append(
            f"repeated a planted wrong document in {_risk_text(risk)} of its answers (evals robustness), "
            f"over the {constraints.max_misled_rate:.0%} allowed with untrusted sources"
        )
    if not latency.meets:
        exclusions.append(f"misses the latency target: {latency.describe()}, needs {constraints.required_share:.0%}")
    if constraints.need_sources and not measured.sourced:
        exclusions.append("its answers carry no sources")
    if measured.maintenance != "none" and constraints.updates_per_month > 0:
        interval = SECONDS_PER_MONTH / constraints.updates_per_month
        if measured.setup_seconds > interval:
            exclusions.append(
                f"each {measured.maintenance} takes {duration(measured.setup_seconds)}, "
                f"longer than the {duration(interval)} between updates"
            )
    if constraints.monthly_budget_usd is not None and not cost.total <= constraints.monthly_budget_usd:
        exclusions.append(f"costs {usd(cost.total)}/month, over the {usd(constraints.monthly_budget_usd)} budget")
    return Assessment(
        measured=measured,
        latency=latency,
        cost=cost,
        monthly_total_usd=cost.total,
        source_risk=risk,
        exclusions=exclusions,
    )


def _risk_text(risk: SourceRisk | None) -> str:
    """`68% [49%, 82%]` of a strategy's answers misled by a planted wrong document."""
    if risk is None or risk.misled_rate is None:
        return "unmeasured"
    low, high = risk.misled_ci
    ci = f" [{low:.0%}, {high:.0%}]" if low is not None and high is not None else ""
    return f"{risk.misled_rate:.0%}{ci}"


def _unmeasured_risks(assessments: Sequence[Assessment]) -> list[str]:
    """With untrusted sources: the strategies reading retrieved documents that `evals robustness` never measured."""
    unmeasured = [a.measured.strategy for a in assessments if a.measured.sourced and a.source_risk is None]
    if not unmeasured:
        return []
    return [
        f"untrusted sources: {', '.join(unmeasured)} read retrieved documents but have no `evals robustness` "
        "figures, so how often a wrong document misleads them is unknown"
    ]


def _oracle(
    items: Sequence[ItemResult], metric: str, strategies: Sequence[MeasuredStrategy]
) -> tuple[OracleReport | None, list[str]]:
    """The oracle router against the hybrid (the strategy whose answers record a route), with the best
    plain-retrieval strategy (role `rag`, whatever its name) as the always-retrieve reference; None when the
    items are not there, with a note when they are but cannot be compared (evidence, not a constraint)."""
    hybrids = {item.strategy for item in items if item.answer is not None and "route" in item.answer.metadata}
    if len(hybrids) != 1 or len({item.strategy for item in items}) < 2:
        return None, []
    hybrid = hybrids.pop()
    answered = {item.strategy for item in items}
    retrievers = [s for s in strategies if s.role == "rag" and s.strategy in answered]
    rag = max(retrievers, key=lambda s: s.quality).strategy if retrievers else None
    try:
        return oracle_report(items, hybrid=hybrid, rag=rag, metric=metric), []
    except EvalsError as error:
        return None, [f"no oracle router: {error}"]


def _reasons(
    choice: Assessment | None, assessments: list[Assessment], constraints: Constraints, oracle: OracleReport | None
) -> list[str]:
    excluded = [f"{a.measured.strategy} excluded: {'; '.join(a.exclusions)}" for a in assessments if not a.eligible]
    if choice is None:
        return ["no strategy meets every constraint; relax the one that excludes the strategy you need", *excluded]
    eligible = [a for a in assessments if a.eligible]
    best = max(eligible, key=lambda a: a.measured.quality)
    chosen = choice.measured
    reasons = []
    if choice is best:
        reasons.append(
            f"highest quality among the {len(eligible)} strategies that meet the constraints: {quality_text(chosen)}"
        )
    else:
        reasons.append(
            f"{quality_text(chosen)}, within {constraints.quality_tolerance:g} of the best eligible "
            f"({best.measured.strategy}, {quality_text(best.measured)}), and cheaper: "
            f"{usd(choice.monthly_total_usd)}/month against {usd(best.monthly_total_usd)}"
        )
    ties = [
        a
        for a in eligible
        if a is not choice and a.measured.quality >= best.measured.quality - constraints.quality_tolerance
    ]
    if ties and choice is best:
        reasons.append(
            f"cheapest of the strategies within {constraints.quality_tolerance:g} of it: "
            f"{usd(choice.monthly_total_usd)}/month against "
            + ", ".join(f"{a.measured.strategy} {usd(a.monthly_total_usd)}" for a in ties)
        )
    reasons.append(
        f"{usd(choice.monthly_total_usd)}/month at {constraints.monthly_queries:,.0f} queries and "
        f"{constraints.updates_per_month:g} updates/month ({_maintenance_text(chosen, constraints)})"
    )
    reasons.append(f"latency: {choice.latency.describe()}")
    if chosen.sourced:
        reasons.append(f"answers cite retrieved sources ({_sources_text(chosen)})")
    if oracle is not None and oracle.regret > constraints.quality_tolerance:
        reasons.append(
            f"a better router could gain: the oracle over {', '.join(oracle.candidates)} reaches "
            f"{oracle.metric} {oracle.oracle_quality:.3f} against the hybrid's {oracle.hybrid_quality:.3f}"
        )
    return [*reasons, *excluded]


def _maintenance_text(measured: MeasuredStrategy, constraints: Constraints) -> str:
    if measured.maintenance == "none":
        return "nothing to redo on an update, and nothing learned from it"
    verb = {"retrain": "retraining", "reindex": "re-indexing", "retrain+reindex": "retraining and re-indexing"}[
        measured.maintenance
    ]
    return (
        f"{verb} costs {usd(measured.setup_cost_usd)} and {duration(measured.setup_seconds)} per update, "
        f"{usd(measured.setup_cost_usd * constraints.updates_per_month)}/month"
    )


def _sources_text(measured: MeasuredStrategy) -> str:
    parts = [
        f"{name.replace('_', ' ')} {measured.metrics[name]:.0%}"
        for name in ("grounded", "faithfulness", "cited_precision")
        if measured.metrics.get(name) is not None
    ]
    return ", ".join(parts) or "sources shown, support not scored"


def _knowledge_change(assessments: list[Assessment], constraints: Constraints) -> QuestionAnswer:
    evidence = [f"{a.measured.strategy}: {_maintenance_text(a.measured, constraints)}" for a in assessments]

    def kind(a: Assessment) -> str:  # a strategy that retrains pays for retraining, whatever else it redoes
        return "retrain" if "retrain" in a.measured.maintenance else a.measured.maintenance

    by_kind = {
        name: max((a for a in assessments if kind(a) == name), key=lambda a: a.measured.quality)
        for name in ("retrain", "reindex")
        if any(kind(a) == name for a in assessments)
    }
    updates = constraints.updates_per_month
    if updates == 0:
        answer = "static knowledge: nothing to retrain or re-index after the initial setup"
    elif len(by_kind) == 2:
        retrain, reindex = by_kind["retrain"].measured, by_kind["reindex"].measured
        answer = (
            f"{updates:g} updates/month: retraining {retrain.strategy} costs {usd(retrain.setup_cost_usd)} and "
            f"{duration(retrain.setup_seconds)} each time; re-indexing {reindex.strategy} costs "
            f"{usd(reindex.setup_cost_usd)} and {duration(reindex.setup_seconds)}"
        )
    else:
        answer = f"{updates:g} updates/month; only {', '.join(by_kind) or 'static'} strategies were measured"
    return QuestionAnswer(
        key="knowledge_change", question="How often does the knowledge change?", answer=answer, evidence=evidence
    )


def _latency(assessments: list[Assessment], constraints: Constraints) -> QuestionAnswer:
    meeting = [a.measured.strategy for a in assessments if a.latency.meets]
    answer = (
        f"target {constraints.latency_target_s:g} s for {constraints.required_share:.0%} of answers: "
        f"{', '.join(meeting) or 'no strategy'} meet{'s' if len(meeting) == 1 else ''} it"
    )
    evidence = [
        f"{a.measured.strategy}: {a.latency.describe()} ({'meets' if a.latency.meets else 'misses'}, "
        f"from {a.latency.source})"
        for a in assessments
    ]
    return QuestionAnswer(key="latency", question="How fast must answers be?", answer=answer, evidence=evidence)


def _budget(assessments: list[Assessment], constraints: Constraints, crossings: list[BreakEven]) -> QuestionAnswer:
    ranked = sorted(assessments, key=lambda a: _sortable(a.monthly_total_usd))
    evidence = [
        f"{a.measured.strategy}: {usd(a.monthly_total_usd)}/month = queries {usd(a.cost.queries)} "
        f"({usd(a.measured.cost_per_query_usd * 1000)}/1k) + setup {usd(a.cost.setup)} "
        f"(amortised over {constraints.horizon_months:g} months) + maintenance {usd(a.cost.maintenance)} "
        f"+ hosting {usd(a.cost.hosting)}"
        for a in ranked
    ]
    evidence += [
        f"{p.a} and {p.b} cost the same at {p.queries_per_month:,.0f} queries/month: "
        f"{p.cheaper_below} is cheaper below, {p.cheaper_above} above"
        for p in crossings
        if p.queries_per_month is not None
    ]
    cheapest = ranked[0]
    answer = (
        f"at {constraints.monthly_queries:,.0f} queries/month the cheapest is {cheapest.measured.strategy} "
        f"({usd(cheapest.monthly_total_usd)}/month), the dearest {ranked[-1].measured.strategy} "
        f"({usd(ranked[-1].monthly_total_usd)}/month)"
    )
    return QuestionAnswer(
        key="budget", question="What does it cost at the expected volume?", answer=answer, evidence=evidence
    )


def _domain(assessments: list[Assessment]) -> QuestionAnswer:
    best_by_role: dict[str, MeasuredStrategy] = {}
    for a in sorted(assessments, key=lambda a: a.measured.quality):
        best_by_role[a.measured.role] = a.measured
    evidence = [f"{a.measured.strategy} ({a.measured.role}): {quality_text(a.measured)}" for a in assessments]
    baseline = best_by_role.get("closed_book")
    labels = {"finetuned": "fine-tuning", "rag": "retrieval", "finetuned_rag": "both", "hybrid": "the hybrid"}
    if baseline is None:
        answer = "no closed-book baseline measured; compare the strategies' quality directly"
    else:
        gains = [
            f"{label} {best_by_role[role].quality - baseline.quality:+.3f} ({best_by_role[role].strategy})"
            for role, label in labels.items()
            if role in best_by_role
        ]
        answer = f"over closed-book ({quality_text(baseline)}): " + ", ".join(gains)
    return QuestionAnswer(
        key="domain",
        question="How much must the model learn the domain rather than look it up?",
        answer=answer,
        evidence=evidence,
    )


def _sources(assessments: list[Assessment], constraints: Constraints) -> QuestionAnswer:
    sourced = [a.measured.strategy for a in assessments if a.measured.sourced]
    evidence = [
        f"{a.measured.strategy}: {_sources_text(a.measured) if a.measured.sourced else 'no sources'}"
        + (f"; misled by a planted wrong document: {_risk_text(a.source_risk)}" if a.source_risk else "")
        for a in assessments
    ]
    answer = ("required" if constraints.need_sources else "not required") + (
        f": {', '.join(sourced)} show{'s' if len(sourced) == 1 else ''} sources" if sourced else ": none show sources"
    )
    return QuestionAnswer(key="sources", question="Do answers need sources?", answer=answer, evidence=evidence)
