"""A broken plugin is reported by name and never hides the other strategies. The planted one lives in
tests/broken_plugin/ (one entry point fails to import, one is not a strategy); only these tests put it on
the path, so other tests' output stays free of its warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE_PLUGIN, run_cli

from evals.core.errors import RegistryError
from evals.core.registry import Registry
from evals.core.strategy import Strategy

BROKEN_PLUGIN = Path(__file__).resolve().parent / "broken_plugin"


@pytest.fixture(autouse=True)
def broken_plugin_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BROKEN_PLUGIN))


def fresh_registry() -> Registry[Strategy]:
    return Registry("strategy", "evals.strategies", Strategy)


def test_every_other_strategy_stays_available_next_to_a_broken_plugin() -> None:
    registry = fresh_registry()
    assert {"rag", "closed_book", "finetuned", "hybrid", "first_sentence", "flaky"} <= set(registry.names())
    assert issubclass(registry.get("rag"), Strategy)
    broken = registry.broken()
    assert set(broken) == {"broken_import", "not_a_strategy"}
    assert (
        "ModuleNotFoundError" in broken["broken_import"]
        and "a_dependency_that_is_not_installed" in broken["broken_import"]
    )
    assert "not a subclass of Strategy" in broken["not_a_strategy"]
    assert "broken_import" not in registry.names() and "not_a_strategy" not in registry.names()


def test_looking_up_a_broken_plugin_names_it_and_its_error() -> None:
    registry = fresh_registry()
    with pytest.raises(
        RegistryError, match=r"strategy plugin 'broken_import' is installed but broken: .*failed to import"
    ):
        registry.get("broken_import")
    with pytest.raises(
        RegistryError, match=r"unknown strategy 'nope'; registered: .*rag.*\(broken: broken_import, not_a_strategy\)"
    ):
        registry.get("nope")
    assert issubclass(registry.get("rag"), Strategy)  # the failed lookups left the registry usable


def test_a_broken_plugin_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    registry = fresh_registry()
    registry.names()
    registry.names()
    messages = [record.getMessage() for record in caplog.records if "broken" in record.getMessage()]
    assert len([m for m in messages if "'broken_import'" in m]) == 1


def test_evals_list_shows_the_broken_plugins_and_still_lists_the_rest(tmp_path: Path) -> None:
    result = run_cli("list", cwd=tmp_path, env={"PYTHONPATH": f"{BROKEN_PLUGIN}:{EXAMPLE_PLUGIN}"})
    assert result.returncode == 0, result.stderr
    assert "rag" in result.stdout and "first_sentence" in result.stdout
    assert "broken strategy plugin broken_import" in result.stderr and "not_a_strategy" in result.stderr


def test_looking_up_one_strategy_imports_only_that_plugin() -> None:
    registry = fresh_registry()
    assert registry.get("closed_book").__name__ == "ClosedBook"
    assert set(registry._classes) == {"closed_book"} and not registry._broken  # nothing else was imported
    assert set(registry.broken()) == {"broken_import", "not_a_strategy"}  # listing imports the rest
    assert "rag" in registry.names()
