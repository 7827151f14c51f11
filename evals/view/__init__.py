"""`evals view`: a read-only local web app over a results folder (leaderboard, runs, items, diffs,
trends) and the same pages as a static bundle.

Modules: `results_folder` (the one door to results/), `item_index` (an on-disk index of a run's
items.jsonl for filtering and paging large runs), `questions` (the questions a run was scored on),
`pages` and `diff` (what each page shows), `charts` (trend geometry), `rendering` (templates and
links), `app` (the Starlette app and its access rules), `export` (the static bundle).
"""

from evals.view.app import create_app, is_loopback
from evals.view.export import Export, export_site
from evals.view.results_folder import ResultsFolder

__all__ = ["Export", "ResultsFolder", "create_app", "export_site", "is_loopback"]
