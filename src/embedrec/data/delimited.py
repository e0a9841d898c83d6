"""Delimited text (CSV, TSV, `::`, `|`, `;`, spaces) into `Interactions`, streamed through pyarrow.

The separator and header are sniffed unless given, the columns chosen by `data.columns` from the names
and the first few thousand lines, and only the chosen columns are parsed, block by block, straight into
numpy arrays (pyarrow holds only a few blocks at a time). Every bad input becomes a `DataError` naming
the file, the line (1-based, counting the header) and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from embedrec.data.assemble import (
    Growing,
    IdColumn,
    Where,
    assemble,
    first_null,
    null_error,
    times_of,
    values_of,
)
from embedrec.data.columns import ROLES, SYNONYMS, ColumnChoice, choose_columns
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.profile import INT, profiles_of
from embedrec.data.sniff import (
    first_line,
    header_names,
    looks_like_header,
    sample_lines,
    separator_hint,
    sniff_separator,
    split_fields,
)
from embedrec.data.source import FileText, first_undecodable_line, line_of_row, undecodable
from embedrec.errors import Arg, DataError

# Files larger than this whose sampled ids are all plain integers parse them as integers directly (the
# fast path for 25M-row files); smaller files parse ids as text and keep each as written.
FAST_INT_BYTES = 64 << 20
Columns = Sequence[str] | Mapping[str, str | int | None] | None


def read_delimited(
    text: FileText,
    *,
    sep: str | None = None,
    header: bool | None = None,
    columns: Columns = None,
    scale: RatingScale | None = None,
    item_meta: pd.DataFrame | None = None,
    user_meta: pd.DataFrame | None = None,
    origin: dict[str, Any] | None = None,
    na_values: Sequence[str] = (),
) -> Interactions:
    """Parse delimited text (separator and header sniffed unless given) into `Interactions`; only empty
    fields (and `na_values`) are missing: an id spelled NA or null is an id."""
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
    names = header_names(first) if header else [f"column {j}" for j in range(len(first))]
    columns = _as_mapping(columns, len(first), text.name)
    rows = [split_fields(line, sep) for line in head_lines[int(header) :]]
    choice = choose_columns(profiles_of(names, rows), columns, text.name, header=bool(header))
    arrays = _parse(text, sep, names, bool(header), choice, rows, na_values)

    def where(row: int) -> tuple[int | None, str]:
        return line_of_row((text, bool(header)), row), ""

    if "timestamp" in arrays:
        arrays["timestamp"] = times_of(
            arrays["timestamp"], choice.time_format, where, text.name, choice.name("timestamp")
        )
    origin = {"format": _format_name(sep), "header": bool(header), **(origin or {})}
    return assemble(
        arrays, choice, where=where, source=text.name, scale=scale, origin=origin,
        item_meta=item_meta, user_meta=user_meta,
    )  # fmt: skip


def _format_name(sep: str) -> str:
    return {"\t": "tab-separated", ",": "comma-separated", "::": "'::'-separated", ";": "';'-separated",
            "|": "'|'-separated", " ": "space-separated"}.get(sep, f"{sep!r}-separated")  # fmt: skip


def _as_mapping(columns: Columns, width: int, source: str) -> Mapping[str, str | int | None] | None:
    """A list naming a headerless file's columns in order becomes role -> position."""
    if columns is None or isinstance(columns, Mapping):
        return columns
    if isinstance(columns, str):
        raise DataError(
            "{} must map roles to columns, e.g. {}",
            path=source,
            hints=(Arg("columns"), Arg("columns", {"user": 0, "item": 1, "rating": 2})),
        )
    names = list(columns)
    if len(names) != width:
        raise DataError(
            f"{{}} names {len(names)} columns but the file has {width}",
            path=source,
            line=1,
            hints=(Arg("columns"),),
        )
    return {SYNONYMS.get(n, n): j for j, n in enumerate(names) if SYNONYMS.get(n, n) in ROLES}


def _types(choice: ColumnChoice, rows: list[list[str]], size: int) -> dict[str, pa.DataType]:
    """pyarrow types of the chosen columns: ids as text (kept as written) or, for big files of plain
    integer ids, as integers; values as float32; epoch times as integers, dates as text."""
    types: dict[str, pa.DataType] = {}
    for role, position in choice.positions.items():
        column = f"c{position}"
        sample = [r[position].strip().strip('"') for r in rows if len(r) > position]
        integers = all(INT.match(v) for v in sample) and not any(len(v) > 1 and v[0] in "0+" for v in sample)
        if role in ("user", "item"):
            types[column] = pa.int32() if size > FAST_INT_BYTES and integers else pa.string()
        elif role in ("rating", "count"):
            types[column] = pa.float32()
        elif choice.time_format in ("epoch-s", "epoch-ms"):
            types[column] = pa.int64() if all(INT.match(v) for v in sample) else pa.float64()
        else:
            types[column] = pa.string()
    return types


