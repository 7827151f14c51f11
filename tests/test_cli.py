"""The command line as a user meets it: clear errors without tracebacks, official-equal scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED, run_cli

SUITE = 'name = "t"\n[[datasets]]\nname = "squad-mini"\nlimit = 5\n[[strategies]]\nname = "extractive_bm25"\n'


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_clean_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message


def test_list_shows_builtin_and_plugin_strategies(tmp_path: Path) -> None:
    result = run_cli("list", cwd=tmp_path)
    assert result.returncode == 0
    assert "extractive_bm25" in result.stdout and "first_sentence" in result.stdout and "squad-mini" in result.stdout


@pytest.mark.parametrize(
    ("suite", "fragments"),
    [
        (SUITE.replace('name = "extractive_bm25"', 'name = "nope"'), ["unknown strategy 'nope'", "extractive_bm25"]),
        (SUITE.replace('name = "squad-mini"', 'name = "nope"'), ["unknown dataset 'nope'", "squad-mini"]),
        (SUITE.replace('name = "squad-mini"', 'name = "[[nope]]"'), ["unknown dataset '[[nope]]'"]),  # not markup
        (
            SUITE + "params = {contexts = 0}\n",
            ["strategies.extractive_bm25.params.contexts", "greater than or equal to 1"],
        ),
        (SUITE + "params = {colour = 1}\n", ["params.colour", "Extra inputs are not permitted"]),
        (SUITE.replace('name = "t"', 'name = "t'), ["suite.toml: not valid TOML"]),
        ('name = "t"\n', ["suite.toml: invalid suite", "datasets: Field required"]),
        (SUITE.replace("limit = 5", "limit = -1"), ["datasets[0]", "limit"]),
    ],
)
def test_bad_suites_fail_with_a_clear_message(tmp_path: Path, suite: str, fragments: list[str]) -> None:
    result = run_cli("run", str(write(tmp_path / "suite.toml", suite)), cwd=tmp_path)
    assert_clean_error(result, *fragments)
    assert not (tmp_path / "results" / "leaderboard.csv").exists()


def test_missing_suite_and_malformed_dataset(tmp_path: Path) -> None:
    assert_clean_error(run_cli("run", "absent.toml", cwd=tmp_path), "absent.toml: suite file not found")
    write(tmp_path / "qa.jsonl", '{"id": "1", "question": "Q?", "answers": ["a"]}\n{"id": 2, "question": \n')
    suite = 'name = "t"\n[[datasets]]\nname = "mine"\ntest = "qa.jsonl"\n[[strategies]]\nname = "extractive_bm25"\n'
    result = run_cli("run", str(write(tmp_path / "suite.toml", suite)), cwd=tmp_path)
    assert_clean_error(result, "qa.jsonl: line 2: broken JSON")


@pytest.mark.parametrize(
    ("fixture", "key"), [("fixture_v1.1_2articles.json", "exact_match"), ("fixture_v2.0_1article.json", "exact")]
)
def test_score_matches_the_official_script(tmp_path: Path, fixture: str, key: str) -> None:
    data = json.loads((SHARED / "data" / "squad" / fixture).read_text())
    write(tmp_path / "dev.json", json.dumps({"version": data["version"], "data": data["data"]}))
    for system, predictions in data["predictions"].items():
        write(tmp_path / "pred.json", json.dumps(predictions))
        result = run_cli("score", "dev.json", "pred.json", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        scores = json.loads(result.stdout)
        assert scores[key] == pytest.approx(data["expected"][system][key], abs=1e-9)
        assert scores["f1"] == pytest.approx(data["expected"][system]["f1"], abs=1e-9)


def test_score_rejects_foreign_or_broken_predictions(tmp_path: Path) -> None:
    write(tmp_path / "pred.json", '{"not-an-id": "x"}')
    assert_clean_error(run_cli("score", "squad-mini", "pred.json", cwd=tmp_path), "none of its 1 question ids")
    write(tmp_path / "pred.json", '{"a": ')
    assert_clean_error(run_cli("score", "squad-mini", "pred.json", cwd=tmp_path), "pred.json: broken JSON at line 1")


def test_leaderboard_command_and_foreign_csv(tmp_path: Path) -> None:
    assert run_cli("run", str(write(tmp_path / "suite.toml", SUITE)), "--no-progress", cwd=tmp_path).returncode == 0
    shown = run_cli("leaderboard", cwd=tmp_path)
    assert shown.returncode == 0 and "extractive_bm25" in shown.stdout
    write(tmp_path / "other.csv", "a,b\n1,2\n")
    assert_clean_error(run_cli("leaderboard", "other.csv", cwd=tmp_path), "not a leaderboard CSV")


def test_compare_exit_codes_gate_ci(tmp_path: Path) -> None:
    reader = SUITE.replace('name = "extractive_bm25"', 'name = "reader"\ntype = "extractive_bm25"').replace(
        "limit = 5", "limit = 30"
    )
    flaky = reader.replace(
        'type = "extractive_bm25"', 'type = "flaky"\nparams = {failures_per_item = 0, fail_forever_every = 3}'
    )
    run_ids = []
    for suite in (reader, reader, flaky):
        # a third of flaky's items fail by design: recorded, and let through with --max-failure-rate 1
        args = ("--no-progress", "--max-failure-rate", "1")
        assert run_cli("run", str(write(tmp_path / "suite.toml", suite)), *args, cwd=tmp_path).returncode == 0
        run_ids.append(sorted(p.name for p in (tmp_path / "results" / "runs").iterdir())[-1])
    same = run_cli("compare", run_ids[0], run_ids[1], cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    worse = run_cli("compare", run_ids[1], run_ids[2], "--format", "markdown", cwd=tmp_path)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "regression" in worse.stdout and "f1" in worse.stdout
