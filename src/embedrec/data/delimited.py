"""Delimited text (CSV, TSV, `::`) into `Interactions`: streamed through pyarrow, checked line by line.

Parsing streams through pyarrow's CSV reader with int32/float32 column types straight into numpy arrays
(pyarrow holds only a few blocks at a time); every bad input becomes a `DataError` naming the file, the
line (1-based, counting the header) and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.sniff import (
    ALIASES,
    INT,
    ROLES,
    FileText,
    first_line,
    first_undecodable_line,
    line_of_row,
    looks_like_header,
    sample_lines,
    separator_hint,
    sniff_separator,
    split_fields,
)
from embedrec.errors import DataError


def read_delimited(
    text: FileText,
    *,
    sep: str | None = None,
    header: bool | None = None,
    columns: Sequence[str] | Mapping[str, str | int] | None = None,
    scale: RatingScale | None = None,
    item_meta: pd.DataFrame | None = None,
    user_meta: pd.DataFrame | None = None,
    na_values: Sequence[str] = (),
) -> Interactions:
    """Parse delimited text (separator and header sniffed unless given) into `Interactions`.

    Only empty fields are missing values: 'NA', 'null' or 'None' are ids like any other, unless listed
    in `na_values`."""
    head_lines = sample_lines(text)
    if sep is None:
        sep = sniff_separator(text.name, head_lines)
    first = split_fields(head_lines[0], sep)
    if len(first) < 2:
        raise DataError(
            f"found a single column with separator {sep!r} (expected user and item columns)"
            + separator_hint(head_lines),
            path=text.name,
            line=1,
        )
    if header is None:
        header = looks_like_header(head_lines, sep)
    if isinstance(columns, Sequence) and not isinstance(columns, str):
        file_names = list(columns)
        if len(file_names) != len(first):
            raise DataError(
                f"columns= names {len(file_names)} columns but the file has {len(first)}: {first}",
                path=text.name,
                line=1,
            )
    elif header:
        file_names = [c.strip().strip('"') for c in first]
    else:
        file_names = ([*ROLES] + [f"f{i}" for i in range(len(ROLES), len(first))])[: len(first)]
    roles = resolve_roles(file_names, columns, text.name, header=bool(header))
    parsed, nulls = _parse(text, sep, file_names, bool(header), roles, head_lines, na_values)
    return to_interactions(
        parsed, roles, nulls=nulls, source=text.name, scale=scale, text=(text, sep, bool(header)),
        item_meta=item_meta, user_meta=user_meta,
    )  # fmt: skip


def take_columns(table: pa.Table, roles: dict[str, str]) -> dict[str, pa.ChunkedArray]:
    """The role columns of a table; the dict is the only holder, so columns free as they are popped."""
    return {role: table.column(name) for role, name in roles.items()}


def to_interactions(
    columns: dict[str, pa.ChunkedArray] | dict[str, np.ndarray],
    roles: dict[str, str],
    *,
    nulls: dict[str, int] | None = None,
    source: str,
    scale: RatingScale | None = None,
    text: tuple[FileText, str, bool] | None = None,
    item_meta: pd.DataFrame | None = None,
    user_meta: pd.DataFrame | None = None,
) -> Interactions:
    """Check parsed columns one by one (popping each) and hand the arrays to `Interactions.from_arrays`."""

    def where(row: int) -> tuple[int | None, str]:
        # Text files name the line; Parquet has none, so the message names the row instead.
        return (line_of_row(text, row), "") if text is not None else (None, f"row {row + 1}: ")

    nulls = dict(nulls or {})
    for role in ROLES:
        col = columns.get(role)
        if isinstance(col, pa.ChunkedArray) and col.null_count:
            nulls[role] = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
    if nulls:
        role = min(nulls, key=lambda r: (nulls[r], ROLES.index(r)))
        what = "an empty or NaN value" if role == "rating" else "an empty value"
        line, prefix = where(nulls[role])
        raise DataError(
            f"{prefix}{what} (expected {_EXPECT[role]})", path=source, line=line, field=roles[role]
        )
    if len(columns["user"]) == 0:  # after the empty values: parsing stops at the first one
        raise DataError("no rating rows (the file is empty or holds only a header)", path=source)

    arrays: dict[str, np.ndarray] = {}
    for role in ROLES:
        if role not in roles:
            continue
        col = columns.pop(role)  # converted one at a time, so only one column is ever held twice
        arrays[role] = col if isinstance(col, np.ndarray) else _numpy(col, role, source, roles[role])
        del col
    ratings = arrays.get("rating")
    if ratings is not None:
        bad = ~np.isfinite(ratings)
        if scale is not None:
            bad |= (ratings < scale.low - 1e-6) | (ratings > scale.high + 1e-6)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            expected = f"between {scale.low:g} and {scale.high:g}" if scale is not None else "a finite number"
            line, prefix = where(row)
            raise DataError(
                prefix
                + (
                    f"rating {ratings[row]:g} is outside the declared scale (expected {expected})"
                    if np.isfinite(ratings[row])
                    else f"{_spell(ratings[row])} is not a finite number (expected {expected})"
                ),
                path=source,
                line=line,
                field=roles["rating"],
            )
    return Interactions._build(  # the arrays are ours: factorize them in place, no copies
        arrays.pop("user"),
        arrays.pop("item"),
        ratings,
        arrays.get("timestamp"),
        consume=True,
        scale=scale,
        item_meta=item_meta,
        user_meta=user_meta,
        source=source,
    )


_EXPECT = {
    "user": "a user id",
    "item": "an item id",
    "rating": "a number such as 4 or 3.5",
    "timestamp": "integer seconds since 1970 or an ISO date",
}


def _numpy(col: pa.ChunkedArray, role: str, source: str, name: str) -> np.ndarray:
    """A column (one streamed batch, or a Parquet column) as numpy, typed as `Interactions` wants it."""
    kind = col.type
    if role == "timestamp":
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            col = col.cast(pa.timestamp("s")).cast(pa.int64())
        elif pa.types.is_floating(kind):
            col = col.cast(pa.int64(), safe=False)
        elif not pa.types.is_integer(kind):
            raise DataError(f"values are {kind} (expected {_EXPECT[role]})", path=source, field=name)
        return col.to_numpy().astype(np.int64, copy=False)
    if role == "rating":
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise DataError(f"values are {kind} (expected {_EXPECT[role]})", path=source, field=name)
        return col.to_numpy().astype(np.float32, copy=False)
    if pa.types.is_integer(kind):
        return col.to_numpy()
    if pa.types.is_floating(kind):  # e.g. a Parquet id column saved as float
        values = col.to_numpy()
        if not np.all(values == np.round(values)):
            raise DataError(
                f"ids are fractional numbers (expected {_EXPECT[role]}s)", path=source, field=name
            )
        return values.astype(np.int64)
    return np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def _parse(
    text: FileText,
    sep: str,
    names: list[str],
    header: bool,
    roles: dict[str, str],
    head_lines: list[str],
    na_values: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """pyarrow CSV parse of just the role columns, retrying wider id types when int32 overflows.

    Returns numpy columns by role and, per role, the first row holding an empty value.
    """
    types: dict[str, pa.DataType] = {roles["user"]: pa.int32(), roles["item"]: pa.int32()}
    if "rating" in roles:
        types[roles["rating"]] = pa.float32()
    sample = [split_fields(line, sep) for line in head_lines[int(header) :]]
    for role in ("user", "item", "timestamp"):
        if role not in roles:
            continue
        position = names.index(roles[role])
        integers = all(len(f) > position and INT.match(f[position].strip()) for f in sample)
        if role == "timestamp":
            if integers:  # typed up front: inference would cost a pass; ISO dates are left to inference
                types[roles[role]] = pa.int64()
        elif not integers:
            types[roles[role]] = pa.string()
    source, delimiter = text.stream(), sep
    if sep == "::":  # pyarrow takes one-character delimiters; MovieLens .dat files use '::'
        data = text.data if text.data is not None else text.path.read_bytes()  # type: ignore[union-attr]
        source, delimiter = pa.BufferReader(data.replace(b"::", b"\x1f")), "\x1f"
    line_bytes = sum(len(line) + 1 for line in head_lines[int(header) :]) / max(
        1, len(head_lines) - int(header)
    )
    estimate = int(text.size() / max(line_bytes, 1.0) * 1.02) + 1024
    for _ in range(4):
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(
                    column_names=names, skip_rows=int(header), encoding=text.encoding, block_size=1 << 20
                ),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"'),
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(roles.values()),
                    column_types=types,
                    strings_can_be_null=True,
                    null_values=["", *na_values],  # pyarrow's default also drops ids spelled NA or null
                ),
            )
            return _drain(reader, roles, estimate, text.name)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if isinstance(source, pa.BufferReader):
                source.seek(0)
            retry = _widen_or_raise(exc, text, sep, names, header, roles, types)
            types.update(retry)
    raise DataError("could not parse the file", path=text.name)  # pragma: no cover


def _drain(
    reader: pacsv.CSVStreamingReader, roles: dict[str, str], estimate: int, source: str
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Copy streamed record batches into numpy arrays sized from the file, so pyarrow only ever holds
    a few blocks: that keeps the peak RSS near the size of the result."""
    out: dict[str, np.ndarray] = {}
    nulls: dict[str, int] = {}
    n = 0
    for batch in reader:
        m = batch.num_rows
        for role, name in roles.items():
            column = batch.column(name)
            if column.null_count:
                nulls.setdefault(
                    role, n + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
                )
                continue
            values = _numpy(pa.chunked_array([column]), role, source, name)
            buf = out.get(role)
            if buf is None or len(buf) < n + m:
                grown = np.empty(max(estimate, 2 * (n + m)), dtype=values.dtype)
                if buf is not None:
                    grown[:n] = buf[:n]
                out[role] = buf = grown
            buf[n : n + m] = values
        n += m
        if nulls:  # the error names the first empty value; no need to read on
            break
    return {role: out.get(role, np.empty(0))[:n] for role in roles}, nulls


