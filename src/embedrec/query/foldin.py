"""A new user without retraining: fold a few ratings (or liked items) into the user space of a fitted model.

The item side stays fixed; only the new user's vector and bias are solved for — in closed form for
factor models (regularised least squares in the link's raw units), by the model's own hook otherwise
(NeuralCF takes a few gradient steps). `RecommendMixin` inherits these methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from embedrec.checks import check_n
from embedrec.errors import DataError
from embedrec.scoring import dot_rows, one_blas_thread, top_n


class FoldInMixin:
    """Fold-in queries; expects RecommendMixin's id helpers and a fitted model's state on `self`."""

    # -- a new user without retraining --------------------------------------------------------
    def fold_in(
        self, ratings: Mapping[Any, float] | Iterable[tuple[Any, float]], *, reg: float = 1.0
    ) -> tuple[np.ndarray, float]:
        """(user vector, user bias) for a new user's (item or title, rating) pairs, item factors held fixed.

        Regularised least squares in the link's raw units, shrunk towards the average trained user:
        minimise Σ (link⁻¹(r) − g − b_i − q_i·p − b)² + reg · σ² Σ_j (w_j − μ_j)² / var_j over w = (p, b).
        """
        idx, values = self._parse_ratings(ratings)
        return self._solve_fold_in(idx, values, reg)

    def _parse_ratings(self, ratings: Any) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        pairs = list(ratings.items()) if isinstance(ratings, Mapping) else list(ratings)
        if not pairs:
            raise DataError(
                "no ratings given: a new user needs at least one (item, rating) pair", field="ratings"
            )
        by_item: dict[int, float] = {}
        low, high = self.scale_.low, self.scale_.high
        for pair in pairs:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise DataError(f"expected (item, rating) pairs, got {pair!r}", field="ratings")
            item, rating = pair
            try:
                value = float(rating)
            except (TypeError, ValueError):
                raise DataError(f"rating {rating!r} for {item!r} is not a number", field="rating") from None
            if not np.isfinite(value) or not low - 1e-6 <= value <= high + 1e-6:
                raise DataError(
                    f"rating {rating!r} for {item!r} is outside the scale {low:g}..{high:g}", field="rating"
                )
            by_item[self._item_index(item)] = value
        return np.fromiter(by_item, np.int64), np.fromiter(by_item.values(), np.float64)

    def _fold_in_prior(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Prior mean and variance of (user factors, user bias) over trained users, and residual variance."""
        hit = getattr(self, "_prior_cache", None)
        if hit is not None and hit[0] is self.user_factors_:
            return hit[1]
        w = np.hstack([self.user_factors_, self.user_bias_[:, None]]).astype(np.float64)  # (n_users, k+1)
        mean, var = w.mean(axis=0), np.maximum(w.var(axis=0), 1e-6)
        seen = self.seen_.tocoo()
        rows = np.random.default_rng(0).choice(seen.nnz, size=min(seen.nnz, 20_000), replace=False)
        u, i = seen.row[rows].astype(np.int64), seen.col[rows].astype(np.int64)
        resid = self.inverse_link(seen.data[rows]) - self.raw_scores(u, i)
        sigma2 = float(max(np.mean(np.square(resid, dtype=np.float64)), 1e-3))
        self._prior_cache = (self.user_factors_, (mean, var, sigma2))
        return mean, var, sigma2

    def _solve_fold_in(self, idx: np.ndarray, values: np.ndarray, reg: float) -> tuple[np.ndarray, float]:
        if not hasattr(self, "item_factors_"):
            raise TypeError(f"{type(self).__name__} has no item factors to fold a new user into")
        mean, var, sigma2 = self._fold_in_prior()
        x = np.hstack([self.item_factors_[idx], np.ones((len(idx), 1))]).astype(np.float64)  # (m, k+1)
        target = self.inverse_link(values.astype(np.float32)).astype(np.float64)
        y = target - self.global_bias_ - self.item_bias_[idx]
        lam = reg * sigma2 / var
        with one_blas_thread():
            w = np.linalg.solve(x.T @ x + np.diag(lam), x.T @ y + lam * mean)
        return w[:-1].astype(np.float32), float(w[-1])

    def recommend_for_ratings(
        self,
        ratings: Mapping[Any, float] | Iterable[tuple[Any, float]],
        n: int = 10,
        *,
        items: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        reg: float = 1.0,
        popularity: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` (raw item ids, predicted ratings) for a new user given a few (item or title, rating) pairs.

        `popularity` weighs a log-popularity prior into the ranking, as in `recommend`.
        """
        n = check_n(n)
        idx, values = self._parse_ratings(ratings)
        vector, bias = self._solve_fold_in(idx, values, reg)
        raw = self._vector_scores(vector, bias)  # (n_items,)
        banned = np.concatenate([idx, self._item_indices(exclude)])
        return self._top_of_vector(raw.astype(np.float32), n, banned, items, popularity)

    def recommend_from_items(
        self,
        items: Iterable[Any],
        n: int = 10,
        *,
        exclude: Iterable[Any] | None = None,
        confidence: float = 40.0,
        reg: float = 0.1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` (raw item ids, preference scores) for a new user who liked these items, no ratings given.

        Implicit fold-in as in implicit-feedback ALS: every item is a 0/1 preference, the liked ones with
        weight 1 + `confidence`, and p = (QᵀQ + confidence·Q_lᵀQ_l + reg·I)⁻¹ (1 + confidence) Σ_l q_l.
        Scores are q_i·p, the predicted preference (about 1 for items like the liked ones).
        """
        n = check_n(n)
        liked = np.unique(self._item_indices(items))
        if liked.size == 0:
            raise DataError("no items given: name at least one liked item", field="items")
        banned = np.concatenate([liked, self._item_indices(exclude)])
        if not self._is_linear():  # a non-linear scorer: explicit fold-in, each liked item rated top
            top = np.full(len(liked), self.scale_.high, dtype=np.float64)
            vector, bias = self._solve_fold_in(liked, top, 1.0)
            return self._top_of_vector(self._vector_scores(vector, bias), n, banned, None, 0.0)
        if not np.isfinite(confidence) or confidence <= 0 or not np.isfinite(reg) or reg <= 0:
            raise DataError(
                f"confidence and reg must be > 0, got {confidence!r} and {reg!r}", field="confidence"
            )
        gram = self._gram()
        ql = self.item_factors_[liked].astype(np.float64)  # (m, k)
        a = gram + confidence * (ql.T @ ql) + reg * np.eye(gram.shape[0])
        with one_blas_thread():
            p = np.linalg.solve(a, (1 + confidence) * ql.sum(axis=0))
        raw = dot_rows(p[None, :], self.item_factors_)[0]
        top, vals = top_n(self._banned(raw, banned, None)[None, :], n)
        keep = np.isfinite(vals[0])
        return self.item_ids_.raw_ids[top[0][keep]], vals[0][keep]

    def _gram(self) -> np.ndarray:
        """QᵀQ of the item factors (float64), cached until they are replaced."""
        hit = getattr(self, "_gram_cache", None)
        if hit is None or hit[0] is not self.item_factors_:
            q = self.item_factors_.astype(np.float64)
            hit = (self.item_factors_, q.T @ q)
            self._gram_cache = hit
        return hit[1]

    def _banned(self, raw: np.ndarray, banned: np.ndarray, items: Any) -> np.ndarray:
        """A copy of one score row with banned items, and items outside `items` when given, at -inf."""
        raw = raw.copy()
        if items is not None:
            allowed = np.zeros(self.n_items, dtype=bool)
            allowed[self._item_indices(items)] = True
            raw[~allowed] = -np.inf
        raw[banned] = -np.inf
        return raw

    def _top_of_vector(
        self, raw: np.ndarray, n: int, banned: np.ndarray, items: Any, popularity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(popularity, bool) or not np.isfinite(popularity) or popularity < 0:
            raise DataError(f"popularity must be a number >= 0, got {popularity!r}", field="popularity")
        prior = np.zeros(1, np.float32)
        if popularity > 0:
            counts = np.bincount(self.seen_.indices, minlength=self.n_items)
            prior = (popularity * np.log1p(counts)).astype(np.float32)
        top, vals = top_n(self._banned(raw + prior, banned, items)[None, :], n)
        vals = np.where(np.isfinite(vals), raw[top], vals)  # the model's own raw scores
        return self._finish(top, vals, single=True)
