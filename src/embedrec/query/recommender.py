"""`Recommender`: every query that speaks raw ids or titles, over one fitted estimator and its catalogue.

Estimators score indices and know nothing of titles or display policy; this class turns raw ids and
titles into indices (through the `Catalogue`), asks the model, and turns the answer back into raw ids,
scores in rating units where the model predicts ratings, and explanations. The CLI, the web app and
notebooks all use it, so one request gives one answer everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedrec.checks import check_choice, check_n, check_non_negative, pick
from embedrec.data.catalogue import Catalogue
from embedrec.data.embeddings import EmbeddingTable
from embedrec.errors import DataError, ParameterError
from embedrec.models.base import Estimator, FoldedUser
from embedrec.models.persist import load_model
from embedrec.query.ann import AnnIndex
from embedrec.query.explain import Explanation, Reason, top_reasons
from embedrec.scoring import SIMILARITIES, mask_rows, top_n

CHUNK_ELEMENTS = 1 << 24  # scores computed per block (64 MB of float32): bounds memory for all-user batches
ANN_THRESHOLD = 250_000  # catalogues at least this large are searched with an approximate index
# The log-popularity prior's weight by default: a rating model predicts how much a user likes an item
# *if* they watch it, and the prior adds how likely they are to watch it (NDCG@10 on ML-100K: 0.219 with,
# 0.135 without); a model trained to rank has that in its scores already.
DEFAULT_POPULARITY = {"rating": 1.0, "ranking": 0.0}
MIN_RATINGS = 20  # "more like this" skips items rated less often: their vectors are mostly noise


def default_min_ratings(counts: np.ndarray) -> int:
    """MIN_RATINGS, or the median rated item's count when that is lower (sparse catalogues)."""
    rated = counts[counts > 0]
    return int(min(MIN_RATINGS, np.median(rated))) if rated.size else 0


