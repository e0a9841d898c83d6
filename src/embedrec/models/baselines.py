"""Baselines for honest comparison: the global mean, and regularised user + item biases."""

from __future__ import annotations

import numpy as np

from embedrec.data.interactions import Interactions
from embedrec.models.base import FactorModel, Recommender


def _check_reg(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


class GlobalMean(Recommender):
    """r̂ = μ, the mean training rating: the floor every model must clear."""

    def __init__(self) -> None:
        pass

    def fit(self, train: Interactions, valid: Interactions | None = None) -> GlobalMean:
        """Remember the mean rating (valid is accepted for a uniform API and ignored)."""
        self._check_train(train, valid)
        self._set_data_state(train)
        self.global_mean_ = float(np.mean(train.ratings, dtype=np.float64))
        return self

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.global_mean_, dtype=np.float32)

    def _extra_state(self) -> dict:
        return {"global_mean": self.global_mean_}

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict) -> None:
        self.global_mean_ = float(extra["global_mean"])


class BiasBaseline(FactorModel):
    """r̂ = μ + b_u + b_i, clipped to the rating scale; biases by alternating ridge solutions.

    Minimises Σ (r - μ - b_u - b_i)² + reg_user·Σ b_u² + reg_item·Σ b_i² in closed form per sweep
    (Surprise's baseline). A factor model with zero factors, so it ranks items by b_i for every user.
    """

    def __init__(self, *, reg_user: float = 15.0, reg_item: float = 10.0, n_sweeps: int = 10) -> None:
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_sweeps = n_sweeps
        _check_reg("reg_user", reg_user)
        _check_reg("reg_item", reg_item)
        if isinstance(n_sweeps, bool) or not isinstance(n_sweeps, int) or n_sweeps < 1:
            raise ValueError(f"n_sweeps must be a positive integer, got {n_sweeps!r}")

    def fit(self, train: Interactions, valid: Interactions | None = None) -> BiasBaseline:
        """Alternate the item-bias and user-bias ridge solutions `n_sweeps` times."""
        self._check_train(train, valid)
        u, i = train.users, train.items
        r = train.ratings.astype(np.float64)
        mu = float(r.mean())
        n_u = np.bincount(u, minlength=train.n_users)
        n_i = np.bincount(i, minlength=train.n_items)
        bu, bi = np.zeros(train.n_users), np.zeros(train.n_items)
        for _ in range(self.n_sweeps):
            bi = np.bincount(i, r - mu - bu[u], minlength=train.n_items) / (self.reg_item + n_i)
            bu = np.bincount(u, r - mu - bi[i], minlength=train.n_users) / (self.reg_user + n_u)
        self._set_data_state(train)
        self.global_bias_ = mu
        self.user_bias_, self.item_bias_ = bu.astype(np.float32), bi.astype(np.float32)
        self.user_factors_ = np.zeros((train.n_users, 0), dtype=np.float32)
        self.item_factors_ = np.zeros((train.n_items, 0), dtype=np.float32)
        return self

    def link(self, raw: np.ndarray) -> np.ndarray:
        """Raw score -> rating: clipped to the scale (non-decreasing, so rankings are unchanged)."""
        self._check_fitted()
        return np.clip(np.asarray(raw, dtype=np.float32), self.scale_.low, self.scale_.high)