def _widen_or_raise(
    exc: Exception,
    text: FileText,
    sep: str,
    names: list[str],
    header: bool,
    roles: dict[str, str],
    types: dict[str, pa.DataType],
) -> dict[str, pa.DataType]:
    """Turn a pyarrow parse error into a wider id type to retry with, or a DataError with a line."""
    message = str(exc)
    if "UTF8" in message or "UTF-8" in message or isinstance(exc, UnicodeDecodeError):
        line = first_undecodable_line(text)
        raise DataError(
            f"bytes that are not valid {text.encoding} (pass encoding='latin-1' if the file uses it)",
            path=text.name,
            line=line,
        ) from None
    found = re.search(r"column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'", message)
    if found is None:
        columns_found = re.search(r"Expected (\d+) columns, got (\d+)", message)
        if columns_found:
            wanted, got = int(columns_found.group(1)), int(columns_found.group(2))
            line = first_line(text, lambda fields: len(fields) != wanted, sep, header)
            raise DataError(
                f"{got} fields where line 1 has {wanted} (wrong separator or a stray {sep!r}?)",
                path=text.name,
                line=line,
            ) from None
        raise DataError(f"cannot parse: {message}", path=text.name) from None
    column = names[int(found.group(1))] if int(found.group(1)) < len(names) else found.group(1)
    value = found.group(3)
    role = next((r for r, c in roles.items() if c == column), "")
    position = names.index(column) if column in names else int(found.group(1))
    if role in ("user", "item"):
        return {
            column: pa.int64() if INT.match(value.strip()) and types[column] == pa.int32() else pa.string()
        }
    if role == "timestamp" and types.get(column) == pa.int64():
        del types[column]  # not integer seconds after all: let pyarrow infer dates and times
        return {}
    line = first_line(
        text,
        lambda fields: len(fields) > position and fields[position].strip().strip('"') == value,
        sep,
        header,
    )
    raise DataError(
        f"{value!r} is not a number (expected {_EXPECT.get(role, 'a number')})",
        path=text.name,
        line=line,
        field=column,
    ) from None


