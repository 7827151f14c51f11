"""What benchmarks/bench_scale.py measures stays true in the code: the fast SquadScorer gives exactly the
official metrics, the command line imports only what a command uses, synchronous strategies really answer
`concurrency` items at once, and the benchmark's official-script baseline agrees with `evals score`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import OFFLINE_ENV, REPO

from evals.core.strategy import STRATEGIES, Strategy
from evals.core.suite import Suite
from evals.core.types import Answer, Document, QAItem, SetupReport
from evals.data.dataset import QADataset, SquadVersion
from evals.engine.runner import RunSettings, run_suite
from evals.scoring.squad import SquadScorer, exact_match, f1_score, normalize_answer

HEAVY = ("scipy", "pandas", "matplotlib", "torch", "sklearn", "openai", "datasets", "numpy", "evals.engine.runner")
PIECES = [
    *"abc ABC.,!?-'\"()1",
    "the",
    " a ",
    "An",
    "é",
    "ß",
    "İ",
    "ﬁ",
    "Ⅻ",
    "\u00a0",
    "\u2003",
    "\t",
    "\n",
    "ＡＢ",
    "a.",
]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 10)))


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_the_squad_scorer_gives_exactly_the_official_metrics(version: SquadVersion) -> None:
    rng = random.Random(version)
    dataset = QADataset(name="d", corpus=[], train=[], test=[], source="test")
    scorer = SquadScorer(dataset)
    scorer.version = version  # the rules under test (an empty dataset reads as v1.1)
    for _ in range(20_000):
        golds = [random_text(rng) for _ in range(rng.randint(1 if version == "1.1" else 0, 4))]
        prediction = random_text(rng)
        got = scorer.score(QAItem(id="q", question="?", answers=golds), Answer(text=prediction))
        want = {"exact_match": exact_match(prediction, golds, version), "f1": f1_score(prediction, golds, version)}
        assert got == want, (prediction, golds)
        assert all(type(got[name]) is type(want[name]) for name in want)


def test_the_squad_scorer_fails_like_the_metric_on_a_v1_item_without_gold() -> None:
    scorer = SquadScorer(QADataset(name="d", corpus=[], train=[], test=[], source="test"))
    with pytest.raises(ValueError, match="at least one gold answer"):
        exact_match("x", [], "1.1")
    with pytest.raises(ValueError, match="at least one gold answer"):
        scorer.score(QAItem(id="q", question="?", answers=[]), Answer(text="x"))


def test_the_squad_scorer_reads_the_dataset_version_once() -> None:
    impossible = QAItem(id="u", question="?", answers=[], is_impossible=True)
    scorer = SquadScorer(QADataset(name="d", corpus=[], train=[], test=[impossible], source="test"))
    assert scorer.version == "2.0"
    assert scorer.score(QAItem(id="q", question="?", answers=[]), Answer(text="")) == {"exact_match": 1.0, "f1": 1.0}


def imported_by(code: str) -> set[str]:
    """The modules `code` leaves imported, run in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, **OFFLINE_ENV}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env, cwd=REPO)
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "code", ["import evals.cli.app", "import evals.scoring.squad", "import evals", "from evals.cli.app import app"]
)
def test_the_command_line_and_the_squad_metrics_import_no_heavy_module(code: str) -> None:
    loaded = imported_by(code)
    assert not {module for module in HEAVY if module in loaded}


def test_evals_help_and_score_help_are_fast() -> None:
    env = {**os.environ, **OFFLINE_ENV}
    for args in (["--help"], ["score", "--help"]):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "evals", *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert time.perf_counter() - started < 5  # about 0.4 s; generous for a busy machine


def test_the_public_api_is_still_importable_lazily() -> None:
    import evals

    assert evals.run_suite is run_suite and evals.QAItem is QAItem and "Suite" in dir(evals)
    with pytest.raises(AttributeError):
        _ = evals.not_a_name  # type: ignore[attr-defined]


def test_constants_repeated_for_fast_help_agree_with_their_sources() -> None:
    from evals.cli.listing import LEADERBOARD_FILE
    from evals.cli.validate_judge import METRIC_NAMES
    from evals.results import leaderboard
    from evals.scoring.judge_validation import METRICS

    assert leaderboard.LEADERBOARD_FILE == LEADERBOARD_FILE
    assert tuple(METRICS) == METRIC_NAMES


class Sleeper(Strategy):
    """A synchronous strategy that records how many of its answers run at once."""

    lock = threading.Lock()
    running = 0
    peak = 0

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        return SetupReport()

    def answer(self, item: QAItem) -> Answer:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.peak = max(cls.peak, cls.running)
        time.sleep(0.05)
        with cls.lock:
            cls.running -= 1
        return Answer(text=item.answers[0])


def test_synchronous_strategies_answer_as_many_items_at_once_as_the_concurrency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    STRATEGIES.names()  # load the registry, then add the probe
    monkeypatch.setitem(STRATEGIES._classes, "sleeper", Sleeper)
    rows = [{"id": f"q{i}", "question": f"q {i}?", "answers": ["a"]} for i in range(64)]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    suite = Suite(
        name="threads",
        concurrency=24,  # the default pool would give min(32, cores + 4) threads: 6 on 2 cores
        scorers=["squad"],
        datasets=[{"name": "items", "format": "jsonl", "test": str(tmp_path / "items.jsonl")}],
        strategies=[{"name": "sleeper"}],
    )
    settings = RunSettings(
        results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False, update_leaderboard=False
    )
    outcome = run_suite(suite, settings)
    assert outcome.manifest.counts.ok == 64
    assert Sleeper.peak == 24


def test_the_benchmarks_official_script_agrees_with_evals_score(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_scale
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    fixture = REPO.parent / "shared" / "data" / "squad" / "fixture_v1.1_2articles.json"
    if not fixture.exists():
        pytest.skip("shared SQuAD fixtures are absent")
    payload = json.loads(fixture.read_text(encoding="utf-8"))
    rng = random.Random(0)
    questions = [qa for article in payload["data"] for p in article["paragraphs"] for qa in p["qas"]]
    predictions = {qa["id"]: rng.choice([qa["answers"][0]["text"], "the " + qa["question"], ""]) for qa in questions}
    (tmp_path / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    official = tmp_path / "evaluate-v1.1.py"
    official.write_text(bench_scale.OFFICIAL_SQUAD_V11, encoding="utf-8")
    env = {**os.environ, **OFFLINE_ENV}
    theirs = subprocess.run(
        [sys.executable, str(official), str(fixture), str(tmp_path / "predictions.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = subprocess.run(
        [sys.executable, "-m", "evals", "score", str(fixture), str(tmp_path / "predictions.json"), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)  # to the last digit: summed in the file's order
    assert normalize_answer("The  Cat!") == "cat"
