"""Ranking evaluation (precision, recall, NDCG, MAP, hit rate, coverage, popularity) and baselines to beat.

Protocol: for each test user, the relevant items are their held-out items rated ≥ `threshold`; the
candidates are the items with at least one training rating, minus the user's own training items; users
without a relevant item are skipped. Metrics are small pure functions of a (users, k) hit matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from embedrec.checks import check_n, pick
from embedrec.data.interactions import Interactions
from embedrec.errors import DataError, NotFittedError
from embedrec.query.recommend import RecommendMixin


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


# -- metrics: (hits (users, k) bool, n_relevant (users,)) -> per-user values -------------------------
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


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "hit_rate": hit_rate_at_k,
}


def hit_matrix(ranked: np.ndarray, relevant: Any, users: np.ndarray) -> np.ndarray:
    """hits[r, j] = ranked[r, j] is relevant for user `users[r]` (relevant: users × items sparse matrix)."""
    n_items = relevant.shape[1]
    rel = relevant.tocoo()
    keys = np.sort(rel.row.astype(np.int64) * n_items + rel.col)
    probe = users.astype(np.int64)[:, None] * n_items + np.maximum(ranked, 0)  # (users, k)
    pos = np.clip(np.searchsorted(keys, probe), 0, max(len(keys) - 1, 0))
    return (len(keys) > 0) & (keys[pos] == probe) & (ranked >= 0)


@dataclass
class RankingReport:
    """Mean ranking metrics over the evaluated users, with coverage and popularity of what was recommended."""

    k: int
    threshold: float
    n_users: int
    precision: float
    recall: float
    ndcg: float
    map: float
    hit_rate: float
    coverage: float  # share of the candidate catalogue recommended to anyone
    popularity: float  # mean share of training users who rated a recommended item

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def relevant_matrix(train: Interactions, test: Interactions, threshold: float) -> Any:
    """users × items (0/1 CSR) of test items rated ≥ threshold, minus training pairs and untrained items."""
    import scipy.sparse as sp

    if train.user_ids != test.user_ids or train.item_ids != test.item_ids:
        raise DataError("train and test must share id maps (make both with one split of one dataset)")
    trained = np.zeros(train.n_items, dtype=bool)
    trained[train.items] = True
    keep = (test.ratings >= threshold) & trained[test.items]
    rel = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (test.users[keep], test.items[keep])),
        shape=(test.n_users, test.n_items),
    )
    rel = rel - rel.multiply(train.csr != 0)
    rel.eliminate_zeros()
    return rel.tocsr()


def ranking_report(
    model: RecommendMixin,
    train: Interactions,
    test: Interactions,
    k: int = 10,
    threshold: float = 4.0,
    *,
    popularity: float = 0.0,
) -> RankingReport:
    """Evaluate `model.recommend` on held-out liked items (see the module docstring for the protocol).

    `popularity` is handed to `recommend`: the weight of its log-popularity prior (0 = the model alone).
    """
    k = check_n(k)
    rel = relevant_matrix(train, test, threshold)
    n_rel = np.diff(rel.indptr)
    users = np.flatnonzero(n_rel > 0)
    if users.size == 0:
        raise DataError(
            f"no test user has an item rated ≥ {threshold:g} to evaluate against", field="threshold"
        )
    counts = np.bincount(train.items, minlength=train.n_items)
    cand = np.flatnonzero(counts > 0)
    ids, scores = model.recommend(
        train.user_ids.raw_ids[users],
        n=k,
        exclude_seen=True,
        items=train.item_ids.raw_ids[cand],
        popularity=popularity,
    )
    ranked = np.full(ids.shape, -1, dtype=np.int64)  # -1: fewer than k candidates were left
    filled = np.isfinite(scores)
    ranked[filled] = train.item_ids.indices(ids[filled])
    hits = hit_matrix(ranked, rel, users)
    values = {name: float(fn(hits, n_rel[users]).mean()) for name, fn in METRICS.items()}
    shown = ranked[ranked >= 0]
    return RankingReport(
        k=k,
        threshold=float(threshold),
        n_users=int(users.size),
        coverage=float(np.unique(shown).size / max(cand.size, 1)),
        popularity=float(counts[shown].mean() / max(train.n_users, 1)) if shown.size else 0.0,
        **values,
    )


def metric(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A ranking metric by name ("precision", "recall", "ndcg", "map", "hit_rate")."""
    return pick(METRICS, name, "ranking metric")


def _tiebreak(counts: np.ndarray) -> np.ndarray:
    """Distinct values in [0, 1): larger for more rated items, then for lower indices (a fixed order)."""
    order = np.lexsort((-np.arange(len(counts)), counts))  # ascending: least rated, highest index first
    out = np.empty(len(counts))
    out[order] = np.arange(len(counts)) / max(len(counts), 1)
    return out