def resolve_roles(
    names: list[str], columns: Sequence[str] | Mapping[str, str | int] | None, source: str, *, header: bool
) -> dict[str, str]:
    """Role -> file column name: from an explicit mapping, else by the usual names of each role."""
    roles: dict[str, str] = {}
    if isinstance(columns, Mapping):
        unknown = set(columns) - set(ROLES)
        if unknown:
            raise ValueError(f"columns= keys must be among {ROLES}, got {sorted(unknown)}")
        for role, col in columns.items():
            name = names[col] if isinstance(col, int) and 0 <= col < len(names) else col
            if name not in names:
                raise DataError(
                    f"no column {col!r} for the {role}; the columns are {names}",
                    path=source,
                    line=1 if header else None,
                    field=str(col),
                )
            if str(name) in roles.values():
                raise DataError(f"columns= names column {name!r} twice", path=source, field=str(name))
            roles[role] = str(name)
    normalised = {re.sub(r"[\s_\-]", "", n.lower()): n for n in names}
    for role in ROLES:
        if role in roles:
            continue
        match = next((normalised[a] for a in ALIASES[role] if a in normalised), None)
        if match is not None and match not in roles.values():
            roles[role] = match
    for role in ("user", "item"):
        if role not in roles:
            raise DataError(
                f"no {role} column among {names} (expected one named like {ALIASES[role][:3]}, "
                f"or pass columns={{'{role}': NAME}})",
                path=source,
                line=1 if header else None,
                field=role,
            )
    return roles


def _spell(value: float) -> str:
    return "NaN" if np.isnan(value) else str(value)
