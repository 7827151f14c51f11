"""`evals view`: serve the read-only web viewer over a results folder, or export it as static pages."""

from __future__ import annotations

import secrets
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from evals.cli.console import console, errors
from evals.core.errors import EvalsError
from evals.core.types import CACHE_DIR_ENV, DEFAULT_CACHE_DIR, default_cache_dir

VIEW_INDEX_FOLDER = "view"


def view(
    results_dir: Annotated[
        Path, typer.Option(help="where leaderboard.csv, history.csv and runs/ are read from")
    ] = Path("results"),
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on")] = 7575,
    host: Annotated[
        str, typer.Option(help="address to listen on; anything but loopback needs a token (made when not given)")
    ] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="open the viewer in a browser")] = False,
    token: Annotated[
        str | None, typer.Option(help="token required on every request (always required off loopback)")
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="write the pages as a static bundle into this folder and exit")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help=f"where the item indexes are kept (default: ${CACHE_DIR_ENV} or {DEFAULT_CACHE_DIR}, /view)"),
    ] = None,
) -> None:
    """Browse results in a local web app: leaderboard with CIs, runs, items, diffs of runs and strategies, trends."""
    from evals.view import ResultsFolder, create_app, export_site, is_loopback

    if not results_dir.is_dir():
        raise EvalsError(f"{results_dir}: no such results folder")
    folder = ResultsFolder(results_dir, (cache_dir or default_cache_dir()) / VIEW_INDEX_FOLDER)
    if export is not None:
        written = export_site(folder, export)
        console.print(
            f"exported {written.pages} pages ({len(written.runs)} runs, {written.item_pages} item pages, "
            f"{written.diffs} diffs) → {escape(str(written.index_html))}",
            highlight=False,
        )
        return
    if not is_loopback(host):
        token = token or secrets.token_urlsafe(24)
        errors.print(
            f"[bold yellow]warning:[/] listening on {escape(host)} makes the results readable from other machines; "
            "every request needs the token in the address below",
            highlight=False,
        )
    app = create_app(folder, host=host, token=token)
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host if not host.startswith('0.') and host != '::' else '127.0.0.1'}:{port}/"
    if token:
        address += f"?token={token}"
    console.print(f"evals view: {address}  (Ctrl+C to stop)", highlight=False, soft_wrap=True)
    if open_browser:
        webbrowser.open(address)
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
