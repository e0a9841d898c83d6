"""An interactive map of an embedding space as one self-contained HTML file (no network needed).

Hover shows title, year, genres and rating count; a search box highlights matches; clicking a point (or
Enter on the keyboard-focused one) lists its nearest neighbours in the full embedding space, precomputed
here so the page needs no server. The page runs the same map module as the web app, inlined.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from embedrec.data.embeddings import EmbeddingTable
from embedrec.files import write_bytes_atomic
from embedrec.show.assets import inline_import_map, module_source
from embedrec.show.plots import OTHER_COLOR, PALETTE, coloring
from embedrec.show.projection import Projection

GRID = 10_000  # coordinates are stored as integers in 0..GRID: 4-5 characters each instead of ~10


def _normalized(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def _cosine(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _normalized(q) @ _normalized(v).T


def _dot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    return q @ v.T


def _euclidean(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    # similarity = -distance, so that larger is nearer for every metric
    d2 = (q**2).sum(1)[:, None] - 2.0 * (q @ v.T) + (v**2).sum(1)[None, :]
    return -np.sqrt(np.maximum(d2, 0.0))


SIMILARITIES = {"cosine": _cosine, "dot": _dot, "euclidean": _euclidean}


def nearest_neighbors(
    vectors: np.ndarray, rows: np.ndarray, k: int = 10, *, metric: str = "cosine", chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest rows of `vectors` to each of `rows` (itself excluded): (indices, similarities).

    Both are (len(rows), k), nearest first; euclidean similarity is minus the distance.
    """
    if metric not in SIMILARITIES:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(sorted(SIMILARITIES))}")
    v = np.asarray(vectors, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    k = min(k, len(v) - 1)
    out_i = np.zeros((len(rows), max(k, 0)), dtype=np.int64)
    out_s = np.zeros((len(rows), max(k, 0)), dtype=np.float32)
    if k <= 0:
        return out_i, out_s
    sim_fn = SIMILARITIES[metric]
    for start in range(0, len(rows), chunk):
        batch = rows[start : start + chunk]
        sims = sim_fn(v[batch], v).astype(np.float32)  # (batch, n)
        sims[np.arange(len(batch)), batch] = -np.inf  # never your own neighbour
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (batch, k) unordered
        part_s = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -part_s), axis=1)  # by similarity, ties by row: reproducible
        out_i[start : start + len(batch)] = np.take_along_axis(part, order, axis=1)
        out_s[start : start + len(batch)] = np.take_along_axis(part_s, order, axis=1)
    return out_i, out_s


def _numeric_bins(values: np.ndarray, n_bins: int = 8) -> tuple[np.ndarray, list[str]]:
    """Quantile bins of a numeric field, so the page colours numbers with the same palette as categories."""
    finite = np.isfinite(values)
    codes = np.full(len(values), n_bins, dtype=np.int64)  # last code: unknown
    if finite.any():
        edges = np.unique(np.quantile(values[finite], np.linspace(0, 1, n_bins + 1)))
        inner = np.clip(np.searchsorted(edges, values[finite], side="right") - 1, 0, len(edges) - 2)
        codes[finite] = np.maximum(inner, 0)
        names = [f"{edges[i]:.3g} – {edges[i + 1]:.3g}" for i in range(max(len(edges) - 1, 1))]
    else:
        names = []
    names += ["unknown"]
    codes[~finite] = len(names) - 1
    return codes, names


