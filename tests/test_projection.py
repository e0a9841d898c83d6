"""Projections, the most-rated sampling rule, principal axes and the static map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from embedrec.data.idmap import IdMap
from embedrec.show.plots import plot_map
from embedrec.show.projection import (
    EmbeddingTable,
    bias_extremes,
    pca,
    principal_axes,
    project,
    project_table,
)


@pytest.fixture(scope="module")
def table() -> EmbeddingTable:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8))
    labels = rng.integers(0, 4, 400)
    vectors = (centres[labels] + 0.1 * rng.normal(size=(400, 8))).astype(np.float32)
    genres = np.array(["Action|Drama", "Comedy", "Drama", "Horror|Comedy"])[labels]
    meta = pd.DataFrame({"title": [f"Movie {i}" for i in range(400)], "year": 1990.0, "genres": genres})
    return EmbeddingTable(
        vectors, IdMap(np.arange(400) + 1), meta=meta, counts=rng.integers(1, 500, 400),
        bias=rng.normal(size=400).astype(np.float32), name="test item factors",
    )  # fmt: skip


def test_pca_matches_dense_reference(table: EmbeddingTable) -> None:
    scores, comps, share = pca(table.vectors, 2)
    x = table.vectors - table.vectors.mean(axis=0)
    evals, evecs = np.linalg.eigh(np.cov(x.T, bias=True))
    top = evecs[:, ::-1][:, :2]
    np.testing.assert_allclose(np.abs(scores), np.abs(x @ top), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(share, evals[::-1][:2] / evals.sum(), rtol=1e-4)


@pytest.mark.parametrize("method", ["pca"])  # t-SNE takes ~20 s a run here: see benchmarks
def test_projection_is_seeded(table: EmbeddingTable, method: str) -> None:
    a = project(table.vectors[:150], method, seed=1)
    b = project(table.vectors[:150], method, seed=1)
    assert a.shape == (150, 2)
    np.testing.assert_array_equal(a, b)


def test_unknown_method_lists_valid_ones(table: EmbeddingTable) -> None:
    with pytest.raises(ValueError, match="pca, tsne, umap"):
        project(table.vectors, "mds")


def test_subsample_keeps_most_rated(table: EmbeddingTable) -> None:
    p = project_table(table, "pca", max_rows=50)
    assert p.n_shown == 50 and p.n_total == 400
    assert set(p.rows) == set(np.argsort(-table.counts, kind="stable")[:50])
    assert "50 most-rated of 400" in p.describe()


def test_axes_and_biases(table: EmbeddingTable) -> None:
    axes, used = principal_axes(table, 3, n=4)
    assert used == 400 and len(axes) == 3 and axes[0].explained >= axes[1].explained
    top, bottom = bias_extremes(table, 3)
    assert top[0][1] == pytest.approx(float(table.bias.max()))
    assert bottom[0][1] == pytest.approx(float(table.bias.min()))


def test_png_has_expected_size_and_is_not_blank(table: EmbeddingTable, tmp_path) -> None:
    path = tmp_path / "map.png"
    plot_map(table, project_table(table), path, n_labels=10)
    img = imread(path)
    assert img.shape[:2] == (800, 1000)
    assert img[..., :3].std() > 0.05  # points, labels and legend, not a white page


def test_bad_colour_field_lists_valid_ones(table: EmbeddingTable, tmp_path) -> None:
    with pytest.raises(ValueError, match="genre"):
        plot_map(table, project_table(table), tmp_path / "m.png", color="nope")


def test_every_label_of_a_sparse_map_is_placed_even_at_its_edges() -> None:
    # four clusters far apart, the most frequent rows at the extremes of the first axis
    rng = np.random.default_rng(0)
    centres = np.array([[-10, 0, 0], [10, 0, 0], [0, 6, 0], [0, -6, 3]], dtype=np.float32)
    vectors = np.repeat(centres, 3, axis=0) + 0.5 * rng.normal(size=(12, 3)).astype(np.float32)
    words = [f"w{i}" for i in range(12)]
    small = EmbeddingTable(vectors, words, counts=np.array([90, 80, 70, 60, 50, 40, 30, 20, 10, 9, 8, 7]))
    fig = plot_map(small, project_table(small), None, color="none", n_labels=12)
    assert len(fig.axes[0].texts) == 12
