"""Tables for the table models: read a CSV/TSV/Parquet file, infer each column's role, check a new file.

A table is a pandas DataFrame whose columns are numbers (float64, NaN where missing) or text (NaN where
missing). `read_table` sniffs the separator and the header with the rating reader's helpers, reads every
field as text, turns the columns whose every value is a number into numbers, and remembers where the
rows came from so that later errors can name the file and line. `infer_schema` decides what each column
is (categorical, numeric, multi-label like "Comedy|Drama", or skipped as id-like); `check_frame` checks a
test file against the training schema.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from embedrec.data.columns import name_score
from embedrec.data.profile import NUMBER
from embedrec.data.sniff import first_line, looks_like_header, sample_lines, sniff_separator, split_fields
from embedrec.data.source import FileText, line_of_row
from embedrec.errors import DataError, ParameterError

# Fields read as missing, in any column (Adult marks unknown values with "?").
NA_VALUES = frozenset({"", "?", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A"})
KINDS = ("categorical", "numeric", "multilabel", "skip")
LABEL_SEP = "|"
SOURCE = "embedrec_source"  # DataFrame.attrs key: where the rows came from, for error messages


# -- reading ----------------------------------------------------------------------------------------


def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    header: bool | None = None,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet table; separator and header are sniffed unless given.

    Columns whose every non-missing value is a number become float64; the others stay text. Missing
    fields ("", "?", "NA", "NaN", "null" ...) become NaN. A file without a header gets `names`, or
    col1, col2, ...
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=str(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a readable Parquet file ({exc})", path=str(path)) from None
        frame.attrs[SOURCE] = {"path": str(path), "text": False}
        return _typed(frame)
    text = FileText.from_path(path, encoding)
    lines = sample_lines(text)
    sep = sniff_separator(text.name, lines) if sep is None else sep
    if header is None:
        header = _looks_like_table_header(lines, sep)
    width = len(split_fields(lines[0], sep))
    if names is not None and len(names) != width:
        raise DataError(f"names= gives {len(names)} names but the file has {width} columns", path=text.name)
    if names is None:
        names = _header_names(lines[0], sep) if header else [f"col{i + 1}" for i in range(width)]
    frame = _parse(text, sep, bool(header), list(names), width)
    dup = frame.columns[frame.columns.duplicated()]
    if len(dup):
        raise DataError(f"column {dup[0]!r} appears twice in the header", path=text.name, line=1)
    frame.attrs[SOURCE] = {
        "path": text.name,
        "text": True,
        "header": bool(header),
        "sep": sep,
        "encoding": encoding,
    }
    return _typed(frame)


def _looks_like_table_header(lines: list[str], sep: str) -> bool:
    """The rating reader's test, or a first row of text only whose values never recur below it."""
    if looks_like_header(lines, sep):
        return True
    first = [f.strip().strip('"') for f in split_fields(lines[0], sep)]
    if any(NUMBER.match(f) for f in first):
        return False
    below = [split_fields(line, sep) for line in lines[1:]]
    return not any(
        j < len(row) and row[j].strip().strip('"') == f for row in below for j, f in enumerate(first)
    )


def _header_names(line: str, sep: str) -> list[str]:
    """The column names of a header line (quotes understood)."""
    if len(sep) > 1 or sep == " ":
        return [f.strip().strip('"') for f in split_fields(line, sep)]
    return [f.strip() for f in next(csv.reader([line], delimiter=sep))]


