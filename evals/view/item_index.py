"""An on-disk index of one run's items.jsonl, so the viewer filters, sorts and pages a 100k-item run
without holding it in memory.

The index is a SQLite file per run under the viewer's index folder (never under `results/`). It is
built by streaming items.jsonl once, line by line, read-only (a torn or still-being-written last
line is left for later, never truncated): each line is parsed with the records model
(`ItemResult`) and one row is kept per item with what the run table shows and filters on (dataset,
strategy, item id, status, error, route, latency, cost, answer text, and every metric as
`metric_value` gives it: a failed item 0, an answered item without the metric NULL), plus the byte
offset of its line, so the item page re-reads exactly that record. Like the run store, the first
record of a (dataset, strategy, item) key wins. items.jsonl is append-only, so a grown file is
indexed from where the last pass stopped; a shorter or rewritten one is indexed anew.

The questions, gold answers and gold documents the run was scored on (runs do not store them) are
copied into the index once from the run's dataset (see `evals.view.questions`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from evals.core.types import QAItem
from evals.infra.atomic import locked
from evals.results.item_values import metric_value
from evals.results.records import ItemResult, RunManifest
from evals.results.run_store import RunStore

INDEX_SCHEMA = 1
"""Bump when the tables change: older index files are then rebuilt."""
PREFIX_BYTES = 65536
"""How much of items.jsonl's head is hashed to notice a rewritten (not appended-to) file."""
BATCH_ROWS = 2000
ANSWER_PREVIEW_CHARS = 160
PER_PAGE_CHOICES = (25, 50, 100, 200)
MAIN_METRICS = (
    "exact_match",
    "f1",
    "answer_contains_gold",
    "faithfulness",
    "grounded",
    "hit_at_k",
    "recall_at_k",
    "mrr",
)
"""The metrics the run table shows first, when the run has them."""
SORT_COLUMNS = {
    "line": "items.line",
    "dataset": "items.dataset",
    "strategy": "items.strategy",
    "item": "items.item_id",
    "status": "items.status",
    "route": "items.route",
    "latency": "items.latency",
    "cost": "items.cost",
}

Status = Literal["ok", "error"]
QuestionSource = Callable[[RunManifest | None], tuple[str, dict[str, Sequence[QAItem]]]]
"""Where an index gets a run's questions: (a note saying where from or why none, test items per dataset)."""


class ItemFilter(BaseModel):
    """What the run table asks for: filters (all optional, combined with AND), order and page."""

    dataset: str | None = None
    strategy: str | None = None
    status: Status | None = None
    route: str | None = None
    metric: str | None = None
    above: float | None = Field(default=None, description="keep items whose `metric` is at least this")
    below: float | None = Field(default=None, description="keep items whose `metric` is below this")
    text: str | None = Field(default=None, description="case-insensitive substring of the question or answer")
    sort: str = "line"
    descending: bool = False
    page: int = Field(default=1, ge=1)
    per_page: int = 50


class IndexedItem(BaseModel):
    """One row of the run table."""

    line: int
    dataset: str
    strategy: str
    item_id: str
    status: Status
    error: str | None
    route: str | None
    latency_s: float | None
    cost_usd: float | None
    answer: str
    question: str | None
    metrics: dict[str, float | None]


class ItemPage(BaseModel):
    items: list[IndexedItem]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


class Question(BaseModel):
    """What the dataset says about an item: the question, its gold answers and gold documents."""

    question: str
    answers: list[str]
    gold_doc_ids: list[str]
    is_impossible: bool = False


class GroupSummary(BaseModel):
    """One dataset × strategy of the run: counts and mean of each metric over its items."""

    dataset: str
    strategy: str
    n: int
    ok: int
    errors: int
    routes: dict[str, int]
    means: dict[str, float | None]
    latency_mean_s: float | None


class IndexState(BaseModel):
    """What the last indexing pass saw."""

    indexed_bytes: int = 0
    lines: int = 0
    items: int = 0
    skipped: int = 0
    first_problem: str | None = None
    questions: str = Field(default="", description="where the questions came from, or why there are none")


