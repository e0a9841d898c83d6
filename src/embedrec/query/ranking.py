"""Ranking evaluation: precision, recall, NDCG, MAP, hit rate, coverage and popularity of the top-k.

Protocol: for each test user, the relevant items are their held-out items rated ≥ `threshold`; the
candidates are the items with at least one training rating, minus the user's own training items; users
without a relevant item are skipped. Metrics are small pure functions of a (users, k) hit matrix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embedrec.checks import check_n, pick
from embedrec.data.interactions import Interactions
from embedrec.errors import DataError, ParameterError
from embedrec.metrics import RANKING_METRICS
from embedrec.models.base import Estimator
from embedrec.models.baselines import GenreProfile, MostPopular
from embedrec.query.recommender import Recommender


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
    if train.user_ids != test.user_ids or train.item_ids != test.item_ids:
        raise ParameterError("train and test must share id maps (make both with one split of one dataset)")
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


def ranked_lists(
    model: Recommender | Estimator,
    train: Interactions,
    test: Interactions,
    k: int = 10,
    threshold: float = 4.0,
    *,
    popularity: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """(evaluated user indices, their top-k item indices (-1 where fewer), the relevant matrix) under the
    module's protocol: the lists every ranking metric here is computed from."""
    k = check_n(k, "k")
    rec = model if isinstance(model, Recommender) else Recommender(model)
    rel = relevant_matrix(train, test, threshold)
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    if users.size == 0:
        raise DataError(
            f"no test user has an item rated ≥ {threshold:g} to evaluate against", field="threshold"
        )
    cand = np.flatnonzero(np.bincount(train.items, minlength=train.n_items) > 0)
    ids, scores = rec.recommend(
        train.user_ids.raw_ids[users],
        n=k,
        exclude_seen=True,
        items=train.item_ids.raw_ids[cand],
        popularity=popularity,
    )
    ranked = np.full(ids.shape, -1, dtype=np.int64)  # -1: fewer than k candidates were left
    filled = np.isfinite(scores)
    ranked[filled] = train.item_ids.indices(ids[filled])
    return users, ranked, rel


def report_from_lists(
    users: np.ndarray, ranked: np.ndarray, rel: Any, train: Interactions, threshold: float = 4.0
) -> RankingReport:
    """The metrics of top-k lists `ranked` (users × k item indices) against `rel`, with coverage and
    popularity over `train`'s items (the candidate catalogue)."""
    hits = hit_matrix(ranked, rel, users)
    n_rel = np.diff(rel.indptr)[users]
    values = {name: float(fn(hits, n_rel).mean()) for name, fn in RANKING_METRICS.items()}
    counts = np.bincount(train.items, minlength=train.n_items)
    shown = ranked[ranked >= 0]
    return RankingReport(
        k=int(ranked.shape[1]),
        threshold=float(threshold),
        n_users=int(users.size),
        coverage=float(np.unique(shown).size / max(int((counts > 0).sum()), 1)),
        popularity=float(counts[shown].mean() / max(train.n_users, 1)) if shown.size else 0.0,
        **values,
    )


def ranking_report(
    model: Recommender | Estimator,
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
    users, ranked, rel = ranked_lists(model, train, test, k, threshold, popularity=popularity)
    return report_from_lists(users, ranked, rel, train, threshold)


def metric_curve(users: np.ndarray, ranked: np.ndarray, rel: Any, metric: str = "ndcg") -> np.ndarray:
    """A metric at every cut-off k = 1 … ranked.shape[1] (one list per user, computed once)."""
    fn = pick(RANKING_METRICS, metric, "ranking metric")
    hits = hit_matrix(ranked, rel, users)
    n_rel = np.diff(rel.indptr)[users]
    return np.array([float(fn(hits[:, :k], n_rel).mean()) for k in range(1, hits.shape[1] + 1)])


def report_frame(reports: dict[str, RankingReport]) -> pd.DataFrame:
    """One row per named model, one column per metric (k, threshold and user count go in the caption)."""
    cols = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage", "popularity"]
    return pd.DataFrame({name: r.as_dict() for name, r in reports.items()}).T[cols].astype(float)


def ranking_comparison(
    model: Estimator, train: Interactions, test: Interactions, k: int = 10, threshold: float = 4.0
) -> dict[str, RankingReport]:
    """The model alone, with the log-popularity prior, and the baselines it must beat, on one protocol."""
    name = type(model).__name__
    reports = {name: ranking_report(model, train, test, k, threshold, popularity=0.0)}
    if model.objective == "rating":
        reports[f"{name}+pop"] = ranking_report(model, train, test, k, threshold, popularity=1.0)
    reports["MostPopular"] = ranking_report(MostPopular(threshold).fit(train), train, test, k, threshold)
    if train.item_meta is not None and "genres" in train.item_meta.columns:
        reports["GenreProfile"] = ranking_report(GenreProfile().fit(train), train, test, k, threshold)
    return reports


# -- a new user from a few liked items ---------------------------------------------------------------------
def new_user_report(
    model: Estimator,
    data: Interactions,
    *,
    n_given: int = 3,
    folds: int = 5,
    k: int = 10,
    threshold: float = 4.0,
    seed: int = 0,
) -> RankingReport:
    """How well `model` (unfitted; refitted per fold) ranks for users it never saw, from `n_given` items.

    Users with more than `n_given` liked items (rated ≥ `threshold`) are split into `folds` seeded groups;
    for each group the model is trained on every other user's interactions, then each held-out user is
    folded in from `n_given` of their liked items chosen at random (`fold_in(items)`, no ratings) and
    ranked over the trained catalogue minus those items; relevant = the rest of their liked items.
    """
    k, n_given, folds = check_n(k, "k"), check_n(n_given, "n_given"), check_n(folds, "folds")
    liked = (
        sp.csr_matrix(
            (np.ones(len(data), np.float32), (data.users, data.items)), shape=(data.n_users, data.n_items)
        )
        .multiply(data.csr >= threshold)
        .tocsr()
    )
    eligible = np.flatnonzero(np.diff(liked.indptr) > n_given)
    if eligible.size < folds:
        raise DataError(
            f"only {eligible.size} users liked more than {n_given} items (rated ≥ {threshold:g}): "
            f"too few to hold out in {folds} folds",
            field="threshold",
        )
    rng = np.random.default_rng(seed)
    group = np.full(data.n_users, -1)
    group[eligible] = rng.permutation(eligible.size) % folds
    all_users, all_ranked, rel_rows = [], [], []
    for f in range(folds):
        held = np.flatnonzero(group == f)
        train = data.subset(group[data.users] != f)
        fitted = type(model)(**model.get_params(deep=False)).fit(train)
        counts = np.bincount(train.items, minlength=train.n_items)
        for u in held:
            items = liked.indices[liked.indptr[u] : liked.indptr[u + 1]]
            given = rng.choice(items, size=n_given, replace=False)
            scores = fitted.score_folded(fitted.fold_in(np.sort(given))).astype(np.float64)
            scores[counts == 0] = -np.inf
            scores[given] = -np.inf
            top = np.argsort(-scores, kind="stable")[:k]
            all_ranked.append(np.where(np.isfinite(scores[top]), top, -1))
            rel_rows.append(np.setdiff1d(items, given))
            all_users.append(u)
    users = np.arange(len(all_users))
    rel = sp.csr_matrix(
        (
            np.ones(sum(map(len, rel_rows)), np.float32),
            (np.repeat(users, [len(r) for r in rel_rows]), np.concatenate(rel_rows)),
        ),
        shape=(len(users), data.n_items),
    )
    return report_from_lists(users, np.array(all_ranked), rel, data, threshold)