def map_data(
    table: EmbeddingTable,
    projection: Projection,
    *,
    color: str | None = "auto",
    n_neighbors: int = 10,
    metric: str = "cosine",
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready lists aligned to the projection's points."""
    rows = projection.rows
    xy = projection.coords.astype(np.float64)
    lo, span = xy.min(axis=0), np.ptp(xy, axis=0)
    grid = np.rint((xy - lo) / np.where(span > 0, span, 1.0) * GRID).astype(np.int64)
    col = coloring(table, rows, color)
    if col.kind == "category":
        codes, names, colors = col.codes, list(col.categories), col.colors()
    elif col.kind == "number":
        codes, names = _numeric_bins(col.numbers)
        colors = PALETTE[: len(names) - 1] + [OTHER_COLOR]
    else:
        codes, names, colors = np.zeros(len(rows), dtype=np.int64), ["all"], [PALETTE[0]]
    # Neighbours come from the full-dimensional vectors, among the mapped rows, so each one is clickable
    # (and rarely rated rows, whose vectors are mostly noise, stay out when the map is sub-sampled).
    nbr, sims = nearest_neighbors(table.vectors[rows], np.arange(len(rows)), n_neighbors, metric=metric)
    labels = table.labels()
    meta = table.meta
    years: list[Any] = [None] * len(rows)
    genre_sets: list[str] = [""]
    genre_codes = np.zeros(len(rows), dtype=np.int64)
    if meta is not None and "year" in meta.columns:
        y = meta["year"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
        years = [int(v) if np.isfinite(v) else None for v in y]
    if meta is not None and "genres" in meta.columns:
        genres = meta["genres"].fillna("").astype(str).to_numpy()[rows]
        uniques, genre_codes = np.unique(genres, return_inverse=True)  # many items share a genre list
        genre_sets = uniques.tolist()
    counts = table.counts[rows].tolist() if table.counts is not None else [None] * len(rows)
    return {
        "title": projection.describe(),
        "colorLabel": col.label,
        "categories": names,
        "colors": colors,
        "metric": metric,
        "kind": table.kind,
        "dims": int(table.vectors.shape[1]),
        "nPoints": int(len(rows)),
        "x": grid[:, 0].tolist(),
        "y": grid[:, 1].tolist(),
        "c": codes.tolist(),
        "label": [labels[r] for r in rows],
        "year": years,
        "genreSets": genre_sets,
        "genres": genre_codes.tolist(),
        "count": counts,
        "k": int(nbr.shape[1]),
        "nbr": nbr.ravel().tolist(),
        "sim": np.rint(sims.ravel().astype(np.float64) * 100).astype(np.int64).tolist(),  # percent
    }


def map_html(
    table: EmbeddingTable,
    projection: Projection,
    *,
    color: str | None = "auto",
    n_neighbors: int = 10,
    metric: str = "cosine",
    title: str | None = None,
) -> str:
    """The page as a string: one HTML document with its data, styles and modules inlined."""
    data = map_data(table, projection, color=color, n_neighbors=n_neighbors, metric=metric)
    if title is not None:
        data["title"] = title
    # "<" escaped, so that no "</script" or "<!--" in a title can end or confuse the script element
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    style = module_source("map.css") + module_source("mapview.css")
    return (  # the data goes in last, so that nothing in it is taken for a placeholder
        _PAGE.replace("__TITLE__", html.escape(data["title"]))
        .replace("__STYLE__", style)
        .replace("__IMPORTS__", inline_import_map("mapview.js"))
        .replace("__DATA__", payload)
    )


def write_html(
    table: EmbeddingTable,
    projection: Projection,
    path: str | Path,
    *,
    color: str | None = "auto",
    n_neighbors: int = 10,
    metric: str = "cosine",
    title: str | None = None,
) -> Path:
    """Write the interactive map to `path` (UTF-8) and return it."""
    text = map_html(table, projection, color=color, n_neighbors=n_neighbors, metric=metric, title=title)
    return write_bytes_atomic(Path(path), text.encode("utf-8"))  # Ctrl-C or a crash: no half page


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title><style>__STYLE__</style>
<script type="importmap">__IMPORTS__</script>
</head>
<body>
<main class="map-area" aria-labelledby="title"><div id="map"></div></main>
<aside id="panel" aria-label="Search and details">
  <h1 id="title">__TITLE__</h1>
  <div class="search" role="search">
    <label for="search">Search titles</label>
    <input id="search" type="text" placeholder="e.g. star wars" spellcheck="false">
    <ul id="matches" class="suggest" aria-label="Matching titles" hidden></ul>
  </div>
  <p id="match-count" aria-live="polite"></p>
  <section id="details" aria-labelledby="selected" hidden>
    <h2 id="selected"></h2><p id="selected-meta"></p>
    <h3 id="neighbours-head"></h3><ol id="neighbours"></ol>
  </section>
  <h2 id="legend-head"></h2><ul id="legend" aria-labelledby="legend-head"></ul>
</aside>
<p class="sr-only" id="announce" aria-live="polite"></p>
<script type="application/json" id="data">__DATA__</script>
<script type="module">import "embedrec/mapview.js";</script>
</body></html>
"""
