"""A pytest plugin for writing eval suites as tests, with quality gates as plain asserts.

    pytestmark = pytest.mark.eval(suite="squad_mini.toml")   # path relative to the test file

    def test_rag_is_accurate(eval_results):
        assert eval_results["rag"].f1 >= 0.6

The suite runs once per pytest session (whatever number of tests use it), through `run_suite`, so
the run is recorded in `--eval-results-dir` (leaderboard.csv, history.csv, runs/) like `evals run`.
A failed threshold names the metric, the gap, the CI and the items that scored worst.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.core.errors import EvalsError
from evals.core.suite import Suite, load_suite
from evals.data import load_dataset
from evals.engine.runner import RunSettings, run_suite
from evals.testing.eval_results import EvalResults, EvalRun, explain_comparison

MARKER = "eval"
DEFAULT_RESULTS_DIR = "results"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evals", "evaluation suites (rag-or-finetune)")
    group.addoption(
        "--eval-results-dir",
        default=None,
        metavar="DIR",
        help=f"where eval runs are recorded (leaderboard.csv, history.csv, runs/); default: {DEFAULT_RESULTS_DIR}",
    )
    group.addoption("--eval-limit", type=int, default=None, metavar="N", help="score at most N test items per dataset")
    group.addoption("--eval-no-cache", action="store_true", help="call every strategy instead of using cached answers")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(suite): the eval suite (TOML, path relative to the test file) the eval_* fixtures run",
    )


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    return explain_comparison(op, left, right)


@pytest.fixture(scope="session")
def eval_results_dir(pytestconfig: pytest.Config) -> Path:
    """Where runs are recorded: `--eval-results-dir`, relative to the directory pytest was started in.
    Override this fixture (e.g. in a conftest) to send a suite's runs elsewhere by default."""
    given = pytestconfig.getoption("eval_results_dir", None) or DEFAULT_RESULTS_DIR
    return pytestconfig.invocation_params.dir / given


@pytest.fixture(scope="session")
def eval_settings(pytestconfig: pytest.Config, eval_results_dir: Path) -> RunSettings:
    """How suites run: results in `eval_results_dir`, the answer cache unless `--eval-no-cache`."""
    return RunSettings(
        results_dir=eval_results_dir,
        use_cache=not pytestconfig.getoption("eval_no_cache", False),
        show_progress=False,
    )


@pytest.fixture(scope="session")
def _eval_runs() -> dict[str, EvalRun]:
    """Runs made in this session, by suite configuration hash and results folder."""
    return {}


@pytest.fixture
def eval_suite(request: pytest.FixtureRequest) -> Suite:
    """The suite named by the test's `eval` marker, with `--eval-limit` applied."""
    marker = request.node.get_closest_marker(MARKER)
    path = (marker.kwargs.get("suite") or next(iter(marker.args), None)) if marker else None
    if not path:
        pytest.fail(
            f"{request.node.nodeid}: name the suite with @pytest.mark.{MARKER}(suite='my_suite.toml') "
            f"or pytestmark = pytest.mark.{MARKER}(suite=...)",
            pytrace=False,
        )
    try:
        suite = load_suite(request.path.parent / path)
    except EvalsError as error:
        pytest.fail(str(error), pytrace=False)
    limit = request.config.getoption("eval_limit", None)
    return suite.with_limit(limit) if limit else suite


@pytest.fixture
def eval_run(eval_suite: Suite, eval_settings: RunSettings, _eval_runs: dict[str, EvalRun]) -> EvalRun:
    """The suite's run: made (or resumed) once per session, recorded in the results folder."""
    key = f"{eval_suite.config_hash()}:{eval_settings.results_dir.resolve()}"
    if key not in _eval_runs:
        try:
            outcome = run_suite(eval_suite, eval_settings)
            datasets = [load_dataset(spec) for spec in eval_suite.dataset_specs()]
        except EvalsError as error:
            pytest.fail(str(error), pytrace=False)
        _eval_runs[key] = EvalRun.from_outcome(eval_suite, outcome, eval_settings.results_dir, datasets)
    return _eval_runs[key]


@pytest.fixture
def eval_results(eval_run: EvalRun) -> EvalResults:
    """Strategy label → `StrategyResults` of the suite's run."""
    return eval_run.results
