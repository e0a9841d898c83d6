"""Read a ratings file, folder or archive into `Interactions`: the one entry point, `read_ratings`.

It dispatches on what the input really is: a MovieLens release (only when its files say so), JSON lines,
Parquet, or delimited text, each possibly compressed (gzip, bz2, xz, or a zip holding one file). Item
metadata from a separate file (`items=`) is attached by raw id; a `ratings.*` file with a `movies.*`
file beside it gets its titles from there.
"""

from __future__ import annotations

import codecs
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from embedrec.data.assemble import IdColumn, assemble, first_null, null_error, times_of, values_of
from embedrec.data.columns import choose_columns
from embedrec.data.delimited import read_delimited
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.items import attach_items, read_items
from embedrec.data.jsonl import looks_like_json, read_json_lines
from embedrec.data.movielens import Layout, is_movielens, read_movielens
from embedrec.data.profile import Profile
from embedrec.data.source import FileText, compression_of, zip_members
from embedrec.errors import Arg, DataError, ParameterError

Columns = Sequence[str] | Mapping[str, str | int | None] | None
RATINGS_STEMS = ("ratings", "rating", "reviews", "interactions", "u.data")
ITEM_STEMS = ("movies", "items", "products", "books")


def read_ratings(
    path: str | Path,
    sep: str | None = None,
    header: bool | None = None,
    columns: Columns = None,
    *,
    scale: RatingScale | tuple[float, float] | None = None,
    encoding: str = "utf-8",
    items: str | Path | None = None,
    item_columns: Mapping[str, str | int] | None = None,
    na_values: Sequence[str] = (),
) -> Interactions:
    """Read ratings from a file (CSV/TSV/`::`/JSON lines/Parquet, compressed or not), folder or zip.

    `sep` and `header` are sniffed when None. `columns` maps roles (user, item, rating, count, time) to
    columns by name or 0-based position (``{"user": 0, "item": 1, "rating": 4}``; None for "no such
    column"), or names a headerless file's columns in order; otherwise names, then values, decide, and
    a file where two columns could each be the rating or the time is refused. `scale` declares the rating
    range (low, high). `items` is a metadata file (titles, years, genres) whose columns `item_columns`
    maps (id, title, year, genres). `.origin` of the result says which column was read as what. Ids are
    data: only an empty field is missing, unless `na_values` lists more (``["NA", "null"]``).
    """
    check_arguments(path, sep, header, encoding, na_values)
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    scale = _as_scale(scale)
    explicit = any(v is not None for v in (sep, header, columns)) or encoding != "utf-8"
    if not explicit and is_movielens(path):
        data = read_movielens(path, scale=scale)
    elif path.is_dir():
        data = _read_file(_ratings_in(path), sep, header, columns, scale, encoding, na_values)
    else:
        data = _read_file(path, sep, header, columns, scale, encoding, na_values)
    if items is not None:
        return attach_items(data, read_items(items, columns=item_columns, encoding=encoding), str(items))
    if item_columns is not None:
        raise ParameterError(
            "{} describes the columns of an items file: pass {} too", Arg("item_columns"), Arg("items")
        )
    sibling = _sibling_items(path) if data.item_meta is None else None
    if sibling is not None:
        try:
            return attach_items(data, read_items(sibling, encoding=encoding), str(sibling))
        except DataError as exc:
            warnings.warn(f"{sibling.name} beside the ratings was not attached ({exc})", stacklevel=2)
    return data


def _read_file(
    path: Path,
    sep: str | None,
    header: bool | None,
    columns: Columns,
    scale: RatingScale | None,
    encoding: str,
    na_values: Sequence[str] = (),
) -> Interactions:
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path, columns, scale)
    if compression_of(path) == "zip":
        members = zip_members(path)
        if len(members) > 1:
            layout = Layout(path)
            if layout.kind is not None:
                return read_movielens(path, scale=scale)
            picked = [m for m in members if Path(m).name.lower().startswith(RATINGS_STEMS)]
            if len(picked) != 1:
                raise DataError(
                    f"the zip holds {len(members)} files ({', '.join(members[:6])}): unzip it and pass the "
                    "ratings file",
                    path=str(path),
                )
            text = FileText.from_zip(path, picked[0], encoding)
        else:
            text = FileText.from_path(path, encoding)
    else:
        text = FileText.from_path(path, encoding)
    if looks_like_json(text):
        if sep is not None or header is not None:
            raise ParameterError(
                "{} and {} apply to delimited text, not JSON lines", Arg("sep"), Arg("header")
            )
        if columns is not None and not isinstance(columns, Mapping):
            raise ParameterError("{} must map roles to JSON keys for JSON lines", Arg("columns"))
        return read_json_lines(text, columns=columns, scale=scale)
    return read_delimited(text, sep=sep, header=header, columns=columns, scale=scale, na_values=na_values)


