"""The README's table of built-in strategy defaults quotes the code: every `key = value` it shows is the
default of that key in that table of each strategy's Params, so the table cannot drift from the code."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from conftest import REPO

from evals.core.strategy import STRATEGIES

HEADER = "| strategies | table | defaults |"
REQUIRED = {  # what the table exists to state; a table that lost one of these is incomplete
    "generator": {"max_tokens", "temperature"},
    "retrieval": {"top_k", "chunking", "retriever"},
    "finetune": {"epochs", "max_steps", "batch_size", "learning_rate"},
    "router": {"standard_above", "complex_below"},
}


def _table_rows() -> list[list[str]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Built-in strategies", 1)[1].split("\n## ", 1)[0]
    assert HEADER in section, "the defaults table is missing from README.md's Built-in strategies section"
    lines = section.split(HEADER, 1)[1].strip().splitlines()[1:]  # past the |---| line
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _quoted_settings(cell: str) -> dict[str, Any]:
    """Every backticked `key = value` of a cell, the value read as TOML."""
    return {
        key: value
        for snippet in re.findall(r"`([^`]+)`", cell)
        if "=" in snippet
        for key, value in tomllib.loads(f"v = {{{snippet}}}")["v"].items()
    }


def _defaults(strategy: str, table: str) -> dict[str, Any]:
    params_class = STRATEGIES.get(strategy).Params
    defaults = params_class().model_dump(mode="json")
    if table == "(top level)":
        return defaults
    if defaults[table] is None:  # an optional table (rag's `finetune`): the defaults it takes once given
        return params_class.model_validate({table: {}}).model_dump(mode="json")[table]
    return defaults[table]


def test_every_quoted_default_is_the_code_default() -> None:
    rows = _table_rows()
    assert len(rows) >= 6
    checked: dict[str, set[str]] = {}
    for strategies_cell, table_cell, defaults_cell in rows:
        strategies = [name for name in re.findall(r"`([a-z_0-9]+)`", strategies_cell) if name in STRATEGIES.names()]
        table = table_cell.strip("`")
        quoted = _quoted_settings(defaults_cell)
        assert strategies and quoted, f"row without strategies or values: {strategies_cell} | {defaults_cell}"
        for strategy in strategies:
            actual = _defaults(strategy, table)
            for key, value in quoted.items():
                assert key in actual, f"{strategy}.{table}: no parameter {key!r}"
                assert actual[key] == value, f"README says {strategy}.{table}.{key} = {value!r}; code: {actual[key]!r}"
        checked.setdefault(table, set()).update(quoted)
    for table, keys in REQUIRED.items():
        assert keys <= checked.get(table, set()), f"README's defaults table lacks {table}: {keys - checked[table]}"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            '`top_k = 2`, `chunking = {mode = "words", size = 80}`',
            {"top_k": 2, "chunking": {"mode": "words", "size": 80}},
        ),
        ("`epochs = 1.0` (a cap: `max_examples`)", {"epochs": 1.0}),
    ],
)
def test_quoted_settings_parser(cell: str, expected: dict[str, Any]) -> None:
    assert _quoted_settings(cell) == expected


def test_default_suite_runs_at_the_suite_default_concurrency() -> None:
    """A user suite and the default suite answer as many items at once; llama.cpp strategies cap themselves."""
    from evals import load_suite
    from evals.core.suite import DEFAULT_SUITE, Suite
    from strategies.closed_book import ClosedBook

    assert load_suite(DEFAULT_SUITE).concurrency == Suite.model_fields["concurrency"].default == 4
    assert ClosedBook().max_concurrency == 1  # the embedded model is CPU bound: one answer at a time
