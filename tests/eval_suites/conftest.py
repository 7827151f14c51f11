"""Example eval suites record their runs in a temporary folder, not the repository's results/."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def eval_results_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`--eval-results-dir` when given, else a fresh temporary folder."""
    given = pytestconfig.getoption("eval_results_dir", None)
    return pytestconfig.invocation_params.dir / given if given else tmp_path_factory.mktemp("eval-results")
