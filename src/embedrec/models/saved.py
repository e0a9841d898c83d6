"""A saved model's state under validation: a file stays untrusted after its checksum matches.

`SavedState` holds the arrays read from the weights file and the JSON state of model.json; each
accessor checks one field (type, dtype, shape against the sizes the JSON gives, finite values, index
ranges) and raises a one-line ModelFormatError naming it, so a tampered or inconsistent file fails on
load instead of giving an IndexError or a wrong answer later. Models list what they expect in
`_check_saved` (models/base.py). Also here: the JSON form of metadata frames.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from embedrec.data.interactions import RatingScale
from embedrec.errors import ModelFormatError

Shape = tuple[int, ...]
JSON_SCALARS = (str, int, float, bool, type(None))


class SavedState:
    """Arrays and JSON state of one saved model, checked field by field as a model asks for them."""

    def __init__(self, arrays: dict[str, np.ndarray], state: dict[str, Any], where: str) -> None:
        self.arrays, self.state, self.where = arrays, state, where
        self.checked: set[str] = set()
        self.n_users = self.n_items = 0  # set by the estimator's check of its id maps

    def fail(self, field: str, message: str) -> NoReturn:
        raise ModelFormatError(f"{self.where}: field {field!r}: {message}")

    # -- JSON fields ---------------------------------------------------------------------------------
    def value(self, key: str, kinds: type | tuple[type, ...]) -> Any:
        """state[key], which must be of the given JSON type(s); numbers must be finite."""
        if key not in self.state:
            self.fail(f"state.{key}", "missing")
        value = self.state[key]
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            self.fail(f"state.{key}", f"expected {_names(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            self.fail(f"state.{key}", f"expected {_names(kinds)}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(f"state.{key}", f"{value!r} is not a finite number")
        return value

    def number(self, key: str) -> float:
        return float(self.value(key, (int, float)))

    def id_map(self, key: str, kind: str) -> int:
        """An id map, {"kind": kind, "ids": a list of distinct ints or of distinct strings}; returns
        how many ids it holds."""
        data = self.value(key, dict)
        field = f"state.{key}"
        if data.get("kind") != kind:
            self.fail(f"{field}.kind", f"expected {kind!r}, got {data.get('kind')!r}")
        ids = data.get("ids")
        if not isinstance(ids, list):
            self.fail(f"{field}.ids", f"expected a list of ids, got {type(ids).__name__}")
        types = set(map(type, ids))  # exact types: a bool is not an id
        ints = types <= {int}
        if not ints and not types <= {str}:
            self.fail(f"{field}.ids", "ids must be all integers or all strings")
        if ints and ids and not -(2**63) <= min(ids) <= max(ids) < 2**63:
            self.fail(f"{field}.ids", "an integer id does not fit in 64 bits")
        if len(set(ids)) < len(ids):
            self.fail(f"{field}.ids", "an id appears twice")
        return len(ids)

    def scale(self, key: str = "scale") -> RatingScale:
        data = self.value(key, dict)
        parts = {}
        for name in ("low", "high", "step"):
            value = data.get(name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not ok and not (name == "step" and value is None):
                self.fail(f"state.{key}.{name}", f"expected a finite number, got {value!r}")
            parts[name] = value
        if parts["low"] >= parts["high"]:
            self.fail(f"state.{key}", f"low {parts['low']!r} is not below high {parts['high']!r}")
        if parts["step"] is not None and parts["step"] <= 0:
            self.fail(f"state.{key}.step", f"expected a positive step, got {parts['step']!r}")
        return RatingScale(float(parts["low"]), float(parts["high"]), parts["step"])

    def frame(self, key: str, n_rows: int) -> None:
        """A metadata frame saved by `frame_to_json`: `n_rows` JSON scalars per column, or null."""
        data = self.value(key, (dict, type(None)))
        if data is None:
            return
        dtypes, columns = data.get("dtypes"), data.get("data")
        if not isinstance(dtypes, dict) or not isinstance(columns, dict):
            self.fail(f"state.{key}", "expected 'dtypes' and 'data' objects")
        for col, values in columns.items():
            field = f"state.{key}.data.{col}"
            dtype = dtypes.get(col, "object")
            if not isinstance(dtype, str):
                self.fail(f"state.{key}.dtypes.{col}", f"expected a dtype name, got {dtype!r}")
            if not isinstance(values, list) or len(values) != n_rows:
                got = len(values) if isinstance(values, list) else type(values).__name__
                self.fail(field, f"expected a list of {n_rows} values (one per id), got {got}")
            numeric = dtype.startswith(("float", "int"))
            if numeric and not _numeric_dtype(dtype):
                self.fail(f"state.{key}.dtypes.{col}", f"{dtype!r} is not a numeric dtype")
            kinds = {int, float, type(None)} if numeric else set(JSON_SCALARS)
            if not set(map(type, values)) <= kinds:
                self.fail(field, f"values must be {'numbers' if numeric else 'strings or numbers'}")
            if numeric and not _moderate([v for v in values if v is not None]):
                self.fail(field, "a value is not finite or too large")

    # -- arrays --------------------------------------------------------------------------------------
    def array(self, name: str, dtype: Any, shape: Shape, *, finite: bool = True) -> np.ndarray:
        """The array `name`, which must have exactly this dtype and shape (and finite values)."""
        self.checked.add(name)
        if name not in self.arrays:
            self.fail(name, "missing from the weights file")
        a = self.arrays[name]
        if a.dtype != np.dtype(dtype):
            self.fail(name, f"dtype {a.dtype}, expected {np.dtype(dtype)}")
        if a.shape != tuple(shape):
            self.fail(name, f"shape {a.shape}, expected {tuple(shape)} (from the sizes in model.json)")
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            self.fail(name, "holds NaN or infinite values")
        return a

    def indices(self, name: str, dtype: Any, shape: Shape, upper: int) -> np.ndarray:
        """An index array whose values must lie in 0..upper-1."""
        a = self.array(name, dtype, shape)
        if a.size and (int(a.min()) < 0 or int(a.max()) >= upper):
            self.fail(name, f"holds indices outside 0..{upper - 1}")
        return a

    def unexpected(self) -> None:
        """Fail on arrays no check asked for: a model's weights are exactly what it saves."""
        extra = sorted(set(self.arrays) - self.checked)
        if extra:
            self.fail(extra[0], "is not an array this model saves")


