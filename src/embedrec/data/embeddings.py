"""`EmbeddingTable`: one vector per key, with what is needed to search, show and export it.

Every embedding in embedrec travels as this one type: a model's item or user factors, pre-trained word
vectors read from a file, the category embeddings of a table model, word vectors learned by Word2Vec.
Maps, exports, `similar` and pre-trained initialisation all take it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from embedrec.checks import check_n, pick
from embedrec.data.idmap import IdMap
from embedrec.errors import DataError, ParameterError, UnknownIdError
from embedrec.scoring import SIMILARITIES, top_n


@dataclass(frozen=True, eq=False)
class EmbeddingTable:
    """Vectors (n, k) keyed by an IdMap, with optional display metadata, counts and learned biases.

    `ids` may be given as a sequence of keys (strings or integers); it becomes an IdMap of kind `kind`.
    """

    vectors: np.ndarray  # (n, k) float32
    ids: IdMap | Sequence[Any] | np.ndarray
    meta: pd.DataFrame | None = None  # aligned to rows: title, year, genres ... for items
    counts: np.ndarray | None = None  # (n,) how often each key occurs in the training data
    bias: np.ndarray | None = None  # (n,) learned bias per row
    name: str = "embeddings"  # what the vectors are, for titles: "DotBias item factors"
    source: str = ""  # the file the vectors came from, if any
    kind: str = "key"  # "item", "user", "word", a column name ...: used in messages
    _norms: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ids = self.ids if isinstance(self.ids, IdMap) else IdMap(np.asarray(list(self.ids)), kind=self.kind)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "kind", ids.kind)
        v = np.asarray(self.vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] == 0:
            raise DataError(f"vectors must be a 2-D (rows, dims) array with dims > 0, got shape {v.shape}")
        if v.shape[0] != len(ids):
            raise DataError(f"{v.shape[0]} vectors but {len(ids)} keys")
        if not np.isfinite(v).all():
            bad = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
            raise DataError(f"the vector of {ids.kind} {ids.raw_id(bad)!r} is not finite")
        v.setflags(write=False)
        object.__setattr__(self, "vectors", v)
        for name in ("counts", "bias"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr)
                if arr.shape != (len(v),):
                    raise DataError(f"{name} must have shape ({len(v)},), got {arr.shape}")
                object.__setattr__(self, name, arr)
        if self.meta is not None and len(self.meta) != len(v):
            raise DataError(f"meta has {len(self.meta)} rows, expected {len(v)}")
        object.__setattr__(self, "_norms", np.linalg.norm(v, axis=1).astype(np.float32))

    # -- as a mapping of key -> vector ------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def keys(self) -> list[Any]:
        """The keys in row order, as plain Python values."""
        return self.ids.raw_ids.tolist()

    def __len__(self) -> int:
        return len(self.vectors)

    def __repr__(self) -> str:
        origin = f" from {self.source}" if self.source else ""
        return f"<EmbeddingTable {self.name}: {len(self):,} × {self.dim}{origin}>"

    def __contains__(self, key: object) -> bool:
        return key in self.ids

    def index(self, key: Any) -> int:
        """The row of `key`; an unknown key raises UnknownIdError naming it."""
        return self.ids.index(key)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.vectors[self.index(key)]

    # -- display ----------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        """A display name per row: the title when the metadata has one, else the key."""
        raw = [str(r) for r in self.ids.raw_ids]
        if self.meta is None or "title" not in self.meta.columns:
            return raw
        titles = self.meta["title"].to_numpy()
        return [str(t) if isinstance(t, str) and t else r for t, r in zip(titles, raw, strict=True)]

    def popularity_order(self) -> np.ndarray:
        """Row indices, most frequent first (ties by row); row order when counts are unknown."""
        if self.counts is None:
            return np.arange(len(self))
        return np.argsort(-self.counts, kind="stable")

    def subset(self, rows: np.ndarray) -> EmbeddingTable:
        """The table restricted to `rows` (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        return EmbeddingTable(
            self.vectors[rows],
            IdMap(self.ids.raw_ids[rows], kind=self.kind),
            meta=None if self.meta is None else self.meta.iloc[rows].reset_index(drop=True),
            counts=None if self.counts is None else self.counts[rows],
            bias=None if self.bias is None else self.bias[rows],
            name=self.name,
            source=self.source,
        )

    # -- search -----------------------------------------------------------------------------------
    def similarities(self, rows: np.ndarray, metric: str = "cosine") -> np.ndarray:
        """Similarity (b, n) of the vectors at `rows` to every vector; Euclidean gives minus the distance."""
        fn = pick(SIMILARITIES, metric, "metric")
        rows = np.asarray(rows, dtype=np.int64)
        return fn(self.vectors[rows], self.vectors, self._norms[rows], self._norms)

    def similar(
        self, key: Any, n: int = 10, metric: str = "cosine", *, min_count: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `n` keys closest to `key`'s vector and their similarities, best first, the key excluded.

        `metric` is "cosine", "dot" or "euclidean" (scored as minus the distance, so larger is closer);
        `min_count` leaves out rows seen fewer times in training (their vectors are mostly noise).
        """
        n = check_n(n)
        row = self.index(key)
        scores = self.similarities(np.array([row]), metric)[0].astype(np.float64)  # (n_rows,)
        scores[row] = -np.inf
        if min_count:
            if self.counts is None:
                raise ParameterError(f"min_count needs counts, and {self.name} has none")
            scores[self.counts < min_count] = -np.inf
        top, vals = top_n(scores[None, :], n)
        keep = np.isfinite(vals[0])
        return self.ids.raw_ids[top[0][keep]], vals[0][keep].astype(np.float32)

    def nearest(
        self, vector: np.ndarray, n: int = 10, metric: str = "cosine"
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `n` keys closest to an arbitrary vector (an analogy's target, a user's profile)."""
        n = check_n(n)
        fn = pick(SIMILARITIES, metric, "metric")
        q = np.asarray(vector, dtype=np.float32).reshape(1, -1)  # (1, k)
        if q.shape[1] != self.dim:
            raise ParameterError(f"the vector has {q.shape[1]} dimensions, the table {self.dim}")
        scores = fn(q, self.vectors, np.linalg.norm(q, axis=1), self._norms)
        top, vals = top_n(scores.astype(np.float64), n)
        return self.ids.raw_ids[top[0]], vals[0].astype(np.float32)

    def analogy(
        self, a: Any, b: Any, c: Any, n: int = 1, *, restrict: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `n` keys nearest (cosine) to unit(a) − unit(b) + unit(c), leaving out a, b and c (3CosAdd):
        king − man + woman ≈ queen. `restrict` searches only the first rows (the most frequent words)."""
        n = check_n(n)
        rows = []
        for key in (a, b, c):
            if key not in self.ids:
                raise UnknownIdError(self.kind, key, self.unknown_hint(key))
            rows.append(self.index(key))
        unit = self.vectors[rows] / np.maximum(self._norms[rows], 1e-12)[:, None]  # (3, k)
        target = unit[0] - unit[1] + unit[2]  # (k,)
        limit = len(self) if restrict is None else max(1, min(int(restrict), len(self)))
        fn = SIMILARITIES["cosine"]
        sims = fn(target[None, :], self.vectors[:limit], np.linalg.norm(target)[None], self._norms[:limit])
        sims = sims[0].astype(np.float64)  # (limit,)
        sims[[r for r in rows if r < limit]] = -np.inf
        top, vals = top_n(sims[None, :], min(n, limit))
        keep = np.isfinite(vals[0])
        return self.ids.raw_ids[top[0][keep]], vals[0][keep].astype(np.float32)

    def unknown_hint(self, key: Any) -> str:
        """Why a key has no row, for UnknownIdError: the table's size and a lower-case form it knows."""
        hint = f"not among the {len(self):,} {self.kind}s with a vector"
        if isinstance(key, str) and key != key.lower() and key.lower() in self.ids:
            hint += f"; did you mean {key.lower()!r}?"
        return hint