class ItemIndex:
    """Query side of one run's index; `ItemIndex.open` builds or updates it first."""

    def __init__(self, path: Path, items_path: Path) -> None:
        self.path = path
        self.items_path = items_path

    @classmethod
    def open(cls, store: RunStore, index_dir: Path, questions: QuestionSource | None = None) -> ItemIndex:
        """The run's index, brought up to date with its items.jsonl."""
        index_dir.mkdir(parents=True, exist_ok=True)
        path = index_dir / f"{store.run_id}.sqlite"
        with locked(path):
            _IndexBuilder(path, store, questions).update()
        return cls(path, store.items_path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)) as connection:
            connection.execute("PRAGMA cache_size = -4000")  # ~4 MB, whatever the run's size
            yield connection

    # --- what the index knows -------------------------------------------------------------------

    def state(self) -> IndexState:
        with self._connect() as db:
            return _read_state(db)

    def metrics(self, dataset: str | None = None) -> list[str]:
        """Every metric name the run's items (of `dataset`) carry, main ones first."""
        with self._connect() as db:
            if dataset is None:
                names = [name for (name,) in db.execute("SELECT name FROM metric_columns")]
            else:
                names = [
                    name for (name,) in db.execute("SELECT name FROM dataset_metrics WHERE dataset = ?", (dataset,))
                ]
        return order_metrics(names)

    def facets(self) -> dict[str, list[str]]:
        """The distinct datasets, strategies and routes (the filter choices)."""
        with self._connect() as db:
            return {
                column: [value for (value,) in db.execute(f"SELECT DISTINCT {column} FROM items ORDER BY {column}")]
                for column in ("dataset", "strategy")
            } | {
                "route": [
                    value
                    for (value,) in db.execute(
                        "SELECT DISTINCT route FROM items WHERE route IS NOT NULL ORDER BY route"
                    )
                ]
            }

    # --- the run table ---------------------------------------------------------------------------

    def query(self, wanted: ItemFilter, shown_metrics: Sequence[str]) -> ItemPage:
        """One page of items matching the filter, with `shown_metrics` filled in."""
        with self._connect() as db:
            columns = _metric_columns(db)
            where, parameters = _where(wanted, columns)
            total = db.execute(f"SELECT COUNT(*) FROM items {_QUESTION_JOIN} {where}", parameters).fetchone()[0]
            order = _order(wanted, columns)
            per_page = wanted.per_page if wanted.per_page in PER_PAGE_CHOICES else PER_PAGE_CHOICES[1]
            pages = max(1, math.ceil(total / per_page))
            page = min(wanted.page, pages)
            shown = [name for name in shown_metrics if name in columns]
            selected = ", ".join(f"items.{columns[name]}" for name in shown)
            rows = db.execute(
                f"SELECT items.line, items.dataset, items.strategy, items.item_id, items.status, items.error, "
                f"items.route, items.latency, items.cost, substr(items.answer, 1, {ANSWER_PREVIEW_CHARS + 1}), "
                f"substr(questions.question, 1, {ANSWER_PREVIEW_CHARS + 1}){', ' + selected if selected else ''} "
                f"FROM items {_QUESTION_JOIN} {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*parameters, per_page, (page - 1) * per_page],
            ).fetchall()
        return ItemPage(items=[_indexed(row, shown) for row in rows], total=total, page=page, per_page=per_page)

    def summary(self, shown_metrics: Sequence[str]) -> list[GroupSummary]:
        """Per dataset × strategy: counts, routes, metric means (NULL, i.e. NaN, left out)."""
        with self._connect() as db:
            columns = _metric_columns(db)
            shown = [name for name in shown_metrics if name in columns]
            averages = "".join(f", AVG({columns[name]})" for name in shown)
            rows = db.execute(
                "SELECT dataset, strategy, COUNT(*), SUM(status = 'ok'), SUM(status = 'error'), AVG(latency)"
                f"{averages} FROM items GROUP BY dataset, strategy ORDER BY dataset, strategy"
            ).fetchall()
            routes: dict[tuple[str, str], dict[str, int]] = {}
            for dataset, strategy, route, count in db.execute(
                "SELECT dataset, strategy, route, COUNT(*) FROM items WHERE route IS NOT NULL "
                "GROUP BY dataset, strategy, route ORDER BY route"
            ):
                routes.setdefault((dataset, strategy), {})[route] = count
        return [
            GroupSummary(
                dataset=row[0],
                strategy=row[1],
                n=row[2],
                ok=row[3],
                errors=row[4],
                latency_mean_s=row[5],
                routes=routes.get((row[0], row[1]), {}),
                means=dict(zip(shown, row[6:], strict=True)),
            )
            for row in rows
        ]

    # --- one item ----------------------------------------------------------------------------------

    def record(self, line: int) -> ItemResult | None:
        """The item result stored on `line` of items.jsonl, re-read from the file."""
        with self._connect() as db:
            found = db.execute("SELECT offset, length FROM items WHERE line = ?", (line,)).fetchone()
        if found is None:
            return None
        with self.items_path.open("rb") as stream:
            stream.seek(found[0])
            raw = stream.read(found[1])
        try:
            return ItemResult.model_validate_json(raw)
        except ValidationError:
            return None  # the file changed under us; the next index update will notice

    def values(self, line: int) -> dict[str, float | None]:
        """The item's value of each metric of its dataset, as aggregates count it (None: left out)."""
        with self._connect() as db:
            columns = _metric_columns(db)
            found = db.execute("SELECT dataset FROM items WHERE line = ?", (line,)).fetchone()
            if found is None:
                return {}
            names = [name for (name,) in db.execute("SELECT name FROM dataset_metrics WHERE dataset = ?", (found[0],))]
            names = order_metrics(names)
            if not names:
                return {}
            selected = ", ".join(columns[name] for name in names)
            row = db.execute(f"SELECT {selected} FROM items WHERE line = ?", (line,)).fetchone()
        return dict(zip(names, row, strict=True))

    def line_of(self, dataset: str, strategy: str, item_id: str) -> int | None:
        with self._connect() as db:
            found = db.execute(
                "SELECT line FROM items WHERE dataset = ? AND strategy = ? AND item_id = ?",
                (dataset, strategy, item_id),
            ).fetchone()
        return None if found is None else int(found[0])

    def same_item(self, dataset: str, item_id: str, shown_metrics: Sequence[str]) -> list[IndexedItem]:
        """The item under every strategy of the run (table rows, strategy order)."""
        with self._connect() as db:
            columns = _metric_columns(db)
            shown = [name for name in shown_metrics if name in columns]
            selected = "".join(f", items.{columns[name]}" for name in shown)
            rows = db.execute(
                "SELECT items.line, items.dataset, items.strategy, items.item_id, items.status, items.error, "
                f"items.route, items.latency, items.cost, items.answer, questions.question{selected} "
                f"FROM items {_QUESTION_JOIN} WHERE items.dataset = ? AND items.item_id = ? ORDER BY items.strategy",
                (dataset, item_id),
            ).fetchall()
        return [_indexed(row, shown) for row in rows]

    def question(self, dataset: str, item_id: str) -> Question | None:
        with self._connect() as db:
            found = db.execute(
                "SELECT question, answers, gold_doc_ids, is_impossible FROM questions "
                "WHERE dataset = ? AND item_id = ?",
                (dataset, item_id),
            ).fetchone()
        if found is None:
            return None
        return Question(
            question=found[0],
            answers=json.loads(found[1]),
            gold_doc_ids=json.loads(found[2]),
            is_impossible=bool(found[3]),
        )

    def lines(self, wanted: ItemFilter) -> Iterator[int]:
        """Every matching line, in the filter's order (the static export walks these)."""
        with self._connect() as db:
            columns = _metric_columns(db)
            where, parameters = _where(wanted, columns)
            for (line,) in db.execute(
                f"SELECT items.line FROM items {_QUESTION_JOIN} {where} ORDER BY {_order(wanted, columns)}",
                parameters,
            ):
                yield int(line)


