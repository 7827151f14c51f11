"""The retrieval-robustness scenario: what each strategy answers when the documents it retrieves are noisy,
wrong or missing (RGB: Chen et al., "Benchmarking Large Language Models in Retrieval-Augmented Generation",
AAAI 2024: noise robustness, counterfactual robustness, negative rejection).

A fine-tuned model answers from its weights, so a bad document cannot mislead it; a RAG system answers from
what it retrieves. The scenario builds corpus variants of company-kb-v1 in code, asks every variant the same
test questions (same ids, same items: a strategy that does not read the corpus, closed-book or fine-tuned,
hits the answer cache on every variant after the first) and runs them as one suite run (answer cache,
retries, resume, per-item errors).

Every *topic document* (a document stating facts, `facts.jsonl`) becomes, per variant:

- **noise at rate r** (`<dataset>~noise<r>`): a pool of `POOL_SIZE` = 5 same-topic documents, as RGB's five
  passages, of which round(r × 5) are *noise* and the rest *positive*. The gold document (its own id and text)
  is always positive; the other four slots are the gold document under a framing sentence, either as is
  (positive, `<doc_id>~copy<slot>`) or with every fact value replaced by a vague phrase and no digit left
  (noise, `<doc_id>~noise<slot>`: on topic, the same wording, no answer). Which slots turn to noise is drawn
  per document from the seed, and the
  noise slots at a rate include those at every lower rate, so each step up only turns a positive into noise.
  Rates are rounded to whole documents of 5 (0, 0.2, ... 0.8); one that leaves no positive is refused.
- **counterfactual** (`<dataset>~counterfactual`): the gold document *replaced* (same id) by a copy stating a
  wrong value for each of its facts, as RGB puts counterfactual documents in place of the evidence. The wrong
  value is the fact's v2 value when the fact changes between the snapshots, else v1's leading number shifted
  by about 25%; never a value any fact has in v1, so a fine-tuned model mixing up two memorised facts is not
  counted as misled.
- **absent** (`<dataset>~absent`): the gold document removed; the pool's four noise documents remain, so the
  retriever still finds the topic, never the answer (RGB's negative rejection). The right behaviour is to
  abstain.

Scores, per strategy: accuracy (`answer_contains_gold`, the accuracy RGB reports) and SQuAD F1 at each noise
rate; `misled_rate` on the counterfactual variant (the answer contains the planted value and not the right
one); `rejection_rate` on the absent variant (the answer abstains by the SQuAD 2.0 rule, i.e. normalizes to
nothing, or says it cannot answer: `evals.scoring.abstention.abstained`). The items keep their gold answers on
the absent variant (so every variant shares the answer cache); abstention is counted from the answer text.
A failed item counts 0 on every figure, as everywhere (`evals.results.item_values`). Means come with
clustered 95% CIs (`evals.stats.clustered`), clustered by the item's gold document: the two facts of a product
page share its pool and are retrieved together (by default one question per document is asked, so each
question is its own cluster).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from rich.console import Console

from evals.core.errors import DatasetError, EvalsError
from evals.core.strategy import STRATEGIES, UpdatePath, knowledge_read
from evals.core.suite import StrategyEntry, Suite
from evals.core.types import Document, QAItem
from evals.data.dataset import QADataset
from evals.data.spec import shipped_datasets
from evals.engine.runner import RunSettings, run_suite
from evals.infra.model_files import load_model, save_model
from evals.results.item_values import metric_value
from evals.results.records import ItemResult, SetupRecord
from evals.scoring.abstention import abstained
from evals.scoring.correctness import answer_contains_gold
from evals.stats.clustered import ClusteredMean, clustered_mean

ROBUSTNESS_FILE = "robustness.json"
ROBUSTNESS_SCHEMA_VERSION = 1
DEFAULT_DATASET = "company-kb-v1"
DEFAULT_NOISE_RATES = (0.0, 0.2, 0.4, 0.6, 0.8)
DEFAULT_LIMIT = 40
"""Questions asked by default: one per topic document of company-kb-v1 (of its 60), which keeps a cold run of
the default strategies near 15 minutes on 2 cores; None asks every question."""
POOL_SIZE = 5
"""Same-topic documents per topic document in a noise variant (RGB retrieves five passages per question)."""
FACTS_FILE = "facts.jsonl"
NOISE_SUFFIX = "~noise"
COUNTERFACTUAL_SUFFIX = "~counterfactual"
ABSENT_SUFFIX = "~absent"
_FINETUNE = {"finetune": {"epochs": 2, "max_steps": 30}}  # 30 steps over the kb's training pairs
DEFAULT_STRATEGIES = [
    StrategyEntry(name="finetuned", params=_FINETUNE),
    StrategyEntry(name="rag"),
    StrategyEntry(name="finetuned_rag", type="rag", params=_FINETUNE),
    StrategyEntry(name="hybrid", params=_FINETUNE),
    StrategyEntry(name="closed_book"),
    StrategyEntry(name="extractive_bm25"),
]
"""Small fine-tuning (30 steps, as `evals freshness`): one adapter, trained once, serves finetuned,
finetuned_rag and hybrid."""

FRAMINGS = (
    "",
    "From the Larkspur Devices knowledge base.",
    "Customer information sheet.",
    "Reference page kept by the support team.",
    "Summary prepared for store staff.",
)
"""The sentence each pool slot opens with (slot 0, the gold document, has none); no digits."""
VAGUE_VALUES = ("", "TBD", "not listed", "a value that varies by region", "the figure printed in the manual")
"""What a noise slot says where the gold document states a value: placeholders a half-finished page carries,
short and long (a short one outranks the value's sentence for BM25, a long one does not); no digits, so never
an answer."""
PlantedSource = Literal["v2", "shifted"]
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Fact:
    """One row of `facts.jsonl`: a fact, the document stating it and its value in each snapshot."""

    fact_id: str
    doc_id: str
    v1: str
    v2: str
    changed: bool


@dataclass(frozen=True)
class PlantedValue:
    """The wrong value the counterfactual document states for a fact, and where it comes from."""

    value: str
    source: PlantedSource


class RobustnessVariants(BaseModel):
    """The scenario's datasets: one per noise rate, the counterfactual and the absent variant, all asking the
    same test items; the ids of every noise document and the value planted for every fact."""

    base: QADataset
    noise: list[QADataset]
    noise_rates: list[float]
    noise_docs: list[int] = Field(description="noise documents per pool at each rate")
    counterfactual: QADataset
    absent: QADataset
    noise_doc_ids: set[str]
    planted: dict[str, str] = Field(description="fact id → the wrong value the counterfactual document states")
    planted_sources: dict[str, PlantedSource]

    def datasets(self) -> list[QADataset]:
        return [*self.noise, self.counterfactual, self.absent]


# ---------------------------------------------------------------------------------------------- results


class Estimate(BaseModel):
    """A mean with its clustered SE and 95% cluster-bootstrap CI; None where undefined (no items, or fewer
    than two clusters for the SE and CI)."""

    mean: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_clusters: int

    @classmethod
    def of(cls, values: Sequence[float], clusters: Sequence[str | None], seed: int = 0) -> Estimate:
        """The clustered mean of `values` with its cluster-bootstrap CI (`clustered_mean`: within the data's
        range); None where undefined."""
        result: ClusteredMean = clustered_mean(np.asarray(values, dtype=np.float64), list(clusters), seed=seed)

        def defined(value: float) -> float | None:
            return None if math.isnan(value) else value

        return cls(
            mean=defined(result.mean),
            se=defined(result.se),
            ci_low=defined(result.ci_low),
            ci_high=defined(result.ci_high),
            n=result.n,
            n_clusters=result.n_clusters,
        )

    def text(self, digits: int = 2) -> str:
        """`0.62 [0.48, 0.75]`; `n/a` when undefined."""
        if self.mean is None:
            return "n/a"
        if self.ci_low is None or self.ci_high is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"


class NoisePoint(BaseModel):
    """One strategy at one noise rate."""

    noise_rate: float = Field(description="the rate asked for")
    noise_docs: int = Field(description=f"noise documents in each pool of {POOL_SIZE}")
    dataset: str
    accuracy: Estimate = Field(description="answer_contains_gold")
    f1: Estimate
    retrieved_noise_share: float | None = Field(
        default=None, description="share of the retrieved passages that were noise documents; None: no retrieval"
    )
    errors: int = 0


class CounterfactualScores(BaseModel):
    """One strategy on the counterfactual variant."""

    dataset: str
    misled_rate: Estimate = Field(description="the answer contains the planted wrong value and not the right one")
    accuracy: Estimate = Field(description="answer_contains_gold (the right value despite the wrong document)")
    errors: int = 0


class AbsentScores(BaseModel):
    """One strategy on the absent variant (no document states the answer)."""

    dataset: str
    rejection_rate: Estimate = Field(description="the answer abstains (SQuAD 2.0 no-answer or an abstention phrase)")
    accuracy: Estimate = Field(description="answer_contains_gold: right anyway, from what the model itself knows")
    errors: int = 0


class StrategyRobustness(BaseModel):
    """One strategy through every variant."""

    strategy: str
    strategy_type: str
    update_path: UpdatePath | None
    reads_corpus: bool = Field(description="the strategy retrieves from the corpus (its answers can change)")
    setup_seconds: float = Field(description="its first setup in this run (training, indexing)")
    answer_seconds: float = Field(description="wall time answering, every variant together (cache hits: 0)")
    answered: int = Field(description="answers the strategy computed; the rest came from the answer cache")
    noise: list[NoisePoint]
    accuracy_drop: Estimate = Field(
        description="accuracy at the lowest noise rate minus at the highest, paired per question"
    )
    counterfactual: CounterfactualScores
    absent: AbsentScores


class RobustnessResult(BaseModel):
    """The scenario's results for every strategy, as saved to `results/robustness.json`."""

    schema_version: int = ROBUSTNESS_SCHEMA_VERSION
    run_id: str = Field(description="the run (results/runs/<run_id>) holding every answer")
    dataset: str
    fingerprint: str
    seed: int
    pool_size: int = POOL_SIZE
    noise_rates: list[float]
    n_test: int
    n_clusters: int
    planted_sources: dict[str, int] = Field(description="counterfactual values by source: v2 or shifted")
    price_table_date: str
    generated_at: datetime
    wall_seconds: float = Field(description="the scenario's wall time in this invocation (a warm cache is fast)")
    strategies: list[StrategyRobustness]

    def save(self, path: Path) -> Path:
        return save_model(self, path)

    def strategy(self, name: str) -> StrategyRobustness:
        for row in self.strategies:
            if row.strategy == name:
                return row
        raise EvalsError(f"no strategy {name!r} in the robustness results; measured: {self.names()}")

    def names(self) -> str:
        return ", ".join(row.strategy for row in self.strategies)


class SourceRisk(BaseModel):
    """What `evals recommend` needs per strategy: whether it reads the corpus, and how often a planted wrong
    document misled it (the full figures are in `StrategyRobustness`)."""

    strategy: str
    dataset: str = Field(description="the dataset the scenario's variants were built from")
    reads_corpus: bool
    misled_rate: float | None = Field(description="share of answers repeating a planted wrong value")
    misled_ci: tuple[float | None, float | None]


def load_robustness(path: Path) -> RobustnessResult:
    """Read a saved result; errors name the file."""
    return load_model(RobustnessResult, path, "robustness results", "evals robustness")


def source_risks(result: RobustnessResult) -> dict[str, SourceRisk]:
    """Strategy name → its `SourceRisk` (what `evals recommend` weighs)."""
    return {
        row.strategy: SourceRisk(
            strategy=row.strategy,
            dataset=result.dataset,
            reads_corpus=row.reads_corpus,
            misled_rate=row.counterfactual.misled_rate.mean,
            misled_ci=(row.counterfactual.misled_rate.ci_low, row.counterfactual.misled_rate.ci_high),
        )
        for row in result.strategies
    }


def load_source_risks(path: Path) -> dict[str, SourceRisk]:
    """`source_risks` of a saved `robustness.json`; an EvalsError naming the file when there is none."""
    return source_risks(load_robustness(path))


# ---------------------------------------------------------------------------------------------- datasets


def check_noise_rates(rates: Sequence[float]) -> list[int]:
    """Noise documents per pool for each rate; an EvalsError for a rate outside [0, 1), one that leaves no
    positive document, two rates that round to the same pool, or none at all."""
    if not rates:
        raise EvalsError("give at least one noise rate")
    counts: dict[int, float] = {}
    for rate in rates:
        if not (isinstance(rate, int | float) and math.isfinite(rate) and 0 <= rate < 1):
            raise EvalsError(f"noise rate {rate} is outside [0, 1): it is the share of retrieved candidates")
        count = math.floor(rate * POOL_SIZE + 0.5)
        if count >= POOL_SIZE:
            raise EvalsError(
                f"noise rate {rate} leaves no document with the answer in a pool of {POOL_SIZE} "
                f"(the absent variant measures that); use at most {(POOL_SIZE - 1) / POOL_SIZE:g}"
            )
        if count in counts:
            raise EvalsError(
                f"noise rates {counts[count]:g} and {rate:g} both put {count} noise document(s) in a pool of "
                f"{POOL_SIZE}; give rates in steps of {1 / POOL_SIZE:g}"
            )
        counts[count] = rate
    return list(counts)


def load_facts(dataset: str) -> list[Fact]:
    """The facts of a shipped dataset (`datasets/<name>/facts.jsonl`, as company-kb ships it)."""
    folder = shipped_datasets().get(dataset)
    path = folder.parent / FACTS_FILE if folder is not None else None
    if path is None or not path.is_file():
        raise DatasetError(
            f"dataset {dataset!r} has no {FACTS_FILE} listing each fact with its document and values; "
            "the robustness scenario needs one (company-kb-v1 ships it)"
        )
    facts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            facts.append(Fact(row["fact_id"], row["doc_id"], row["v1"], row["v2"], bool(row["changed"])))
        except (ValueError, KeyError, TypeError) as error:
            raise DatasetError(f"{path}: line {number}: not a fact row ({error})") from None
    return facts


def _value_span(text: str, value: str) -> re.Match[str]:
    """The one place `value` is stated in `text`, on word boundaries."""
    matches = list(re.finditer(rf"(?<![\w.]){re.escape(value)}(?!\w)", text))
    if len(matches) != 1:
        raise DatasetError(f"value {value!r} is stated {len(matches)} times in {text!r}; expected once")
    return matches[0]


def replace_values(text: str, replacements: dict[str, str]) -> str:
    """`text` with each stated value (once, on word boundaries) replaced."""
    for value, new in replacements.items():
        span = _value_span(text, value)
        text = text[: span.start()] + new + text[span.end() :]
    return text


def shifted_value(value: str, taken: set[str]) -> str:
    """`value` with its leading number moved by about 25% (up first, then down, further each time) to a value
    not in `taken`."""
    match = _NUMBER.search(value)
    if match is None:
        raise DatasetError(f"value {value!r} has no number to shift")
    number = int(match.group())
    step = max(1, round(number / 4))
    for multiple in range(1, 100):
        for candidate in (number + multiple * step, number - multiple * step):
            new = value[: match.start()] + str(candidate) + value[match.end() :]
            if candidate > 0 and new != value and new not in taken:
                return new
    raise DatasetError(f"no shifted value for {value!r}")  # pragma: no cover - 200 candidates


def planted_values(facts: Sequence[Fact]) -> dict[str, PlantedValue]:
    """Fact id → the wrong value its counterfactual document states: v2 when the fact changes (and v2 is no
    fact's v1 value), else v1 shifted; never any fact's v1 value."""
    taken = {fact.v1 for fact in facts}
    planted = {}
    for fact in facts:
        if fact.changed and fact.v2 != fact.v1 and fact.v2 not in taken:
            planted[fact.fact_id] = PlantedValue(fact.v2, "v2")
        else:
            planted[fact.fact_id] = PlantedValue(shifted_value(fact.v1, taken), "shifted")
    return planted


def noise_slots(doc_id: str, seed: int) -> list[int]:
    """The pool slots (1..POOL_SIZE-1) of a topic document in the order they turn to noise as the rate rises."""
    return random.Random(f"{seed}:{doc_id}").sample(range(1, POOL_SIZE), POOL_SIZE - 1)


def pool_document(gold: Document, facts: Sequence[Fact], slot: int, noise: bool) -> Document:
    """Slot `slot` of `gold`'s pool: the gold text under the slot's framing sentence, its values replaced by
    the slot's vague phrase when it is noise."""
    text = replace_values(gold.text, dict.fromkeys((f.v1 for f in facts), VAGUE_VALUES[slot])) if noise else gold.text
    kind = "noise" if noise else "copy"
    return Document(id=f"{gold.id}~{kind}{slot}", title=gold.title, text=f"{FRAMINGS[slot]} {text}".strip())


def _topics(base: QADataset, facts: Sequence[Fact]) -> dict[str, list[Fact]]:
    """Topic document id → its facts, checked against the corpus."""
    documents = base.documents_by_id()
    topics: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.doc_id not in documents:
            raise DatasetError(f"fact {fact.fact_id!r}: document {fact.doc_id!r} is not in {base.name}'s corpus")
        topics.setdefault(fact.doc_id, []).append(fact)
    return topics


def _variant(base: QADataset, suffix: str, corpus: list[Document], items: Sequence[QAItem], what: str) -> QADataset:
    return QADataset.build(
        name=base.name + suffix,
        corpus=corpus,
        train=base.train,
        test=list(items),
        source=f"{base.source} ({what})",
        card=base.card,
    )


def noise_dataset(
    base: QADataset, facts: Sequence[Fact], noise_docs: int, seed: int, items: Sequence[QAItem], name: str
) -> tuple[QADataset, set[str]]:
    """The corpus with each topic document followed by its pool's other slots, `noise_docs` of them noise;
    and the ids of the noise documents."""
    topics = _topics(base, facts)
    corpus: list[Document] = []
    noise_ids: set[str] = set()
    for document in base.corpus:
        corpus.append(document)
        if document.id not in topics:
            continue
        noisy = set(noise_slots(document.id, seed)[:noise_docs])
        for slot in range(1, POOL_SIZE):
            corpus.append(pool_document(document, topics[document.id], slot, slot in noisy))
            if slot in noisy:
                noise_ids.add(corpus[-1].id)
    share = noise_docs / POOL_SIZE
    return _variant(base, name, corpus, items, f"{noise_docs} of {POOL_SIZE} same-topic documents noise ({share:g})"), (
        noise_ids
    )


def counterfactual_dataset(
    base: QADataset, facts: Sequence[Fact], planted: dict[str, PlantedValue], items: Sequence[QAItem]
) -> QADataset:
    """The corpus with each topic document replaced (same id) by one stating the planted wrong values."""
    topics = _topics(base, facts)
    corpus = [
        document.model_copy(
            update={
                "text": replace_values(document.text, {f.v1: planted[f.fact_id].value for f in topics[document.id]})
            }
        )
        if document.id in topics
        else document
        for document in base.corpus
    ]
    return _variant(base, COUNTERFACTUAL_SUFFIX, corpus, items, "counterfactual: each fact stated with a wrong value")


def absent_dataset(base: QADataset, facts: Sequence[Fact], seed: int, items: Sequence[QAItem]) -> QADataset:
    """The corpus without the topic documents; each leaves its pool's noise documents (all but the gold)."""
    topics = _topics(base, facts)
    corpus: list[Document] = []
    for document in base.corpus:
        if document.id not in topics:
            corpus.append(document)
            continue
        corpus += [pool_document(document, topics[document.id], slot, noise=True) for slot in range(1, POOL_SIZE)]
    return _variant(base, ABSENT_SUFFIX, corpus, items, "absent: gold documents removed, noise documents left")


def noise_suffix(rate: float) -> str:
    return f"{NOISE_SUFFIX}{rate:g}"


def select_questions(items: Sequence[QAItem], limit: int | None, seed: int = 0) -> list[QAItem]:
    """At most `limit` test items (in dataset order), spread over their gold documents: one question of each
    document (in a seeded order of documents, the document's fact drawn from the seed) before a second of
    any, so the questions fall in as many clusters as they can."""
    if limit is None or limit >= len(items):
        return list(items)
    by_doc: dict[str, list[QAItem]] = {}
    for item in items:
        by_doc.setdefault(item.gold_doc_ids[0] if item.gold_doc_ids else item.id, []).append(item)
    docs = random.Random(seed).sample(list(by_doc), len(by_doc))
    groups = [random.Random(f"{seed}:{doc}").sample(by_doc[doc], len(by_doc[doc])) for doc in docs]
    rounds = max(len(group) for group in groups)
    order = [group[index] for index in range(rounds) for group in groups if index < len(group)]
    chosen = {item.id for item in order[:limit]}
    return [item for item in items if item.id in chosen]


def build_variants(
    dataset: str = DEFAULT_DATASET,
    noise_rates: Sequence[float] = DEFAULT_NOISE_RATES,
    seed: int = 0,
    limit: int | None = DEFAULT_LIMIT,
) -> RobustnessVariants:
    """Every variant of `dataset` (deterministic in the seed). The corpus variants cover every fact, whatever
    `limit`; `limit` keeps N test questions spread over the documents (`select_questions`)."""
    from evals.data import load_dataset

    counts = check_noise_rates(noise_rates)
    base = load_dataset(dataset)
    facts = load_facts(dataset)
    known = {fact.fact_id for fact in facts}
    items = select_questions(base.test, limit, seed)
    for item in items:
        if item.metadata.get("fact_id") not in known:
            raise DatasetError(f"{dataset}: question {item.id!r} names no fact of {FACTS_FILE} (metadata fact_id)")
    planted = planted_values(facts)
    noise, noise_ids = [], set()
    for rate, count in zip(noise_rates, counts, strict=True):
        variant, ids = noise_dataset(base, facts, count, seed, items, noise_suffix(rate))
        noise.append(variant)
        noise_ids |= ids
    absent = absent_dataset(base, facts, seed, items)
    noise_ids |= {document.id for document in absent.corpus if "~noise" in document.id}
    return RobustnessVariants(
        base=base.with_test(items),
        noise=noise,
        noise_rates=list(noise_rates),
        noise_docs=counts,
        counterfactual=counterfactual_dataset(base, facts, planted, items),
        absent=absent,
        noise_doc_ids=noise_ids,
        planted={fact_id: value.value for fact_id, value in planted.items()},
        planted_sources={fact_id: value.source for fact_id, value in planted.items()},
    )


def planted_answers(item: QAItem, planted: str) -> list[str]:
    """The planted value as the item's gold answers are written: with its unit, and bare when the gold
    answers have a bare form (gold ["34", "34 hours"], planted "58 hours" → ["58 hours", "58"])."""
    forms = [planted]
    if len(item.answers) > 1:
        short, long = min(item.answers, key=len), max(item.answers, key=len)
        unit = long[len(short) :] if long.startswith(short) else ""
        if unit and planted.endswith(unit):
            forms.append(planted[: -len(unit)])
    return forms


def misled(answer: str, item: QAItem, planted: str) -> float:
    """1.0 when the answer contains the planted value and none of the right answers."""
    wrong = answer_contains_gold(answer, planted_answers(item, planted))
    right = answer_contains_gold(answer, item.answers)
    return float(wrong == 1.0 and right == 0.0)


# ---------------------------------------------------------------------------------------------- the run


def check_strategies(strategies: Sequence[StrategyEntry]) -> None:
    """An EvalsError before any work for no strategy, a repeated name or an unregistered type."""
    if not strategies:
        raise EvalsError("no strategies to run the robustness scenario on")
    names = [entry.name for entry in strategies]
    if len(set(names)) != len(names):
        raise EvalsError(f"strategies repeat a name: {', '.join(names)}")
    for entry in strategies:
        STRATEGIES.get(entry.type)


def run_robustness(
    strategies: Sequence[StrategyEntry] = DEFAULT_STRATEGIES,
    noise_rates: Sequence[float] = DEFAULT_NOISE_RATES,
    seed: int = 0,
    dataset: str = DEFAULT_DATASET,
    limit: int | None = DEFAULT_LIMIT,
    settings: RunSettings | None = None,
    out: Path | None = None,
    console: Console | None = None,
) -> RobustnessResult:
    """Run the scenario for every strategy entry as one suite run; save to `out` when given.

    Runs are recorded in its results_dir but never enter the leaderboard: their datasets are scenario
    compositions, not benchmarks."""
    started = time.perf_counter()
    check_strategies(strategies)
    variants = build_variants(dataset, noise_rates, seed, limit)
    suite = Suite(
        name="robustness",
        description=f"retrieval robustness on {dataset}: noise {', '.join(f'{r:g}' for r in noise_rates)}, "
        "counterfactual and absent documents",
        seed=seed,
        scorers=["squad", "correctness"],
        datasets=[{"name": dataset}],
        strategies=list(strategies),
    )
    if settings is None:
        settings = RunSettings(results_dir=out.parent if out else Path("results"), show_progress=False)
    outcome = run_suite(suite, settings.model_copy(update={"update_leaderboard": False}), console, variants.datasets())
    by_pair: dict[tuple[str, str], list[ItemResult]] = {}
    for item_result in outcome.items():
        by_pair.setdefault((item_result.dataset, item_result.strategy), []).append(item_result)
    setups = {(record.dataset, record.strategy): record for record in outcome.manifest.setups}
    items = variants.base.test
    rows = [_strategy_robustness(entry, variants, by_pair, setups, seed) for entry in strategies]
    result = RobustnessResult(
        run_id=outcome.manifest.run_id,
        dataset=variants.base.name,
        fingerprint=variants.base.fingerprint,
        seed=seed,
        noise_rates=list(noise_rates),
        n_test=len(items),
        n_clusters=len({variants.base.cluster_of(item) for item in items}),
        planted_sources={
            source: sum(variants.planted_sources[item.metadata["fact_id"]] == source for item in items)
            for source in ("v2", "shifted")
        },
        price_table_date=outcome.manifest.price_table_date,
        generated_at=datetime.now(UTC).replace(microsecond=0),
        wall_seconds=round(time.perf_counter() - started, 1),
        strategies=rows,
    )
    if out is not None:
        result.save(out)
    return result


def _in_item_order(results: Sequence[ItemResult], items: Sequence[QAItem]) -> list[ItemResult]:
    """One result per test item, in item order (the first repeat); an item without one is an error."""
    first: dict[str, ItemResult] = {}
    for result in results:
        if result.repeat == 0:
            first.setdefault(result.item_id, result)
    missing = [item.id for item in items if item.id not in first]
    if missing:
        raise EvalsError(f"the run has no result for {len(missing)} item(s), e.g. {missing[:3]}")
    return [first[item.id] for item in items]


def _answer_values(results: Sequence[ItemResult], score: Callable[[ItemResult, str], float]) -> list[float]:
    """A per-item figure computed from the answer text; a failed item counts 0."""
    return [
        float(score(result, result.answer.text)) if result.status == "ok" and result.answer is not None else 0.0
        for result in results
    ]


def _strategy_robustness(
    entry: StrategyEntry,
    variants: RobustnessVariants,
    by_pair: dict[tuple[str, str], list[ItemResult]],
    setups: dict[tuple[str, str], SetupRecord],
    seed: int,
) -> StrategyRobustness:
    items = variants.base.test
    by_id = {item.id: item for item in items}
    clusters = [variants.base.cluster_of(item) for item in items]

    def results(dataset: QADataset) -> list[ItemResult]:
        return _in_item_order(by_pair.get((dataset.name, entry.name), []), items)

    def estimate(values: Sequence[float]) -> Estimate:
        return Estimate.of(values, clusters, seed)

    noise_points, accuracies = [], []
    for rate, count, dataset in zip(variants.noise_rates, variants.noise_docs, variants.noise, strict=True):
        answers = results(dataset)
        accuracy = [metric_value(result, "answer_contains_gold") for result in answers]
        accuracies.append(accuracy)
        noise_points.append(
            NoisePoint(
                noise_rate=rate,
                noise_docs=count,
                dataset=dataset.name,
                accuracy=estimate(accuracy),
                f1=estimate([metric_value(result, "f1") for result in answers]),
                retrieved_noise_share=_noise_share(answers, variants.noise_doc_ids),
                errors=sum(result.status == "error" for result in answers),
            )
        )
    counter = results(variants.counterfactual)
    absent = results(variants.absent)
    all_results = [result for dataset in variants.datasets() for result in results(dataset)]
    first_setup = setups.get((variants.noise[0].name, entry.name))
    update_path = first_setup.update_path if first_setup else None
    seconds = [result.answer.timings.get("total", 0.0) for result in all_results if result.answer and not result.cached]
    return StrategyRobustness(
        strategy=entry.name,
        strategy_type=entry.type,
        update_path=update_path,
        reads_corpus="corpus" in knowledge_read(update_path),
        setup_seconds=first_setup.setup.seconds if first_setup else 0.0,
        answer_seconds=round(sum(value for value in seconds if not math.isnan(value)), 3),
        answered=sum(result.status == "ok" and not result.cached for result in all_results),
        noise=noise_points,
        accuracy_drop=estimate(list(np.asarray(accuracies[0]) - np.asarray(accuracies[-1]))),
        counterfactual=CounterfactualScores(
            dataset=variants.counterfactual.name,
            misled_rate=estimate(
                _answer_values(
                    counter,
                    lambda result, text: misled(
                        text, by_id[result.item_id], variants.planted[by_id[result.item_id].metadata["fact_id"]]
                    ),
                )
            ),
            accuracy=estimate([metric_value(result, "answer_contains_gold") for result in counter]),
            errors=sum(result.status == "error" for result in counter),
        ),
        absent=AbsentScores(
            dataset=variants.absent.name,
            rejection_rate=estimate(_answer_values(absent, lambda _, text: float(abstained(text)))),
            accuracy=estimate([metric_value(result, "answer_contains_gold") for result in absent]),
            errors=sum(result.status == "error" for result in absent),
        ),
    )


def _noise_share(results: Sequence[ItemResult], noise_ids: set[str]) -> float | None:
    """Share of the retrieved passages (over every answer) that came from noise documents."""
    doc_ids = [context.doc_id for result in results if result.answer for context in result.answer.contexts]
    if not doc_ids:
        return None
    return round(sum(doc_id in noise_ids for doc_id in doc_ids) / len(doc_ids), 4)
