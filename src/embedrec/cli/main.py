"""Entry point of the `embedrec` command: verbs load on first use, and errors become one line.

`embedrec --help` and `--version` import no verb module (so no numpy, pandas or PyTorch): each verb's
name and one-line help are listed here, and its module is imported only when the verb runs.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import traceback
import warnings
from typing import Annotated, Any

import typer
import typer.core
import typer.main
from rich.console import Console
from rich.markup import escape

from embedrec import __version__
from embedrec.cli.options import cli_spelling
from embedrec.errors import EmbedrecError

# verb -> (module whose `cli` Typer defines it, one-line help for the listing)
VERBS: dict[str, tuple[str, str]] = {
    "datasets": ("embedrec.cli.data", "The built-in datasets, their sizes, and whether they are cached."),
    "info": ("embedrec.cli.data", "Users, items, ratings, density, histogram and activity of a dataset."),
    "train": ("embedrec.cli.train", "Fit a model on a split, report RMSE (or NDCG@10), save it."),
    "evaluate": (
        "embedrec.cli.evaluate",
        "Score a saved model on held-out ratings: its split's, or a --test file.",
    ),
    "predict": ("embedrec.cli.train", "Predicted ratings of one user for some items."),
    "demo": (
        "embedrec.cli.train",
        "Train on the bundled data and show recommendations (--serve: the web app).",
    ),
    "recommend": (
        "embedrec.cli.recommend",
        "Top-N for a known user, or a new one from a few ratings or likes.",
    ),
    "similar": ("embedrec.cli.recommend", "The nearest items (or users, or keys of a vectors file)."),
    "explain": (
        "embedrec.cli.explain",
        "One-hot vs lookup, the factor table, or why a prediction is what it is.",
    ),
    "plot": (
        "embedrec.cli.explore",
        "A 2-D map of the item (or user) vectors: PNG, SVG or interactive HTML.",
    ),
    "axes": ("embedrec.cli.explore", "What the principal axes of the item vectors mean, and the biases."),
    "export": ("embedrec.cli.export", "Item (or user) vectors for the Embedding Projector, gensim or NumPy."),
    "serve": ("embedrec.cli.serve", "The web page and HTTP API for a saved model."),
    "table": ("embedrec.cli.table", "Embeddings for any table (CSV/TSV/Parquet): train, evaluate, predict."),
    "word2vec": ("embedrec.cli.words", "Learn word vectors from a text file (skip-gram or CBOW)."),
    "analogy": ("embedrec.cli.words", "king − man + woman: nearest words, or accuracy on a questions file."),
    "wordsim": ("embedrec.cli.words", "Spearman of word vectors' cosines against human similarity scores."),
    "item2vec": ("embedrec.cli.words", "Learn item vectors from each user's items as a sentence (Item2Vec)."),
    "classify": ("embedrec.cli.words", "Train a fastText-style text classifier, or predict with one."),
}

err_console = Console(stderr=True)


class LazyGroup(typer.core.TyperGroup):
    """The root command group: a verb's module is imported when that verb is asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in VERBS:
            return None
        group = typer.main.get_command(importlib.import_module(VERBS[name][0]).cli)
        sub = group.get_command(ctx, name) if isinstance(group, typer.core.TyperGroup) else group
        sub.name = name
        return sub

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, help_) in VERBS.items()])

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Plain help from the table above: typer's rich help would import every verb to describe it."""
        super(typer.core.TyperGroup, self).format_help(ctx, formatter)  # usage, text, options, commands


cli = typer.Typer(
    cls=LazyGroup,
    name="embedrec",
    help="Learn embeddings for users, items and any discrete values; recommend and explore them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"embedrec {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Learn embeddings for users, items and any discrete values; recommend and explore them."""


def _show_warning(
    message: Any, category: Any, filename: Any, lineno: Any, file: Any = None, line: Any = None
) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False)


def app() -> None:
    """Run the CLI: bad input is one line on stderr and exit 2; a bug is one line, a log file, exit 1."""
    warnings.showwarning = _show_warning
    try:
        cli()  # standalone mode: click reports usage errors itself (one line, exit 2)
    except EmbedrecError as exc:  # spoken in flags: columns={'rating': 4} reads --columns rating=4
        err_console.print(
            f"[red]error:[/] {escape(exc.render(cli_spelling))}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except OSError as exc:  # the file system said no: a missing file, a full disk, no permission
        err_console.print(
            f"[red]error:[/] {exc.strerror or exc}: {exc.filename or ''}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/]")
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C inside a verb into a silent exit 130
            err_console.print("[red]interrupted[/]")
        raise
    except Exception as exc:  # a bug: keep the traceback for the report, show one line
        with tempfile.NamedTemporaryFile("w", prefix="embedrec-error-", suffix=".log", delete=False) as log:
            traceback.print_exc(file=log)
        err_console.print(
            f"[red]internal error:[/] {type(exc).__name__}: {exc} — this is a bug in embedrec; "
            f"the traceback is in {log.name}",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
