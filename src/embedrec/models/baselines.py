"""Baselines for honest comparison: the global mean, user + item biases, popularity, and genre tastes."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from embedrec.checks import check_non_negative, check_positive
from embedrec.data.catalogue import parse_genres
from embedrec.data.interactions import Interactions
from embedrec.errors import DataError
from embedrec.models.base import Estimator, FoldedUser, Term
from embedrec.models.factor import FactorModel
from embedrec.models.saved import SavedState


class GlobalMean(Estimator):
    """r̂ = μ, the mean training rating: the floor every model must clear. It predicts; it cannot rank."""

    capabilities = frozenset({"predict"})

    def __init__(self) -> None:
        pass

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.global_mean_ = float(np.mean(train.ratings, dtype=np.float64))

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.global_mean_, dtype=np.float32)

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "global_mean": self.global_mean_}

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.global_mean_ = float(state["global_mean"])
        super()._load_state(arrays, state)

    def _check_saved(self, saved: SavedState) -> None:
        saved.number("global_mean")
        super()._check_saved(saved)

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        return {}


class BiasBaseline(FactorModel):
    """r̂ = μ + b_u + b_i, clipped to the rating scale; biases by alternating ridge solutions.

    Minimises Σ (r - μ - b_u - b_i)² + reg_user·Σ b_u² + reg_item·Σ b_i² in closed form per sweep
    (Surprise's baseline). A factor model with zero factors: it ranks items by b_i for every user and
    has no vectors to compare, so it cannot answer `similar`.
    """

    capabilities = frozenset({"predict", "recommend", "fold_in", "explain"})

    def __init__(self, *, reg_user: float = 15.0, reg_item: float = 10.0, n_sweeps: int = 10) -> None:
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_sweeps = n_sweeps

    def _validate(self) -> None:
        check_non_negative("reg_user", self.reg_user)
        check_non_negative("reg_item", self.reg_item)
        check_positive("n_sweeps", self.n_sweeps, integer=True)

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        """Alternate the item-bias and user-bias ridge solutions `n_sweeps` times."""
        u, i = train.users, train.items
        r = train.ratings.astype(np.float64)
        mu = float(r.mean())
        n_u = np.bincount(u, minlength=train.n_users)
        n_i = np.bincount(i, minlength=train.n_items)
        bu, bi = np.zeros(train.n_users), np.zeros(train.n_items)
        for _ in range(self.n_sweeps):
            bi = np.bincount(i, r - mu - bu[u], minlength=train.n_items) / (self.reg_item + n_i)
            bu = np.bincount(u, r - mu - bi[i], minlength=train.n_users) / (self.reg_user + n_u)
        self.global_bias_ = mu
        self.user_bias_, self.item_bias_ = bu.astype(np.float32), bi.astype(np.float32)
        self.user_factors_ = np.zeros((train.n_users, 0), dtype=np.float32)
        self.item_factors_ = np.zeros((train.n_items, 0), dtype=np.float32)

    def link(self, raw: np.ndarray) -> np.ndarray:
        """Score -> rating: clipped to the scale (non-decreasing, so rankings are unchanged)."""
        return np.clip(np.asarray(raw, dtype=np.float32), self.scale_.low, self.scale_.high)


def _tiebreak(counts: np.ndarray) -> np.ndarray:
    """Distinct values in [0, 1): larger for more rated items, then for lower indices (a fixed order)."""
    order = np.lexsort((-np.arange(len(counts)), counts))  # ascending: least rated, highest index first
    out = np.empty(len(counts))
    out[order] = np.arange(len(counts)) / max(len(counts), 1)
    return out


class MostPopular(Estimator):
    """Recommends the items most users liked (rated ≥ `threshold`; every interaction with None), the same
    list for everyone. It ranks but predicts no ratings and has no vectors."""

    capabilities = frozenset({"recommend", "fold_in", "explain"})
    objective = "ranking"

    def __init__(self, threshold: float | None = 4.0) -> None:
        self.threshold = threshold

    def _validate(self) -> None:
        if self.threshold is not None:
            check_non_negative("threshold", self.threshold)

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        liked = train.items if self.threshold is None else train.items[train.ratings >= self.threshold]
        likes = np.bincount(liked, minlength=train.n_items)
        # ties between items with as many likes go to the more rated, then to the lower index
        tiebreak = _tiebreak(np.bincount(train.items, minlength=train.n_items))
        self.popularity_ = (likes + tiebreak).astype(np.float32)

    def _score_items(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), len(self.popularity_))).copy()

    def _score_folded(self, user: FoldedUser) -> np.ndarray:
        return self.popularity_.copy()

    def _explain(self, user: int | FoldedUser, item: int) -> list[Term]:
        return [Term("popularity", float(self.popularity_[item]))]

    _array_names = ("popularity_",)

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        return {"popularity_": (np.float32, (saved.n_items,))}


class GenreProfile(Estimator):
    """The "categories" recommender: a user's mean rating per genre, averaged over a movie's genres.

    Genre means are shrunk towards the user's mean (`shrinkage` pseudo-ratings); item popularity only
    breaks ties between movies with the same genres. Needs item metadata with a 'genres' column.
    """

    capabilities = frozenset({"predict", "recommend", "fold_in"})
    _array_names = ("item_genres_", "profile_", "user_mean_", "tiebreak_")

    def __init__(self, shrinkage: float = 2.0) -> None:
        self.shrinkage = shrinkage

    def _validate(self) -> None:
        check_non_negative("shrinkage", self.shrinkage)

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        meta = train.item_meta
        if meta is None or "genres" not in meta.columns:
            raise DataError("GenreProfile needs item metadata with a 'genres' column", field="genres")
        lists = [parse_genres(g) for g in meta["genres"]]
        vocab = sorted({g for row in lists for g in row})
        column = {g: j for j, g in enumerate(vocab)}
        g = np.zeros((train.n_items, len(vocab)), np.float32)  # (n_items, n_genres)
        for i, row in enumerate(lists):
            g[i, [column[x] for x in row]] = 1.0
        self.genres_ = vocab
        self.item_genres_ = g / np.maximum(g.sum(axis=1, keepdims=True), 1)  # each movie averages its genres
        self.profile_, self.user_mean_ = self._profiles(train.csr)
        counts = np.bincount(train.items, minlength=train.n_items)
        self.tiebreak_ = (0.01 * _tiebreak(counts)).astype(np.float32)

    def _profiles(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """(users × genres shrunk mean ratings, users' mean ratings) of a users × items rating matrix."""
        g = (self.item_genres_ > 0).astype(np.float32)
        user_mean = np.asarray(x.sum(axis=1)).ravel() / np.maximum(np.diff(x.indptr), 1)
        sums, counts = np.asarray(x @ g), np.asarray((x != 0).astype(np.float32) @ g)  # (n_users, n_genres)
        shrunk = sums + self.shrinkage * user_mean[:, None]
        denom = counts + self.shrinkage
        fallback = np.repeat(user_mean[:, None], g.shape[1], axis=1)  # a genre the user never rated
        profile = np.divide(shrunk, denom, out=fallback, where=denom > 0).astype(np.float32)
        return profile, user_mean.astype(np.float32)

    def _scores(self, profile: np.ndarray, user_mean: np.ndarray) -> np.ndarray:
        scores = profile @ self.item_genres_.T  # (b, n_items)
        no_genre = self.item_genres_.sum(axis=1) == 0
        scores[:, no_genre] = user_mean[:, None]
        return scores + self.tiebreak_

    def _score_items(self, users: np.ndarray) -> np.ndarray:
        return self._scores(self.profile_[users], self.user_mean_[users])

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        scores = np.einsum("ij,ij->i", self.profile_[users], self.item_genres_[items])
        no_genre = self.item_genres_[items].sum(axis=1) == 0
        return np.where(no_genre, self.user_mean_[users], scores).astype(np.float32)

    def _score_folded(self, user: FoldedUser) -> np.ndarray:
        values = np.full(len(user.items), self.scale_.high) if user.values is None else user.values
        x = sp.csr_matrix(
            (values, (np.zeros(len(user.items), np.int64), user.items)), shape=(1, self.n_items)
        )
        profile, user_mean = self._profiles(x)
        return self._scores(profile, user_mean)[0]

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "genres": self.genres_}

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.genres_ = list(state["genres"])
        super()._load_state(arrays, state)

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        genres = saved.value("genres", list)
        if not all(isinstance(g, str) for g in genres):
            saved.fail("state.genres", "expected a list of genre names")
        users, items, n = saved.n_users, saved.n_items, len(genres)
        return {
            "item_genres_": (np.float32, (items, n)),
            "profile_": (np.float32, (users, n)),
            "user_mean_": (np.float32, (users,)),
            "tiebreak_": (np.float32, (items,)),
        }
