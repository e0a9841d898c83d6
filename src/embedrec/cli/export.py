"""The `export` verb: write a model's item (or user) vectors for TensorBoard, gensim or NumPy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from embedrec.query.wordeval import load_embeddings
from embedrec.show.export import FORMATS
from embedrec.show.export import export as write

console = Console()

EXAMPLES = (
    "Examples:  embedrec export models/ml --format projector --out projector/  ·  "
    "embedrec export models/ml --format word2vec --out items.txt"
)


def register(cli: typer.Typer) -> None:
    """Add the `export` verb to the CLI."""
    cli.command("export", epilog=EXAMPLES)(export)


def export(
    model_dir: Annotated[Path, typer.Argument(help="A saved model directory (a words model too).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="projector, word2vec, word2vec-binary or npy.")
    ] = "projector",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (or file for word2vec).")] = Path(
        "export"
    ),
    users: Annotated[bool, typer.Option("--users", help="Export user vectors instead of items.")] = False,
) -> None:
    """Write the learned item (or user) vectors in a format other tools read."""

    if fmt not in FORMATS:  # fail before loading the model
        raise typer.BadParameter(
            f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", param_hint="--format"
        )
    table = load_embeddings(model_dir, "user" if users else "item")
    for path in write(table, fmt, out):
        console.print(str(path), highlight=False, soft_wrap=True)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
