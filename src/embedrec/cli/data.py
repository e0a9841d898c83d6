"""CLI verbs about data: `datasets` (the built-in ones) and `info` (what a dataset holds)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich import box
from rich.console import Console

from embedrec.cli.options import ReadSpec, reads_data
from embedrec.cli.tables import FitTable
from embedrec.data.datasets import REGISTRY, data_home, list_datasets, load_dataset
from embedrec.data.profile import EPOCH_SECONDS

console = Console()

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dataset cache folder (default: $EMBEDREC_DATA or the user cache)."),
]


def register(cli: typer.Typer) -> None:
    """Add the data verbs to the CLI."""
    cli.command("datasets")(datasets)
    cli.command("info")(reads_data(info))


def datasets(data_dir: DataDir = None) -> None:
    """List the built-in datasets, their sizes, and whether they are cached."""
    table = FitTable("Built-in datasets", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", style="bold", min_width=15)
    for column in ("ratings", "users", "items"):
        table.add_column(column, numeric=True)
    table.add_column("cached", min_width=7)
    table.add_column("notes", drop=1)
    for d in list_datasets(data_dir):
        table.add_row(
            d.name,
            f"{d.n_ratings:,}",
            f"{d.n_users:,}",
            f"{d.n_items:,}",
            "[green]bundled[/]" if d.url is None else ("[green]yes[/]" if d.cached else "no"),
            d.description,
        )
    console.print(table)
    console.print(f"cache: {data_home(data_dir)}", style="dim", highlight=False)


def info(
    data: Annotated[str, typer.Argument(help="A built-in dataset name, or a ratings file, folder or zip.")],
    data_dir: DataDir = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar while downloading.")] = True,
    *,
    read: ReadSpec,
) -> None:
    """Users, items, ratings, density, rating histogram, activity quantiles, time range, and which column
    of the file was read as what."""
    d = load_dataset(data, data_dir=data_dir, progress=progress, **read.kwargs())
    summary = FitTable(box=None, show_header=False, padding=(0, 2, 0, 0), pad_edge=False)
    summary.add_column("", style="bold", min_width=14)
    summary.add_column("", min_width=20)
    summary.add_row("data", data)
    bundled = data in REGISTRY and REGISTRY[data].url is None
    if d.source and d.source != data:
        summary.add_row("file", "bundled with embedrec" if bundled else d.source)
    for label, value in _read_as(d.origin):
        summary.add_row(label, value)
    summary.add_row("users", f"{d.n_users:,}")
    summary.add_row("items", f"{d.n_items:,}")
    summary.add_row("ratings", f"{len(d):,}")
    summary.add_row("density", f"{d.density:.3%}")
    step = f" in steps of {d.scale.step:g}" if d.scale.step else ""
    feedback = d.origin.get("feedback")
    if feedback == "unary":
        summary.add_row("scale", "no rating column: every row counts as 1 (implicit feedback)")
    elif feedback == "counts":
        summary.add_row(
            "counts", f"{d.ratings.min():g} to {d.ratings.max():g} (implicit feedback, as confidence)"
        )
    elif len(d) and d.ratings.min() == d.ratings.max():
        summary.add_row("scale", f"every rating is {d.ratings[0]:g} (implicit feedback)")
    else:
        summary.add_row("scale", f"{d.scale.low:g} to {d.scale.high:g}{step}")
    summary.add_row("time range", _time_range(d.timestamps))
    meta = [name for name, m in (("items", d.item_meta), ("users", d.user_meta)) if m is not None]
    for kind, m in (("item", d.item_meta), ("user", d.user_meta)):
        if m is not None:
            summary.add_row(f"{kind} metadata", ", ".join(map(str, m.columns)))
    if not meta:
        summary.add_row("metadata", "none")
    console.print(summary)
    console.print()
    console.print(_histogram(d.ratings))
    console.print()
    console.print(_activity(d.users, d.items, d.n_users, d.n_items))


def _read_as(origin: dict) -> list[tuple[str, str]]:
    """Rows saying how the file was read: its format, which column was taken for what, what was left out."""
    rows = []
    what = ", ".join(str(origin[k]) for k in ("layout", "format") if origin.get(k))
    if what:
        rows.append(("read as", what + ("" if origin.get("header", True) else ", no header line")))
    columns = origin.get("columns") or {}
    if columns:
        listed = "; ".join(
            f"{'time' if role == 'timestamp' else role} ← {how}" for role, how in columns.items()
        )
        rows.append(("columns", listed + " (counted from 0)"))
    if origin.get("ignored"):
        rows.append(("left out", "; ".join(origin["ignored"])))
    if origin.get("items"):
        rows.append(("item file", str(origin["items"])))
    return rows


def _time_range(timestamps: np.ndarray | None) -> str:
    if timestamps is None or len(timestamps) == 0:
        return "no timestamps"
    low, high = int(timestamps.min()), int(timestamps.max())
    if low < EPOCH_SECONDS[0] or high > EPOCH_SECONDS[1]:  # a named time column of other units
        return f"{low:,} to {high:,} (not epoch seconds of dates; used only to order ratings)"
    first, last = (datetime.fromtimestamp(t, tz=UTC) for t in (low, high))
    return f"{first:%Y-%m-%d} to {last:%Y-%m-%d} ({(last - first).days / 365.25:.1f} years)"


def _histogram(ratings: np.ndarray, width: int = 36) -> FitTable:
    values, counts = np.unique(ratings, return_counts=True)
    if len(values) > 20:  # continuous ratings: ten equal bins instead of one row per value
        counts, edges = np.histogram(ratings, bins=10)
        labels = [f"{a:.3g}-{b:.3g}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    else:
        labels = [f"{v:g}" for v in values]
    table = FitTable("Ratings")
    for name in ("rating", "count", "share"):
        table.add_column(name, numeric=True)
    table.add_column("", min_width=width, drop=1)  # the bar: left out rather than wrapped
    top = max(int(counts.max()), 1)
    for label, count in zip(labels, counts, strict=True):
        bar = "█" * int(round(width * count / top))
        table.add_row(label, f"{count:,}", f"{count / len(ratings):.1%}", f"[cyan]{bar}[/]")
    return table


def _activity(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> FitTable:
    qs = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
    table = FitTable("Ratings per user and per item (quantiles)")
    table.add_column("", key=True)
    for q in qs:
        table.add_column({0.0: "min", 1.0: "max"}.get(q, f"{q:.0%}"), numeric=True)
    table.add_column("mean", numeric=True)
    for name, idx, n in (("per user", users, n_users), ("per item", items, n_items)):
        counts = np.bincount(idx, minlength=n)
        values = np.quantile(counts, qs) if n else np.zeros(len(qs))
        table.add_row(name, *(f"{v:,.0f}" for v in values), f"{counts.mean():,.1f}" if n else "0")
    return table


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
