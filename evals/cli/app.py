"""The `evals` application: wires one module per command into a typer app and turns user errors into
one message and a non-zero exit code."""

from __future__ import annotations

import click
import typer
from rich.markup import escape

from evals.cli.compare import compare
from evals.cli.console import errors
from evals.cli.freshness import freshness
from evals.cli.listing import leaderboard, list_registered
from evals.cli.plan import plan
from evals.cli.recommend import recommend
from evals.cli.report import report
from evals.cli.robustness import robustness
from evals.cli.run import run
from evals.cli.score import score
from evals.cli.validate_judge import validate_judge
from evals.cli.view import view
from evals.core.errors import EvalsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Evaluate RAG, fine-tuning and hybrid QA strategies and decide with measurements.",
)
app.command()(run)
app.command()(score)
app.command()(compare)
app.command()(plan)
app.command()(report)
app.command()(recommend)
app.command()(freshness)
app.command()(robustness)
app.command("validate-judge")(validate_judge)
app.command("list")(list_registered)
app.command()(leaderboard)
app.command()(view)


def main() -> None:
    """Entry point: user errors become one message and exit code 2, never a traceback."""
    try:
        exit_code = app(standalone_mode=False)
    except EvalsError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise SystemExit(error.exit_code) from None
    except KeyboardInterrupt:
        errors.print("interrupted; run the same command again to resume where it stopped")
        raise SystemExit(130) from None
    except typer.Exit as exit_:
        raise SystemExit(exit_.exit_code) from None
    except (click.ClickException, typer.TyperException) as error:  # usage errors (typer >= 0.26 raises its own)
        show = getattr(error, "show", None)
        if callable(show):
            show()
        else:
            errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise SystemExit(getattr(error, "exit_code", 2)) from None
    if exit_code == 130:  # typer >= 0.2x turns Ctrl-C into Exit(130) itself: the except above never sees it
        errors.print("interrupted; run the same command again to resume where it stopped")
    if exit_code:  # a command's typer.Exit(code) is returned, not raised, in this mode
        raise SystemExit(exit_code)
