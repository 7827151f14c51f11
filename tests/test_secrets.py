"""A planted API key never reaches results, the cache, or the command's output, even when errors are recorded."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from fault_server import FaultConfig, FaultServer, write_dataset, write_suite

from evals.results.records import ItemResult

PLANTED_KEY = "sk-planted-SECRET-1234"


def test_planted_key_appears_nowhere(tmp_path: Path) -> None:
    write_dataset(tmp_path / "qa.jsonl", 30, markers={1: "ALWAYS500", 2: "ALWAYS429", 3: "REJECT"})
    server = FaultServer(FaultConfig(rate=0.5, seed=3, hang_s=1.0))
    with server.serve() as base_url:
        write_suite(tmp_path, tmp_path / "qa.jsonl", base_url, concurrency=4, max_attempts=2)
        args = ("run", "suite.toml", "--no-progress", "--max-failure-rate", "1")  # 50% faults: many items fail
        result = run_cli(*args, cwd=tmp_path, env={"OPENAI_API_KEY": PLANTED_KEY})
    assert result.returncode == 0, result.stderr
    assert f"Bearer {PLANTED_KEY}" in server.stats.authorizations  # the key was really sent, and echoed back

    (items_path,) = (tmp_path / "results" / "runs").glob("*/items.jsonl")
    errors = [r.error for r in map(ItemResult.model_validate_json, items_path.read_text().splitlines()) if r.error]
    assert len(errors) >= 3 and any("Bearer ***" in error.message for error in errors)  # echoed, then redacted

    written = [path for path in tmp_path.rglob("*") if path.is_file() and path.name not in ("qa.jsonl", "suite.toml")]
    assert {"items.jsonl", "manifest.json", "leaderboard.csv", "history.csv"} <= {path.name for path in written}
    assert any("cache" in path.parts for path in written)
    for fragment in (PLANTED_KEY, "SECRET-1234"):
        assert fragment not in result.stdout and fragment not in result.stderr
        leaked = [str(path) for path in written if fragment.encode() in path.read_bytes()]
        assert not leaked, leaked
