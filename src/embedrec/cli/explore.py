"""CLI verbs for seeing the embedding space: `plot` (a 2-D map) and `axes` (what the factors mean).

embedrec plot DIR --method tsne --color genre --out map.html
embedrec axes DIR -k 3 -n 8
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from embedrec.cli.tables import FitTable
from embedrec.data.embeddings import EmbeddingTable
from embedrec.errors import ParameterError
from embedrec.models.persist import META, load_model, read_meta
from embedrec.query.recommender import Recommender
from embedrec.query.wordeval import load_embeddings, word_key
from embedrec.show.projection import PROJECTIONS, bias_extremes, principal_axes, project_table

console = Console()

EXAMPLES = """
Examples:

  embedrec plot models/ml100k --out map.png

  embedrec plot models/ml100k --method tsne --color genre --out map.html

  embedrec axes models/ml100k -k 3 -n 8

  embedrec plot models/adult --column occupation --out occupation.png   (a table model's column)
"""

OUTPUTS = (".png", ".svg", ".html")


def register(cli: typer.Typer) -> None:
    """Add the `plot` and `axes` verbs to the CLI."""
    cli.command("plot", epilog=EXAMPLES)(plot)
    cli.command("axes", epilog=EXAMPLES)(axes)


def plot(
    model_dir: Annotated[Path, typer.Argument(help="A saved model directory (words too) or a vectors file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="map.png, map.svg or map.html (interactive).")],
    method: Annotated[str, typer.Option("--method", "-m", help="pca, tsne or umap.")] = "pca",
    color: Annotated[
        str,
        typer.Option(
            "--color",
            "-c",
            help="genre, count, bias, none or a column (default: genre where the data has genres, "
            "else the rating count).",
        ),
    ] = "auto",
    users: Annotated[
        bool, typer.Option("--users", help="Map the user vectors instead of the items.")
    ] = False,
    max_points: Annotated[
        int | None,
        typer.Option(
            help="Keep the N most-rated rows (default: all for PCA, 10,000 t-SNE, 20,000 UMAP).", min=1
        ),
    ] = None,
    labels: Annotated[
        int, typer.Option("--labels", help="Label the N most-rated points (images).", min=0)
    ] = 30,
    seed: Annotated[int, typer.Option(help="Random seed of t-SNE and UMAP.")] = 0,
    column: Annotated[
        str | None, typer.Option("--column", help="A table model's embedded column to map (its categories).")
    ] = None,
    words: Annotated[
        str | None, typer.Option("--words", help="Map only these keys, comma-separated: hotel,motel,inn.")
    ] = None,
) -> None:
    """Project the item (or user, or word) vectors to 2-D and draw them: a picture or an interactive page."""
    suffix = out.suffix.lower()
    if suffix not in OUTPUTS:
        raise ParameterError(f"--out must end in {', '.join(OUTPUTS)}, got {out.name!r}")
    if method not in PROJECTIONS:
        raise ParameterError(f"unknown projection method {method!r}; valid: {', '.join(sorted(PROJECTIONS))}")
    if column is not None or _is_table_model(model_dir):
        table = _column_table(model_dir, column)
        color = "none" if color == "genre" else color  # the default colour is for movies
    else:
        table = load_embeddings(model_dir, "user" if users else "item")
    if words is not None:
        keys = [w.strip() for w in words.split(",") if w.strip()]
        if len(keys) < 2:
            raise ParameterError(f"--words needs at least two keys, got {words!r}")
        table = table.subset(np.array([table.index(word_key(table, k)) for k in keys]))
        labels = max(labels, len(keys))  # every chosen word gets its label
    _check_color(table, color)
    try:
        projection = project_table(table, method, max_rows="auto" if max_points is None else max_points,
                                   seed=seed)  # fmt: skip
    except ImportError as exc:  # an optional extra (umap-learn) is missing: say so in one line
        raise ParameterError(str(exc)) from None
    named = 0
    if suffix == ".html":
        from embedrec.show.mapview import write_html

        write_html(table, projection, out, color=color)
    else:
        from embedrec.show.labels import placed_labels
        from embedrec.show.plots import plot_map

        named = len(placed_labels(plot_map(table, projection, out, color=color, n_labels=labels)))
    console.print(f"Projected {projection.describe()}", highlight=False)
    if projection.n_shown < projection.n_total:
        console.print(
            f"{projection.n_shown:,} of {projection.n_total:,} points: the most-rated ones (--max-points)",
            highlight=False,
        )
    else:
        console.print(f"{projection.n_shown:,} points", highlight=False)
    if suffix != ".html" and labels:
        wanted = min(labels, projection.n_shown)
        room = "" if named == wanted else f" (no room for the other {wanted - named:,})"
        console.print(f"Labelled {named:,} of the {wanted:,} most-rated points{room}", highlight=False)
    console.print(f"Wrote {out}", highlight=False)


def axes(
    model_dir: Annotated[Path, typer.Argument(help="A saved model directory.")],
    k: Annotated[int, typer.Option("-k", help="How many principal components.", min=1)] = 3,
    n: Annotated[int, typer.Option("-n", help="Titles shown at each end.", min=1)] = 8,
    max_items: Annotated[
        int, typer.Option(help="Use the N most-rated items (rare items' vectors are noise).", min=2)
    ] = 1000,
) -> None:
    """What the item factors mean: titles at both ends of each principal component, and the biases."""
    table = _load(model_dir).embeddings("item")
    if k > table.vectors.shape[1]:
        raise ParameterError(f"-k {k} is more than the {table.vectors.shape[1]} factors of {table.name}")
    found, used = principal_axes(table, k, n=n, max_rows=max_items)
    for ax in found:
        title = f"Principal component {ax.index}: {ax.explained:.1%} of variance ({used:,} items)"
        console.print(
            _two_ends(title, ("highest scores", "score"), ("lowest scores", "score"), ax.top, ax.bottom)
        )
    if table.bias is None:
        console.print(f"{table.name}: the model learns no item biases")
        return
    top, bottom = bias_extremes(table, n, max_rows=max_items)
    title = f"Learned item biases ({used:,} most-rated items)"
    grid = _two_ends(title, ("largest bias", "bias"), ("smallest bias", "bias"), top, bottom)
    grid.caption = "a large bias: liked beyond what their factors say; a small one: disliked beyond them"
    console.print(grid)


def _two_ends(
    title: str,
    high: tuple[str, str],
    low: tuple[str, str],
    top: list[tuple[str, float]],
    bottom: list[tuple[str, float]],
) -> FitTable:
    """Titles at both ends of an axis side by side, each with its value; titles wrap, values never."""
    grid = FitTable(title, title_justify="center")
    grid.add_column("#", numeric=True)
    grid.add_column(high[0])
    grid.add_column(high[1], numeric=True)
    grid.add_column(low[0])
    grid.add_column(low[1], numeric=True)
    for i, ((t, tv), (b, bv)) in enumerate(zip(top, bottom, strict=True), 1):
        grid.add_row(str(i), escape(t), f"{tv:+.2f}", escape(b), f"{bv:+.2f}")
    return grid


def _check_color(table: Any, color: str) -> None:
    from embedrec.show.plots import color_fields

    valid = color_fields(table)
    if color not in valid:
        raise ParameterError(f"cannot colour {table.name} by {color!r}; valid: {', '.join(valid)}")


def _is_table_model(model_dir: Path) -> bool:
    return (model_dir / META).is_file() and read_meta(model_dir).get("model_type") == "TabularModel"


def _column_table(model_dir: Path, column: str | None) -> EmbeddingTable:
    """The EmbeddingTable of one embedded column of a saved table model."""
    if not _is_table_model(model_dir):
        raise ParameterError(f"--column is for table models (embedrec table train); {model_dir} is not one")
    tables = load_model(model_dir).embeddings_
    if column not in tables:
        given = "pass --column" if column is None else f"no embedded column {column!r}"
        raise ParameterError(
            f"{model_dir} is a table model: {given}; its embedded columns: {', '.join(tables)}"
        )
    return tables[column]


def _load(model_dir: Path) -> Recommender:
    if not model_dir.is_dir():
        raise ParameterError(f"{model_dir}: no such model directory (train one with `embedrec train`)")
    return Recommender.load(model_dir)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
