"""Hostile conditions beyond random faults (issue #11): a refused key, a key echoed back, lost or half-written
run state, and inputs built to break parsers. Real local server (`fault_server`), real files, the real CLI."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli
from fault_server import FaultConfig, FaultServer, write_dataset, write_suite

from evals import RunSettings, load_suite, run_suite
from evals.core.errors import ConfigError, DatasetError
from evals.data.spec import load_dataset, validate_spec
from evals.data.squad_json import load_squad_json
from evals.infra.openai_compat import ApiKey
from evals.results.records import RunManifest
from evals.results.run_store import MANIFEST_FILE, RunStore, runs_dir

KEY = "sk-test-hostile-0123456789"


def settings(folder: Path) -> RunSettings:
    return RunSettings(results_dir=folder / "results", cache_dir=folder / "cache", show_progress=False)


def the_run(folder: Path) -> RunStore:
    (run,) = runs_dir(folder / "results").iterdir()
    return RunStore(run)


def test_a_refused_key_stops_the_pair_after_the_first_request_and_the_run_exits_1(tmp_path: Path) -> None:
    write_dataset(tmp_path / "qa.jsonl", 30)
    server = FaultServer(FaultConfig(deny_keys=True))
    with server.serve() as base_url:
        suite = write_suite(tmp_path, tmp_path / "qa.jsonl", base_url, concurrency=1)
        result = run_cli("run", str(suite), "--results-dir", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert server.stats.total == 1  # one request, not one per item
    items = the_run(tmp_path).read_items()
    assert len(items) == 30 and all(item.status == "error" for item in items)
    first = [item for item in items if item.attempts == 1]
    assert len(first) == 1 and "HTTP 401" in first[0].error.message  # type: ignore[union-attr]
    rest = [item for item in items if item.attempts == 0]
    assert len(rest) == 29 and all(item.error.message.startswith("not attempted") for item in rest)  # type: ignore[union-attr]


def test_a_key_echoed_inside_an_answer_is_never_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    write_dataset(tmp_path / "qa.jsonl", 4, markers={0: "ECHOKEY", 1: "ECHOKEY"})
    with FaultServer(FaultConfig()).serve() as base_url:
        outcome = run_suite(load_suite(write_suite(tmp_path, tmp_path / "qa.jsonl", base_url)), settings(tmp_path))
    echoed = [item for item in outcome.items() if item.answer and "***" in item.answer.text]
    assert len(echoed) == 2
    stored = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert stored and not any(KEY.encode() in path.read_bytes() for path in stored)


def test_a_server_trickling_its_reply_times_out_as_a_whole_and_odd_200s_are_named(tmp_path: Path) -> None:
    """Each byte of the trickled reply arrives well within the 0.3 s read timeout, the whole reply (about 300
    bytes, one per 50 ms: 15 s) does not: the request's own deadline ends it, and it is retried then failed."""
    write_dataset(tmp_path / "qa.jsonl", 6, markers={1: "TRICKLE", 3: "BADUTF8", 5: "ERROR200"})
    server = FaultServer(FaultConfig())
    with server.serve() as base_url:
        suite = load_suite(write_suite(tmp_path, tmp_path / "qa.jsonl", base_url, max_attempts=2))
        outcome = run_suite(suite, settings(tmp_path))
        time.sleep(0.5)  # the server notices the hang-up at its next write
    failed = {item.item_id: item for item in outcome.items() if item.status == "error"}
    assert set(failed) == {"q0001", "q0003", "q0005"}
    trickled = failed["q0001"]
    assert trickled.attempts == 2 and "timed out" in trickled.error.message  # type: ignore[union-attr]
    assert server.stats.trickles_cut == 2  # the client hung up on both attempts before the last byte
    assert trickled.answer is None
    assert "malformed JSON" in failed["q0003"].error.message  # type: ignore[union-attr]
    assert "/v1" in failed["q0003"].error.message  # type: ignore[union-attr]  # names the endpoint
    assert "the model is overloaded" in failed["q0005"].error.message  # type: ignore[union-attr]


def test_a_key_with_a_stray_space_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_TEST_KEY", KEY + " ")
    with pytest.raises(ConfigError, match="EVALS_TEST_KEY starts or ends with whitespace"):
        ApiKey("EVALS_TEST_KEY", None)


