"""The viewer as a Starlette app: GET-only pages over a results folder.

Safety: bound to loopback, it answers only requests addressed to a loopback host name (so a web page
cannot reach it through DNS rebinding); bound elsewhere, it needs a token (query `?token=`, then a
cookie; or `Authorization: Bearer`), compared in constant time. Every response carries a Content
Security Policy that allows only the app's own script and stylesheet; every string is escaped by
the templates; run ids and item lines from the URL are looked up, never joined into paths.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import math
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from evals.core.errors import EvalsError
from evals.view.diff import run_diff, strategy_diff
from evals.view.item_index import PER_PAGE_CHOICES, ItemFilter
from evals.view.pages import item_page, leaderboard_page, run_page, trends_page
from evals.view.rendering import Renderer, ServerLinks
from evals.view.results_folder import NotFound, ResultsFolder

STATIC_DIR = Path(__file__).parent / "static"
TOKEN_COOKIE = "evals_view_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def create_app(
    folder: ResultsFolder, host: str = "127.0.0.1", token: str | None = None, preindex: bool = True
) -> Starlette:
    """The app serving `folder`. A non-loopback `host` needs a `token` (EvalsError otherwise).
    `preindex` indexes every run in a background thread at startup, newest first."""
    loopback = is_loopback(host)
    if not loopback and not token:
        raise EvalsError(f"--host {host} is reachable from other machines: give --token (or let `evals view` make one)")
    pages = _Pages(folder, Renderer(folder.results_dir.resolve().name))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if preindex:
            threading.Thread(target=_index_all, args=(folder,), name="evals-view-index", daemon=True).start()
        yield

    routes = [
        Route("/", pages.leaderboard),
        Route("/trends", pages.trends),
        Route("/diff", pages.run_diff),
        Route("/runs/{run_id}", pages.run),
        Route("/runs/{run_id}/diff", pages.strategy_diff),
        Route("/runs/{run_id}/item", pages.find_item),
        Route("/runs/{run_id}/items/{line:int}", pages.item),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: pages.http_error, NotFound: pages.not_found, EvalsError: pages.cannot},
        lifespan=lifespan,
    )
    app.add_middleware(_Guard, loopback=loopback, token=token)
    return app


def _index_all(folder: ResultsFolder) -> None:
    for run_id in folder.run_ids():
        try:
            folder.index(run_id)
        except Exception:  # noqa: BLE001 - a page that needs this run reports its problem
            continue


class _Pages:
    """The route handlers (sync: Starlette runs them in its thread pool)."""

    def __init__(self, folder: ResultsFolder, renderer: Renderer) -> None:
        self.folder = folder
        self.renderer = renderer
        self.links = ServerLinks()

    def _html(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.renderer.render(template, self.links, **context), status_code=status_code)

    def leaderboard(self, request: Request) -> Response:
        board = leaderboard_page(self.folder, request.query_params.getlist("metrics"))
        return self._html("leaderboard.html", board=board, run_diffs=[])

    def trends(self, request: Request) -> Response:
        return self._html("trends.html", trends=trends_page(self.folder, request.query_params.get("metric")))

    def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        wanted = _item_filter(request.query_params)
        view = run_page(self.folder, run_id, wanted)
        return self._html("run.html", run=view, run_diffs=[], per_page_choices=PER_PAGE_CHOICES)

    def item(self, request: Request) -> Response:
        view = item_page(self.folder, request.path_params["run_id"], request.path_params["line"])
        return self._html("item.html", view=view)

    def find_item(self, request: Request) -> Response:
        """`?dataset=&strategy=&item_id=` → the item's page (its address is its line in items.jsonl)."""
        run_id = request.path_params["run_id"]
        query = request.query_params
        line = self.folder.index(run_id).line_of(
            query.get("dataset", ""), query.get("strategy", ""), query.get("item_id", "")
        )
        if line is None:
            raise NotFound(f"run {run_id} has no such item")
        return RedirectResponse(self.links.item(run_id, line), status_code=303)

    def run_diff(self, request: Request) -> Response:
        query = request.query_params
        old, new = query.get("old"), query.get("new")
        if not old or not new:
            raise HTTPException(400, "give two runs: /diff?old=RUN&new=RUN")
        diff = run_diff(self.folder, old, new, query.get("metric"), _number(query.get("threshold")))
        return self._html("diff.html", diff=diff)

    def strategy_diff(self, request: Request) -> Response:
        query = request.query_params
        dataset, old, new = query.get("dataset"), query.get("a"), query.get("b")
        if not dataset or not old or not new:
            raise HTTPException(400, "give a dataset and two strategies: ?dataset=D&a=S1&b=S2")
        diff = strategy_diff(
            self.folder,
            request.path_params["run_id"],
            dataset,
            old,
            new,
            query.get("metric"),
            _number(query.get("threshold")),
        )
        return self._html("diff.html", diff=diff)

    def not_found(self, request: Request, error: Exception) -> Response:
        return self._html("error.html", 404, status=404, reason="Not Found", message=str(error))

    def cannot(self, request: Request, error: Exception) -> Response:
        """What the results do not allow (e.g. two runs with nothing in common), as a 400 page."""
        return self._html("error.html", 400, status=400, reason="Bad Request", message=str(error))

    def http_error(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        reason = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(error.status_code, "Error")
        message = error.detail if error.status_code != 404 else f"nothing at {request.url.path}"
        return self._html("error.html", error.status_code, status=error.status_code, reason=reason, message=message)


def _item_filter(query: QueryParams) -> ItemFilter:
    """The run table's filter from the query string; 400 on values that are not what they should be."""
    fields = set(ItemFilter.model_fields)
    values: dict[str, object] = {key: value for key, value in query.items() if key in fields and value != ""}
    if "descending" in values:
        values["descending"] = values["descending"] in ("1", "true", "on")
    try:
        return ItemFilter.model_validate(values)
    except ValidationError as error:
        problem = error.errors()[0]
        raise HTTPException(400, f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise HTTPException(400, f"not a number: {text!r}") from None
    return None if math.isnan(value) else value


class _Guard:
    """GET/HEAD only; host check on loopback, token check otherwise; security headers on every reply."""

    def __init__(self, app: ASGIApp, loopback: bool, token: str | None) -> None:
        self.app = app
        self.loopback = loopback
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        set_cookie = bool(self.token) and refusal is None and _same(request.query_params.get("token"), self.token)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
                if set_cookie:
                    cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = headers
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, request: Request) -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("read-only: GET only\n", status_code=405, headers={"allow": "GET, HEAD"})
        if self.loopback and _host_name(request.headers.get("host", "")) not in LOOPBACK_NAMES:
            return PlainTextResponse("this server answers requests for localhost only\n", status_code=403)
        if self.token:
            offered = (
                request.query_params.get("token")
                or request.cookies.get(TOKEN_COOKIE)
                or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            )
            if not _same(offered, self.token):
                return PlainTextResponse(
                    "refused: this server needs its token (open the address `evals view` printed)\n", status_code=401
                )
        return None


def _same(offered: str | None, token: str | None) -> bool:
    return bool(offered) and bool(token) and hmac.compare_digest(str(offered).encode(), str(token).encode())


def _host_name(host: str) -> str:
    """The name in a Host header, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
