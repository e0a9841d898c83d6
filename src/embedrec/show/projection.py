"""Embedding tables projected to 2-D (PCA, t-SNE, UMAP) and the principal axes that explain them.

An `EmbeddingTable` is what every map, export and axis readout works on: vectors, their id map, display
metadata and rating counts. Large tables are sub-sampled by one stated rule: most-rated rows first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from embedrec.data.embeddings import EmbeddingTable
from embedrec.errors import ParameterError


def most_rated(table: EmbeddingTable, max_rows: int | None) -> np.ndarray:
    """The sub-sampling rule for large tables: the `max_rows` most-rated rows, in row order."""
    if max_rows is None or max_rows >= len(table):
        return np.arange(len(table))
    if max_rows < 1:
        raise ParameterError(f"max_rows must be positive, got {max_rows}")
    return np.sort(table.popularity_order()[:max_rows])


# -- projection methods: (vectors (n, k), seed, n_jobs) -> (coords (n, 2), note) ----------------------


def pca(vectors: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact PCA by SVD of the centred vectors: (scores (n, c), components (c, k), variance share (c,)).

    Signs are fixed so each component's largest loading is positive, which makes results reproducible.
    """
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    flip = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    flip[flip == 0] = 1.0
    u, vt = u * flip, vt * flip[:, None]
    total = float((s**2).sum())
    share = s**2 / total if total > 0 else np.zeros_like(s)
    c = min(n_components, len(s))
    scores = u[:, :c] * s[:c]
    if c < n_components:  # fewer dimensions than asked: pad with zero axes
        pad = n_components - c
        scores = np.hstack([scores, np.zeros((len(x), pad))])
        vt = np.vstack([vt[:c], np.zeros((pad, x.shape[1]))])
        share = np.concatenate([share[:c], np.zeros(pad)])
    return scores, vt[:n_components], share[:n_components]


def _pca(x: np.ndarray, seed: int, n_jobs: int) -> tuple[np.ndarray, str]:
    scores, _, share = pca(x, 2)
    return scores, f"PCA, axes explain {share[0]:.0%} and {share[1]:.0%} of variance"


def _tsne(x: np.ndarray, seed: int, n_jobs: int) -> tuple[np.ndarray, str]:
    if len(x) < 5:
        raise ParameterError(f"t-SNE needs at least 5 points, got {len(x)}")
    perplexity = float(min(30.0, (len(x) - 1) / 3))
    try:  # openTSNE's FFT-accelerated gradients beat scikit-learn's Barnes-Hut at 10k points (BENCHMARKS.md)
        from openTSNE import TSNE as OpenTSNE
    except ImportError:
        OpenTSNE = None
    if OpenTSNE is not None:
        tsne = OpenTSNE(perplexity=perplexity, metric="cosine", initialization="pca", random_state=seed,
                        n_jobs=n_jobs)  # fmt: skip
        coords = np.asarray(tsne.fit(np.asarray(x, dtype=np.float64)))
        return coords, f"t-SNE (openTSNE), cosine, perplexity {perplexity:g}, seed {seed}"
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        metric="cosine",
        init="pca",
        learning_rate="auto",
        random_state=seed,
        n_jobs=n_jobs,
    )
    return tsne.fit_transform(x), f"t-SNE, cosine, perplexity {perplexity:g}, seed {seed}"


def _umap(x: np.ndarray, seed: int, n_jobs: int) -> tuple[np.ndarray, str]:
    try:
        import umap
    except ImportError as exc:  # an optional extra: say how to get it
        raise ModuleNotFoundError(
            "UMAP maps need umap-learn: pip install 'embedrec[umap]' (or use --method pca or tsne)"
        ) from exc
    if len(x) < 5:
        raise ParameterError(f"UMAP needs at least 5 points, got {len(x)}")
    n_neighbors = int(min(15, len(x) - 1))
    # n_jobs=1: a seeded UMAP runs on one thread anyway (and warns when asked for more)
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, metric="cosine", random_state=seed, n_jobs=1)
    return reducer.fit_transform(x), f"UMAP, cosine, {n_neighbors} neighbours, seed {seed}"


