"""One object owns raw id <-> contiguous index for one kind of entity (users or items)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from embedrec.errors import DataError, ParameterError, UnknownIdError

ID_TYPES = (str, int, np.integer, float, np.floating)  # floats are looked up as they are (1.0 finds 1)
_DIGITS = re.compile(r"\s*[+-]?[0-9]+\s*")  # ASCII digits only: int() also takes '²' and '٣'


class IdMap:
    """Maps raw ids (ints or strings) to indices 0..n-1 and back; indices follow `raw_ids`' order."""

    def __init__(self, raw_ids: Sequence[Any] | np.ndarray, kind: str = "item") -> None:
        try:
            raw = np.asarray(raw_ids)
        except (TypeError, ValueError):  # ragged nested sequences
            raise DataError(f"{kind} ids must be a one-dimensional array of ids", field=kind) from None
        if raw.ndim != 1:
            raise DataError(f"{kind} ids must be one-dimensional, got shape {raw.shape}", field=kind)
        if raw.dtype.kind in "iu":
            if raw.dtype == np.uint64 and raw.size and int(raw.max()) >= 2**63:
                raise DataError(f"{kind} id {int(raw.max())} does not fit in 64 bits", field=kind)
            raw = raw.astype(np.int64)
        elif raw.dtype.kind in "OUS":
            raw = np.array([str(r) for r in raw], dtype=object)
        else:
            raise DataError(f"{kind} ids must be integers or strings, got dtype {raw.dtype}", field=kind)
        raw.setflags(write=False)
        self.kind = kind
        self._raw = raw
        self._index = pd.Index(raw)
        if not self._index.is_unique:
            dup = self._index[self._index.duplicated()][0]
            raise DataError(f"{kind} id {dup!r} appears twice in the id map", field=kind)

    @property
    def raw_ids(self) -> np.ndarray:
        """Raw ids in index order (read-only)."""
        return self._raw

    @property
    def is_integer(self) -> bool:
        return self._raw.dtype.kind == "i"

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"<IdMap {len(self):,} {self.kind}s>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdMap)
            and self.kind == other.kind
            and len(self) == len(other)
            and bool(np.all(self._raw == other._raw))
        )

    def _coerce(self, raw_id: Any) -> Any:
        """A raw id as this map stores it: ints (also spelled as ASCII digits) or strings."""
        if not isinstance(raw_id, ID_TYPES) or isinstance(raw_id, bool | np.bool_):
            raise ParameterError(
                f"a {self.kind} id must be an integer or a string, got {type(raw_id).__name__} {raw_id!r:.60}"
            )
        if self.is_integer:
            if isinstance(raw_id, str) and _DIGITS.fullmatch(raw_id):
                return int(raw_id)
            if isinstance(raw_id, np.integer):
                return int(raw_id)
            return raw_id
        return str(raw_id)

    def __contains__(self, raw_id: Any) -> bool:
        try:
            return self._coerce(raw_id) in self._index
        except (TypeError, ParameterError):
            return False

    def index(self, raw_id: Any) -> int:
        """The index of one raw id; raises UnknownIdError naming it."""
        key = self._coerce(raw_id)
        try:
            return int(self._index.get_loc(key))
        except (KeyError, TypeError, pd.errors.InvalidIndexError):
            raise UnknownIdError(self.kind, raw_id) from None

    def indices(self, raw_ids: Iterable[Any] | np.ndarray) -> np.ndarray:
        """Indices (int32) of many raw ids; raises UnknownIdError on the first unknown one."""
        try:
            values = np.asarray(list(raw_ids) if not isinstance(raw_ids, np.ndarray) else raw_ids)
        except (TypeError, ValueError):  # not iterable, or ragged
            raise ParameterError(
                f"{self.kind} ids must be an array or a list of ids, got {raw_ids!r:.60}"
            ) from None
        if values.size == 0:
            return np.empty(0, dtype=np.int32)
        if self.is_integer and values.dtype.kind not in "iu":
            values = np.array([self._coerce(v) for v in values.ravel()], dtype=object)
        elif not self.is_integer:
            if values.dtype.kind == "O":
                values = np.array([self._coerce(v) for v in values.ravel()], dtype=object)
            values = values.astype(str).astype(object)
        found = self._index.get_indexer(values.ravel())
        missing = np.flatnonzero(found < 0)
        if missing.size:
            raise UnknownIdError(
                self.kind,
                values.ravel()[missing[0]].item()
                if hasattr(values.ravel()[missing[0]], "item")
                else values.ravel()[missing[0]],
            )
        return found.astype(np.int32).reshape(values.shape)

    def lookup(self, raw_ids: Iterable[Any] | np.ndarray) -> np.ndarray:
        """Indices (int64) of raw ids, -1 for each id this map does not know."""
        values = np.asarray(list(raw_ids) if not isinstance(raw_ids, np.ndarray) else raw_ids).ravel()
        if values.size == 0:
            return np.empty(0, dtype=np.int64)
        if self.is_integer and values.dtype.kind not in "iu":
            coerced = [self._coerce(v) for v in values]
            if not all(isinstance(v, int) for v in coerced):  # text ids never match an integer map
                keep = np.array([isinstance(v, int) for v in coerced])
                out = np.full(values.size, -1, dtype=np.int64)
                out[keep] = self._index.get_indexer(
                    np.array([v for v in coerced if isinstance(v, int)], np.int64)
                )
                return out
            values = np.array(coerced, dtype=np.int64)
        elif not self.is_integer:
            values = values.astype(str).astype(object)
        return self._index.get_indexer(values).astype(np.int64)

    def raw_id(self, index: int) -> Any:
        """The raw id at one index, as a plain Python int or str."""
        if not isinstance(index, int | np.integer) or not 0 <= int(index) < len(self):
            raise UnknownIdError(self.kind, index, f"index outside 0..{len(self) - 1}")
        return self._plain[index]

    @cached_property
    def _plain(self) -> list[Any]:
        """The raw ids as a list of Python ints or strs: `raw_id` is called for every card a page shows."""
        return self._raw.tolist() if self.is_integer else [str(v) for v in self._raw]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form; `from_json` restores an equal map."""
        return {"kind": self.kind, "ids": [self.raw_id(i) for i in range(len(self))]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdMap:
        ids = data["ids"]
        if ids and all(isinstance(v, int) for v in ids):
            return cls(np.asarray(ids, dtype=np.int64), kind=data["kind"])
        return cls(np.asarray(ids, dtype=object), kind=data["kind"])