def order_metrics(names: Iterable[str]) -> list[str]:
    """Metric names with the main ones first (in MAIN_METRICS order), then the rest alphabetically."""
    unique = set(names)
    return [name for name in MAIN_METRICS if name in unique] + sorted(unique - set(MAIN_METRICS))


_QUESTION_JOIN = "LEFT JOIN questions ON questions.dataset = items.dataset AND questions.item_id = items.item_id"


def _metric_columns(db: sqlite3.Connection) -> dict[str, str]:
    return {name: column for name, column in db.execute("SELECT name, col FROM metric_columns")}


def _where(wanted: ItemFilter, columns: dict[str, str]) -> tuple[str, list[object]]:
    clauses: list[str] = []
    parameters: list[object] = []
    for field in ("dataset", "strategy", "status", "route"):
        value = getattr(wanted, field)
        if value:
            clauses.append(f"items.{field} = ?")
            parameters.append(value)
    if wanted.metric and (wanted.above is not None or wanted.below is not None):
        column = columns.get(wanted.metric)
        if column is None:
            clauses.append("0")  # a metric this run does not have: nothing matches
        else:
            if wanted.above is not None:
                clauses.append(f"items.{column} >= ?")
                parameters.append(wanted.above)
            if wanted.below is not None:
                clauses.append(f"items.{column} < ?")
                parameters.append(wanted.below)
    if wanted.text:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", wanted.text) + "%"
        clauses.append(
            "(items.answer LIKE ? ESCAPE '\\' OR questions.question LIKE ? ESCAPE '\\' OR items.item_id LIKE ? "
            "ESCAPE '\\')"
        )
        parameters += [pattern, pattern, pattern]
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def _order(wanted: ItemFilter, columns: dict[str, str]) -> str:
    """An ORDER BY over whitelisted columns only (a metric by name); empty values last either way."""
    column = SORT_COLUMNS.get(wanted.sort)
    if column is None and wanted.sort in columns:
        column = f"items.{columns[wanted.sort]}"
    column = column or SORT_COLUMNS["line"]
    direction = "DESC" if wanted.descending else "ASC"
    return f"{column} IS NULL, {column} {direction}, items.line"


