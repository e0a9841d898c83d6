"""Using learned embeddings: top-N recommendations, new-user fold-in, similar items and users, explanations.

`RecommendMixin` gives every model the same implicit-shaped query API. It needs the fitted state
documented in `embedrec.models.base` (`user_ids_`, `item_ids_`, `seen_`, `item_meta_`, `score_items`,
`link`) and, for fold-in, similarity and explanations, the factor arrays of a `FactorModel`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from embedrec.checks import check_n, pick
from embedrec.data.embeddings import EmbeddingTable
from embedrec.errors import DataError, ParameterError, UnknownIdError, UnsupportedQueryError
from embedrec.query.foldin import FoldInMixin
from embedrec.scoring import SIMILARITIES, cosine, dot_rows, mask_rows, top_n

CHUNK_ELEMENTS = 1 << 24  # scores computed per block (64 MB of float32): bounds memory for all-user batches
ANN_THRESHOLD = 250_000  # catalogues at least this large are searched with an approximate index


@dataclass
class Explanation:
    """Why a model scores `item` for `user`: the bias terms, the factor term, the rated items behind it."""

    user: Any
    item: Any
    title: str
    prediction: float
    global_bias: float
    user_bias: float
    item_bias: float
    dot: float
    contributions: (
        pd.DataFrame
    )  # item, title, rating, similarity, contribution (largest |contribution| first)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        terms = Table(title=f"user {self.user} × {self.title}: predicted {self.prediction:.2f}")
        terms.add_column("term")
        terms.add_column("value", justify="right")
        for name, value in (
            ("global bias", self.global_bias),
            ("user bias", self.user_bias),
            ("item bias", self.item_bias),
            ("user · item factors", self.dot),
        ):
            terms.add_row(name, f"{value:+.3f}")
        rated = Table(title="the user's rated items that weigh most (similarity × centred rating)")
        for col in ("title", "rating", "similarity", "contribution"):
            rated.add_column(col, justify="left" if col == "title" else "right")
        for row in self.contributions.itertuples():
            rated.add_row(
                str(row.title), f"{row.rating:g}", f"{row.similarity:+.3f}", f"{row.contribution:+.3f}"
            )
        return Group(terms, rated)


class RecommendMixin(FoldInMixin):
    """Queries shared by every model: recommend, fold-in, similar items/users, explain (raw ids in, out)."""

    # -- id handling ----------------------------------------------------------------------------
    def _item_index(self, item: Any) -> int:
        """A raw item id or a (fuzzy, case-insensitive) title -> item index."""
        self._check_fitted()
        if item in self.item_ids_:
            return self.item_ids_.index(item)
        if isinstance(item, str) and self.item_meta_ is not None and "title" in self.item_meta_.columns:
            return self._titles().lookup(item)
        raise UnknownIdError("item", item)

    def _item_indices(self, items: Any) -> np.ndarray:
        if items is None:
            return np.empty(0, dtype=np.int64)
        values = [items] if isinstance(items, str | int | np.integer) else list(items)
        return np.array([self._item_index(v) for v in values], dtype=np.int64)

    def _titles(self) -> Any:
        from embedrec.data.titles import TitleIndex

        cached = getattr(self, "_title_cache", None)
        if cached is None or cached[0] is not self.item_meta_:
            cached = (self.item_meta_, TitleIndex(self.item_meta_["title"].to_numpy()))
            self._title_cache = cached
        return cached[1]

    def _user_indices(self, users: Any) -> tuple[np.ndarray, bool]:
        self._check_fitted()
        if np.ndim(users) == 0:  # one id: a direct lookup, cheaper than the array path
            return np.array([self.user_ids_.index(users)], dtype=np.int64), True
        return self.user_ids_.indices(np.asarray(users)).astype(np.int64), False

    # -- top-N ----------------------------------------------------------------------------------
    def recommend(
        self,
        users: Any,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        items: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        exact: bool | None = None,
        popularity: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` (raw item ids, predicted scores) per user, best first.

        One raw user id gives 1-D arrays, an array of ids gives 2-D, computed in blocks of users so that
        the users × items score matrix is never built whole. `items` restricts the candidates, `exclude`
        removes some; `exact=None` uses an approximate index for catalogues of `ANN_THRESHOLD` items or more.
        If a user has fewer than `n` candidates left, the 2-D form pads with score -inf.
        `popularity` > 0 ranks by raw score + popularity · log(1 + the item's training ratings): a rating
        model predicts how much a user likes an item *if* they watch it; the prior adds how likely they
        are to watch it. The scores returned stay the model's own predictions.
        """
        n = check_n(n)
        if isinstance(popularity, bool) or not np.isfinite(popularity) or popularity < 0:
            raise DataError(f"popularity must be a number >= 0, got {popularity!r}", field="popularity")
        uidx, single = self._user_indices(users)
        cand = None if items is None else np.unique(self._item_indices(items))
        extra = self._item_indices(exclude)
        if exact is None:
            small = self.n_items < ANN_THRESHOLD or not self._is_linear()
            exact = cand is not None or popularity > 0 or small
        if exact:
            idx, raw = self._recommend_exact(uidx, n, exclude_seen, cand, extra, popularity)
        else:
            idx, raw = self._recommend_ann(uidx, n, exclude_seen, extra)
        return self._finish(idx, raw, single)

    def _is_linear(self) -> bool:
        """True for plain factor models, whose score is the documented biased dot product."""
        from embedrec.models.base import FactorModel

        return isinstance(self, FactorModel) and type(self).score_items is FactorModel.score_items

    def _vector_scores(self, vector: np.ndarray, bias: float) -> np.ndarray:
        """Raw scores (n_items,) of a user given only as (factor vector, bias), e.g. after fold-in."""
        if not self._is_linear() and hasattr(self, "score_user_vector"):
            return np.asarray(self.score_user_vector(vector, bias), dtype=np.float32)
        raw = dot_rows(vector[None, :], self.item_factors_, self.item_bias_)[0]
        return raw + np.float32(bias + self.global_bias_)

    def _block_scores(self, rows: np.ndarray, extra: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(scores (b, n_items), offset (b,)): raw scores + `extra` per item, less a per-user constant
        `offset` that ranking can ignore. Plain factor models are scored here in one fused product."""
        if self._is_linear():
            add = self.item_bias_ if extra is None else self.item_bias_ + extra
            scores = dot_rows(self.user_factors_[rows], self.item_factors_, add)  # (b, n_items)
            return scores, self.user_bias_[rows] + np.float32(self.global_bias_)
        scores = np.asarray(self.score_items(rows), dtype=np.float32)
        if extra is not None:
            scores += extra
        return scores, np.zeros(len(rows), np.float32)

    def _finish(self, idx: np.ndarray, raw: np.ndarray, single: bool) -> tuple[np.ndarray, np.ndarray]:
        scores = np.where(np.isfinite(raw), self.link(raw), raw).astype(np.float32)
        ids = self.item_ids_.raw_ids[idx]
        if single:
            keep = np.isfinite(scores[0])
            return ids[0][keep], scores[0][keep]
        return ids, scores

    def _recommend_exact(
        self,
        uidx: np.ndarray,
        n: int,
        exclude_seen: bool,
        cand: np.ndarray | None,
        extra: np.ndarray,
        popularity: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        prior = None
        if popularity > 0:
            log_pop = np.log1p(np.bincount(self.seen_.indices, minlength=self.n_items))
            prior = (popularity * log_pop).astype(np.float32)
        width = self.n_items if cand is None else len(cand)
        columns = None
        if cand is not None:
            columns = np.full(self.n_items, -1, dtype=np.int64)
            columns[cand] = np.arange(len(cand))
        extra_cols = extra if columns is None else columns[extra]
        extra_cols = extra_cols[extra_cols >= 0]
        n = min(n, width)
        out_idx = np.empty((len(uidx), n), dtype=np.int64)
        out_raw = np.empty((len(uidx), n), dtype=np.float32)
        step = max(1, CHUNK_ELEMENTS // max(1, self.n_items))
        for lo in range(0, len(uidx), step):
            rows = uidx[lo : lo + step]
            scores, offset = self._block_scores(rows, prior)  # (b, n_items), (b,)
            if cand is not None:
                scores = scores[:, cand]  # (b, n_candidates)
            if exclude_seen:
                mask_rows(scores, self.seen_, rows, columns)
            scores[:, extra_cols] = -np.inf
            top, vals = top_n(scores, n)
            top = top if cand is None else cand[top]
            if prior is not None:
                vals = vals - prior[top]  # back to the model's own raw scores
            out_idx[lo : lo + len(rows)] = top
            out_raw[lo : lo + len(rows)] = vals + offset[:, None]
        return out_idx, out_raw

    def _recommend_ann(
        self, uidx: np.ndarray, n: int, exclude_seen: bool, extra: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search on [item factors, item bias] with queries [user factors, 1]."""
        index = self._ann("recommend")
        counts = np.diff(self.seen_.indptr)[uidx] if exclude_seen else np.zeros(len(uidx), np.int64)
        want = min(self.n_items, n + int(counts.max(initial=0)) + len(extra))
        queries = np.hstack([self.user_factors_[uidx], np.ones((len(uidx), 1), np.float32)])
        found, _ = index.query(queries, want)
        out_idx = np.zeros((len(uidx), n), dtype=np.int64)
        out_raw = np.full((len(uidx), n), -np.inf, dtype=np.float32)
        banned = set(extra.tolist())
        for row, u in enumerate(uidx):
            skip = banned | (
                set(self.seen_.indices[self.seen_.indptr[u] : self.seen_.indptr[u + 1]].tolist())
                if exclude_seen
                else set()
            )
            picked = [i for i in found[row] if i >= 0 and i not in skip][:n]
            out_idx[row, : len(picked)] = picked
            out_raw[row, : len(picked)] = self.raw_scores(
                np.full(len(picked), u), np.asarray(picked, np.int64)
            )
        return out_idx, out_raw

    def _ann(self, purpose: str) -> Any:
        """The approximate index for `purpose`, built on first use and rebuilt after a refit."""
        from embedrec.query.ann import AnnIndex

        cache = self.__dict__.setdefault("_ann_cache", {})
        hit = cache.get(purpose)
        if hit is not None and hit[0] is self.item_factors_:
            return hit[1]
        if purpose == "recommend":
            vectors = np.hstack([self.item_factors_, self.item_bias_[:, None]]).astype(np.float32)
            index = AnnIndex(vectors, metric="ip")
        else:
            index = AnnIndex(self.item_factors_, metric=purpose)
        cache[purpose] = (self.item_factors_, index)
        return index

    # -- similarity -----------------------------------------------------------------------------
    def _norms(self, name: str) -> np.ndarray:
        """Row norms of a factor array, cached until the array is replaced (by a refit or a load)."""
        matrix = getattr(self, name)
        cache = self.__dict__.setdefault("_norm_cache", {})
        hit = cache.get(name)
        if hit is None or hit[0] is not matrix:
            hit = (matrix, np.linalg.norm(matrix, axis=1).astype(np.float32))
            cache[name] = hit
        return hit[1]

    def _similar(
        self, name: str, query: np.ndarray, n: int, metric: str, min_ratings: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        fn = pick(SIMILARITIES, metric, "metric")
        n = check_n(n)
        self._check_fitted()
        if isinstance(min_ratings, bool) or not isinstance(min_ratings, int | np.integer) or min_ratings < 0:
            raise DataError(f"min_ratings must be an integer >= 0, got {min_ratings!r}", field="min_ratings")
        matrix, norms = getattr(self, name), self._norms(name)
        rare = None
        if min_ratings > 0:
            axis = (
                self.seen_.indices
                if name == "item_factors_"
                else np.repeat(np.arange(self.seen_.shape[0]), np.diff(self.seen_.indptr))
            )
            rare = np.bincount(axis, minlength=len(matrix)) < min_ratings
        if name == "item_factors_" and metric == "cosine" and len(matrix) >= ANN_THRESHOLD:
            found, sims = self._ann("cosine").query(
                matrix[query], n + 1 + (0 if rare is None else int(rare.sum()))
            )
            keep = (found[0] != query[0]) & (found[0] >= 0)
            if rare is not None:
                keep &= ~rare[np.maximum(found[0], 0)]
            return found[0][keep][:n], sims[0][keep][:n]
        sims = fn(matrix[query], matrix, norms[query], norms)  # (1, n_rows)
        sims[0, query] = -np.inf
        if rare is not None:
            sims[0, rare] = -np.inf
        top, vals = top_n(sims.astype(np.float32), n)
        keep = np.isfinite(vals[0])
        return top[0][keep], vals[0][keep]

    def similar_items(
        self, item: Any, n: int = 10, metric: str = "cosine", *, min_ratings: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `n` items (raw ids, similarities) whose factors are closest to `item`'s, excluding the item.

        `metric` is "cosine", "dot" or "euclidean" (scores are minus the distance, so larger is closer).
        `min_ratings` leaves out items with fewer training ratings: their factors are mostly noise.
        """
        top, vals = self._similar("item_factors_", np.array([self._item_index(item)]), n, metric, min_ratings)
        return self.item_ids_.raw_ids[top], vals

    def similar_users(self, user: Any, n: int = 10, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
        """The `n` users (raw ids, similarities) whose factors are closest to `user`'s, the user excluded."""
        uidx, _ = self._user_indices(user)
        top, vals = self._similar("user_factors_", uidx[:1], n, metric)
        return self.user_ids_.raw_ids[top], vals

    # -- explanation ----------------------------------------------------------------------------
    def explain(self, user: Any, item: Any, n: int = 5) -> Explanation:
        """Why `item` scores as it does for `user`: the bias terms, p_u·q_i, and the user's rated items
        weighing most, each as cosine(q_j, q_item) × (r_uj − the user's mean rating)."""
        uidx, _ = self._user_indices(user)
        u, i = int(uidx[0]), self._item_index(item)
        start, end = self.seen_.indptr[u], self.seen_.indptr[u + 1]
        rated, ratings = self.seen_.indices[start:end].astype(np.int64), self.seen_.data[start:end]
        centred = ratings - (ratings.mean() if len(ratings) else 0.0)
        others = rated != i  # the item itself, when already rated, explains nothing
        rated, ratings, centred = rated[others], ratings[others], centred[others]
        norms = self._norms("item_factors_")
        sims = cosine(self.item_factors_[[i]], self.item_factors_[rated], norms[[i]], norms[rated])[0]
        contrib = sims * centred
        order = np.argsort(-np.abs(contrib), kind="stable")[:n]
        titles = self._display_titles()
        table = pd.DataFrame(
            {
                "item": self.item_ids_.raw_ids[rated[order]],
                "title": [titles[j] for j in rated[order]],
                "rating": ratings[order].astype(float),
                "similarity": sims[order].astype(float),
                "contribution": contrib[order].astype(float),
            }
        )
        # the interaction term: p_u·q_i for factor models, whatever the network adds for others
        raw = float(np.asarray(self.score_items(np.array([u])), dtype=np.float64)[0, i])
        dot = raw - float(self.global_bias_) - float(self.user_bias_[u]) - float(self.item_bias_[i])
        return Explanation(
            user=self.user_ids_.raw_id(u),
            item=self.item_ids_.raw_id(i),
            title=titles[i],
            prediction=float(self._predict_indices(np.array([u]), np.array([i]))[0]),
            global_bias=float(self.global_bias_),
            user_bias=float(self.user_bias_[u]),
            item_bias=float(self.item_bias_[i]),
            dot=dot,
            contributions=table,
        )

    def _display_titles(self) -> list[str]:
        meta = self.item_meta_
        if meta is not None and "title" in meta.columns:
            return [
                str(t) if isinstance(t, str) and t else str(r)
                for t, r in zip(meta["title"], self.item_ids_.raw_ids, strict=True)
            ]
        return [str(r) for r in self.item_ids_.raw_ids]


def embedding_table(model: Any, kind: str = "item") -> EmbeddingTable:
    """The item (or user) factors of a fitted factor model, with metadata, counts and biases."""
    if kind not in ("item", "user"):
        raise ParameterError(f"kind must be 'item' or 'user', got {kind!r}")
    factors = getattr(model, f"{kind}_factors_", None)
    if factors is None or np.ndim(factors) != 2 or np.shape(factors)[1] == 0:
        raise UnsupportedQueryError(f"{type(model).__name__} has no {kind} vectors")
    counts = np.asarray(model.seen_.getnnz(axis=0 if kind == "item" else 1), dtype=np.int64)
    return EmbeddingTable(
        vectors=np.asarray(factors),
        ids=getattr(model, f"{kind}_ids_"),
        meta=getattr(model, f"{kind}_meta_", None),
        counts=counts,
        bias=getattr(model, f"{kind}_bias_", None),
        name=f"{type(model).__name__} {kind} factors",
    )
