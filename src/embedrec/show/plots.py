"""Static maps of an embedding space (PNG/SVG): points coloured by a metadata field, popular items named.

Drawn on a bare matplotlib Figure with the Agg canvas, so it works headless and touches no global state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from embedrec.data.embeddings import EmbeddingTable
from embedrec.files import atomic_output
from embedrec.show.labels import place_labels
from embedrec.show.projection import Projection

MAX_CATEGORIES = 12  # more categories than this are unreadable: the rest are drawn grey as "other"
OTHER = "other"
OTHER_COLOR = "#c8c8c8"
PALETTE = [  # tab20's strong half, then its light half: distinct on white and for most colour vision
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78",
]  # fmt: skip
FORMATS = (".png", ".svg")


@dataclass(frozen=True, eq=False)
class Coloring:
    """How points are coloured: categories (codes into `categories`) or numbers, and the legend label."""

    kind: str  # "category" | "number" | "none"
    label: str
    codes: np.ndarray | None = None  # (m,) int index into categories, for kind="category"
    categories: tuple[str, ...] = ()
    numbers: np.ndarray | None = None  # (m,) float, for kind="number"

    def colors(self) -> list[str]:
        """One hex colour per category, "other" last in grey."""
        return [OTHER_COLOR if c == OTHER else PALETTE[i] for i, c in enumerate(self.categories)]


def _first_genre(meta: pd.DataFrame) -> pd.Series:
    genres = meta["genres"].fillna("").astype(str)
    first = genres.str.split("|").str[0].str.strip()
    return first.where((first != "") & (first != "(no genres listed)"), "unknown")


def _categories(values: pd.Series, label: str) -> Coloring:
    values = values.fillna("unknown").astype(str)
    counts = values.value_counts(sort=True)
    keep = list(counts.index[: MAX_CATEGORIES - 1] if len(counts) > MAX_CATEGORIES else counts.index)
    cats = keep + ([OTHER] if len(counts) > len(keep) else [])
    lookup = {c: i for i, c in enumerate(cats)}
    other = lookup.get(OTHER, -1)
    codes = np.array([lookup.get(v, other) for v in values], dtype=np.int64)
    return Coloring("category", label, codes=codes, categories=tuple(cats))


def default_color(table: EmbeddingTable) -> str:
    """What to colour by when nobody says: the first genre where the data has genres, else the rating
    count, else nothing."""
    if table.meta is not None and "genres" in table.meta.columns:
        if (_first_genre(table.meta) != "unknown").any():
            return "genre"
    return "count" if table.counts is not None else "none"


def color_fields(table: EmbeddingTable) -> list[str]:
    """The names `coloring` accepts for this table ("auto" picks `default_color`)."""
    names = ["auto", "none"]
    if table.meta is not None:
        if "genres" in table.meta.columns:
            names.append("genre")
        names += [str(c) for c in table.meta.columns if str(c) != "title"]
    if table.counts is not None:
        names.append("count")
    if table.bias is not None:
        names.append("bias")
    return names


def coloring(table: EmbeddingTable, rows: np.ndarray, field: str | None = "auto") -> Coloring:
    """Colour values for `rows` from a field: genre (the first one), count, bias or any metadata column;
    "auto" is what the data has (`default_color`)."""
    field = "none" if field is None else default_color(table) if field == "auto" else field
    valid = color_fields(table)
    if field not in valid:
        raise ValueError(f"cannot colour {table.name} by {field!r}; valid: {', '.join(valid)}")
    if field == "none":
        return Coloring("none", "")
    if field == "genre":
        return _categories(_first_genre(table.meta).iloc[rows], "first genre")  # type: ignore[arg-type]
    if field == "count":
        return Coloring("number", "ratings (log10)", numbers=np.log10(1.0 + table.counts[rows]))
    if field == "bias":
        return Coloring("number", "learned bias", numbers=np.asarray(table.bias, dtype=np.float64)[rows])
    column = table.meta[field].iloc[rows]  # type: ignore[index]
    if pd.api.types.is_numeric_dtype(column):
        return Coloring("number", field, numbers=column.to_numpy(dtype=np.float64))
    return _categories(column, field)


def label_rows(table: EmbeddingTable, projection: Projection, n: int) -> np.ndarray:
    """Positions (into the projection) of its `n` most-rated points, most-rated first."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-table.counts[projection.rows], kind="stable") if table.counts is not None else None
    return (np.arange(projection.n_shown) if order is None else order)[:n]


