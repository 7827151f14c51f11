"""Strategies that make the verdict's failure modes observable without a model: a setup that takes long
(Ctrl-C while preparing), and two answer styles the metrics disagree on (a verbose correct answer and a
terse wrong one)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import Field

from evals.core.strategy import Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, SetupReport


class SlowSetupParams(StrategyParams):
    seconds: float = Field(default=600.0, ge=0)


class SlowSetup(Strategy):
    """`prepare` sleeps `seconds` in the runner's thread (as a long fine-tuning run would), then answers
    with the first gold answer."""

    Params = SlowSetupParams
    params: SlowSetupParams

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        time.sleep(self.params.seconds)
        return SetupReport()

    def answer(self, item: QAItem) -> Answer:
        return Answer(text=item.answers[0] if item.answers else "")

    def update_path(self) -> UpdatePath:
        return "none"


class VerboseCorrect(Strategy):
    """States the first gold answer inside a long sentence: always correct, low token F1."""

    def answer(self, item: QAItem) -> Answer:
        gold = item.answers[0] if item.answers else ""
        return Answer(
            text=f"Having looked carefully through everything I know about this topic, I am fairly confident "
            f"that the answer you are looking for is {gold}, although you may wish to double check it."
        )

    def update_path(self) -> UpdatePath:
        return "none"


class TerseWrong(Strategy):
    """Answers with the first gold answer's last word changed to "unknown": short and wrong, yet it shares
    tokens with the gold answer, so token F1 rates it above the verbose correct answer."""

    def answer(self, item: QAItem) -> Answer:
        words = (item.answers[0] if item.answers else "").split()
        return Answer(text=" ".join([*words[:-1], "unknown"]))

    def update_path(self) -> UpdatePath:
        return "none"
