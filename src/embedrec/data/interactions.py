"""The immutable, validated table of (user, item, rating, timestamp) that every model learns from."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embedrec.data.idmap import IdMap
from embedrec.errors import DataError, ParameterError


@dataclass(frozen=True)
class RatingScale:
    """The rating range a dataset uses: lowest, highest, and the step between ratings (or None)."""

    low: float
    high: float
    step: float | None = None

    def __post_init__(self) -> None:
        numbers = (self.low, self.high) + (() if self.step is None else (self.step,))
        if not all(isinstance(x, int | float | np.integer | np.floating) for x in numbers):
            raise ParameterError(f"a rating scale is two numbers (and a step), got {numbers!r}")
        if not np.isfinite(numbers).all() or self.low >= self.high:
            raise ParameterError(f"rating scale needs finite low < high, got {self.low}..{self.high}")
        if self.step is not None and self.step <= 0:
            raise ParameterError(f"a rating scale's step must be positive, got {self.step}")

    @classmethod
    def coerce(cls, scale: Any) -> RatingScale | None:
        """None, a RatingScale, or (low, high[, step]) as a RatingScale; ParameterError otherwise."""
        if scale is None or isinstance(scale, RatingScale):
            return scale
        if isinstance(scale, tuple | list) and len(scale) in (2, 3):
            return cls(*scale)
        raise ParameterError(f"scale must be a RatingScale or (low, high[, step]), got {scale!r:.60}")

    @classmethod
    def infer(cls, ratings: np.ndarray) -> RatingScale:
        """The smallest scale that holds these ratings, with the step when they sit on a grid."""
        values = _distinct(ratings)
        if values.size == 0:
            return cls(0.0, 1.0, None)
        low, high = float(values[0]), float(values[-1])
        if low == high:  # one value: a scale one step wide (wider where 1 vanishes in low's precision)
            step = max(1.0, abs(low) * 2.0**-20)
            return cls(low, low + step, step)
        step = float(np.min(np.diff(values)))
        on_grid = np.allclose((values - low) / step, np.round((values - low) / step))
        return cls(low, high, round(step, 6) if on_grid else None)

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "step": self.step}


def _distinct(ratings: np.ndarray) -> np.ndarray:
    """Sorted distinct ratings; hashing is O(n) and ratings have few distinct values."""
    return np.sort(pd.unique(ratings.ravel())).astype(np.float64)


def _factorize(raw: np.ndarray, kind: str, in_place: bool = False) -> tuple[np.ndarray, IdMap]:
    """Raw ids -> (int32 indices, IdMap) with indices in sorted raw-id order, in O(n) for small ints.

    `in_place` overwrites an int32 `raw` block by block instead of allocating a second array.
    """
    if raw.dtype.kind in "iu" and raw.size:
        low, high = int(raw.min()), int(raw.max())
        if low >= 0 and high < max(4 * raw.size, 1 << 20):
            present = np.zeros(high + 1, dtype=bool)
            present[raw] = True
            position = np.cumsum(present, dtype=np.int32) - 1
            uniques = IdMap(np.flatnonzero(present), kind=kind)
            if not (in_place and raw.dtype == np.int32 and raw.flags.writeable):
                return position[raw], uniques
            for start in range(0, raw.size, 1 << 20):
                block = raw[start : start + (1 << 20)]
                block[:] = position[block]
            return raw, uniques
    try:
        codes, uniques = pd.factorize(raw, sort=True)
    except TypeError:  # mixed ids (1 and "a") do not sort: as the id map would, compare them as strings
        codes, uniques = pd.factorize(np.array([str(r) for r in raw], dtype=object), sort=True)
    return codes.astype(np.int32), IdMap(np.asarray(uniques, dtype=uniques.dtype), kind=kind)


class Interactions:
    """Users × items × ratings, validated once here and read-only afterwards.

    Models see only the int32 indices; `user_ids` / `item_ids` translate raw ids both ways.
    """

    def __init__(
        self,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
        *,
        user_ids: IdMap,
        item_ids: IdMap,
        scale: RatingScale | None = None,
        user_meta: pd.DataFrame | None = None,
        item_meta: pd.DataFrame | None = None,
        source: str = "",
        origin: Mapping[str, Any] | None = None,
    ) -> None:
        copy = not getattr(self, "_adopt", False)
        for name, ids in (("user_ids", user_ids), ("item_ids", item_ids)):
            if not isinstance(ids, IdMap):
                raise ParameterError(f"{name} must be an IdMap, got {type(ids).__name__}")
        self.users = _frozen(users, np.int32, "users", copy)
        self.items = _frozen(items, np.int32, "items", copy)
        n = len(self.users)
        if len(self.items) != n:
            raise DataError(f"users has {n} rows but items has {len(self.items)}", field="items")
        self.ratings = (
            _frozen(ratings, np.float32, "ratings", copy)
            if ratings is not None
            else _frozen(np.ones(n, np.float32), np.float32, "ratings", False)
        )
        self.timestamps = (
            _frozen(timestamps, np.int64, "timestamps", copy) if timestamps is not None else None
        )
        for name, arr in (("ratings", self.ratings), ("timestamps", self.timestamps)):
            if arr is not None and len(arr) != n:
                raise DataError(f"{name} has {len(arr)} rows but users has {n}", field=name)
        self.user_ids, self.item_ids = user_ids, item_ids
        _check_range(self.users, len(user_ids), "user")
        _check_range(self.items, len(item_ids), "item")
        bad = ~np.isfinite(self.ratings)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"row {row}: rating {self.ratings[row]} is not a finite number", field="rating")
        scale = RatingScale.coerce(scale)
        self.scale = scale if scale is not None else RatingScale.infer(self.ratings)
        if n:
            outside = (self.ratings < self.scale.low - 1e-6) | (self.ratings > self.scale.high + 1e-6)
            if outside.any():
                row = int(np.flatnonzero(outside)[0])
                raise DataError(
                    f"row {row}: rating {self.ratings[row]:g} is outside the scale "
                    f"{self.scale.low:g}..{self.scale.high:g}",
                    field="rating",
                )
        self.user_meta = _aligned(user_meta, len(user_ids), "user")
        self.item_meta = _aligned(item_meta, len(item_ids), "item")
        self.source = source
        # where the rows came from, JSON-ready: the file, which column was read as what, the split
        self.origin: dict[str, Any] = dict(origin) if origin else ({"source": source} if source else {})

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        raw_users: np.ndarray,
        raw_items: np.ndarray,
        ratings: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
        *,
        user_ids: IdMap | None = None,
        item_ids: IdMap | None = None,
        scale: RatingScale | None = None,
        user_meta: pd.DataFrame | None = None,
        item_meta: pd.DataFrame | None = None,
        source: str = "",
        origin: Mapping[str, Any] | None = None,
    ) -> Interactions:
        """Build from raw ids: factorize them (or use the given id maps) and drop duplicate pairs.

        Duplicate (user, item) pairs keep the latest by timestamp (else the last row), with a warning.
        `user_meta` / `item_meta` are indexed by raw id and get aligned to the new indices.
        """
        return cls._build(
            raw_users, raw_items, ratings, timestamps, consume=False, user_ids=user_ids, item_ids=item_ids,
            scale=scale, user_meta=user_meta, item_meta=item_meta, source=source, origin=origin,
        )  # fmt: skip

    @classmethod
    def _build(
        cls,
        raw_users: np.ndarray,
        raw_items: np.ndarray,
        ratings: np.ndarray | None,
        timestamps: np.ndarray | None,
        *,
        consume: bool,
        user_ids: IdMap | None = None,
        item_ids: IdMap | None = None,
        scale: RatingScale | None = None,
        user_meta: pd.DataFrame | None = None,
        item_meta: pd.DataFrame | None = None,
        source: str = "",
        origin: Mapping[str, Any] | None = None,
    ) -> Interactions:
        """`from_arrays`; `consume=True` (arrays a reader just parsed) reuses the inputs in place."""
        raw_users, raw_items = _ids(raw_users, "user"), _ids(raw_items, "item")
        if len(raw_users) != len(raw_items):
            raise DataError(f"{len(raw_users)} users but {len(raw_items)} items", field="items")
        if not consume:  # never alias or freeze the caller's arrays
            ratings = None if ratings is None else _numbers(ratings, np.float32, "rating")
            timestamps = None if timestamps is None else _numbers(timestamps, np.int64, "timestamp")
        for name, column in (("ratings", ratings), ("timestamps", timestamps)):
            if column is not None and len(column) != len(raw_users):
                raise DataError(f"{name} has {len(column)} rows but users has {len(raw_users)}", field=name)
        scale = RatingScale.coerce(scale)
        if user_ids is None:
            users, user_ids = _factorize(raw_users, "user", in_place=consume)
        else:
            users = user_ids.indices(raw_users)
        if item_ids is None:
            items, item_ids = _factorize(raw_items, "item", in_place=consume)
        else:
            items = item_ids.indices(raw_items)
        keep = _latest_of_duplicates(users, items, len(item_ids), timestamps)
        if keep is not None:
            warnings.warn(
                f"{source or 'data'}: {len(users) - len(keep):,} duplicate (user, item) pairs; "
                "kept the latest rating of each",
                stacklevel=3,
            )
            users, items = users[keep], items[keep]
            ratings = None if ratings is None else np.asarray(ratings)[keep]
            timestamps = None if timestamps is None else np.asarray(timestamps)[keep]
        return cls._owned(
            users,
            items,
            ratings,
            timestamps,
            user_ids=user_ids,
            item_ids=item_ids,
            scale=scale,
            user_meta=_reindex(user_meta, user_ids),
            item_meta=_reindex(item_meta, item_ids),
            source=source,
            origin=origin,
        )

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str | None = "rating",
        timestamp_col: str | None = "timestamp",
        **kwargs: Any,
    ) -> Interactions:
        """Build from a DataFrame with the named columns (rating and timestamp may be absent)."""
        missing = [c for c in (user_col, item_col) if c not in df.columns]
        if missing:
            raise DataError(
                f"missing column {missing[0]!r}; columns are {list(df.columns)}",
                path=kwargs.get("source") or None,
            )
        ratings = None
        if rating_col is not None and rating_col in df.columns:
            values = pd.to_numeric(df[rating_col], errors="coerce").to_numpy(np.float32)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise DataError(
                    f"row {bad[0]}: {df[rating_col].iloc[bad[0]]!r} is not a number",
                    path=kwargs.get("source") or None,
                    field=rating_col,
                )
            ratings = values
        timestamps = None
        if timestamp_col is not None and timestamp_col in df.columns:
            timestamps = df[timestamp_col].to_numpy()
        return cls.from_arrays(
            df[user_col].to_numpy(), df[item_col].to_numpy(), ratings, timestamps, **kwargs
        )

    @classmethod
    def _owned(cls, users: np.ndarray, items: np.ndarray, *args: Any, **kwargs: Any) -> Interactions:
        """Construct from freshly made arrays without copying them again."""
        self = cls.__new__(cls)
        self._adopt = True  # tells _frozen not to copy
        cls.__init__(self, users, items, *args, **kwargs)
        del self._adopt
        return self

    # -- views ---------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        return f"<Interactions {self.n_users:,} users × {self.n_items:,} items × {len(self):,} ratings>"

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """The users × items rating matrix (float32 CSR, column indices sorted)."""
        m = sp.csr_matrix(
            (self.ratings, (self.users, self.items)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sort_indices()
        return m

    def seen(self, user: int) -> np.ndarray:
        """Item indices the user (by index) rated, sorted."""
        m = self.csr
        return m.indices[m.indptr[user] : m.indptr[user + 1]]

    @property
    def density(self) -> float:
        return len(self) / max(1, self.n_users * self.n_items)

    @cached_property
    def fingerprint(self) -> str:
        """A short sha256 of the contents, saved with models to tell which data trained them."""
        h = hashlib.sha256()
        for arr in (self.users, self.items, self.ratings):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    def subset(self, rows: np.ndarray, origin: Mapping[str, Any] | None = None) -> Interactions:
        """The given rows (indices or a boolean mask), sharing id maps, scale and metadata (and `origin`,
        unless a new one is given)."""
        rows = np.asarray(rows)
        return Interactions._owned(
            self.users[rows],
            self.items[rows],
            self.ratings[rows],
            None if self.timestamps is None else self.timestamps[rows],
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            scale=self.scale,
            user_meta=self.user_meta,
            item_meta=self.item_meta,
            source=self.source,
            origin=self.origin if origin is None else origin,
        )

    def to_dataframe(self) -> pd.DataFrame:
        """Rows with raw ids: columns user, item, rating (and timestamp)."""
        data: dict[str, Any] = {
            "user": self.user_ids.raw_ids[self.users],
            "item": self.item_ids.raw_ids[self.items],
            "rating": self.ratings,
        }
        if self.timestamps is not None:
            data["timestamp"] = self.timestamps
        return pd.DataFrame(data)

    def item_titles(self) -> list[str]:
        """A display name per item index: the title when known, else the raw id."""
        if self.item_meta is not None and "title" in self.item_meta.columns:
            return [str(t) for t in self.item_meta["title"].fillna("").to_numpy()]
        return [str(r) for r in self.item_ids.raw_ids]


def _ids(raw: Any, kind: str) -> np.ndarray:
    """Raw ids as a 1-D array (ints or strings), or a DataError naming the column."""
    try:
        values = np.asarray(raw)
    except (TypeError, ValueError):
        values = np.empty((0, 0))
    if values.ndim != 1:
        raise DataError(f"{kind} ids must be a one-dimensional array, got {type(raw).__name__}", field=kind)
    if values.size and values.dtype.kind not in "iuOUS":
        raise DataError(f"{kind} ids must be integers or strings, got dtype {values.dtype}", field=kind)
    return values


def _numbers(values: Any, dtype: type, name: str) -> np.ndarray:
    """A copy of `values` as a 1-D `dtype` array, or a DataError naming the column."""
    try:
        out = np.array(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{name}s must be numbers, got {values!r:.60}", field=name) from None
    if out.ndim != 1:
        raise DataError(f"{name}s must be a one-dimensional array, got shape {out.shape}", field=name)
    return out


def _frozen(arr: Any, dtype: type, name: str, copy: bool) -> np.ndarray:
    values = np.asarray(arr)
    if values.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {values.shape}", field=name)
    if values.dtype.kind not in "iuf" and values.size:
        raise DataError(f"{name} must be numeric, got dtype {values.dtype}", field=name)
    out = values.astype(dtype, copy=copy)  # copy=True: never alias the caller's array
    out.setflags(write=False)
    return out


def _check_range(idx: np.ndarray, n: int, kind: str) -> None:
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise DataError(f"{kind} indices must lie in 0..{n - 1}", field=kind)


def _aligned(meta: pd.DataFrame | None, n: int, kind: str) -> pd.DataFrame | None:
    if meta is None:
        return None
    if not isinstance(meta, pd.DataFrame):
        raise ParameterError(f"{kind}_meta must be a pandas DataFrame, got {type(meta).__name__}")
    if len(meta) != n:
        raise DataError(f"{kind} metadata has {len(meta)} rows, expected one per {kind} ({n})")
    return meta


def _reindex(meta: pd.DataFrame | None, ids: IdMap) -> pd.DataFrame | None:
    """Metadata indexed by raw id -> one row per index (missing ids get empty rows)."""
    if meta is None:
        return None
    if not isinstance(meta, pd.DataFrame):
        raise ParameterError(f"{ids.kind}_meta must be a pandas DataFrame, got {type(meta).__name__}")
    out = meta[~meta.index.duplicated(keep="last")].reindex(ids.raw_ids)
    return out.reset_index(drop=True)


def _latest_of_duplicates(
    users: np.ndarray, items: np.ndarray, n_items: int, timestamps: np.ndarray | None
) -> np.ndarray | None:
    """Row indices to keep when (user, item) pairs repeat, or None when all pairs are unique."""
    if _sorted_unique(users, items):
        return None
    keys = users.astype(np.int64) * n_items + items
    ordered = np.sort(keys)  # a vectorised sort finds out ~5x faster than hashing that nothing repeats
    if not (ordered[1:] == ordered[:-1]).any():
        return None
    del ordered
    order = np.arange(len(keys))
    if timestamps is not None:
        # Stable sort by timestamp so that, per key, the last row is the latest (ties: file order).
        order = np.argsort(np.asarray(timestamps), kind="stable")
    last = pd.Series(keys[order]).duplicated(keep="last").to_numpy()
    return np.sort(order[~last])


def _sorted_unique(users: np.ndarray, items: np.ndarray, block: int = 1 << 20) -> bool:
    """True when rows are sorted by (user, item) with no repeat: then no pair repeats, checked in O(n).

    Most exports (MovieLens among them) come sorted this way, which spares hashing every pair.
    Works in blocks so the temporaries stay small next to the data.
    """
    for start in range(0, len(users) - 1, block):
        u = users[start : start + block + 1]
        i = items[start : start + block + 1]
        du = np.diff(u)
        if (du < 0).any() or ((du == 0) & (np.diff(i) <= 0)).any():
            return False
    return True