PROJECTIONS: dict[str, Callable[[np.ndarray, int, int], tuple[np.ndarray, str]]] = {
    "pca": _pca,
    "tsne": _tsne,
    "umap": _umap,
}
# Rows each method maps by default: PCA is cheap at any size, the neighbour-based maps are not.
DEFAULT_MAX_ROWS: dict[str, int | None] = {"pca": None, "tsne": 10_000, "umap": 20_000}


def _method(name: str) -> Callable[[np.ndarray, int, int], tuple[np.ndarray, str]]:
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise ParameterError(
            f"unknown projection method {name!r}; valid: {', '.join(sorted(PROJECTIONS))}"
        ) from None


def project(vectors: np.ndarray, method: str = "pca", *, seed: int = 0, n_jobs: int = 1) -> np.ndarray:
    """Any (n, k) array to (n, 2) float32 coordinates with a named method; the same seed, the same map."""
    coords, _ = _method(method)(np.asarray(vectors, dtype=np.float32), seed, n_jobs)
    return np.asarray(coords, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Projection:
    """2-D coordinates for some rows of a table, and how they were made."""

    coords: np.ndarray  # (m, 2) float32
    rows: np.ndarray  # (m,) row indices into the table
    method: str
    note: str  # method details: "PCA, axes explain 12% and 8% of variance"
    n_total: int  # rows in the table before sub-sampling
    table_name: str

    @property
    def n_shown(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        """A title line: what was projected, how, and which rows."""
        shown = f"{self.n_total:,}"
        if self.n_shown < self.n_total:
            shown = f"{self.n_shown:,} most-rated of {self.n_total:,}"
        return f"{self.table_name} ({shown}) — {self.note}"


def project_table(
    table: EmbeddingTable,
    method: str = "pca",
    *,
    max_rows: int | None | str = "auto",
    seed: int = 0,
    n_jobs: int = 1,
) -> Projection:
    """Project a table's vectors to 2-D, first keeping the `max_rows` most-rated rows.

    `max_rows="auto"` uses the method's default (all rows for PCA, 10,000 for t-SNE, 20,000 for UMAP).
    """
    fn = _method(method)
    if max_rows == "auto":
        max_rows = DEFAULT_MAX_ROWS[method]
    rows = most_rated(table, max_rows)  # type: ignore[arg-type]
    coords, note = fn(table.vectors[rows], seed, n_jobs)
    return Projection(
        coords=np.asarray(coords, dtype=np.float32),
        rows=rows,
        method=method,
        note=note,
        n_total=len(table),
        table_name=table.name,
    )


# -- reading the axes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One principal component: its share of variance and the rows scoring highest and lowest on it."""

    index: int  # 1-based
    explained: float
    top: list[tuple[str, float]]
    bottom: list[tuple[str, float]]


def principal_axes(
    table: EmbeddingTable, k: int = 3, *, n: int = 5, max_rows: int | None = 1000
) -> tuple[list[Axis], int]:
    """The first `k` principal components of the `max_rows` most-rated rows: (axes, rows used).

    Restricting to well-rated rows keeps the extremes meaningful: rarely rated items have noisy factors.
    """
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    rows = most_rated(table, max_rows)
    scores, _, share = pca(table.vectors[rows], k)
    labels = table.labels()
    axes = []
    for c in range(k):
        order = np.argsort(-scores[:, c], kind="stable")
        top = [(labels[rows[i]], float(scores[i, c])) for i in order[:n]]
        bottom = [(labels[rows[i]], float(scores[i, c])) for i in order[::-1][:n]]
        axes.append(Axis(index=c + 1, explained=float(share[c]), top=top, bottom=bottom))
    return axes, len(rows)


def bias_extremes(
    table: EmbeddingTable, n: int = 10, *, max_rows: int | None = 1000
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Rows with the largest and smallest learned bias among the `max_rows` most-rated ones."""
    if table.bias is None:
        raise ParameterError(f"{table.name} has no learned biases")
    rows = most_rated(table, max_rows)
    bias = np.asarray(table.bias, dtype=np.float64)[rows]
    labels = table.labels()
    order = np.argsort(-bias, kind="stable")
    top = [(labels[rows[i]], float(bias[i])) for i in order[:n]]
    bottom = [(labels[rows[i]], float(bias[i])) for i in order[::-1][:n]]
    return top, bottom