def plot_map(
    table: EmbeddingTable,
    projection: Projection,
    path: str | Path | None = None,
    *,
    color: str | None = "auto",
    n_labels: int = 30,
    title: str | None = None,
    size: tuple[float, float] = (10.0, 8.0),
    dpi: int = 100,
) -> Figure:
    """Draw a 2-D map of `projection`, save it to `path` (.png or .svg) when given, and return the Figure.

    The image is exactly `size` × `dpi` pixels (1000 × 800 by default); the `n_labels` most-rated points
    are named where there is room (`show.labels`: labels never overlap; `placed_labels(fig)` lists them).
    """
    if path is not None and Path(path).suffix.lower() not in FORMATS:
        raise ValueError(f"plot format must be one of {', '.join(FORMATS)}, got {Path(path).name!r}")
    col = coloring(table, projection.rows, color)
    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.04, 0.05, 0.74 if col.kind != "none" else 0.92, 0.85))
    xy = projection.coords
    point_size = float(np.clip(20000.0 / max(len(xy), 1), 3.0, 30.0))  # area in pt²: smaller as maps fill
    if col.kind == "category":
        colors = col.colors()
        handles = {}
        for code in np.argsort([c != OTHER for c in col.categories], kind="stable"):  # "other" underneath
            mask = col.codes == code
            handles[code] = ax.scatter(xy[mask, 0], xy[mask, 1], s=point_size, c=colors[code], alpha=0.75,
                                       linewidths=0)  # fmt: skip
        names = [f"{c} ({int((col.codes == i).sum()):,})" for i, c in enumerate(col.categories)]
        fig.legend([handles[i] for i in range(len(names))], names, loc="center left",
                   bbox_to_anchor=(0.79, 0.5), title=col.label, fontsize=8, title_fontsize=9,
                   markerscale=max(1.0, 30.0 / point_size) ** 0.5, frameon=False)  # fmt: skip
    elif col.kind == "number":
        finite = np.isfinite(col.numbers)
        ax.scatter(xy[~finite, 0], xy[~finite, 1], s=point_size, c=OTHER_COLOR, linewidths=0)
        sc = ax.scatter(xy[finite, 0], xy[finite, 1], s=point_size, c=col.numbers[finite], cmap="viridis",
                        alpha=0.8, linewidths=0)  # fmt: skip
        cax = fig.add_axes((0.80, 0.15, 0.02, 0.65))
        fig.colorbar(sc, cax=cax, label=col.label)
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=point_size, c=PALETTE[0], alpha=0.6, linewidths=0)
    if len(xy) <= 100:  # a few categories: leave room for the labels of the points at the edges
        ax.margins(0.2)
    ax.set_xticks([])
    ax.set_yticks([])
    if projection.method == "pca":
        ax.set_xlabel("principal component 1", fontsize=8)
        ax.set_ylabel("principal component 2", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    heading = title or projection.describe()
    if col.kind != "none":
        heading += f"\ncolour: {col.label}"
    fig.suptitle(heading, fontsize=11, x=0.04, y=0.975, ha="left", va="top")
    pos = label_rows(table, projection, n_labels)
    labels = table.labels()
    place_labels(fig, ax, xy[pos], [labels[projection.rows[i]] for i in pos], fontsize=7, sizes=(6,))
    if path is not None:
        with atomic_output(path) as tmp:  # Ctrl-C or a crash: no half picture
            fig.savefig(tmp, dpi=dpi, facecolor="white", format=Path(path).suffix.lstrip(".") or None)
    return fig
