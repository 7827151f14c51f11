"""Every malformed input the harness meets, in one table: exit code 2, a message naming where, no traceback.

The cases run as real `evals` processes, in parallel (each in its own folder) to keep the suite fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from conftest import run_cli
from fault_server import FaultConfig, FaultServer

from evals.results.records import ItemResult

GOOD_ROW = {"id": "1", "question": "Where is it?", "answers": ["here"]}
SUITE = 'name = "t"\n[[datasets]]\nname = "mine"\ntest = "qa.jsonl"\n[[strategies]]\nname = "first_sentence"\n'
SHIPPED = 'name = "t"\n[[datasets]]\nname = "squad-mini"\nlimit = 2\n[[strategies]]\nname = "first_sentence"\n'
PRICES = 'schema_version = 1\ndate = "2025-06-01"\n[compute]\nlocal_per_hour = 0.1\n'
OTHER_CSV = "a,b\n1,2\n"


def jsonl(*rows: object) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


@dataclass(frozen=True)
class Case:
    """Files to write, the `evals` arguments, and the fragments the error message must contain."""

    files: dict[str, str | bytes]
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


RUN = ("run", "suite.toml", "--no-progress")
CASES: dict[str, Case] = {
    # ---- dataset rows and fields
    "missing field": Case(
        {"suite.toml": SUITE, "qa.jsonl": jsonl({"id": "1", "answers": ["a"]})},
        RUN,
        ("qa.jsonl", "missing column(s) 'question'"),
    ),
    "wrong type": Case(
        {"suite.toml": SUITE, "qa.jsonl": jsonl(GOOD_ROW, {**GOOD_ROW, "id": "2", "question": 42})},
        RUN,
        ("qa.jsonl: row 2, column 'question'", "valid string"),
    ),
    "empty question": Case(
        {"suite.toml": SUITE, "qa.jsonl": jsonl(GOOD_ROW, {**GOOD_ROW, "id": "2", "question": ""})},
        RUN,
        ("qa.jsonl: row 2, column 'question'", "at least 1 character"),
    ),
    "answers missing": Case(
        {"suite.toml": SUITE, "qa.jsonl": jsonl({**GOOD_ROW, "answers": None})},
        RUN,
        ("qa.jsonl: row 1, column 'answers' is missing",),
    ),
    "duplicate ids": Case(
        {"suite.toml": SUITE, "qa.jsonl": jsonl(GOOD_ROW, GOOD_ROW)},
        RUN,
        ("qa.jsonl: duplicate id '1' (record 2)",),
    ),
    "non-UTF-8": Case(
        {"suite.toml": SUITE, "qa.jsonl": jsonl(GOOD_ROW).encode() + b'{"id": "2", "question": "caf\xe9?"}\n'},
        RUN,
        ("qa.jsonl: line 2 is not valid UTF-8",),
    ),
    "broken JSON": Case(
        {"suite.toml": SUITE, "qa.jsonl": jsonl(GOOD_ROW) + '{"id": "2", "question": \n'},
        RUN,
        ("qa.jsonl: line 2: broken JSON",),
    ),
    "row not an object": Case(
        {"suite.toml": SUITE, "qa.jsonl": "[1, 2]\n"}, RUN, ("qa.jsonl: line 1: expected a JSON object",)
    ),
    "empty file": Case({"suite.toml": SUITE, "qa.jsonl": ""}, RUN, ("qa.jsonl: the file is empty",)),
    "empty test split": Case(
        {
            "suite.toml": SUITE.replace('test = "qa.jsonl"', 'source = "qa.jsonl"\ntest_fraction = 0.000001'),
            "qa.jsonl": jsonl(GOOD_ROW),
        },
        RUN,
        ("dataset 'mine': the test split is empty", "qa.jsonl"),
    ),
    "gold doc not in corpus": Case(
        {
            "suite.toml": SUITE.replace(
                'test = "qa.jsonl"', 'test = "qa.jsonl"\ncorpus = "docs.jsonl"\ncolumns = {gold_doc_ids = "doc"}'
            ),
            "qa.jsonl": jsonl({**GOOD_ROW, "doc": "d9"}),
            "docs.jsonl": jsonl({"id": "d1", "title": "D", "text": "Here it is."}),
        },
        RUN,
        ("question '1' names gold document(s) ['d9'] that are not in the corpus",),
    ),
    "SQuAD JSON without data": Case(
        {"suite.toml": SUITE.replace("qa.jsonl", "dev.json"), "dev.json": '{"version": "1.1"}'},
        RUN,
        ("dev.json: not SQuAD format", "'data'"),
    ),
    "SQuAD question without text": Case(
        {
            "suite.toml": SUITE.replace("qa.jsonl", "dev.json"),
            "dev.json": json.dumps(
                {
                    "data": [
                        {
                            "title": "T",
                            "paragraphs": [{"context": "c", "qas": [{"id": "q", "answers": [{"text": "c"}]}]}],
                        }
                    ]
                }
            ),
        },
        RUN,
        ("dev.json: data[0].paragraphs[0].qas[0]: missing field 'question'",),
    ),
    # ---- suites, strategies, scorers
    "unknown strategy": Case(
        {"suite.toml": SHIPPED.replace('"first_sentence"', '"nope"')}, RUN, ("unknown strategy 'nope'",)
    ),
    "unknown dataset": Case(
        {"suite.toml": SHIPPED.replace('"squad-mini"', '"nope"')}, RUN, ("unknown dataset 'nope'", "squad-mini")
    ),
    "unknown scorer": Case({"suite.toml": 'scorers = ["nope"]\n' + SHIPPED}, RUN, ("unknown scorer 'nope'",)),
    "strategy param of wrong type": Case(
        {"suite.toml": SHIPPED.replace('"first_sentence"', '"extractive_bm25"\nparams = {contexts = "many"}')},
        RUN,
        ("strategies.extractive_bm25.params.contexts", "valid integer"),
    ),
    "bad suite file": Case(
        {"suite.toml": SHIPPED.replace('name = "t"', 'name = "t')}, RUN, ("suite.toml: not valid TOML",)
    ),
    "suite field of wrong type": Case(
        {"suite.toml": "concurrency = 'fast'\n" + SHIPPED}, RUN, ("suite.toml: invalid suite", "concurrency")
    ),
    "negative limit": Case(
        {"suite.toml": SHIPPED}, (*RUN, "--limit", "-1"), ("datasets[0]", "limit", "greater than 0")
    ),
    # ---- models, keys, prices
    "missing model file": Case(
        {
            "suite.toml": SHIPPED.replace(
                '"first_sentence"', '"closed_book"\nparams = {generator = {model_path = "absent.gguf"}}'
            )
        },
        RUN,
        ("model file not found", "absent.gguf"),
    ),
    "missing API key": Case(
        {
            "suite.toml": SHIPPED.replace(
                '"first_sentence"', '"closed_book"\nparams = {generator = {backend = "openai", model = "gpt-4o-mini"}}'
            )
        },
        RUN,
        ("set OPENAI_API_KEY",),
        env={"OPENAI_API_KEY": ""},
    ),
    "price table missing field": Case(
        {"suite.toml": SHIPPED, "price.toml": PRICES.replace("[compute]\nlocal_per_hour = 0.1\n", "")},
        (*RUN, "--price-table", "price.toml"),
        ("price.toml: invalid price table", "compute"),
    ),
    "price table bad date": Case(
        {"suite.toml": SHIPPED, "price.toml": PRICES.replace("2025-06-01", "2025-02-30")},
        (*RUN, "--price-table", "price.toml"),
        ("price.toml: invalid price table", "date", "day is out of range"),
    ),
    # ---- other commands
    "leaderboard of another schema": Case(
        {"other.csv": OTHER_CSV}, ("leaderboard", "other.csv"), ("other.csv: not a leaderboard CSV",)
    ),
    "compare a CSV of another schema": Case(
        {"other.csv": OTHER_CSV}, ("compare", "other.csv", "other.csv"), ("other.csv: not a leaderboard CSV",)
    ),
    "predictions not an object": Case(
        {"pred.json": "[1, 2]"}, ("score", "squad-mini", "pred.json"), ("pred.json: expected a JSON object",)
    ),
    "resume a run that does not exist": Case(
        {"suite.toml": SHIPPED}, (*RUN, "--resume", "nope"), ("nope", "manifest.json: no such run")
    ),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, CompletedProcess[str]]]]:
    """Every case run once, in parallel, each in its own folder."""

    def run(name: str) -> tuple[Path, CompletedProcess[str]]:
        folder = tmp_path_factory.mktemp("bad")
        case = CASES[name]
        for relative, content in case.files.items():
            target = folder / relative
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        return folder, run_cli(*case.args, cwd=folder, env=case.env, timeout=120)

    with ThreadPoolExecutor(max_workers=4) as pool:
        yield dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_fails_clearly(name: str, outcomes: dict[str, tuple[Path, CompletedProcess[str]]]) -> None:
    folder, result = outcomes[name]
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert message.startswith("error:"), message
    for fragment in CASES[name].fragments:
        assert fragment in message, message
    assert not (folder / "results" / "leaderboard.csv").exists()


def test_table_is_complete() -> None:
    assert len(CASES) >= 20


def test_huge_question_is_recorded_per_item_not_a_crash(tmp_path: Path) -> None:
    """A 5 MB question works through loading; the server refuses the over-long prompt, and that item alone fails."""
    huge = "Why " + "very " * 1_000_000 + "long?"
    rows = [
        GOOD_ROW,
        {"id": "2", "question": huge, "answers": ["x"]},
        {"id": "3", "question": "Is it ok?", "answers": ["ok"]},
    ]
    (tmp_path / "qa.jsonl").write_text(jsonl(*rows), encoding="utf-8")
    server = FaultServer(FaultConfig(max_prompt_chars=100_000))
    with server.serve() as base_url:
        generator = f'{{backend = "openai", base_url = "{base_url}", model = "m", price_as = "gpt-4o-mini"}}'
        suite = SUITE.replace('"first_sentence"', f'"closed_book"\nparams = {{generator = {generator}}}')
        (tmp_path / "suite.toml").write_text(suite, encoding="utf-8")
        result = run_cli(*RUN, "--max-failure-rate", "1", cwd=tmp_path, timeout=120)  # 1 of 3 fails by design
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (items_path,) = (tmp_path / "results" / "runs").glob("*/items.jsonl")
    items = {r.item_id: r for r in map(ItemResult.model_validate_json, items_path.read_text().splitlines())}
    assert items["1"].status == items["3"].status == "ok"
    assert items["2"].status == "error" and items["2"].attempts == 1
    assert "HTTP 400" in items["2"].error.message and "context length" in items["2"].error.message  # type: ignore[union-attr]
    assert items_path.stat().st_size < 100_000  # the question is not copied into the results
    assert (tmp_path / "results" / "leaderboard.csv").exists()
