"""Item metadata files (titles, years, genres) attached to ratings read from elsewhere.

`movies.dat` (`1::Toy Story (1995)::Animation|Children's|Comedy`), `movies.csv`, a TSV or `|` file, or JSON
lines of product metadata: the id, title, year and genres columns are found by name (`movieId`, `asin`,
`title`, `genres`, `categories`, ...), or, without a header, the id first, the title second, and the
genres and year by their values. The year defaults to a trailing "(1995)" in the title. Ids are kept as
written, like the ratings' ids, so `0120338` matches `0120338`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embedrec.data.columns import EXACT, normalise
from embedrec.data.interactions import Interactions
from embedrec.data.profile import INT
from embedrec.data.sniff import sniff_separator, split_fields
from embedrec.data.source import FileText
from embedrec.errors import Arg, DataError

FIELDS = ("id", "title", "year", "genres")
NAMES = {
    "id": EXACT["item"] | {"id", "key", "code"},
    "title": frozenset(
        "title titles name movietitle booktitle primarytitle originaltitle producttitle label".split()
    ),
    "year": frozenset("year releaseyear startyear yearofpublication published".split()),
    "genres": frozenset("genres genre categories category tags tag".split()),
}
_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


def year_of(title: str) -> float:
    """The year in a trailing '(1995)' of a title, else NaN."""
    found = _YEAR.search(title)
    return float(found.group(1)) if found else np.nan


def read_items(
    path: str | Path,
    *,
    columns: Mapping[str, str | int] | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Title, year and genres by raw item id from a metadata file (`columns` maps id/title/year/genres)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such item metadata file", path=str(path))
    text = FileText.from_path(path, encoding)
    decoded = _decode(text)
    if decoded.lstrip().startswith("{"):
        rows, names = _json_rows(decoded, text.name)
        header = True
    else:
        lines = [line for line in decoded.splitlines() if line.strip()]
        if not lines:
            raise DataError("the item metadata file is empty", path=text.name, line=1)
        sep = sep or sniff_separator(text.name, lines[:200])
        rows = [split_fields(line, sep) for line in lines]
        first = [f.strip().strip('"') for f in rows[0]]
        header = any(normalise(f) in NAMES[k] for f in first for k in ("title", "genres", "year")) or (
            len(rows) > 1 and not INT.match(first[0]) and bool(INT.match(rows[1][0].strip().strip('"')))
        )
        names = first if header else [f"column {j + 1}" for j in range(len(first))]
        rows = rows[int(header) :]
    found = _choose(names, rows, columns, text.name, header)
    return _frame(rows, found, text.name, header)


def _decode(text: FileText) -> str:
    raw = text.read_bytes().lstrip(b"\xef\xbb\xbf")
    try:
        return raw.decode(text.encoding)
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # every byte is valid latin-1 (MovieLens' u.item and movies.dat are)


def _json_rows(decoded: str, name: str) -> tuple[list[list[Any]], list[str]]:
    objects = []
    for number, line in enumerate(decoded.splitlines(), 1):
        if line.strip():
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"not a JSON object ({exc})", path=name, line=number) from None
    keys = list(dict.fromkeys(k for o in objects for k in o))
    return [[_flat(o.get(k)) for k in keys] for o in objects], keys


def _flat(value: Any) -> str:
    """A JSON value as text; nested category lists become 'A|B|C'."""
    if isinstance(value, list):
        flat = [str(v) for part in value for v in (part if isinstance(part, list) else [part])]
        return "|".join(dict.fromkeys(flat))
    return "" if value is None else str(value)


def _choose(
    names: list[str],
    rows: list[list[Any]],
    columns: Mapping[str, str | int] | None,
    source: str,
    header: bool,
) -> dict[str, int]:
    """Field -> column position: given, by name, else id first, title second, genres and year by value."""
    found: dict[str, int] = {}
    for key, col in (columns or {}).items():
        if key not in FIELDS:
            raise DataError(
                f"unknown item field {key!r} in {{}} (expected among {', '.join(FIELDS)})",
                path=source,
                hints=(Arg("item_columns"),),
            )
        position = col if isinstance(col, int) else names.index(col) if col in names else None
        if position is None or not 0 <= position < len(names):
            raise DataError(
                f"no column {col!r} for the item {key}; the columns are {names}", path=source, line=1
            )
        found[key] = position
    if header:
        for key in FIELDS:
            if key not in found:
                hit = next(
                    (
                        j
                        for j, n in enumerate(names)
                        if normalise(n) in NAMES[key] and j not in found.values()
                    ),
                    None,
                )
                if hit is not None:
                    found[key] = hit
    found.setdefault("id", 0)
    if "title" not in found and not header and len(names) > 1:
        found["title"] = 1 if found["id"] != 1 else 0
    sample = rows[:500]
    for j in range(len(names)):
        if j in found.values():
            continue
        values = [str(r[j]).strip() for r in sample if j < len(r) and str(r[j]).strip()]
        text = values and not all(INT.match(v) for v in values)
        last_of_three = not header and len(names) == 3 and j == 2
        if (
            "genres" not in found
            and text
            and (sum("|" in v for v in values) > 0.3 * len(values) or last_of_three)
        ):
            found["genres"] = j
        elif "year" not in found and values and all(INT.match(v) and 1850 <= int(v) <= 2100 for v in values):
            found["year"] = j
    if "title" not in found and "genres" not in found:
        raise DataError(
            f"no title or genres column among {names}; choose them with {{}}",
            path=source,
            line=1,
            hints=(Arg("item_columns", {"id": 0, "title": 1}),),
        )
    return found


def _frame(rows: list[list[Any]], found: dict[str, int], source: str, header: bool) -> pd.DataFrame:
    width = max(found.values()) + 1
    short = next((i for i, r in enumerate(rows) if len(r) < width), None)
    if short is not None:
        raise DataError(
            f"{len(rows[short])} fields where the metadata needs {width}",
            path=source,
            line=short + 1 + int(header),
        )
    ids = [str(r[found["id"]]).strip().strip('"') for r in rows]
    plain = all(INT.match(v) and not (len(v) > 1 and v[0] in "0+") for v in ids)
    index = pd.Index(np.array([int(v) for v in ids], np.int64) if plain else np.array(ids, dtype=object))
    frame = pd.DataFrame(index=index)
    if "title" in found:
        frame["title"] = [str(r[found["title"]]).strip().strip('"') for r in rows]
    if "year" in found:
        frame["year"] = pd.to_numeric(pd.Series([r[found["year"]] for r in rows]), errors="coerce").to_numpy()
    elif "title" in found:
        frame["year"] = [year_of(t) for t in frame["title"]]
    if "genres" in found:
        frame["genres"] = [str(r[found["genres"]]).strip().replace("(no genres listed)", "") for r in rows]
    return frame[~frame.index.duplicated(keep="first")]


def attach_items(data: Interactions, meta: pd.DataFrame, source: str) -> Interactions:
    """`data` with its item metadata from `meta` (indexed by raw id); refuses when no id matches."""
    raw = data.item_ids.raw_ids
    index = meta.index
    if data.item_ids.is_integer and index.dtype == object:
        index = pd.Index([int(v) if INT.match(str(v)) else v for v in index])
    elif not data.item_ids.is_integer and index.dtype != object:
        index = pd.Index([str(v) for v in index], dtype=object)
    meta = meta.set_axis(index)
    matched = int(index.isin(raw).sum())
    if matched == 0:
        example = f" (e.g. {index[0]!r} there, {raw[0]!r} in the ratings)" if len(index) and len(raw) else ""
        raise DataError(f"none of its {len(meta):,} ids is an item id of the ratings{example}", path=source)
    aligned = meta[~meta.index.duplicated(keep="first")].reindex(raw).reset_index(drop=True)
    origin = {
        **data.origin,
        "items": f"{source}: metadata for {int(np.isin(raw, index).sum()):,} of {len(raw):,} items",
    }
    return Interactions._owned(
        data.users, data.items, data.ratings, data.timestamps, user_ids=data.user_ids, item_ids=data.item_ids,
        scale=data.scale, user_meta=data.user_meta, item_meta=aligned, source=data.source, origin=origin,
    )  # fmt: skip
