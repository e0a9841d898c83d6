"""An interactive map of an embedding space as one self-contained HTML file (no network needed).

Hover shows title, year, genres and rating count; a search box highlights matches; clicking a point lists
its nearest neighbours in the full embedding space, precomputed here so the page needs no server.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from embedrec.data.embeddings import EmbeddingTable
from embedrec.files import write_bytes_atomic
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
    color: str | None = "genre",
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
    color: str | None = "genre",
    n_neighbors: int = 10,
    metric: str = "cosine",
    title: str | None = None,
) -> str:
    """The page as a string: one HTML document with its data, style and script inlined."""
    data = map_data(table, projection, color=color, n_neighbors=n_neighbors, metric=metric)
    if title is not None:
        data["title"] = title
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return (
        _PAGE.replace("__TITLE__", html.escape(data["title"]))
        .replace("__STYLE__", _STYLE)
        .replace("__DATA__", payload)
        .replace("__SCRIPT__", _SCRIPT)
    )


def write_html(
    table: EmbeddingTable,
    projection: Projection,
    path: str | Path,
    *,
    color: str | None = "genre",
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
<title>__TITLE__</title><style>__STYLE__</style></head>
<body>
<div id="map"><canvas id="canvas"></canvas><div id="tooltip" hidden></div></div>
<aside id="panel">
  <h1 id="title"></h1>
  <input id="search" type="search" placeholder="Search titles…" autocomplete="off">
  <div id="match-count"></div><ul id="matches"></ul>
  <section id="details" hidden><h2 id="selected"></h2><div id="selected-meta"></div>
    <h3 id="neighbours-head"></h3><ol id="neighbours"></ol></section>
  <div id="legend"></div>
  <p class="hint">Scroll to zoom, drag to pan, click a point for its nearest neighbours.</p>
</aside>
<script type="application/json" id="data">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""

_STYLE = """
html,body{margin:0;height:100%;font:13px/1.4 system-ui,sans-serif;color:#222;overflow:hidden}
body{display:flex}
#map{position:relative;flex:1;min-width:0}
#canvas{display:block;width:100%;height:100%;cursor:crosshair}
#panel{width:330px;padding:10px 14px;border-left:1px solid #ddd;overflow-y:auto;background:#fafafa}
h1{font-size:14px;margin:0 0 8px}h2{font-size:14px;margin:4px 0}h3{font-size:12px;margin:10px 0 4px}
#search{width:100%;box-sizing:border-box;padding:5px;font-size:13px}
#match-count{color:#666;margin:4px 0}
ul,ol{margin:0;padding-left:20px}li{margin:1px 0}
li.link{cursor:pointer;color:#1557a0}li.link:hover{text-decoration:underline}
#tooltip{position:absolute;pointer-events:none;background:rgba(255,255,255,.95);border:1px solid #999;
 padding:4px 7px;border-radius:3px;max-width:320px;box-shadow:0 1px 4px rgba(0,0,0,.2)}
#tooltip b{display:block}
#legend{margin-top:12px}.swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:5px}
.hint{color:#888;font-size:11px}
"""

_SCRIPT = r"""
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const N = D.nPoints, K = D.k, GRID = 10000;
const canvas = document.getElementById("canvas"), ctx = canvas.getContext("2d");
const tip = document.getElementById("tooltip"), search = document.getElementById("search");
const lower = D.label.map(s => s.toLowerCase());
let view = {s: 1, ox: 0, oy: 0}, matches = [], selected = -1, drag = null;
const $ = id => document.getElementById(id);
$("title").textContent = D.title;

function fit() {
  const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  canvas.width = r.width * dpr; canvas.height = r.height * dpr;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const pad = 20, side = Math.min(r.width, r.height) - 2 * pad;
  view = {s: side / GRID, ox: (r.width - side) / 2, oy: (r.height - side) / 2};
  draw();
}
function sx(i) { return view.ox + D.x[i] * view.s; }
function sy(i) { return view.oy + (GRID - D.y[i]) * view.s; }
function dot(i, r) { ctx.beginPath(); ctx.arc(sx(i), sy(i), r, 0, 6.2832); }
function draw() {
  const r = canvas.getBoundingClientRect();
  ctx.clearRect(0, 0, r.width, r.height);
  const faded = matches.length > 0 || selected >= 0;
  ctx.globalAlpha = faded ? 0.18 : 0.75;
  for (let i = 0; i < N; i++) { ctx.fillStyle = D.colors[D.c[i]]; dot(i, 2.5); ctx.fill(); }
  ctx.globalAlpha = 1;
  if (selected >= 0) {
    ctx.strokeStyle = "#f08c00"; ctx.lineWidth = 1;
    for (let j = 0; j < K; j++) {
      const n = D.nbr[selected * K + j];
      ctx.beginPath(); ctx.moveTo(sx(selected), sy(selected)); ctx.lineTo(sx(n), sy(n)); ctx.stroke();
      ctx.fillStyle = D.colors[D.c[n]]; dot(n, 5); ctx.fill(); ctx.stroke();
    }
  }
  ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
  for (const i of matches) { ctx.fillStyle = D.colors[D.c[i]]; dot(i, 6); ctx.fill(); ctx.stroke(); }
  if (selected >= 0) { ctx.fillStyle = "#d6336c"; dot(selected, 7); ctx.fill(); ctx.stroke(); }
}
function nearest(px, py, radius) {
  let best = -1, bd = radius * radius;
  for (let i = 0; i < N; i++) {
    const dx = sx(i) - px, dy = sy(i) - py, d = dx * dx + dy * dy;
    if (d <= bd) { bd = d; best = i; }
  }
  return best;
}
function local(e) {
  const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top];
}
function describe(i) {
  const parts = [];
  if (D.year[i] !== null) parts.push(String(D.year[i]));
  const g = D.genreSets[D.genres[i]];
  if (g) parts.push(g.split("|").join(", "));
  if (D.count[i] !== null) parts.push(D.count[i].toLocaleString("en") + " ratings");
  return parts.join(" · ");
}
function showTip(i, px, py) {
  if (i < 0) { tip.hidden = true; return; }
  tip.replaceChildren();
  const b = document.createElement("b"); b.textContent = D.label[i];
  const m = document.createElement("span"); m.textContent = describe(i);
  tip.append(b, m); tip.hidden = false;
  tip.style.left = Math.min(px + 12, canvas.clientWidth - tip.offsetWidth - 4) + "px";
  tip.style.top = Math.max(py - tip.offsetHeight - 8, 4) + "px";
}
function item(text, i) {
  const li = document.createElement("li"); li.textContent = text;
  li.className = "link"; li.onclick = () => select(i);
  return li;
}
function select(i) {
  selected = i;
  $("details").hidden = i < 0;
  if (i >= 0) {
    $("selected").textContent = D.label[i];
    $("selected-meta").textContent = describe(i);
    $("neighbours-head").textContent =
      `Nearest ${K} in the full ${D.dims}-dimensional space (${D.metric})`;
    const ol = $("neighbours"); ol.replaceChildren();
    for (let j = 0; j < K; j++) {
      const n = D.nbr[i * K + j];
      ol.append(item(`${D.label[n]} — ${(D.sim[i * K + j] / 100).toFixed(2)}`, n));
    }
  }
  draw();
}
function runSearch() {
  const q = search.value.trim().toLowerCase();
  matches = [];
  if (q) for (let i = 0; i < N; i++) if (lower[i].includes(q)) matches.push(i);
  $("match-count").textContent = q ? `${matches.length.toLocaleString("en")} match` +
    (matches.length === 1 ? "" : "es") : "";
  const ul = $("matches"); ul.replaceChildren();
  const top = matches.slice().sort((a, b) => (D.count[b] || 0) - (D.count[a] || 0)).slice(0, 10);
  for (const i of top) ul.append(item(D.label[i], i));
  draw();
}
function legend() {
  const el = $("legend"), h = document.createElement("h3");
  h.textContent = D.colorLabel ? "Colour: " + D.colorLabel : ""; el.append(h);
  D.categories.forEach((name, c) => {
    if (!D.colorLabel) return;
    const row = document.createElement("div"), sw = document.createElement("span");
    sw.className = "swatch"; sw.style.background = D.colors[c];
    row.append(sw, document.createTextNode(name)); el.append(row);
  });
}
canvas.addEventListener("mousemove", e => {
  const [px, py] = local(e);
  if (drag) {
    if (!drag.moved && Math.hypot(px - drag.x0, py - drag.y0) < 4) return;
    view.ox += px - drag.px; view.oy += py - drag.py;
    Object.assign(drag, {px, py, moved: true}); tip.hidden = true; draw(); return;
  }
  showTip(nearest(px, py, 8), px, py);
});
canvas.addEventListener("mouseleave", () => { tip.hidden = true; drag = null; });
canvas.addEventListener("mousedown", e => {
  const [px, py] = local(e); drag = {x0: px, y0: py, px, py, moved: false};
});
canvas.addEventListener("mouseup", e => {
  const moved = drag && drag.moved; drag = null;
  if (!moved) { const [px, py] = local(e); select(nearest(px, py, 8)); }
});
canvas.addEventListener("wheel", e => {
  e.preventDefault();
  const [px, py] = local(e), f = Math.exp(-e.deltaY * 0.0015);
  view.ox = px - (px - view.ox) * f; view.oy = py - (py - view.oy) * f; view.s *= f; draw();
}, {passive: false});
search.addEventListener("input", runSearch);
search.addEventListener("keydown", e => { if (e.key === "Enter" && matches.length) select(matches[0]); });
window.addEventListener("resize", fit);
legend(); fit();
// A small handle for scripts and tests: where a point is on screen, and what is highlighted.
window.embedrecMap = {
  n: N,
  indexOf: title => D.label.indexOf(title),
  screenXY: i => { const r = canvas.getBoundingClientRect(); return [r.left + sx(i), r.top + sy(i)]; },
  matches: () => matches.slice(),
  selected: () => selected,
  select,
};
document.body.dataset.ready = "1";
"""
