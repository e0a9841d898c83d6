"""The approximate index against exact search: recall, padding, zero vectors, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from embedrec import DataError
from embedrec.query.ann import AnnIndex, exact_search, recall_at_k


@pytest.fixture(scope="module")
def vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    scale = (1 / np.sqrt(np.arange(1, 33))).astype(np.float32)  # a decaying spectrum, as trained factors have
    return rng.standard_normal((8_000, 32), dtype=np.float32) * scale, rng.standard_normal(
        (200, 32), dtype=np.float32
    ) * scale


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_recall_at_10_against_exact(vectors: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    x, q = vectors
    index = AnnIndex(x, metric)
    found, scores = index.query(q, 10)
    truth = exact_search(x, q, 10, metric)
    assert recall_at_k(found, truth) >= 0.98
    # scores are the exact metric of the returned rows, best first
    ref = (
        q @ x.T
        if metric == "ip"
        else (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
    )
    np.testing.assert_allclose(scores, np.take_along_axis(ref, found, axis=1), rtol=1e-4, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_exact_search_is_the_dense_argsort(vectors: tuple[np.ndarray, np.ndarray]) -> None:
    x, q = vectors
    np.testing.assert_array_equal(
        exact_search(x[:500], q[:5], 4), np.argsort(-(q[:5] @ x[:500].T), axis=1)[:, :4]
    )


def test_small_index_pads_and_zero_vectors_are_safe() -> None:
    x = np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float32)
    idx, scores = AnnIndex(x, "cosine").query(np.array([1, 0.1], np.float32), 5)
    assert idx.shape == (1, 5) and list(idx[0, 3:]) == [-1, -1] and np.all(np.isneginf(scores[0, 3:]))
    assert idx[0, 0] == 0 and np.all(np.isfinite(scores[0, :3]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: AnnIndex(np.ones((3, 2), np.float32), "manhattan"),
        lambda: AnnIndex(np.ones((0, 2), np.float32)),
        lambda: AnnIndex(np.ones(3, np.float32)),
        lambda: AnnIndex(np.ones((3, 2), np.float32), m=0),
        lambda: AnnIndex(np.ones((3, 2), np.float32)).query(np.ones(2, np.float32), 0),
    ],
)
def test_bad_arguments(make) -> None:  # noqa: ANN001
    with pytest.raises(DataError):
        make()