def _parse(
    text: FileText,
    sep: str,
    names: list[str],
    header: bool,
    choice: ColumnChoice,
    rows: list[list[str]],
    na_values: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """pyarrow CSV parse of just the chosen columns, retrying wider id types when int32 overflows."""
    internal = [f"c{j}" for j in range(len(names))]
    types = _types(choice, rows, text.size())
    source, delimiter = text.stream(), sep
    if sep == "::":  # pyarrow takes one-character delimiters; MovieLens .dat files use '::'
        source, delimiter = pa.BufferReader(text.read_bytes().replace(b"::", b"\x1f")), "\x1f"
    elif sep == " ":
        squeezed = re.sub(rb"(?m)^[ \t]+", b"", re.sub(rb"[ \t]+", b" ", text.read_bytes()))
        source, delimiter = pa.BufferReader(squeezed), " "
    line_bytes = sum(len(line) + 1 for line in map(sep.join, rows)) / max(1, len(rows))
    estimate = int(text.size() / max(line_bytes, 1.0) * 1.02) + 1024
    for _ in range(4):
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(
                    column_names=internal, skip_rows=int(header), encoding=text.encoding, block_size=1 << 20
                ),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"'),
                convert_options=pacsv.ConvertOptions(
                    include_columns=[f"c{p}" for p in choice.positions.values()],
                    column_types=types,
                    strings_can_be_null=True,
                    null_values=["", *na_values],  # pyarrow's default list would drop ids spelled NA or null
                ),
            )
            return _drain(reader, choice, estimate, text, header)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if isinstance(source, pa.BufferReader):
                source.seek(0)
            types.update(_widen_or_raise(exc, text, sep, names, header, choice, types))
    raise DataError("could not parse the file", path=text.name)  # pragma: no cover


def _drain(
    reader: pacsv.CSVStreamingReader, choice: ColumnChoice, estimate: int, text: FileText, header: bool
) -> dict[str, np.ndarray]:
    """Copy streamed record batches into numpy arrays sized from the file, so pyarrow only ever holds
    a few blocks: that keeps the peak RSS near the size of the result."""
    out: dict[str, Growing] = {
        role: IdColumn(estimate) if role in ("user", "item") else Growing(estimate)
        for role in choice.positions
    }
    n = 0
    where: Where = lambda row: (line_of_row((text, header), row), "")  # noqa: E731
    for batch in reader:
        for role, position in choice.positions.items():
            column = batch.column(f"c{position}")
            null = first_null(column)
            if null is not None:  # the error names the first empty value; no need to read on
                raise null_error(role, n + null, where, text.name, choice.name(role))
            buf = out[role]
            if isinstance(buf, IdColumn):
                buf.add_ids(column)
            elif role == "timestamp" and pa.types.is_string(column.type):
                buf.add(np.asarray(column.to_numpy(zero_copy_only=False), dtype=object))
            elif role == "timestamp":
                buf.add(column.to_numpy())
            else:
                buf.add(values_of(column, role, text.name, choice.name(role)))
        n += batch.num_rows
    return {role: buf.result() for role, buf in out.items()}


def _widen_or_raise(
    exc: Exception,
    text: FileText,
    sep: str,
    names: list[str],
    header: bool,
    choice: ColumnChoice,
    types: dict[str, pa.DataType],
) -> dict[str, pa.DataType]:
    """Turn a pyarrow parse error into a wider id type to retry with, or a DataError with a line."""
    message = str(exc)
    if "UTF8" in message or "UTF-8" in message or isinstance(exc, UnicodeDecodeError):
        raise undecodable(text, first_undecodable_line(text)) from None
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
    position, value = int(found.group(1)), found.group(3)
    column = f"c{position}"
    role = next((r for r, p in choice.positions.items() if p == position), "")
    if role in ("user", "item"):  # a big file's integer ids: wider integers, else text
        return {
            column: pa.int64() if INT.match(value.strip()) and types[column] == pa.int32() else pa.string()
        }
    if role == "timestamp" and pa.types.is_integer(types[column]):
        return {column: pa.float64() if re.match(r"^[+-]?\d*\.\d*$", value.strip()) else pa.string()}
    line = first_line(
        text,
        lambda fields: len(fields) > position and fields[position].strip().strip('"') == value,
        sep,
        header,
    )
    expect = {"rating": "a number such as 4 or 3.5", "count": "a number of times"}.get(role, "a number")
    raise DataError(
        f"{value!r} is not a number (expected {expect})", path=text.name, line=line, field=names[position]
    ) from None