def _parse(text: FileText, sep: str, header: bool, names: list[str], width: int) -> pd.DataFrame:
    """Every field as text; a row with the wrong number of fields is a DataError naming its line."""
    if len(sep) > 1 or sep == " ":  # pyarrow takes one-character separators only
        return pd.read_csv(
            io.BytesIO(text.read_bytes()),
            sep=r"\s+" if sep == " " else re.escape(sep),
            engine="python",
            dtype=str,
            keep_default_na=False,
            header=0 if header else None,
            names=names,
            encoding=text.encoding,
        )
    try:
        table = pacsv.read_csv(
            text.stream(),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=int(header), encoding=text.encoding),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                auto_dict_encode=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        line = first_line(text, lambda fields: len(fields) != width, sep, header)
        if line is not None:
            raise DataError(
                f"a row with a different number of fields than the first ({width})", path=text.name, line=line
            ) from None
        raise DataError(f"could not parse the file ({exc})", path=text.name) from None
    frame = table.to_pandas()
    return frame.astype({c: object for c in frame.columns if not pd.api.types.is_string_dtype(frame[c])})


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns whose every non-missing value is a number become float64; missing fields NaN."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_bool_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
            out[col] = values
            continue
        if pd.api.types.is_numeric_dtype(values):
            out[col] = values.astype(np.float64)
            continue
        text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
        missing = text.isin(NA_VALUES)
        numbers = pd.to_numeric(text.where(~missing), errors="coerce")
        if (numbers.notna() | missing).all() and not missing.all():
            out[col] = numbers.astype(np.float64)
        else:
            out[col] = text.where(~missing, np.nan).astype(object)
    typed = pd.DataFrame(out, index=frame.index)
    typed.attrs.update(frame.attrs)
    return typed


def where(frame: pd.DataFrame, row: int) -> tuple[str | None, int | None, str]:
    """(file, line, prefix) of data row `row` (0-based position) for an error message."""
    source = frame.attrs.get(SOURCE)
    if source is None:
        return None, None, f"row {row + 1}: "
    if not source["text"]:
        return source["path"], None, f"row {row + 1}: "
    text = FileText.from_path(Path(source["path"]), source["encoding"])
    return source["path"], line_of_row((text, source["header"]), row), ""


def source_of(frame: pd.DataFrame) -> str | None:
    """The file a frame was read from, if any."""
    source = frame.attrs.get(SOURCE)
    return None if source is None else source["path"]


# -- the schema -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One input column, what the model does with it, and why."""

    name: str
    kind: str  # one of KINDS
    reason: str  # "given", "text", "numbers", "an id: ...": shown by `describe`


@dataclass(frozen=True)
class TableSchema:
    """The role of every input column of a table model, in the training frame's order."""

    columns: tuple[Column, ...]

    def names(self, kind: str) -> list[str]:
        """The columns of one kind, in order."""
        return [c.name for c in self.columns if c.kind == kind]

    @property
    def used(self) -> list[str]:
        """The columns the model reads (every kind but skip)."""
        return [c.name for c in self.columns if c.kind != "skip"]

    def describe(self) -> list[str]:
        """One line per column: its name, kind and the reason."""
        return [f"{c.name}: {c.kind} ({c.reason})" for c in self.columns]

    def to_json(self) -> list[dict[str, str]]:
        return [{"name": c.name, "kind": c.kind, "reason": c.reason} for c in self.columns]

    @classmethod
    def from_json(cls, data: list[dict[str, str]]) -> TableSchema:
        return cls(tuple(Column(str(c["name"]), str(c["kind"]), str(c["reason"])) for c in data))


def _is_id_name(name: str) -> bool:
    """userId, movie_id, item, customer ...: the names the rating reader knows, or ending in id."""
    exact = name_score(name, "user") == 2 or name_score(name, "item") == 2
    return exact or name.lower() == "id" or bool(re.search(r"([_\s-]id$)|([a-z]Id$)|ID$", name))


