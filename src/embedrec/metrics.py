"""Metrics as small pure functions picked by name: rating error, and top-k ranking quality."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from embedrec.errors import ParameterError


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ParameterError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    if t.size == 0:
        raise ParameterError("cannot score an empty set of ratings")
    return t, p


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error: sqrt(mean((y - ŷ)²))."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error: mean(|y - ŷ|)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"rmse": rmse, "mae": mae}


# -- ranking metrics: (hits (users, k) bool, n_relevant (users,)) -> per-user values ---------------------
def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def precision_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Share of the k recommendations that are relevant."""
    return hits.sum(axis=1) / hits.shape[1]


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Share of the user's relevant items found in the top k."""
    return hits.sum(axis=1) / np.maximum(n_relevant, 1)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """DCG of the binary hits (gain 1/log2(rank + 1)) over the best DCG the user's relevant items allow."""
    disc = _discounts(hits.shape[1])
    ideal = np.cumsum(disc)[np.clip(n_relevant, 1, hits.shape[1]) - 1]
    return (hits * disc).sum(axis=1) / ideal


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Average precision at the ranks of the hits, over min(k, relevant items)."""
    ranks = np.arange(1, hits.shape[1] + 1)
    precision = np.cumsum(hits, axis=1) / ranks
    return (precision * hits).sum(axis=1) / np.clip(n_relevant, 1, hits.shape[1])


def hit_rate_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """1 where at least one relevant item made the top k."""
    return hits.any(axis=1).astype(float)


RANKING_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "hit_rate": hit_rate_at_k,
}
