"""Rating-prediction metrics: small pure functions picked by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    if t.size == 0:
        raise ValueError("cannot score an empty set of ratings")
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


def evaluate(model: object, test: object, metrics: tuple[str, ...] = ("rmse", "mae")) -> dict[str, float]:
    """Score a fitted model's predictions on test Interactions (which must share its id maps)."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    pred = model.predict(test.users, test.items, raw=False)  # type: ignore[attr-defined]
    return {m: METRICS[m](test.ratings, pred) for m in metrics}
