"""The web app's view of one Recommender: item cards, search, recommendations with reasons, and maps.

Everything here is computed once at start-up or cached under a lock, so request threads only read.
Raw ids and titles come in, raw ids and titles go out; indices never leave this module.
"""

from __future__ import annotations

import threading
from importlib.util import find_spec
from typing import Any

import numpy as np

from embedrec.errors import UnknownIdError, UnsupportedQueryError
from embedrec.models.base import FoldedUser
from embedrec.query.recommender import Recommender
from embedrec.show.projection import PROJECTIONS, project_table

REASONS = 3  # rated items shown behind each recommendation
# Items on the page's map: PCA places them all; the neighbour-based maps keep the most rated so that a
# visitor waits seconds, not minutes, the first time one is asked for (then it is cached).
MAP_ROWS: dict[str, int | None] = {"pca": None, "default": 3000}
NEEDS = ("recommend", "fold_in")  # what a model must answer to be served


class ModelService:
    """Wraps a Recommender with what the pages and the API need."""

    def __init__(self, rec: Recommender) -> None:
        missing = [c for c in NEEDS if c not in rec.model.capabilities]
        if missing:
            raise UnsupportedQueryError(
                f"the web app needs a model that can recommend and fold in new users; "
                f"{type(rec.model).__name__} cannot {' or '.join(m.replace('_', ' ') for m in missing)}"
            )
        self.rec = rec
        self.model = rec.model
        self.catalogue = rec.catalogue
        self.item_ids = rec.catalogue.ids
        self.user_ids = rec.model.user_ids_
        self.has_vectors = "similar" in rec.model.capabilities
        self._maps: dict[str, dict[str, Any]] = {}
        self._map_lock = threading.Lock()
        self._warm_up()

    def _warm_up(self) -> None:
        """Fill lazy caches (title index, fold-in prior) before any request thread can race on them."""
        _ = self.catalogue.title_index
        self.rec.fold_in([(self.item_ids.raw_id(int(self.catalogue.popular[0])), self.model.scale_.high)])

    # -- items --------------------------------------------------------------------------------------
    def card(self, i: int, score: float | None = None) -> dict[str, Any]:
        """The page's view of item index `i` (with a score when given)."""
        return self.catalogue.card(i, score)

    def item_index(self, raw: Any) -> int:
        """Index of a raw item id as a URL or JSON spells it; anything unknown is an UnknownIdError."""
        return _lookup(self.item_ids, raw, "item")

    def user_index(self, raw: Any) -> int:
        return _lookup(self.user_ids, raw, "user")

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Fuzzy title search, ties going to the more rated item; an empty query lists the most rated."""
        return [self.card(i) for i in self.catalogue.search(query, limit)]

    # -- recommendations ----------------------------------------------------------------------------
    def similar(
        self, raw: Any, n: int, metric: str, min_ratings: int | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The model's nearest items, by the recommender's `min_ratings` policy unless one is given."""
        i = self.item_index(raw)
        if len(self.item_ids) < 2:
            return self.card(i), []
        ids, sims = self.rec.similar_items(
            self.item_ids.raw_id(i), n=n, metric=metric, min_ratings=min_ratings
        )
        return self.card(i), [self.card(j, s) for j, s in zip(self.item_ids.indices(ids), sims, strict=True)]

    def for_user(self, raw: Any, n: int, explain: bool) -> tuple[Any, list[dict[str, Any]]]:
        """Top-`n` for a known user, each with the rated items that contribute most to its score."""
        u = self.user_index(raw)
        user = self.user_ids.raw_id(u)
        ids, scores = self.rec.recommend(user, n=n)
        return user, self._cards(ids, scores, u, explain)

    def for_ratings(
        self, pairs: list[tuple[int | str, float]], n: int, explain: bool
    ) -> list[dict[str, Any]]:
        """Top-`n` for a visitor's (item or title, rating) pairs, folded in without retraining."""
        folded = self.rec.fold_in(pairs)
        ids, scores = self.rec.recommend_for(folded, n=n)
        return self._cards(ids, scores, folded, explain)

    def _cards(
        self, ids: np.ndarray, scores: np.ndarray, user: int | FoldedUser, explain: bool
    ) -> list[dict[str, Any]]:
        cards = [self.card(i, s) for i, s in zip(self.item_ids.indices(ids), scores, strict=True)]
        for card, value in zip(cards, self._stars(ids, scores, user), strict=True):
            if value is not None:
                card["stars"] = float(value)
            card["because"] = []
            if not explain or "explain" not in self.model.capabilities:
                continue
            if isinstance(user, FoldedUser):
                rated = self.rec.explain_folded(user, card["id"]).rated
            else:
                rated = self.rec.explain(self.user_ids.raw_id(user), card["id"]).rated
            column = "stars" if "stars" in rated else "value"
            top = rated[rated[column] > 0].head(REASONS)
            card["because"] = [
                {
                    "id": r.item,
                    "title": r.title,
                    "rating": float(r.rating),
                    "weight": float(getattr(r, column)),
                }
                for r in top.itertuples()
            ]
        return cards

    def _stars(self, ids: np.ndarray, scores: np.ndarray, user: int | FoldedUser) -> list[Any]:
        """Predicted ratings of recommended items: the scores of a rating model, else those of the
        recommender's companion rating model (None where there is neither)."""
        if self.model.objective == "rating":
            return list(scores)
        if self.rec.ratings is not None:
            who = user if isinstance(user, FoldedUser) else self.user_ids.raw_id(user)
            stars = self.rec.stars(who, ids)
            if stars is not None:
                return list(stars)
        return [None] * len(ids)

    def predict(self, pairs: list[tuple[int | str, int | str]]) -> list[dict[str, Any]]:
        users = np.array([self.user_index(u) for u, _ in pairs], dtype=np.int64)
        items = np.array([self.catalogue.index(i) for _, i in pairs], dtype=np.int64)
        values = self.model.predict(users, items, raw=False)
        return [
            {"user": self.user_ids.raw_id(u), "item": self.item_ids.raw_id(i), "rating": float(v)}
            for u, i, v in zip(users, items, values, strict=True)
        ]

    # -- the map ------------------------------------------------------------------------------------
    def map_methods(self) -> list[str]:
        """The projections this installation can compute (none without item vectors; UMAP only when
        umap-learn is installed)."""
        if not self.has_vectors:
            return []
        return [m for m in PROJECTIONS if m != "umap" or find_spec("umap") is not None]

    def item_map(self, method: str) -> dict[str, Any]:
        """2-D coordinates of the items (the most rated for slow methods), computed once per method."""
        with self._map_lock:
            if method not in self._maps:
                self._maps[method] = self._project(method)
            return self._maps[method]

    def _project(self, method: str) -> dict[str, Any]:
        table = self.rec.embeddings("item")
        proj = project_table(table, method, max_rows=MAP_ROWS.get(method, MAP_ROWS["default"]), seed=0)
        rows = proj.rows
        cat = self.catalogue
        return {
            "method": method,
            "note": proj.describe(),
            "n_items": len(self.item_ids),
            "ids": [self.item_ids.raw_id(int(i)) for i in rows],
            "x": np.round(proj.coords[:, 0].astype(np.float64), 4).tolist(),
            "y": np.round(proj.coords[:, 1].astype(np.float64), 4).tolist(),
            "titles": [cat.titles[i] for i in rows],
            "genres": ["|".join(cat.genres[i]) for i in rows],
            "n_ratings": cat.counts[rows].tolist(),
        }


def _lookup(ids: Any, raw: Any, kind: str) -> int:
    try:
        return ids.index(raw)
    except UnknownIdError:
        raise UnknownIdError(kind, raw) from None
    except (ValueError, TypeError, OverflowError):  # e.g. "²" passes isdigit() but int() rejects it
        raise UnknownIdError(kind, raw) from None
