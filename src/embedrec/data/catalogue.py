"""`Catalogue`: the one owner of item metadata (raw ids, titles, years, genres, rating counts).

Models learn and score item indices and know nothing of titles; the CLI, the web app, the maps and the
query layer ask the catalogue for a display name, a card, a title lookup or a search, so that "a title,
else the raw id" and "genres split on |" are written once.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from embedrec.data.idmap import IdMap
from embedrec.data.interactions import Interactions
from embedrec.data.titles import TitleIndex, TitleMatch
from embedrec.errors import DataError, ParameterError, UnknownIdError

NO_GENRE = {"", "(no genres listed)"}  # ML-100K's "unknown" is a genre column of its own, kept
SEARCH_FLOOR = 55.0  # fuzzy scores (0..100) below this are not shown as search results
POPULARITY_WEIGHT = 4.0  # search ties go to the more rated title: up to this many score points


def parse_genres(value: Any) -> list[str]:
    """Genres from a "Comedy|Drama" cell (MovieLens' spelling); missing or "(no genres listed)" gives []."""
    if not isinstance(value, str):
        return []
    return [g.strip() for g in value.split("|") if g.strip() and g.strip() not in NO_GENRE]


class Catalogue:
    """Items by index: raw ids, display titles, years, genres and training rating counts."""

    def __init__(
        self, ids: IdMap, meta: pd.DataFrame | None = None, counts: np.ndarray | None = None
    ) -> None:
        if meta is not None and len(meta) != len(ids):
            raise DataError(f"item metadata has {len(meta)} rows for {len(ids)} items")
        self.ids = ids
        self.meta = meta
        n = len(ids)
        self.counts = np.zeros(n, np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        if self.counts.shape != (n,):
            raise DataError(f"counts must have one entry per item ({n}), got shape {self.counts.shape}")

    @classmethod
    def from_interactions(cls, data: Interactions) -> Catalogue:
        """The catalogue of a data set: its item id map, metadata and how often each item was rated."""
        return cls(data.item_ids, data.item_meta, np.bincount(data.items, minlength=data.n_items))

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        what = ", ".join(c for c in ("title", "year", "genres") if self._has(c)) or "ids only"
        return f"<Catalogue {len(self):,} items: {what}>"

    def _has(self, column: str) -> bool:
        return self.meta is not None and column in self.meta.columns

    @property
    def has_titles(self) -> bool:
        return self._has("title")

    @property
    def has_genres(self) -> bool:
        return self._has("genres")

    # -- per item -----------------------------------------------------------------------------------
    @cached_property
    def titles(self) -> list[str]:
        """A display name per item: the title when known, else the raw id."""
        raw = [str(r) for r in self.ids.raw_ids]
        if not self.has_titles:
            return raw
        titles = self.meta["title"].to_numpy()  # type: ignore[index]
        return [t if isinstance(t, str) and t.strip() else r for t, r in zip(titles, raw, strict=True)]

    @cached_property
    def years(self) -> list[int | None]:
        if not self._has("year"):
            return [None] * len(self)
        return [
            int(y) if isinstance(y, int | float) and math.isfinite(y) else None for y in self.meta["year"]
        ]  # type: ignore[index]

    @cached_property
    def genres(self) -> list[list[str]]:
        if not self.has_genres:
            return [[] for _ in range(len(self))]
        return [parse_genres(g) for g in self.meta["genres"]]  # type: ignore[index]

    @cached_property
    def popular(self) -> np.ndarray:
        """Item indices, most rated first (ties by index)."""
        return np.argsort(-self.counts, kind="stable")

    def label(self, i: int) -> str:
        return self.titles[int(i)]

    def card(self, i: int, score: float | None = None) -> dict[str, Any]:
        """What a page or a table shows of item index `i` (with a score when given)."""
        i = int(i)
        out: dict[str, Any] = {
            "id": self.ids.raw_id(i),
            "title": self.titles[i],
            "year": self.years[i],
            "genres": self.genres[i],
            "n_ratings": int(self.counts[i]),
        }
        if score is not None:
            out["score"] = float(score)
        return out

    # -- finding items ------------------------------------------------------------------------------
    @cached_property
    def title_index(self) -> TitleIndex:
        """The prebuilt title lookup and search index (built on first use)."""
        return TitleIndex(self.titles, self.counts, [str(r) for r in self.ids.raw_ids])

    def match(self, item: Any) -> TitleMatch:
        """Which item a raw id or a title means, and by which rule (see `TitleIndex.match`); raises
        UnknownIdError."""
        if item in self.ids:
            i = self.ids.index(item)
            return TitleMatch(item, i, self.titles[i], "id")
        if isinstance(item, str) and self.has_titles:
            return self.title_index.match(item)
        raise UnknownIdError("item", item)

    def index(self, item: Any) -> int:
        """The index of a raw item id, else of a (fuzzy, case-insensitive) title; raises UnknownIdError."""
        return self.match(item).index

    def indices(self, items: Any) -> np.ndarray:
        """Indices (int64) of raw ids or titles; a single id or title gives one."""
        if items is None:
            return np.empty(0, dtype=np.int64)
        try:
            values = [items] if isinstance(items, str | int | np.integer) else list(items)
        except TypeError:  # not iterable
            raise ParameterError(f"expected item ids or titles, got {items!r:.60}") from None
        return np.array([self.index(v) for v in values], dtype=np.int64)

    @cached_property
    def _search_bonus(self) -> np.ndarray:
        """Per item, log(1 + ratings) scaled to 0..1: the search's tie-breaker towards the more rated."""
        return np.log1p(self.counts) / max(float(np.log1p(self.counts.max(initial=0))), 1.0)

    def search(self, query: str, limit: int = 10) -> list[int]:
        """Item indices whose titles best match `query`, the more rated first among near ties; an exact raw
        id goes first; an empty query lists the most rated."""
        query = query.strip()
        if not query:
            return [int(i) for i in self.popular[:limit]]
        bonus = self._search_bonus
        found = self.title_index.search(query, limit=max(3 * limit, 30))
        ranked = sorted(
            ((s + POPULARITY_WEIGHT * bonus[i], i) for i, _, s in found if s >= SEARCH_FLOOR), reverse=True
        )
        hits = [i for _, i in ranked]
        if query in self.ids:
            exact = self.ids.index(query)
            hits = [exact] + [i for i in hits if i != exact]
        return hits[:limit]
