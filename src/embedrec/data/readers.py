"""Read ratings from CSV/TSV/Parquet files (and MovieLens folders or zips) into `Interactions`.

Parsing streams through pyarrow's CSV reader with int32/float32 column types straight into numpy arrays
(pyarrow holds only a few blocks at a time); every bad input becomes a `DataError` naming the file, the
line (1-based, counting the header) and the field.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from embedrec.data.delimited import read_delimited, resolve_roles, take_columns, to_interactions
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.movielens import read_movielens
from embedrec.data.sniff import ROLES, FileText
from embedrec.errors import DataError, ParameterError


def read_ratings(
    path: str | Path,
    sep: str | None = None,
    header: bool | None = None,
    columns: Sequence[str] | Mapping[str, str | int] | None = None,
    *,
    scale: RatingScale | tuple[float, float] | None = None,
    encoding: str = "utf-8",
    na_values: Sequence[str] = (),
) -> Interactions:
    """Read a ratings file (CSV/TSV/Parquet) or a MovieLens folder/zip into `Interactions`.

    `sep` and `header` are sniffed when None. `columns` maps roles to file columns
    (``{"user": "customer", "item": "sku"}``) or names a headerless file's columns in order
    (``["user", "item", "rating", "timestamp"]``); by default common names such as userId are found.
    Ids are data: only empty fields are missing, unless `na_values` lists more (``["NA", "null"]``).
    """
    check_read_arguments(path, sep, header, columns, encoding, na_values)
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    scale = RatingScale.coerce(scale)
    if path.is_dir() or path.suffix.lower() == ".zip" or _is_movielens_file(path):
        return read_movielens(path, scale=scale)
    if path.suffix.lower() in (".parquet", ".pq"):
        table, roles = _read_parquet(path, columns)
        return to_interactions(take_columns(table, roles), roles, source=str(path), scale=scale)
    text = FileText.from_path(path, encoding)
    return read_delimited(text, sep=sep, header=header, columns=columns, scale=scale, na_values=na_values)


def check_read_arguments(
    path: object, sep: object, header: object, columns: object, encoding: object, na_values: object
) -> None:
    """ParameterError naming the first argument of `read_ratings` it cannot use."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ParameterError(f"path must be a file or folder name, got {path!r:.60}")
    if sep is not None and (not isinstance(sep, str) or (len(sep) != 1 and sep != "::") or sep in '\r\n"'):
        raise ParameterError(f"sep must be one character (or '::'), got {sep!r:.60}")
    if header is not None and not isinstance(header, bool):
        raise ParameterError(f"header must be True, False or None (sniffed), got {header!r:.60}")
    if isinstance(columns, Mapping):
        unknown = sorted(map(str, set(columns) - set(ROLES)))
        if unknown:
            raise ParameterError(f"columns= keys must be among {', '.join(ROLES)}, got {unknown}")
        named = list(columns.values())
        if not all(isinstance(c, str) or (isinstance(c, int) and not isinstance(c, bool)) for c in named):
            raise ParameterError(f"columns= values must be column names or positions, got {named!r:.80}")
        if len(set(named)) < len(named):
            raise ParameterError(f"columns= names one column for two roles: {dict(columns)!r:.80}")
    elif columns is not None:
        if isinstance(columns, str | bytes) or not isinstance(columns, Sequence):
            raise ParameterError(f"columns= must be a mapping or a list of names, got {columns!r:.60}")
        if not all(isinstance(c, str) for c in columns) or len(set(columns)) < len(columns):
            raise ParameterError(f"columns= must list distinct column names, got {list(columns)!r:.80}")
    try:
        codecs.lookup(encoding)  # type: ignore[arg-type]
    except (LookupError, TypeError):
        raise ParameterError(f"unknown encoding {encoding!r:.60} (utf-8 and latin-1 are common)") from None
    if not isinstance(na_values, Sequence) or isinstance(na_values, str | bytes):
        raise ParameterError(f"na_values must be a list of strings, got {na_values!r:.60}")
    if not all(isinstance(v, str) for v in na_values):
        raise ParameterError(f"na_values must be a list of strings, got {na_values!r:.60}")


def _read_parquet(
    path: Path, columns: Sequence[str] | Mapping[str, str | int] | None
) -> tuple[pa.Table, dict[str, str]]:
    import pyarrow.parquet as pq

    try:
        schema_names = pq.read_schema(path).names
        roles = resolve_roles(schema_names, columns, str(path), header=True)
        return pq.read_table(path, columns=list(roles.values())), roles
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", path=str(path)) from None


def _is_movielens_file(path: Path) -> bool:
    return path.name in ("u.data", "ratings.dat") or (
        path.name == "ratings.csv" and (path.parent / "movies.csv").is_file()
    )
