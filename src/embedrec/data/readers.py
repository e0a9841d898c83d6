"""Read ratings from CSV/TSV/Parquet files (and MovieLens folders or zips) into `Interactions`.

Parsing streams through pyarrow's CSV reader with int32/float32 column types straight into numpy arrays
(pyarrow holds only a few blocks at a time); every bad input becomes a `DataError` naming the file, the
line (1-based, counting the header) and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from embedrec.data.delimited import read_delimited, resolve_roles, take_columns, to_interactions
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.movielens import read_movielens
from embedrec.data.sniff import (
    FileText,
)
from embedrec.errors import DataError


def read_ratings(
    path: str | Path,
    sep: str | None = None,
    header: bool | None = None,
    columns: Sequence[str] | Mapping[str, str | int] | None = None,
    *,
    scale: RatingScale | tuple[float, float] | None = None,
    encoding: str = "utf-8",
) -> Interactions:
    """Read a ratings file (CSV/TSV/Parquet) or a MovieLens folder/zip into `Interactions`.

    `sep` and `header` are sniffed when None. `columns` maps roles to file columns
    (``{"user": "customer", "item": "sku"}``) or names a headerless file's columns in order
    (``["user", "item", "rating", "timestamp"]``); by default common names such as userId are found.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    scale = _as_scale(scale)
    if path.is_dir() or path.suffix.lower() == ".zip" or _is_movielens_file(path):
        return read_movielens(path, scale=scale)
    if path.suffix.lower() in (".parquet", ".pq"):
        table, roles = _read_parquet(path, columns)
        return to_interactions(take_columns(table, roles), roles, source=str(path), scale=scale)
    text = FileText.from_path(path, encoding)
    return read_delimited(text, sep=sep, header=header, columns=columns, scale=scale)


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


def _as_scale(scale: RatingScale | tuple[float, float] | None) -> RatingScale | None:
    if scale is None or isinstance(scale, RatingScale):
        return scale
    return RatingScale(float(scale[0]), float(scale[1]), *(scale[2:] if len(scale) > 2 else ()))


def _is_movielens_file(path: Path) -> bool:
    return path.name in ("u.data", "ratings.dat") or (
        path.name == "ratings.csv" and (path.parent / "movies.csv").is_file()
    )