def _moderate(numbers: list[int | float]) -> bool:
    """Every number finite and within int64's range, as metadata columns must be."""
    try:
        values = np.asarray(numbers, dtype=np.float64)
    except OverflowError:
        return False
    return bool(np.all(np.abs(values) < 2.0**63))


def _numeric_dtype(name: str) -> bool:
    try:
        return np.dtype(name).kind in "iuf"
    except TypeError:
        return False


def _names(kinds: type | tuple[type, ...]) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    words = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number"}
    return " or ".join(words.get(k, "null" if k is type(None) else k.__name__) for k in kinds)


def frame_to_json(df: pd.DataFrame | None) -> dict[str, Any] | None:
    """Metadata column by column; NaN becomes null and comes back as NaN."""
    if df is None:
        return None
    data = {}
    for col in df.columns:
        values = df[col].to_numpy(dtype=object)
        data[str(col)] = [
            None if _missing(v) else (v.item() if isinstance(v, np.generic) else v) for v in values
        ]
    return {"dtypes": {str(c): str(t) for c, t in df.dtypes.items()}, "data": data}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def frame_from_json(data: dict[str, Any] | None) -> pd.DataFrame | None:
    """The frame `frame_to_json` saved."""
    if data is None:
        return None
    out = {}
    for col, values in data["data"].items():
        dtype = data["dtypes"].get(col, "object")
        if dtype.startswith(("float", "int")):
            out[col] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            if dtype.startswith("int") and not np.isnan(out[col]).any():
                out[col] = out[col].astype(dtype)
        else:
            out[col] = np.array([np.nan if v is None else v for v in values], dtype=object)
    return pd.DataFrame(out)