def infer_schema(
    frame: pd.DataFrame,
    *,
    categorical: Iterable[str] | None = None,
    numeric: Iterable[str] | None = None,
    multilabel: Iterable[str] | None = None,
    skip: Iterable[str] | None = None,
) -> TableSchema:
    """The role of each column, from its values unless given.

    Text is categorical; text with "|" in at least 10% of values (like "Comedy|Drama") is multi-label;
    text with a distinct value on more than half the rows (names, free text) is skipped as id-like.
    Numbers are numeric, except a column named like an id (userId, movie, item_id): categorical when
    values repeat, skipped when each row has its own. A column with no values at all is a DataError.
    """
    given: dict[str, str] = {}
    for kind, cols in (
        ("categorical", categorical),
        ("numeric", numeric),
        ("multilabel", multilabel),
        ("skip", skip),
    ):
        for col in [] if cols is None else ([cols] if isinstance(cols, str) else list(cols)):
            if col not in frame.columns:
                names = ", ".join(map(str, frame.columns))
                raise DataError(
                    f"no column {col!r} to treat as {kind}; the columns are {names}", path=source_of(frame)
                )
            if col in given and given[col] != kind:
                raise ParameterError(f"column {col!r} is given as both {given[col]} and {kind}")
            given[col] = kind
    out = []
    for col in frame.columns:
        name = str(col)
        if col in given:
            kind, reason = given[col], "given"
        else:
            kind, reason = _infer(frame[col], name)
        if kind != "skip" and frame[col].isna().all():
            raise DataError(
                "every value is missing: nothing to learn from (drop the column or skip it)",
                path=source_of(frame),
                field=name,
            )
        out.append(Column(name, kind, reason))
    return TableSchema(tuple(out))


def _infer(values: pd.Series, name: str) -> tuple[str, str]:
    known = values.dropna()
    n_distinct = known.nunique()
    if pd.api.types.is_bool_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        return "categorical", "categories"
    if pd.api.types.is_numeric_dtype(values):
        if not _is_id_name(name):
            return "numeric", "numbers"
        if len(known) >= 20 and n_distinct == len(known):
            return "skip", "an id: a different value on every row"
        return "categorical", "an id whose values repeat"
    text = known.astype(str)
    if len(text) and text.str.contains(LABEL_SEP, regex=False).mean() >= 0.1:
        tokens = {t for row in text for t in row.split(LABEL_SEP)}
        if len(tokens) <= n_distinct:
            return "multilabel", f"'{LABEL_SEP}'-separated labels"
    if len(text) >= 20 and n_distinct > len(text) / 2:
        return "skip", f"id-like: {n_distinct:,} distinct values in {len(text):,} rows"
    return "categorical", "text"


# -- checking a frame against a schema ----------------------------------------------------------------


def check_frame(schema: TableSchema, frame: pd.DataFrame) -> None:
    """Every column the model reads is present, and numeric columns hold numbers: else a DataError."""
    missing = [c for c in schema.used if c not in frame.columns]
    if missing:
        raise DataError(
            f"column {missing[0]!r} is missing (the model was trained on {', '.join(schema.used)})",
            path=source_of(frame),
        )
    for name in schema.names("numeric"):
        numbers(frame, name)


def numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as float64 (NaN where missing); text or infinity is a DataError naming the line."""
    values = frame[name]
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(values):
        x = values.to_numpy(dtype=np.float64)
        bad = np.isinf(x)
        what = "is not a finite number"
    else:
        text = values.astype(object)
        x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = (np.isnan(x) & values.notna().to_numpy()) | np.isinf(x)
        what = "is not a number"
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        path, line, prefix = where(frame, row)
        raise DataError(
            f"{prefix}{values.iloc[row]!r} {what} (expected a number or an empty field)",
            path=path,
            line=line,
            field=name,
        )
    return x


def target_column(frame: pd.DataFrame, target: str) -> pd.Series:
    """The target column, checked: present and never missing."""
    if target not in frame.columns:
        raise DataError(
            f"no target column {target!r}; the columns are {', '.join(map(str, frame.columns))}",
            path=source_of(frame),
        )
    y = frame[target]
    if y.isna().any():
        row = int(np.flatnonzero(y.isna().to_numpy())[0])
        path, line, prefix = where(frame, row)
        raise DataError(
            f"{prefix}the target is missing (every row needs one)", path=path, line=line, field=target
        )
    return y


def as_frame(X: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    """A DataFrame from a DataFrame (as is) or a 2-D array (columns `names`, else x0, x1, ...)."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(
            f"Expected a 2D table, got an array of shape {arr.shape}: reshape your data "
            "(array.reshape(-1, 1) for a single feature) or pass a DataFrame"
        )
    cols = list(names) if names is not None else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=cols)
