"""An example third-party plugin: strategies registered through the `evals.strategies` entry points.

Copy this layout for your own package: declare in your pyproject.toml

    [project.entry-points."evals.strategies"]
    first_sentence = "your_package.module:FirstSentence"

The tests put this folder on PYTHONPATH; its `.dist-info` folder declares the entry points, just
as `pip install` of a real package would.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Sequence

from evals.core.errors import TransientError
from evals.core.sampling import repeat_seed
from evals.core.strategy import Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, RunContext, SetupReport
from evals.data.dataset import QADataset
from evals.scoring.base import Scorer


class FirstSentenceParams(StrategyParams):
    delay_s: float = 0.0


class FirstSentence(Strategy):
    """Answers with the first sentence of the question's first gold document (an oracle-retrieval
    reader); `delay_s` makes each answer slow, for crash-and-resume tests."""

    Params = FirstSentenceParams
    params: FirstSentenceParams

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        self.documents = {document.id: document for document in corpus}
        return SetupReport()

    def answer(self, item: QAItem) -> Answer:
        time.sleep(self.params.delay_s)
        text = self.documents[item.gold_doc_ids[0]].text.split(". ")[0] if item.gold_doc_ids else ""
        return Answer(text=text, timings={"read": self.params.delay_s})

    def update_path(self) -> UpdatePath:
        return "reindex"  # it reads the corpus, so a knowledge update means reloading it


class Echo(Strategy):
    """Answers with the question's first gold answer, instantly and without a model: what is left of a
    run's time is the harness's own (benchmarks/bench_scale.py)."""

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        return SetupReport()

    def answer(self, item: QAItem) -> Answer:
        return Answer(text=item.answers[0] if item.answers else "")

    def update_path(self) -> UpdatePath:
        return "none"


class FlakyParams(StrategyParams):
    failures_per_item: int = 2
    fail_forever_every: int = 0
    fail_prepare: bool = False


class Flaky(Strategy):
    """Fails transiently `failures_per_item` times per item before answering; with
    `fail_forever_every = n`, every n-th item fails permanently with a non-transient error;
    `fail_prepare` makes setup itself fail."""

    Params = FlakyParams
    params: FlakyParams

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        if self.params.fail_prepare:
            raise RuntimeError("index server unreachable")
        self.calls: dict[str, int] = {}
        return SetupReport()

    def answer(self, item: QAItem) -> Answer:
        self.calls[item.id] = self.calls.get(item.id, 0) + 1
        every = self.params.fail_forever_every
        if every and zlib.crc32(item.id.encode()) % every == 0:
            raise ValueError(f"permanent failure on {item.id}")
        if self.calls[item.id] <= self.params.failures_per_item:
            raise TransientError("simulated rate limit", retry_after=0.01)
        return Answer(text=item.question.split()[0])


class CoinParams(StrategyParams):
    seed: int = 0


class Coin(Strategy):
    """Right with a planted probability per question, `success_probability(item)`, drawn afresh for each
    repeat (it samples with `repeat_seed`, as a model sampling at a temperature does): its pass@N and
    pass^N have closed forms."""

    Params = CoinParams
    params: CoinParams

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        return SetupReport()

    def answer(self, item: QAItem) -> Answer:
        draw = random.Random(f"{item.id}:{repeat_seed(self.params.seed)}").random()
        return Answer(text=item.answers[0] if draw < success_probability(item) else "no idea")


def success_probability(item: QAItem) -> float:
    """A per-question probability spread over [0, 1), fixed by the question id."""
    return zlib.crc32(item.id.encode()) % 1000 / 1000


class FlakyJudge(Scorer):
    """A judge-like scorer: its endpoint fails transiently on the first call for each item (an HTTP 500 the
    harness must retry), and permanently for items whose id ends in "7" (a judge that stays down)."""

    metrics = ("flaky_judge",)

    def __init__(self, dataset: QADataset, context: RunContext | None = None) -> None:
        super().__init__(dataset, context)
        self.calls: dict[str, int] = {}

    def score(self, item: QAItem, answer: Answer) -> dict[str, float]:
        self.calls[item.id] = self.calls.get(item.id, 0) + 1
        if item.id.endswith("7"):
            raise RuntimeError("judge endpoint unreachable")
        if self.calls[item.id] == 1:
            raise TransientError("judge returned HTTP 500", retry_after=0.0)
        return {"flaky_judge": 1.0}
