"""The web app's read-only view of one fitted model: item cards, search, recommendations with reasons, maps.

Everything here is computed once at start-up or cached under a lock, so request threads only read.
Raw ids and titles come in, raw ids and titles go out; indices never leave this module.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from embedrec.data.titles import TitleIndex
from embedrec.errors import DataError, UnknownIdError

REASONS = 3  # rated items shown behind each recommendation
# Items on the page's map: PCA places them all; the neighbour-based maps keep the most rated so that a
# visitor waits seconds, not minutes, the first time one is asked for (then it is cached).
MAP_ROWS: dict[str, int | None] = {"pca": None, "default": 3000}


class ModelService:
    """Wraps a fitted factor model (DotBias, NeuralCF ...) with what the pages and the API need."""

    def __init__(self, model: Any) -> None:
        if not getattr(model, "is_fitted", False):
            raise TypeError(f"the web app needs a fitted model, got an unfitted {type(model).__name__}")
        if not hasattr(model, "item_factors_"):
            raise TypeError(f"the web app needs a model with item factors, got {type(model).__name__}")
        self.model = model
        self.item_ids = model.item_ids_
        self.user_ids = model.user_ids_
        n = len(self.item_ids)
        meta = model.item_meta_
        self.titles: list[str] = [str(r) for r in self.item_ids.raw_ids]
        if meta is not None and "title" in meta.columns:
            self.titles = [
                t if isinstance(t, str) and t else r for t, r in zip(meta["title"], self.titles, strict=True)
            ]
        self.years: list[int | None] = [None] * n
        self.genres: list[list[str]] = [[] for _ in range(n)]
        if meta is not None and "year" in meta.columns:
            self.years = [
                int(y) if isinstance(y, int | float) and math.isfinite(y) else None for y in meta["year"]
            ]
        if meta is not None and "genres" in meta.columns:
            self.genres = [_genres(g) for g in meta["genres"]]
        self.n_ratings = np.bincount(model.seen_.indices, minlength=n).astype(np.int64)  # (n_items,)
        self.popular = np.argsort(-self.n_ratings, kind="stable")  # most rated first
        self._pop_bonus = np.log1p(self.n_ratings) / max(np.log1p(self.n_ratings.max(initial=0)), 1.0)
        self.mean_rating = float(model.seen_.data.mean()) if model.seen_.nnz else 0.0
        self.titles_index = TitleIndex(self.titles)
        self.unit_factors = unit_rows(model.item_factors_)  # (n_items, k), for the reasons
        self._maps: dict[str, dict[str, Any]] = {}
        self._map_lock = threading.Lock()
        self._warm_up()

    def _warm_up(self) -> None:
        """Fill the model's lazy caches (norms, fold-in prior) before any request thread can race on them."""
        if len(self.item_ids) > 1:
            self.model.similar_items(self.item_ids.raw_id(0), n=1)
            self.model.fold_in([(self.item_ids.raw_id(int(self.popular[0])), self.model.scale_.high)])

    # -- items --------------------------------------------------------------------------------
    def card(self, i: int, score: float | None = None) -> dict[str, Any]:
        """The page's view of item index `i` (with a score when given)."""
        out = {
            "id": self.item_ids.raw_id(i),
            "title": self.titles[i],
            "year": self.years[i],
            "genres": self.genres[i],
            "n_ratings": int(self.n_ratings[i]),
        }
        if score is not None:
            out["score"] = float(score)
        return out

    def item_index(self, raw: Any) -> int:
        """Index of a raw item id as a URL or JSON spells it; anything unknown is an UnknownIdError."""
        return _lookup(self.item_ids, raw, "item")

    def user_index(self, raw: Any) -> int:
        return _lookup(self.user_ids, raw, "user")

    def resolve_item(self, item: int | str) -> int:
        """A raw item id, else a (fuzzy) title; an unknown or ambiguous title names the closest ones."""
        try:
            return self.item_index(item)
        except UnknownIdError:
            if not isinstance(item, str):
                raise
        return self.titles_index.lookup(item)

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Fuzzy title search, ties going to the more rated item; an empty query lists the most rated."""
        query = query.strip()
        if not query:
            return [self.card(int(i)) for i in self.popular[:limit]]
        found = self.titles_index.search(query, limit=max(3 * limit, 30))
        ranked = sorted(
            ((score + 4.0 * self._pop_bonus[i], i) for i, _, score in found if score >= 55.0), reverse=True
        )
        hits = [i for _, i in ranked]
        if query in self.item_ids:  # an exact raw id goes first
            exact = self.item_index(query)
            hits = [exact] + [i for i in hits if i != exact]
        return [self.card(i) for i in hits[:limit]]

    # -- recommendations ------------------------------------------------------------------------
    def similar(
        self, raw: Any, n: int, metric: str, min_ratings: int = 0
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The model's nearest items, keeping those with at least `min_ratings` ratings (rarely rated items
        have barely trained vectors that land near anything)."""
        i = self.item_index(raw)
        if len(self.item_ids) < 2:
            return self.card(i), []
        ids, sims = self.model.similar_items(
            self.item_ids.raw_id(i), n=n, metric=metric, min_ratings=min_ratings
        )
        return self.card(i), [
            self.card(int(j), s) for j, s in zip(self.item_ids.indices(ids), sims, strict=True)
        ]

    def for_user(self, raw: Any, n: int, explain: bool) -> tuple[Any, list[dict[str, Any]]]:
        """Top-`n` for a known user, each with the user's rated items that weigh most for it."""
        u = self.user_index(raw)
        user = self.user_ids.raw_id(u)
        ids, scores = self.model.recommend(user, n=n)
        start, end = self.model.seen_.indptr[u], self.model.seen_.indptr[u + 1]
        rated = self.model.seen_.indices[start:end].astype(np.int64)
        ratings = self.model.seen_.data[start:end].astype(np.float64)
        center = float(ratings.mean()) if len(ratings) else self.mean_rating
        return user, self._with_reasons(ids, scores, rated, ratings, center if explain else None)

    def for_ratings(
        self, pairs: list[tuple[int | str, float]], n: int, explain: bool
    ) -> list[dict[str, Any]]:
        """Top-`n` for a visitor's (item or title, rating) pairs by the library's closed-form fold-in.

        Reasons centre the visitor's ratings on the catalogue's mean rating (not the visitor's own mean,
        which is the same as every rating when all three movies got five stars).
        """
        low, high = self.model.scale_.low, self.model.scale_.high
        by_item: dict[int, float] = {}
        for item, rating in pairs:
            i = self.resolve_item(item)
            if not low - 1e-6 <= rating <= high + 1e-6:
                raise DataError(
                    f"rating {rating:g} for {self.titles[i]!r} is outside the scale {low:g}..{high:g}",
                    field="rating",
                )
            by_item[i] = float(rating)  # a movie rated twice keeps the last rating
        rated = np.fromiter(by_item, np.int64)
        ratings = np.fromiter(by_item.values(), np.float64)
        raw_ids = [self.item_ids.raw_id(i) for i in rated]
        ids, scores = self.model.recommend_for_ratings(list(zip(raw_ids, ratings, strict=True)), n=n)
        return self._with_reasons(ids, scores, rated, ratings, self.mean_rating if explain else None)

    def _with_reasons(
        self,
        ids: np.ndarray,
        scores: np.ndarray,
        rated: np.ndarray,
        ratings: np.ndarray,
        center: float | None,
    ) -> list[dict[str, Any]]:
        recs = self.item_ids.indices(ids).astype(np.int64) if len(ids) else np.empty(0, np.int64)
        cards = [self.card(int(i), s) for i, s in zip(recs, scores, strict=True)]
        for card in cards:
            card["because"] = []
        if center is None or not len(rated) or not len(recs):
            return cards
        weights = because(self.unit_factors, recs, rated, ratings - center)  # (n_recs, n_rated)
        top = np.argsort(-weights, axis=1, kind="stable")[:, :REASONS]
        for card, row, order in zip(cards, weights, top, strict=True):
            card["because"] = [
                {
                    "id": self.item_ids.raw_id(int(rated[j])),
                    "title": self.titles[int(rated[j])],
                    "rating": float(ratings[j]),
                    "weight": float(row[j]),
                }
                for j in order
                if row[j] > 0
            ]
        return cards

    def predict(self, pairs: list[tuple[int | str, int | str]]) -> list[dict[str, Any]]:
        users = np.array([self.user_index(u) for u, _ in pairs], dtype=np.int64)
        items = np.array([self.resolve_item(i) for _, i in pairs], dtype=np.int64)
        values = self.model.predict(users, items, raw=False)
        return [
            {"user": self.user_ids.raw_id(u), "item": self.item_ids.raw_id(i), "rating": float(v)}
            for u, i, v in zip(users, items, values, strict=True)
        ]

    # -- the map --------------------------------------------------------------------------------
    def map_methods(self) -> list[str]:
        """The projections this installation can compute (UMAP only when umap-learn is installed)."""
        from importlib.util import find_spec

        from embedrec.show.projection import PROJECTIONS

        return [m for m in PROJECTIONS if m != "umap" or find_spec("umap") is not None]

    def item_map(self, method: str) -> dict[str, Any]:
        """2-D coordinates of the items (the most rated for slow methods), computed once per method."""
        with self._map_lock:
            if method not in self._maps:
                self._maps[method] = self._project(method)
            return self._maps[method]

    def _project(self, method: str) -> dict[str, Any]:
        from embedrec.query.recommend import embedding_table
        from embedrec.show.projection import project_table

        table = embedding_table(self.model, "item")
        proj = project_table(table, method, max_rows=MAP_ROWS.get(method, MAP_ROWS["default"]), seed=0)
        rows = proj.rows
        return {
            "method": method,
            "note": proj.describe(),
            "n_items": len(self.item_ids),
            "ids": [self.item_ids.raw_id(int(i)) for i in rows],
            "x": np.round(proj.coords[:, 0].astype(np.float64), 4).tolist(),
            "y": np.round(proj.coords[:, 1].astype(np.float64), 4).tolist(),
            "titles": [self.titles[i] for i in rows],
            "genres": ["|".join(self.genres[i]) for i in rows],
            "n_ratings": self.n_ratings[rows].tolist(),
        }


def unit_rows(factors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float64); a zero row stays zero, similar to nothing."""
    q = np.asarray(factors, dtype=np.float64)
    return q / np.maximum(np.linalg.norm(q, axis=1), 1e-12)[:, None]


def because(unit: np.ndarray, recs: np.ndarray, rated: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """Weight of each rated item behind each recommendation: cos(q_rec, q_rated) × (rating − centre).

    The same contributor formula as `RecommendMixin.explain`, batched over many recommendations;
    `unit` is `unit_rows(item_factors_)`, computed once.
    """
    cos = unit[recs] @ unit[rated].T  # (n_recs, n_rated)
    return cos * centred[None, :]


def _lookup(ids: Any, raw: Any, kind: str) -> int:
    try:
        return ids.index(raw)
    except UnknownIdError:
        raise UnknownIdError(kind, raw) from None
    except (ValueError, TypeError, OverflowError):  # e.g. "²" passes isdigit() but int() rejects it
        raise UnknownIdError(kind, raw) from None


def _genres(value: Any) -> list[str]:
    if not isinstance(value, str) or value in ("", "(no genres listed)"):
        return []
    return [g for g in value.split("|") if g]