class Recommender:
    """Queries on one fitted estimator in raw ids and titles: recommend, new users, similar, explain.

    `popularity` is the default weight of the log-popularity prior (None: 1 for rating models, 0 for
    ranking models); `min_ratings` the default floor of "more like this" (None: `default_min_ratings`).
    `ratings` is an optional rating model fitted on the same data: a ranking model then picks the items
    and `stars` gives the rating model's predicted ratings beside them.
    """

    def __init__(
        self,
        model: Estimator,
        catalogue: Catalogue | None = None,
        *,
        popularity: float | None = None,
        min_ratings: int | None = None,
        ratings: Estimator | None = None,
    ) -> None:
        if not isinstance(model, Estimator):
            raise ParameterError(f"Recommender needs a fitted embedrec estimator, got {type(model).__name__}")
        model._check_fitted()
        self.ratings = _rating_model(ratings, model)
        counts = np.bincount(model.seen_.indices, minlength=model.n_items)
        if catalogue is None:
            catalogue = Catalogue(model.item_ids_, model.item_meta_, counts)
        elif catalogue.ids != model.item_ids_:
            raise ParameterError("the catalogue's items are not the model's (build both from one dataset)")
        self.model = model
        self.catalogue = catalogue
        self.counts = counts  # training interactions per item
        self.popularity = DEFAULT_POPULARITY[model.objective] if popularity is None else popularity
        self.min_ratings = default_min_ratings(counts) if min_ratings is None else min_ratings
        check_non_negative("popularity", self.popularity)
        _check_count("min_ratings", self.min_ratings)
        self._ann: dict[str, tuple[Any, AnnIndex]] = {}

    @classmethod
    def load(cls, path: str | Path, *, ratings: str | Path | None = None, **kwargs: Any) -> Recommender:
        """The recommender of a saved model directory (and of a saved rating model beside it)."""
        return cls(load_model(path), ratings=None if ratings is None else load_model(ratings), **kwargs)

    def __repr__(self) -> str:
        return f"<Recommender {self.model!r} over {self.catalogue!r}>"

    # -- ids -----------------------------------------------------------------------------------------
    def _users(self, users: Any) -> tuple[np.ndarray, bool]:
        ids = self.model.user_ids_
        if isinstance(users, str | int | np.integer | float | np.floating | dict | set):
            return np.array([ids.index(users)], dtype=np.int64), True
        found = ids.indices(users)
        if found.ndim != 1:
            raise ParameterError(
                f"users must be one id or a one-dimensional array of ids, got shape {found.shape}"
            )
        return found.astype(np.int64), False

    def _prior(self, popularity: float | None) -> np.ndarray | None:
        weight = self.popularity if popularity is None else check_non_negative("popularity", popularity)
        return (weight * np.log1p(self.counts)).astype(np.float32) if weight > 0 else None

    def _display(self, raw: np.ndarray) -> np.ndarray:
        """Scores as returned: ratings for rating models (the link applied), the raw scores otherwise."""
        if self.model.objective != "rating":
            return raw.astype(np.float32)
        return np.where(np.isfinite(raw), self.model.to_rating(raw), raw).astype(np.float32)

    # -- top-N for known users -------------------------------------------------------------------------
    def recommend(
        self,
        users: Any,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        items: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        popularity: float | None = None,
        exact: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` (raw item ids, scores) per user, best first.

        One raw user id gives 1-D arrays, an array of ids 2-D (padded with score -inf when a user has
        fewer than `n` candidates), computed in blocks so the users × items matrix is never built whole.
        `items` restricts the candidates, `exclude` removes some; scores are predicted ratings for rating
        models. `popularity` weighs the log-popularity prior into the ranking (None: this recommender's
        default). `exact=None` uses an approximate index for catalogues of `ANN_THRESHOLD` items or more.
        """
        self.model.require("recommend")
        n = check_n(n)
        _check_flag("exclude_seen", exclude_seen)
        if exact is not None:
            _check_flag("exact", exact)
        uidx, single = self._users(users)
        cand = None if items is None else np.unique(self.catalogue.indices(items))
        banned = self.catalogue.indices(exclude)
        prior = self._prior(popularity)
        if exact is None:
            linear = getattr(self.model, "linear", False)
            exact = cand is not None or prior is not None or not linear or self.model.n_items < ANN_THRESHOLD
        if exact:
            idx, raw = self._top_exact(uidx, n, exclude_seen, cand, banned, prior)
        else:
            idx, raw = self._top_ann(uidx, n, exclude_seen, banned)
        ids, scores = self.model.item_ids_.raw_ids[idx], self._display(raw)
        if single:
            keep = np.isfinite(scores[0])
            return ids[0][keep], scores[0][keep]
        return ids, scores

    def _top_exact(
        self,
        uidx: np.ndarray,
        n: int,
        exclude_seen: bool,
        cand: np.ndarray | None,
        banned: np.ndarray,
        prior: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_items = self.model.n_items
        columns = None
        if cand is not None:
            columns = np.full(n_items, -1, dtype=np.int64)
            columns[cand] = np.arange(len(cand))
        banned_cols = banned if columns is None else columns[banned]
        banned_cols = banned_cols[banned_cols >= 0]
        n = min(n, n_items if cand is None else len(cand))
        out_idx = np.zeros((len(uidx), n), dtype=np.int64)
        out_raw = np.empty((len(uidx), n), dtype=np.float32)
        step = max(1, CHUNK_ELEMENTS // max(1, n_items))
        for lo in range(0, len(uidx), step):
            rows = uidx[lo : lo + step]
            scores = self.model.score_items(rows)  # (b, n_items)
            if prior is not None:
                scores = scores + prior
            if cand is not None:
                scores = scores[:, cand]  # (b, n_candidates)
            if exclude_seen:
                mask_rows(scores, self.model.seen_, rows, columns)
            scores[:, banned_cols] = -np.inf
            top, vals = top_n(scores, n)
            top = top if cand is None else cand[top]
            if prior is not None:
                vals = vals - prior[top]  # back to the model's own scores
            out_idx[lo : lo + len(rows)] = top
            out_raw[lo : lo + len(rows)] = vals
        return out_idx, out_raw

    def _top_ann(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, banned: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search on [item factors, item bias] with queries [user factors, 1]."""
        model = self.model
        index = self._index("recommend")
        seen = model.seen_
        counts = np.diff(seen.indptr)[uidx] if exclude_seen else np.zeros(len(uidx), np.int64)
        want = min(model.n_items, n + int(counts.max(initial=0)) + len(banned))
        queries = np.hstack([model.user_factors_[uidx], np.ones((len(uidx), 1), np.float32)])
        found, _ = index.query(queries, want)
        out_idx = np.zeros((len(uidx), n), dtype=np.int64)
        out_raw = np.full((len(uidx), n), -np.inf, dtype=np.float32)
        skip_always = set(banned.tolist())
        for row, u in enumerate(uidx):
            skip = skip_always | (
                set(seen.indices[seen.indptr[u] : seen.indptr[u + 1]].tolist()) if exclude_seen else set()
            )
            picked = [i for i in found[row] if i >= 0 and i not in skip][:n]
            out_idx[row, : len(picked)] = picked
            out_raw[row, : len(picked)] = model.raw_scores(
                np.full(len(picked), u), np.asarray(picked, np.int64)
            )
        return out_idx, out_raw

    def _index(self, purpose: str) -> AnnIndex:
        """The approximate index for `purpose`, built on first use and rebuilt if the model is refitted."""
        model = self.model
        hit = self._ann.get(purpose)
        if hit is not None and hit[0] is model.item_factors_:
            return hit[1]
        if purpose == "recommend":
            vectors = np.hstack([model.item_factors_, model.item_bias_[:, None]]).astype(np.float32)
            index = AnnIndex(vectors, metric="ip")
        else:
            index = AnnIndex(model.item_vectors(), metric=purpose)
        self._ann[purpose] = (model.item_factors_, index)
        return index

    # -- a new user ------------------------------------------------------------------------------------
    def fold_in(self, ratings: Mapping[Any, float] | Iterable[Any], *, liked: bool = False) -> FoldedUser:
        """A new user from (item or title, rating) pairs, or with liked=True from items they liked."""
        if liked:
            items = self.catalogue.indices(ratings)
            return self.model.fold_in(np.unique(items), None)
        idx, values = self._parse_ratings(ratings)
        return self.model.fold_in(idx, values)

    def _parse_ratings(self, ratings: Any) -> tuple[np.ndarray, np.ndarray]:
        try:
            pairs = list(ratings.items()) if isinstance(ratings, Mapping) else list(ratings)
        except TypeError:
            raise ParameterError(
                f"ratings must be (item, rating) pairs, got {type(ratings).__name__}"
            ) from None
        if not pairs:
            raise DataError(
                "no ratings given: a new user needs at least one (item, rating) pair", field="ratings"
            )
        low, high = self.model.scale_.low, self.model.scale_.high
        by_item: dict[int, float] = {}
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
            by_item[self.catalogue.index(item)] = value  # an item rated twice keeps the last rating
        return np.fromiter(by_item, np.int64), np.fromiter(by_item.values(), np.float64)

    def recommend_for(
        self,
        user: FoldedUser,
        n: int = 10,
        *,
        items: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        popularity: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` (raw item ids, scores) for a folded-in user, the items it was folded from excluded."""
        n = check_n(n)
        raw = self.model.score_folded(user).astype(np.float32)  # (n_items,)
        prior = self._prior(popularity) if user.values is not None else None
        ranked = raw if prior is None else raw + prior
        ranked = ranked.copy()
        if items is not None:
            allowed = np.zeros(len(raw), dtype=bool)
            allowed[self.catalogue.indices(items)] = True
            ranked[~allowed] = -np.inf
        ranked[np.concatenate([user.items, self.catalogue.indices(exclude)])] = -np.inf
        top, vals = top_n(ranked[None, :], n)
        top, vals = top[0], vals[0]
        keep = np.isfinite(vals)
        scores = raw[top[keep]]
        if user.values is not None:  # liked items give preference scores (about 1), not ratings
            scores = self._display(scores)
        return self.model.item_ids_.raw_ids[top[keep]], scores.astype(np.float32)

    def recommend_for_ratings(
        self, ratings: Mapping[Any, float] | Iterable[tuple[Any, float]], n: int = 10, **kwargs: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` (raw item ids, predicted ratings) for a new user from a few (item or title, rating)
        pairs, without retraining (see `Estimator.fold_in`); keyword arguments as `recommend_for`."""
        return self.recommend_for(self.fold_in(ratings), n, **kwargs)

    def recommend_from_items(
        self, items: Iterable[Any], n: int = 10, **kwargs: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` (raw item ids, preference scores) for a new user who liked these items (ids or titles)."""
        try:
            liked = [items] if isinstance(items, str | int | np.integer) else list(items)
        except TypeError:
            raise ParameterError(f"items must be item ids or titles, got {items!r:.60}") from None
        if not liked:
            raise DataError("no items given: name at least one liked item", field="items")
        return self.recommend_for(self.fold_in(liked, liked=True), n, **kwargs)

    # -- similar items and users -----------------------------------------------------------------------
    def similar_items(
        self, item: Any, n: int = 10, metric: str = "cosine", *, min_ratings: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `n` items (raw ids, similarities) whose vectors are closest to `item`'s (an id or a title).

        `metric` is "cosine", "dot" or "euclidean" (minus the distance, so larger is closer); items with
        fewer than `min_ratings` training ratings are left out (None: this recommender's default).
        """
        n = check_n(n)
        fn = pick(SIMILARITIES, metric, "metric")
        floor = self.min_ratings if min_ratings is None else _check_count("min_ratings", min_ratings)
        vectors = self.model.item_vectors()
        i = self.catalogue.index(item)
        rare = self.counts < floor
        if metric == "cosine" and len(vectors) >= ANN_THRESHOLD:
            want = min(len(vectors), n + 1 + int(rare.sum()))  # an ANN query allocates `want` per row
            found, sims = self._index("cosine").query(vectors[[i]], want)
            keep = (found[0] != i) & (found[0] >= 0)
            keep &= ~rare[np.maximum(found[0], 0)]
            return self.model.item_ids_.raw_ids[found[0][keep][:n]], sims[0][keep][:n]
        return self._nearest(vectors, i, n, fn, rare, self.model.item_ids_)

    def similar_users(self, user: Any, n: int = 10, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
        """The `n` users (raw ids, similarities) whose vectors are closest to `user`'s, the user excluded."""
        n = check_n(n)
        fn = pick(SIMILARITIES, metric, "metric")
        vectors = self.model.user_vectors()
        return self._nearest(vectors, self._one_user(user), n, fn, None, self.model.user_ids_)

    @staticmethod
    def _nearest(
        vectors: np.ndarray, row: int, n: int, fn: Any, skip: np.ndarray | None, ids: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        norms = np.linalg.norm(vectors, axis=1).astype(np.float32)
        sims = fn(vectors[[row]], vectors, norms[[row]], norms).astype(np.float32)  # (1, n_rows)
        sims[0, row] = -np.inf
        if skip is not None:
            sims[0, skip] = -np.inf
        top, vals = top_n(sims, n)
        keep = np.isfinite(vals[0])
        return ids.raw_ids[top[0][keep]], vals[0][keep]

    # -- ratings and explanations ----------------------------------------------------------------------
    def predict(self, user: Any, items: Any) -> np.ndarray:
        """Predicted ratings of one known user for items (raw ids or titles)."""
        self.model.require("predict")
        u = self._one_user(user)
        idx = self.catalogue.indices(items)
        return self.model.predict_indices(np.full(len(idx), u), idx)

    def _one_user(self, user: Any) -> int:
        uidx, _ = self._users(user)
        if len(uidx) != 1:
            raise ParameterError(f"expected one user id, got {len(uidx)}")
        return int(uidx[0])

    def explain(self, user: Any, item: Any) -> Explanation:
        """Why `item` scores as it does for a known `user`: terms that add up to the score exactly."""
        u = self._one_user(user)
        return self._explanation(u, self.catalogue.index(item), self.model.user_ids_.raw_id(u))

    def explain_folded(self, user: FoldedUser, item: Any) -> Explanation:
        """The same for a folded-in user (see `fold_in`)."""
        return self._explanation(user, self.catalogue.index(item), None)

    def reasons(self, user: Any, items: Iterable[Any], k: int = 3) -> list[list[Reason]]:
        """Per item (raw id or title), the `k` rated items that raise its score for `user` (a known raw id
        or a FoldedUser) the most: the positive head of `explain(...).rated`, without its frame."""
        self.model.require("explain")
        k = check_n(k, "k")
        if isinstance(user, FoldedUser):
            u: int | FoldedUser = user
        else:
            u = int(self._users(user)[0][0])
        terms = self.model.explain_many(u, self.catalogue.indices(items))
        return top_reasons(terms, self.catalogue, self._link(u), k)

    def _link(self, user: int | FoldedUser) -> Any:
        """The score-to-stars link of an explanation: none for ranking models or liked-only users."""
        if self.model.objective == "rating" and not (isinstance(user, FoldedUser) and user.values is None):
            return self.model.to_rating
        return None

    def _explanation(self, user: int | FoldedUser, i: int, raw_user: Any) -> Explanation:
        model = self.model
        terms = model.explain_indices(user, i)
        score = float(sum(t.value for t in terms))
        link = self._link(user)
        return Explanation.build(raw_user, model.item_ids_.raw_id(i), self.catalogue, terms, score, link)

    def stars(self, user: Any, items: Iterable[Any]) -> np.ndarray | None:
        """The rating model's predicted ratings (float32) of `items` for a known user (raw id) or a folded-in
        user; None without a rating model (see `ratings`), or for a new user who gave likes, not ratings."""
        if self.ratings is None:
            return None
        idx = self.catalogue.indices(items)
        if isinstance(user, FoldedUser):
            if user.values is None:
                return None
            folded = self.ratings.fold_in(user.items, user.values)
            return self.ratings.to_rating(self.ratings.score_folded(folded)[idx]).astype(np.float32)
        uidx, _ = self._users(user)
        return self.ratings.predict_indices(np.full(len(idx), uidx[0]), idx).astype(np.float32)

    # -- the embeddings --------------------------------------------------------------------------------
    def embeddings(self, kind: str = "item") -> EmbeddingTable:
        """The model's item (or user) vectors as an EmbeddingTable with metadata, counts and biases."""
        check_choice("kind", kind, ("item", "user"))
        model = self.model
        if kind == "item":
            vectors, ids, meta, counts = (
                model.item_vectors(),
                model.item_ids_,
                self.catalogue.meta,
                self.counts,
            )
        else:
            vectors, ids, meta = model.user_vectors(), model.user_ids_, model.user_meta_
            counts = np.diff(model.seen_.indptr)
        return EmbeddingTable(
            vectors,
            ids,
            meta=meta,
            counts=counts,
            bias=_learned(getattr(model, f"{kind}_bias_", None)),
            name=f"{type(model).__name__} {kind} vectors",
        )


def _learned(bias: np.ndarray | None) -> np.ndarray | None:
    """A bias array, or None for a model whose biases are all zero (it learns none)."""
    return None if bias is None or not np.any(bias) else bias


def _rating_model(ratings: Estimator | None, model: Estimator) -> Estimator | None:
    """`ratings` checked as a companion rating model of `model`: fitted, predicting, same users and items."""
    if ratings is None:
        return None
    if not isinstance(ratings, Estimator) or ratings.objective != "rating":
        raise ParameterError(f"ratings must be a fitted rating model, got {type(ratings).__name__}")
    ratings.require("predict")
    ratings.require("fold_in")
    if ratings.item_ids_ != model.item_ids_ or ratings.user_ids_ != model.user_ids_:
        raise ParameterError("the rating model was fitted on other users or items (fit both on one dataset)")
    return ratings


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ParameterError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(f"{name} must be True or False, got {value!r:.60}")
