"""Checked role columns into `Interactions`: ids kept as written, times in epoch seconds, values validated.

Every reader (delimited text, JSON lines, Parquet) ends here. Ids stay integers only while every one is a
plain integer as written (`120338`, not `0120338`), else every id is kept as its text; times become
int64 epoch seconds from epoch seconds or milliseconds or dates in one format; a rating column chosen
by its values is checked over the whole file, not just the lines it was chosen from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from embedrec.data.columns import ColumnChoice
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.errors import Arg, DataError

EXPECT = {
    "user": "a user id",
    "item": "an item id",
    "rating": "a number such as 4 or 3.5",
    "count": "a number of times",
    "timestamp": "epoch seconds or a date",
}
# Where row `row` (0-based) of the data is: (file line or None, prefix for the message such as "row 3: ").
Where = Callable[[int], tuple[int | None, str]]


class Growing:
    """A numpy array filled block by block, sized from an estimate so it is rarely copied."""

    def __init__(self, estimate: int) -> None:
        self.estimate, self.buf, self.n = estimate, None, 0

    def add(self, values: np.ndarray) -> None:
        m = len(values)
        if self.buf is None or len(self.buf) < self.n + m or self.buf.dtype != values.dtype:
            grown = np.empty(max(self.estimate, 2 * (self.n + m)), dtype=values.dtype)
            if self.buf is not None:
                grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n : self.n + m] = values
        self.n += m

    def result(self) -> np.ndarray:
        return np.empty(0) if self.buf is None else self.buf[: self.n]


class IdColumn(Growing):
    """Streamed ids: int64 while every id is a plain integer as written, then every id as its text."""

    def add_ids(self, values: pa.Array | pa.ChunkedArray) -> None:
        kind = values.type
        if pa.types.is_integer(kind):
            ints = values.to_numpy().astype(np.int64, copy=False)
            self.add(ints.astype(str).astype(object) if self.is_text else ints)
            return
        if pa.types.is_floating(kind):
            floats = values.to_numpy()
            whole = np.all(floats == np.round(floats))
            self.add_ids(pa.array(floats.astype(np.int64)) if whole else values.cast(pa.string()))
            return
        text = pc.utf8_trim_whitespace(values.cast(pa.string()))
        if not self.is_text:
            ints = canonical_ints(text)
            if ints is not None:
                self.add(ints)
                return
            if self.buf is not None:  # earlier ids were plain integers: their text is exactly that
                self.buf = self.buf[: self.n].astype(str).astype(object)
        self.add(np.asarray(text.to_numpy(zero_copy_only=False), dtype=object))

    @property
    def is_text(self) -> bool:
        return self.buf is not None and self.buf.dtype == object


def canonical_ints(text: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """int64 ids when every value is an integer written plainly (no leading zero or '+'), else None."""
    try:
        ints = pc.cast(text, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    padded = pc.and_(pc.starts_with(text, "0"), pc.greater(pc.utf8_length(text), 1))
    signed = pc.or_(pc.starts_with(text, "+"), pc.starts_with(text, "-0"))
    if pc.any(pc.or_(padded, signed)).as_py():
        return None
    return ints.to_numpy().astype(np.int64, copy=False)


def values_of(col: pa.Array | pa.ChunkedArray, role: str, source: str, name: str) -> np.ndarray:
    """A rating or count column as float32; DataError when it holds something else."""
    kind = col.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return col.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            return pc.cast(pc.utf8_trim_whitespace(col), pa.float32()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            pass
    raise DataError(f"values are {kind} (expected {EXPECT[role]})", path=source, field=name)


def times_of(
    col: pa.Array | pa.ChunkedArray | np.ndarray,
    time_format: str | None,
    where: Where,
    source: str,
    name: str,
) -> np.ndarray:
    """Epoch seconds (int64) from epoch seconds or milliseconds, or from dates in `time_format`."""
    if isinstance(col, pa.Array | pa.ChunkedArray):
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            return col.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy().astype(np.int64, copy=False)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            col = col.to_numpy(zero_copy_only=False)
        else:
            col = np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    values = np.asarray(col)
    if values.dtype.kind in "iuf":
        seconds = values.astype(np.int64) if values.dtype.kind != "f" else np.floor(values).astype(np.int64)
        return seconds // 1000 if time_format == "epoch-ms" else seconds
    fmt = "ISO8601" if time_format in (None, "epoch-s", "epoch-ms") else time_format
    try:
        stamps = pd.to_datetime(pd.Series(values, dtype=object).str.strip(), format=fmt, utc=True)
    except (ValueError, TypeError):
        parsed = pd.to_datetime(
            pd.Series(values, dtype=object).str.strip(), format=fmt, utc=True, errors="coerce"
        )
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        line, prefix = where(row)
        shown = "dates" if fmt == "ISO8601" else f"dates written {fmt}"
        raise DataError(
            f"{prefix}{values[row]!r} is not a date like the others (expected {shown})",
            path=source,
            line=line,
            field=name,
        ) from None
    return stamps.dt.as_unit("s").astype("int64").to_numpy()


def check_by_content(arrays: dict[str, np.ndarray], choice: ColumnChoice, source: str) -> None:
    """A column chosen by its first values must hold such values all the way down."""
    if "rating" in choice.by_content and len(arrays["rating"]):
        r = arrays["rating"]
        finite = r[np.isfinite(r)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if not (-10 <= low and high <= 10) and not (0 <= low and 50 <= high <= 100):
            raise DataError(
                f"{choice.label(choice.positions['rating'])} looked like ratings in the first lines "
                f"but holds {low:g}..{high:g}, no rating scale; say which column is the rating with {{}}",
                path=source,
                hints=(Arg("columns", {"rating": choice.positions["rating"]}),),
            )


def assemble(
    arrays: dict[str, np.ndarray],
    choice: ColumnChoice,
    *,
    where: Where,
    source: str,
    scale: RatingScale | None,
    origin: dict[str, Any] | None = None,
    item_meta: pd.DataFrame | None = None,
    user_meta: pd.DataFrame | None = None,
) -> Interactions:
    """Validate the role arrays (finite values within the scale) and build `Interactions` in place."""
    if len(arrays["user"]) == 0:
        raise DataError("no rating rows (the file is empty or holds only a header)", path=source)
    check_by_content(arrays, choice, source)
    value_role = "rating" if "rating" in arrays else "count" if "count" in arrays else None
    values = arrays.get(value_role) if value_role else None
    if values is not None:
        bad = ~np.isfinite(values)
        if scale is not None:
            bad |= (values < scale.low - 1e-6) | (values > scale.high + 1e-6)
        if value_role == "count":
            bad |= values < 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            expected = (
                f"between {scale.low:g} and {scale.high:g}"
                if scale is not None
                else "a count >= 0"
                if value_role == "count"
                else "a finite number"
            )
            line, prefix = where(row)
            what = (
                "is outside the declared scale"
                if np.isfinite(values[row]) and scale is not None
                else "is not valid"
            )
            raise DataError(
                f"{prefix}{value_role} {'NaN' if np.isnan(values[row]) else format(values[row], 'g')} {what} "
                f"(expected {expected})",
                path=source,
                line=line,
                field=choice.name(value_role),
            )
    info = {"source": source, **choice.describe(), **(origin or {})}
    info["feedback"] = "counts" if value_role == "count" else "ratings" if value_role else "unary"
    return Interactions._build(  # the arrays are ours: factorize them in place, no copies
        arrays.pop("user"),
        arrays.pop("item"),
        values,
        arrays.get("timestamp"),
        consume=True,
        scale=scale,
        item_meta=item_meta,
        user_meta=user_meta,
        source=source,
        origin=info,
    )


def first_null(col: pa.Array | pa.ChunkedArray) -> int | None:
    """The first null row of an Arrow column, or None."""
    if not col.null_count:
        return None
    return int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])


def null_error(role: str, row: int, where: Where, source: str, name: str) -> DataError:
    what = "an empty or NaN value" if role in ("rating", "count") else "an empty value"
    line, prefix = where(row)
    return DataError(f"{prefix}{what} (expected {EXPECT[role]})", path=source, line=line, field=name)