def check_arguments(path: object, sep: object, header: object, encoding: object, na_values: object) -> None:
    """A ParameterError naming the first argument of `read_ratings` of a type or value it cannot use."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ParameterError("{} must name a file or folder, got " + _got(path), Arg("path"))
    if sep is not None and (not isinstance(sep, str) or not sep or sep in '\r\n"'):
        raise ParameterError("{} must be a separator such as ',' or '::', got " + _got(sep), Arg("sep"))
    if header is not None and not isinstance(header, bool):
        raise ParameterError("{} must be True, False or None (sniffed), got " + _got(header), Arg("header"))
    try:
        codecs.lookup(encoding)  # type: ignore[arg-type]
    except (LookupError, TypeError, ValueError):  # ValueError: a NUL in the name
        raise ParameterError(
            "unknown {} " + _got(encoding) + " (e.g. 'utf-8', 'latin-1')", Arg("encoding")
        ) from None
    if not isinstance(na_values, list | tuple) or not all(isinstance(v, str) for v in na_values):
        raise ParameterError("{} must be a list of strings, got " + _got(na_values), Arg("na_values"))


def _got(value: object) -> str:
    """A received value as message text: its repr, cut short, braces doubled for the template."""
    return repr(value)[:60].replace("{", "{{").replace("}", "}}")


def _ratings_in(folder: Path) -> Path:
    """The one ratings file in a folder that is no MovieLens release."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    picked = [p for p in files if p.name.lower().startswith(RATINGS_STEMS)]
    if len(picked) == 1:
        return picked[0]
    shown = ", ".join(p.name for p in files[:8]) or "nothing"
    raise DataError(
        f"no single ratings file in this folder (it holds {shown}): pass the ratings file itself",
        path=str(folder),
    )


def _sibling_items(path: Path) -> Path | None:
    """A `movies.*` (or items/products/books) file beside a `ratings.*` file, when there is exactly one."""
    ratings = _ratings_in(path) if path.is_dir() else path
    if not ratings.name.lower().startswith(("ratings", "rating")) or compression_of(ratings) == "zip":
        return None
    found = [
        p
        for p in ratings.parent.iterdir()
        if p.is_file()
        and p != ratings
        and p.name.lower().startswith(ITEM_STEMS)
        and p.suffix.lower() in (".dat", ".csv", ".tsv", ".txt", ".json", ".jsonl")
    ]
    return found[0] if len(found) == 1 else None


def _read_parquet(path: Path, columns: Columns, scale: RatingScale | None) -> Interactions:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        names = file.schema_arrow.names
        head = next(file.iter_batches(batch_size=2000), None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", path=str(path)) from None
    if columns is not None and not isinstance(columns, Mapping):
        columns = {role: j for j, role in enumerate(columns)}
    sample = {n: [] if head is None else head.column(n).to_pylist() for n in names}
    profiles = [Profile(j, n, ["" if v is None else str(v) for v in sample[n]]) for j, n in enumerate(names)]
    choice = choose_columns(profiles, columns, str(path), header=True)
    table = pq.read_table(path, columns=[names[p] for p in choice.positions.values()])

    def where(row: int) -> tuple[int | None, str]:
        return None, f"row {row + 1}: "

    arrays: dict[str, np.ndarray] = {}
    for role, position in choice.positions.items():
        col = table.column(names[position])
        null = first_null(col)
        if null is not None:
            raise null_error(role, null, where, str(path), names[position])
        if role in ("user", "item"):
            ids = IdColumn(len(col))
            ids.add_ids(col)
            arrays[role] = ids.result()
        elif role == "timestamp":
            arrays[role] = times_of(col, choice.time_format, where, str(path), names[position])
        else:
            arrays[role] = values_of(col, role, str(path), names[position])
    return assemble(arrays, choice, where=where, source=str(path), scale=scale, origin={"format": "Parquet"})


def _as_scale(scale: RatingScale | tuple[float, float] | None) -> RatingScale | None:
    if scale is None or isinstance(scale, RatingScale):
        return scale
    try:
        return RatingScale(float(scale[0]), float(scale[1]), *(scale[2:] if len(scale) > 2 else ()))
    except (TypeError, ValueError, IndexError, KeyError):
        got = repr(scale).replace("{", "{{").replace("}", "}}")
        raise ParameterError(
            f"{{}} must be (low, high), e.g. {{}}; got {got}", Arg("scale"), Arg("scale", (1, 5))
        ) from None
