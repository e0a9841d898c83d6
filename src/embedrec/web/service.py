"""The web app's view of one Recommender: item cards, search, recommendations with reasons, and maps.

Everything here is computed once at start-up (the title index, the fold-in prior), so request threads
only read. Raw ids and titles come in, raw ids and titles go out; indices never leave this module.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from typing import Any

import numpy as np

from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.titles import TitleMatch
from embedrec.errors import UnknownIdError, UnsupportedQueryError
from embedrec.models.base import FoldedUser
from embedrec.query.recommender import Recommender
from embedrec.show.projection import PROJECTIONS, Projection

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
        self.can_explain = "explain" in rec.model.capabilities
        self._warm_up()

    def _warm_up(self) -> None:
        """Fill lazy caches (title index, fold-in prior) before any request thread can race on them."""
        self.catalogue.title_index.prepare()
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
        """The model's nearest items, by the recommender's `min_ratings` policy unless one is given; with
        the euclidean metric each also carries its `distance`."""
        i = self.item_index(raw)
        if len(self.item_ids) < 2:
            return self.card(i), []
        ids, sims = self.rec.similar_items(
            self.item_ids.raw_id(i), n=n, metric=metric, min_ratings=min_ratings
        )
        cards = [self.card(j, s) for j, s in zip(self.item_ids.indices(ids), sims, strict=True)]
        if metric == "euclidean":  # the library scores minus the distance; say the distance too
            for card in cards:
                card["distance"] = -card["score"]
        return self.card(i), cards

    def for_user(self, raw: Any, n: int, explain: bool) -> tuple[Any, list[dict[str, Any]]]:
        """Top-`n` for a known user, each with the rated items that contribute most to its score."""
        user = self.user_ids.raw_id(self.user_index(raw))
        ids, scores = self.rec.recommend(user, n=n)
        return user, self._cards(ids, scores, user, explain)

    def for_ratings(
        self, pairs: list[tuple[int | str, float]], n: int, explain: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Top-`n` for a visitor's (item or title, rating) pairs, folded in without retraining; and how
        each title was read."""
        matches = self.resolve([item for item, _ in pairs])
        folded = self.rec.fold_in(
            [(self.item_ids.raw_id(m.index), r) for m, (_, r) in zip(matches, pairs, strict=True)]
        )
        ids, scores = self.rec.recommend_for(folded, n=n)
        return self._cards(ids, scores, folded, explain), self.matched(matches)

    def resolve(self, items: list[Any]) -> list[TitleMatch]:
        """The item each raw id or title names (see `Catalogue.match`)."""
        return [self.catalogue.match(item) for item in items]

    def matched(self, matches: list[TitleMatch]) -> list[dict[str, Any]]:
        """What the response says about the titles of a request: the item each one was taken to mean."""
        return [
            {"query": str(m.query), "id": self.item_ids.raw_id(m.index), "title": m.title, "how": m.how}
            for m in matches
            if m.how != "id"
        ]

    def _cards(
        self, ids: np.ndarray, scores: np.ndarray, user: Any | FoldedUser, explain: bool
    ) -> list[dict[str, Any]]:
        """Cards of recommended items (raw ids) for a known user (raw id) or a folded-in one: the score,
        the predicted stars when there are any, and with `explain` the rated items behind each."""
        cards = [self.card(i, s) for i, s in zip(self.item_ids.indices(ids), scores, strict=True)]
        reasons = (
            self.rec.reasons(user, ids, REASONS)
            if explain and self.can_explain and len(ids)
            else [[] for _ in cards]
        )
        for card, why, stars in zip(cards, reasons, self._stars(ids, scores, user), strict=True):
            if stars is not None:
                card["stars"] = float(stars)
            card["because"] = [
                {"id": r.item, "title": r.title, "rating": r.rating, "weight": r.weight} for r in why
            ]
        return cards

    def _stars(self, ids: np.ndarray, scores: np.ndarray, user: Any | FoldedUser) -> list[Any]:
        """Predicted ratings of recommended items: the scores of a rating model, else those of the
        recommender's companion rating model (None where there is neither)."""
        if self.model.objective == "rating":
            return list(scores)
        if self.rec.ratings is not None:
            stars = self.rec.stars(user, ids)
            if stars is not None:
                return list(stars)
        return [None] * len(ids)

    def predict(
        self, pairs: list[tuple[int | str, int | str]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Predicted ratings for (known user, item or title) pairs; and how each title was read. A ranking
        model with a companion rating model answers with the rating model's."""
        users = np.array([self.user_index(u) for u, _ in pairs], dtype=np.int64)
        matches = self.resolve([i for _, i in pairs])
        items = np.array([m.index for m in matches], dtype=np.int64)
        predictor = self.rec.ratings if self.rec.ratings is not None else self.model
        values = predictor.predict(users, items, raw=False)
        out = [
            {"user": self.user_ids.raw_id(u), "item": self.item_ids.raw_id(i), "rating": float(v)}
            for u, i, v in zip(users, items, values, strict=True)
        ]
        return out, self.matched(matches)

    # -- the map ------------------------------------------------------------------------------------
    def map_methods(self) -> list[str]:
        """The projections this installation can compute (none without item vectors; UMAP only when
        umap-learn is installed)."""
        if not self.has_vectors:
            return []
        return [m for m in PROJECTIONS if m != "umap" or find_spec("umap") is not None]

    def map_table(self) -> EmbeddingTable:
        """The item embeddings the maps project."""
        return self.rec.embeddings("item")

    def map_rows(self, method: str) -> int | None:
        """How many of the most rated items a method's map shows (None: all of them)."""
        return MAP_ROWS.get(method, MAP_ROWS["default"])

    def encode_map(self, method: str, proj: Projection) -> bytes:
        """A projection as the JSON of GET /map: columns of ids, coordinates, titles, genres, counts."""
        rows = proj.rows
        cat = self.catalogue
        body = {
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
        return json.dumps(body, separators=(",", ":")).encode()


def _lookup(ids: Any, raw: Any, kind: str) -> int:
    try:
        return ids.index(raw)
    except UnknownIdError:
        raise UnknownIdError(kind, raw) from None
    except (ValueError, TypeError, OverflowError):  # e.g. "²" passes isdigit() but int() rejects it
        raise UnknownIdError(kind, raw) from None
