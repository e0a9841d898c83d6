"""Entry point of the `embedrec` command: registers each verb group and turns errors into one line."""

from __future__ import annotations

import sys
import warnings
from typing import Annotated

import typer
from rich.console import Console

from embedrec import __version__
from embedrec.errors import EmbedrecError

console = Console()
err_console = Console(stderr=True)

cli = typer.Typer(
    name="embedrec",
    help="Learn embeddings for users, items and any discrete values; recommend and explore them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"embedrec {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Learn embeddings for users, items and any discrete values; recommend and explore them."""


def _register() -> None:
    # Each verb group lives in its own module and adds its commands to `cli`.
    from embedrec.cli import data, explain, explore, recommend, serve, train
    from embedrec.cli import export as export_cli

    data.register(cli)
    export_cli.register(cli)
    explain.register(cli)
    explore.register(cli)
    recommend.register(cli)
    serve.register(cli)
    train.register(cli)


_register()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False)


def app() -> None:
    """Run the CLI: bad input becomes one line on stderr and exit code 2, never a traceback."""
    warnings.showwarning = _show_warning
    try:
        cli()  # standalone mode: click reports usage errors itself (one line, exit 2)
    except (EmbedrecError, ValueError, OSError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[red]aborted[/]")
        sys.exit(130)