def _indexed(row: Sequence[object], shown: Sequence[str]) -> IndexedItem:
    answer, question = str(row[9] or ""), row[10]
    return IndexedItem(
        line=int(row[0]),  # type: ignore[call-overload]
        dataset=str(row[1]),
        strategy=str(row[2]),
        item_id=str(row[3]),
        status=row[4],  # type: ignore[arg-type]
        error=row[5],  # type: ignore[arg-type]
        route=row[6],  # type: ignore[arg-type]
        latency_s=row[7],  # type: ignore[arg-type]
        cost_usd=row[8],  # type: ignore[arg-type]
        answer=answer,
        question=question,  # type: ignore[arg-type]
        metrics=dict(zip(shown, row[11:], strict=True)),  # type: ignore[arg-type]
    )


def _read_state(db: sqlite3.Connection) -> IndexState:
    found = db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
    return IndexState.model_validate_json(found[0]) if found else IndexState()


# --- building ------------------------------------------------------------------------------------------


class _IndexBuilder:
    def __init__(self, path: Path, store: RunStore, questions: QuestionSource | None) -> None:
        self.path = path
        self.store = store
        self.questions = questions

    def update(self) -> None:
        size = self.store.items_path.stat().st_size if self.store.items_path.exists() else 0
        if self.path.exists():
            with closing(sqlite3.connect(self.path)) as db:
                state = self._reusable_state(db, size)
                if state is not None:
                    if state.indexed_bytes < size:
                        self._index_lines(db, state)
                        db.commit()
                    return
            self.path.unlink()
        temporary = self.path.with_name(f".{self.path.name}.building")
        temporary.unlink(missing_ok=True)
        with closing(sqlite3.connect(temporary)) as db:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.executescript(_SCHEMA)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(INDEX_SCHEMA),))
            state = IndexState(questions=self._load_questions(db))
            self._index_lines(db, state)
            db.execute("CREATE INDEX items_item ON items(dataset, item_id)")
            db.commit()
        temporary.replace(self.path)

    def _reusable_state(self, db: sqlite3.Connection, size: int) -> IndexState | None:
        """The stored state when this index still describes the head of items.jsonl, else None."""
        try:
            schema = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            prefix = db.execute("SELECT value FROM meta WHERE key = 'prefix'").fetchone()
            state = _read_state(db)
        except (sqlite3.DatabaseError, ValidationError):
            return None
        if not schema or int(schema[0]) != INDEX_SCHEMA or not prefix or state.indexed_bytes > size:
            return None
        return state if prefix[0] == _prefix_hash(self.store.items_path, state.indexed_bytes) else None

    def _load_questions(self, db: sqlite3.Connection) -> str:
        try:
            manifest = self.store.read_manifest()
        except Exception:  # noqa: BLE001 - a run without a readable manifest still has items to show
            manifest = None
        if self.questions is None:
            return "questions not loaded"
        note, by_dataset = self.questions(manifest)
        for dataset, items in by_dataset.items():
            db.executemany(
                "INSERT OR IGNORE INTO questions VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (
                        dataset,
                        item.id,
                        item.question,
                        json.dumps(item.answers),
                        json.dumps(item.gold_doc_ids),
                        int(item.is_impossible),
                    )
                    for item in items
                ),
            )
        return note

    def _index_lines(self, db: sqlite3.Connection, state: IndexState) -> None:
        """Index every complete line after `state.indexed_bytes`; updates `state` and stores it."""
        columns = _metric_columns(db)
        dataset_metrics: dict[str, set[str]] = {}
        for dataset, name in db.execute("SELECT dataset, name FROM dataset_metrics"):
            dataset_metrics.setdefault(dataset, set()).add(name)
        batch: list[tuple[ItemResult, int, int, int]] = []
        for line, offset, raw in _complete_lines(self.store.items_path, state.indexed_bytes, state.lines):
            state.lines = line
            state.indexed_bytes = offset + len(raw)
            if not raw.strip():
                continue
            try:
                item = ItemResult.model_validate_json(raw)
            except ValidationError as error:
                state.skipped += 1
                state.first_problem = state.first_problem or f"line {line}: {error.errors()[0]['msg']}"
                continue
            new = set(item.scores) - dataset_metrics.get(item.dataset, set())
            if new:
                self._flush(db, batch, columns, dataset_metrics)
                batch = []
                self._add_metrics(db, item.dataset, new, columns, dataset_metrics)
            batch.append((item, line, offset, len(raw)))
            if len(batch) >= BATCH_ROWS:
                self._flush(db, batch, columns, dataset_metrics)
                batch = []
        self._flush(db, batch, columns, dataset_metrics)
        self._unmeasured(db, columns, dataset_metrics)
        state.items = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        db.execute("INSERT OR REPLACE INTO meta VALUES ('state', ?)", (state.model_dump_json(),))
        prefix = _prefix_hash(self.store.items_path, state.indexed_bytes)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('prefix', ?)", (prefix,))

    @staticmethod
    def _flush(
        db: sqlite3.Connection,
        batch: list[tuple[ItemResult, int, int, int]],
        columns: dict[str, str],
        dataset_metrics: dict[str, set[str]],
    ) -> None:
        if not batch:
            return
        names = list(columns)
        placeholders = ", ".join("?" * (len(_FIXED_COLUMNS) + len(names)))
        column_list = ", ".join([*_FIXED_COLUMNS, *(columns[name] for name in names)])
        db.executemany(
            f"INSERT OR IGNORE INTO items ({column_list}) VALUES ({placeholders})",
            (
                (
                    *_fixed_values(item, line, offset, length),
                    *(
                        _stored(metric_value(item, name)) if name in dataset_metrics.get(item.dataset, ()) else None
                        for name in names
                    ),
                )
                for item, line, offset, length in batch
            ),
        )

    def _unmeasured(
        self, db: sqlite3.Connection, columns: dict[str, str], dataset_metrics: dict[str, set[str]]
    ) -> None:
        """Rule 3 of `evals.results.item_values`, which needs a whole strategy's items: when a strategy
        answered items but none has the metric defined, it does not measure it, and its failed items
        are NaN (NULL) too, not 0. Applied after each pass, in both directions (a later answered item
        with the metric makes the failed ones count again, through `metric_value`)."""
        if not columns:
            return
        names = list(columns)
        counts = "".join(
            f", SUM(status = 'ok' AND {columns[n]} IS NOT NULL), SUM(status = 'error' AND {columns[n]} IS NOT NULL)"
            f", SUM(status = 'error' AND {columns[n]} IS NULL)"
            for n in names
        )
        groups = db.execute(
            f"SELECT dataset, strategy, SUM(status = 'ok'){counts} FROM items GROUP BY dataset, strategy"
        ).fetchall()
        for dataset, strategy, answered, *per_metric in groups:
            for position, name in enumerate(names):
                if name not in dataset_metrics.get(dataset, ()):
                    continue
                defined, failed_valued, failed_unvalued = per_metric[3 * position : 3 * position + 3]
                column = columns[name]
                if answered and not defined:
                    if failed_valued:
                        db.execute(
                            f"UPDATE items SET {column} = NULL WHERE dataset = ? AND strategy = ? AND status = 'error'",
                            (dataset, strategy),
                        )
                elif failed_unvalued:
                    self._revalue(
                        db, column, name, "dataset = ? AND strategy = ? AND status = 'error'", (dataset, strategy)
                    )

    def _revalue(self, db: sqlite3.Connection, column: str, name: str, where: str, parameters: tuple) -> None:
        """Set `column` of the rows matching `where` to `metric_value` of their re-read records."""
        rows = db.execute(f"SELECT line, offset, length FROM items WHERE {where}", parameters).fetchall()
        updates = []
        with self.store.items_path.open("rb") as stream:
            for line, offset, length in rows:
                stream.seek(offset)
                item = ItemResult.model_validate_json(stream.read(length))
                updates.append((_stored(metric_value(item, name)), line))
        db.executemany(f"UPDATE items SET {column} = ? WHERE line = ?", updates)

    def _add_metrics(
        self,
        db: sqlite3.Connection,
        dataset: str,
        names: set[str],
        columns: dict[str, str],
        dataset_metrics: dict[str, set[str]],
    ) -> None:
        """Metrics first seen on `dataset`: a column each (if new), and their `metric_value` for the items
        of that dataset indexed so far (re-read: usually none or a few failed ones)."""
        for name in sorted(names):
            if name not in columns:
                columns[name] = f"m{len(columns)}"
                db.execute(f"ALTER TABLE items ADD COLUMN {columns[name]} REAL")
                db.execute("INSERT INTO metric_columns VALUES (?, ?)", (name, columns[name]))
            db.execute("INSERT INTO dataset_metrics VALUES (?, ?)", (dataset, name))
            dataset_metrics.setdefault(dataset, set()).add(name)
        for name in sorted(names):
            self._revalue(db, columns[name], name, "dataset = ?", (dataset,))


