"""Latency benchmarks (pytest-benchmark): a strategy's `answer` over a fixed set of questions.

No timing assertions: save a baseline and compare against it (see the README's "Benchmarks"):

    pytest tests/benchmarks --benchmark-save=baseline
    pytest tests/benchmarks --benchmark-compare=0001 --benchmark-compare-fail=mean:10%
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from evals import STRATEGIES, QAItem, Strategy, load_dataset

N_ITEMS = 20
ROUNDS = 5


@pytest.fixture(scope="module")
def squad_mini_questions() -> list[QAItem]:
    """The first test questions of squad-mini: the same set every run."""
    return load_dataset("squad-mini").test[:N_ITEMS]


@pytest.fixture(scope="module")
def extractive_bm25() -> Iterator[Strategy]:
    """`extractive_bm25` prepared (indexed) on squad-mini, outside the timed code."""
    dataset = load_dataset("squad-mini")
    strategy = STRATEGIES.get("extractive_bm25").from_config({}, "extractive_bm25")
    strategy.prepare(dataset.train, dataset.corpus)
    yield strategy
    strategy.close()


def test_extractive_bm25_answer_latency(
    benchmark: BenchmarkFixture, extractive_bm25: Strategy, squad_mini_questions: list[QAItem]
) -> None:
    benchmark.extra_info.update(strategy="extractive_bm25", dataset="squad-mini", n_items=len(squad_mini_questions))
    answers = benchmark.pedantic(
        lambda: [extractive_bm25.answer(item) for item in squad_mini_questions], rounds=ROUNDS, warmup_rounds=1
    )
    assert len(answers) == N_ITEMS and all(answer.text for answer in answers)