def test_a_lost_manifest_is_rebuilt_and_the_run_resumed(tmp_path: Path) -> None:
    write_dataset(tmp_path / "qa.jsonl", 20)
    server = FaultServer(FaultConfig())
    with server.serve() as base_url:
        suite = load_suite(write_suite(tmp_path, tmp_path / "qa.jsonl", base_url))
        first = run_suite(suite, settings(tmp_path))
        store = the_run(tmp_path)
        lines = store.items_path.read_text(encoding="utf-8").splitlines(keepends=True)
        store.items_path.write_text("".join(lines[:12]), encoding="utf-8")  # killed after 12 items…
        store.manifest_path.unlink()  # …and its manifest lost
        requests_before = server.stats.total
        no_cache = settings(tmp_path).model_copy(update={"use_cache": False})
        second = run_suite(suite, no_cache)
    assert second.manifest.run_id == first.manifest.run_id and second.manifest.status == "complete"
    assert server.stats.total - requests_before == 8  # only the missing items were answered
    assert len(store.read_items()) == 20 and (store.directory / MANIFEST_FILE).exists()


def test_a_run_killed_between_leaderboard_and_completion_is_recorded_once(tmp_path: Path) -> None:
    write_dataset(tmp_path / "qa.jsonl", 10)
    with FaultServer(FaultConfig()).serve() as base_url:
        suite = load_suite(write_suite(tmp_path, tmp_path / "qa.jsonl", base_url))
        first = run_suite(suite, settings(tmp_path))
        store = the_run(tmp_path)
        manifest = store.read_manifest()
        store.write_manifest(manifest.model_copy(update={"status": "running"}))  # as if killed right there
        second = run_suite(suite, settings(tmp_path))
    assert second.manifest.run_id == first.manifest.run_id
    assert RunManifest.model_validate_json(store.manifest_path.read_text()).status == "complete"
    history = pd.read_csv(tmp_path / "results" / "history.csv")
    assert history["run_id"].tolist() == [first.manifest.run_id]  # one row, not two


def nested(depth: int) -> str:
    return "[" * depth + '"x"' + "]" * depth


def test_json_nested_beyond_the_parser_is_one_clear_error(tmp_path: Path) -> None:
    predictions = tmp_path / "predictions.json"
    predictions.write_text('{"q1": ' + nested(100_000) + "}", encoding="utf-8")
    result = run_cli("score", "squad-mini", str(predictions), cwd=tmp_path)
    assert result.returncode == 2 and "nested too deeply" in result.stderr and "Traceback" not in result.stderr
    rows = tmp_path / "qa.jsonl"
    rows.write_text('{"id": "a", "question": "q?", "answers": ' + nested(100_000) + "}\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1: JSON nested too deeply"):
        load_dataset(validate_spec({"name": "t", "test": "qa.jsonl"}, tmp_path, "t"))


@pytest.mark.parametrize("answers", [[" "], [""], [["", "  "]]])
def test_blank_gold_answers_are_an_error_not_an_unanswerable_question(tmp_path: Path, answers: list) -> None:
    rows = [{"id": "a", "question": "Who?", "answers": ["Ada"]}, {"id": "b", "question": "When?", "answers": answers}]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(DatasetError, match="row 2, column 'answers': every answer is blank"):
        load_dataset(validate_spec({"name": "t", "test": "qa.jsonl"}, tmp_path, "t"))


def test_two_squad_articles_with_one_title_keep_distinct_documents(tmp_path: Path) -> None:
    def article(context: str, qid: str) -> dict:
        qa = {"id": qid, "question": "What?", "answers": [{"text": context.split()[0], "answer_start": 0}]}
        return {"title": "Same", "paragraphs": [{"context": context, "qas": [qa]}]}

    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [article("Alpha text.", "q1"), article("Beta text.", "q2")]}), "utf-8")
    corpus, items = load_squad_json(path)
    assert [document.id for document in corpus] == ["Same/0", "Same#1/0"]
    assert [item.gold_doc_ids for item in items] == [["Same/0"], ["Same#1/0"]]


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their key; a developer's own OPENAI_API_KEY must not leak into them."""
    if "OPENAI_API_KEY" in os.environ:
        monkeypatch.delenv("OPENAI_API_KEY")


def test_the_ray_executor_without_ray_installed_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.engine.ray_executor import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    with pytest.raises(ConfigError, match=r"--executor ray needs Ray: pip install 'rag-or-finetune\[ray\]'"):
        RayExecutor(None).start()
