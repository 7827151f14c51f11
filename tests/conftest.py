"""Shared test setup: offline environment, temporary results/cache folders, the example plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.engine.model_runtime import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLE_PLUGIN = Path(__file__).resolve().parent / "example_plugin"

os.environ.update(OFFLINE_ENV)
sys.path.insert(0, str(EXAMPLE_PLUGIN))  # makes the example plugin's entry points visible in-process


@pytest.fixture(scope="session", autouse=True)
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One answer/index/adapter cache per test session (shared by its tests, never by two sessions), so a
    test never sees what an earlier session or a user's own runs left in `.cache/evals`."""
    directory = tmp_path_factory.mktemp("evals-cache")
    previous = os.environ.get("EVALS_CACHE_DIR")
    os.environ["EVALS_CACHE_DIR"] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop("EVALS_CACHE_DIR", None)
    else:
        os.environ["EVALS_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def llama_server_url() -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server on 127.0.0.1 serving the embedded SmolLM2."""
    from servers import llama_server

    from strategies.backends.model_files import GENERATOR_MODEL_NAME, default_generator_path

    with llama_server(default_generator_path(), model_alias=GENERATOR_MODEL_NAME) as base_url:
        yield base_url


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working directory with its own results/ and answer cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVALS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the `evals` command as a user would, with the example plugin installed on its path."""
    environment = {
        **os.environ,
        **OFFLINE_ENV,
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE_PLUGIN), os.environ.get("PYTHONPATH", "")]),
        "EVALS_CACHE_DIR": str(cwd / "cache"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "evals", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
