"""Templates (Jinja2, autoescaped: every model output and dataset string renders as text), number
formatting, and the links between pages, which differ between the server and the static bundle."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined

from evals.view.item_index import ItemFilter

DASH = "—"


class Links(Protocol):
    """Where each page is. `static` is True for the exported bundle (no server: no query strings)."""

    static: bool

    def home(self) -> str: ...
    def trends(self) -> str: ...
    def asset(self, name: str) -> str: ...
    def run(self, run_id: str, wanted: ItemFilter | None = None) -> str: ...
    def item(self, run_id: str, line: int) -> str: ...
    def run_diff(self, old: str, new: str, metric: str | None = None, threshold: float | None = None) -> str: ...
    def strategy_diff(
        self,
        run_id: str,
        dataset: str,
        old: str,
        new: str,
        metric: str | None = None,
        threshold: float | None = None,
    ) -> str: ...


class ServerLinks:
    """Absolute paths with query strings."""

    static = False

    def home(self) -> str:
        return "/"

    def trends(self) -> str:
        return "/trends"

    def asset(self, name: str) -> str:
        return f"/static/{quote(name)}"

    def run(self, run_id: str, wanted: ItemFilter | None = None) -> str:
        query = _filter_query(wanted) if wanted else ""
        return f"/runs/{quote(run_id, safe='')}" + (f"?{query}" if query else "")

    def item(self, run_id: str, line: int) -> str:
        return f"/runs/{quote(run_id, safe='')}/items/{int(line)}"

    def run_diff(self, old: str, new: str, metric: str | None = None, threshold: float | None = None) -> str:
        return "/diff?" + urlencode(_drop_none({"old": old, "new": new, "metric": metric, "threshold": threshold}))

    def strategy_diff(
        self,
        run_id: str,
        dataset: str,
        old: str,
        new: str,
        metric: str | None = None,
        threshold: float | None = None,
    ) -> str:
        query = urlencode(
            _drop_none({"dataset": dataset, "a": old, "b": new, "metric": metric, "threshold": threshold})
        )
        return f"/runs/{quote(run_id, safe='')}/diff?{query}"


class ExportLinks:
    """Relative file names of the static bundle, seen from a page `depth` folders below its root.

    Run pages exist for all items and for the failed ones only (`errors-<n>.html`); diffs have the
    default metric and threshold, under a name hashed from what they compare."""

    static = True

    def __init__(self, depth: int = 0) -> None:
        self.root = "../" * depth

    def home(self) -> str:
        return self.root + "index.html"

    def trends(self) -> str:
        return self.root + "trends.html"

    def asset(self, name: str) -> str:
        return self.root + f"static/{quote(name)}"

    def run(self, run_id: str, wanted: ItemFilter | None = None) -> str:
        page = wanted.page if wanted else 1
        kind = "errors" if wanted and wanted.status == "error" else "page"
        return self.root + f"runs/{quote(run_id, safe='')}/{kind}-{page}.html"

    def item(self, run_id: str, line: int) -> str:
        return self.root + f"runs/{quote(run_id, safe='')}/items/{int(line)}.html"

    def run_diff(self, old: str, new: str, metric: str | None = None, threshold: float | None = None) -> str:
        return self.root + f"diffs/{diff_name(old, new)}.html"

    def strategy_diff(
        self,
        run_id: str,
        dataset: str,
        old: str,
        new: str,
        metric: str | None = None,
        threshold: float | None = None,
    ) -> str:
        return self.root + f"diffs/{diff_name(run_id, dataset, old, new)}.html"


def diff_name(*parts: str) -> str:
    """A file name for a diff: safe whatever the run, dataset and strategy names contain."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _drop_none(values: Mapping[str, object]) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None and value != ""}


def _filter_query(wanted: ItemFilter) -> str:
    defaults = ItemFilter()
    values = {
        name: value
        for name, value in wanted.model_dump().items()
        if value is not None and value != "" and value != getattr(defaults, name)
    }
    if "descending" in values:
        values["descending"] = "1"
    return urlencode(values)


def number(value: object, digits: int = 3) -> str:
    """A metric value: fixed decimals; NaN or missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def general(value: object) -> str:
    """A value of any scale (latency, tokens, money): 3 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def seconds(value: object) -> str:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return DASH
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def usd(value: object) -> str:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return DASH
    return f"${value:.3g}"


def sort_key(value: object) -> str:
    """`data-sort` of a table cell: numbers as numbers, missing values empty (sorted last)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def measured(comparison: Any) -> bool:
    """A compared metric that at least one side measured."""
    return not (math.isnan(comparison.old) and math.isnan(comparison.new))


def make_environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("evals.view", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(number=number, general=general, seconds=seconds, usd=usd, sort_key=sort_key)
    environment.tests["measured"] = measured
    return environment


class Renderer:
    """Renders a page template with the links of the server or of the bundle."""

    def __init__(self, results_label: str) -> None:
        self.environment = make_environment()
        self.results_label = results_label

    def render(self, template: str, links: Links, **context: Any) -> str:
        return self.environment.get_template(template).render(links=links, results_label=self.results_label, **context)