_FIXED_COLUMNS = (
    "line",
    "offset",
    "length",
    "dataset",
    "strategy",
    "item_id",
    "status",
    "error",
    "route",
    "latency",
    "cost",
    "answer",
)
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE metric_columns (name TEXT PRIMARY KEY, col TEXT NOT NULL);
CREATE TABLE dataset_metrics (dataset TEXT, name TEXT, PRIMARY KEY (dataset, name));
CREATE TABLE items (
    line INTEGER PRIMARY KEY, offset INTEGER NOT NULL, length INTEGER NOT NULL,
    dataset TEXT NOT NULL, strategy TEXT NOT NULL, item_id TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT, route TEXT, latency REAL, cost REAL, answer TEXT NOT NULL,
    UNIQUE (dataset, strategy, item_id)
);
CREATE TABLE questions (
    dataset TEXT NOT NULL, item_id TEXT NOT NULL, question TEXT NOT NULL, answers TEXT NOT NULL,
    gold_doc_ids TEXT NOT NULL, is_impossible INTEGER NOT NULL, PRIMARY KEY (dataset, item_id)
);
"""


def _fixed_values(item: ItemResult, line: int, offset: int, length: int) -> tuple[object, ...]:
    answer = item.answer
    route = answer.metadata.get("route") if answer else None
    error = f"{item.error.stage}: {item.error.type}: {item.error.message}" if item.error else None
    return (
        line,
        offset,
        length,
        item.dataset,
        item.strategy,
        item.item_id,
        item.status,
        error,
        route if isinstance(route, str) else None,
        _stored(answer.timings.get("total", math.nan)) if answer else None,
        _stored(item.cost_usd),
        answer.text if answer else "",
    )


def _stored(value: float | None) -> float | None:
    """NaN becomes NULL (SQLite would too; said here so the rule is visible)."""
    return None if value is None or math.isnan(value) else float(value)


def _complete_lines(path: Path, start: int, first_line: int) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, raw line) of every newline-terminated line after byte `start`."""
    if not path.exists():
        return
    with path.open("rb") as stream:
        stream.seek(start)
        offset, line = start, first_line
        for raw in stream:
            if not raw.endswith(b"\n"):
                return  # a torn or half-written last line: indexed once it is complete
            line += 1
            yield line, offset, raw
            offset += len(raw)


def _prefix_hash(path: Path, length: int) -> str:
    """sha256 of the first min(PREFIX_BYTES, length) bytes: changes when the file is rewritten."""
    if not path.exists():
        return ""
    with path.open("rb") as stream:
        head = stream.read(min(PREFIX_BYTES, length))
    return hashlib.sha256(head).hexdigest()