# -- baselines with the same recommend() contract --------------------------------------------------------
class _Baseline(RecommendMixin):
    """Shared state of the non-factor rankers: id maps, seen matrix and metadata from `fit`."""

    def _set_state(self, train: Interactions) -> None:
        if not isinstance(train, Interactions) or len(train) == 0:
            raise DataError(f"{type(self).__name__}.fit needs non-empty Interactions")
        self.user_ids_, self.item_ids_ = train.user_ids, train.item_ids
        self.scale_, self.item_meta_, self.user_meta_ = train.scale, train.item_meta, train.user_meta
        self.seen_ = train.csr

    def _check_fitted(self) -> None:
        if not hasattr(self, "seen_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(train)")

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.item_ids_)

    def link(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, dtype=np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MostPopular(_Baseline):
    """Recommends the items most users liked (rated ≥ `threshold`; all ratings with threshold=None)."""

    def __init__(self, threshold: float | None = 4.0) -> None:
        self.threshold = threshold

    def fit(self, train: Interactions) -> MostPopular:
        self._set_state(train)
        liked = train.items if self.threshold is None else train.items[train.ratings >= self.threshold]
        likes = np.bincount(liked, minlength=train.n_items)
        # ties between items with as many likes go to the more rated, then to the lower index
        self.popularity_ = (likes + _tiebreak(np.bincount(train.items, minlength=train.n_items))).astype(
            np.float32
        )
        return self

    def score_items(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.popularity_, (len(np.atleast_1d(user_idx)), self.n_items)).copy()


class GenreProfile(_Baseline):
    """The "categories" recommender: a user's mean rating per genre, averaged over an unseen movie's genres.

    Genre means are shrunk towards the user's mean (`shrinkage` pseudo-ratings); item popularity only
    breaks ties between movies with the same genres.
    """

    def __init__(self, shrinkage: float = 2.0) -> None:
        self.shrinkage = shrinkage

    def fit(self, train: Interactions) -> GenreProfile:
        self._set_state(train)
        meta = train.item_meta
        if meta is None or "genres" not in meta.columns:
            raise DataError("GenreProfile needs item metadata with a 'genres' column", field="genres")
        genres = meta["genres"].fillna("").astype(str).str.get_dummies(sep="|")
        genres = genres.drop(
            columns=[c for c in genres.columns if c.lower() in ("", "unknown", "(no genres listed)")]
        )
        g = genres.to_numpy(np.float32)  # (n_items, n_genres)
        self.genres_ = list(genres.columns)
        x = train.csr
        user_mean = np.asarray(x.sum(axis=1)).ravel() / np.maximum(np.diff(x.indptr), 1)
        sums, counts = np.asarray(x @ g), np.asarray((x != 0).astype(np.float32) @ g)  # (n_users, n_genres)
        shrunk = sums + self.shrinkage * user_mean[:, None]
        denom = counts + self.shrinkage
        fallback = np.repeat(user_mean[:, None], g.shape[1], axis=1)  # a genre the user never rated
        self.profile_ = np.divide(shrunk, denom, out=fallback, where=denom > 0).astype(np.float32)
        self.item_genres_ = g / np.maximum(g.sum(axis=1, keepdims=True), 1)  # each movie averages its genres
        self.user_mean_ = user_mean.astype(np.float32)
        self.tiebreak_ = (0.01 * _tiebreak(np.bincount(train.items, minlength=train.n_items))).astype(
            np.float32
        )
        return self

    def score_items(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        u = np.atleast_1d(user_idx)
        scores = self.profile_[u] @ self.item_genres_.T  # (b, n_items)
        no_genre = self.item_genres_.sum(axis=1) == 0
        scores[:, no_genre] = self.user_mean_[u][:, None]
        return scores + self.tiebreak_


def report_frame(reports: dict[str, RankingReport]) -> pd.DataFrame:
    """One row per named model, one column per metric (k, threshold and user count go in the caption)."""
    cols = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage", "popularity"]
    return pd.DataFrame({name: r.as_dict() for name, r in reports.items()}).T[cols].astype(float)


def ranking_comparison(
    model: RecommendMixin, train: Interactions, test: Interactions, k: int = 10, threshold: float = 4.0
) -> dict[str, RankingReport]:
    """The model alone, with the log-popularity prior, and the baselines it must beat, on one protocol."""
    name = type(model).__name__
    reports = {name: ranking_report(model, train, test, k, threshold)}
    if hasattr(model, "item_factors_"):
        reports[f"{name}+pop"] = ranking_report(model, train, test, k, threshold, popularity=1.0)
    reports["MostPopular"] = ranking_report(MostPopular(threshold).fit(train), train, test, k, threshold)
    if train.item_meta is not None and "genres" in train.item_meta.columns:
        reports["GenreProfile"] = ranking_report(GenreProfile().fit(train), train, test, k, threshold)
    return reports
