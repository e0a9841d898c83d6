"""JSON lines (`.json`, `.jsonl`, `.ndjson`, compressed or not) into `Interactions`.

One object per line, as product-review dumps write them (`{"reviewerID": ..., "asin": ..., "overall": 5.0,
"unixReviewTime": 1252800000, ...}`); a file holding one JSON array of such objects works too, and so do
lines written as Python dicts (single quotes). The keys play the part of a header: the columns are chosen
by `data.columns` from the keys and the first few thousand objects, and only those fields are parsed, by
pyarrow with an explicit schema (the other fields, review texts among them, are skipped).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from embedrec.data.assemble import IdColumn, assemble, first_null, null_error, times_of, values_of
from embedrec.data.columns import ColumnChoice, choose_columns
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.profile import Profile
from embedrec.data.sniff import SNIFF_BYTES
from embedrec.data.source import FileText, line_of_row, undecodable
from embedrec.errors import DataError

SAMPLE_OBJECTS = 2000


def looks_like_json(text: FileText) -> bool:
    """A name ending in .json/.jsonl/.ndjson, or text that starts with '{' or '['."""
    if text.format_name.lower().endswith((".json", ".jsonl", ".ndjson")):
        return True
    return text.head(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def read_json_lines(
    text: FileText,
    *,
    columns: Mapping[str, str | int | None] | None = None,
    scale: RatingScale | None = None,
    item_meta: pd.DataFrame | None = None,
    origin: dict[str, Any] | None = None,
) -> Interactions:
    """Parse JSON lines (or one JSON array) of rating objects into `Interactions`."""
    objects, parse = _sample(text)
    keys = list(dict.fromkeys(k for obj in objects for k in obj))
    if len(keys) < 2:
        raise DataError(
            f"the objects have {len(keys)} field(s) {keys} (expected user and item fields)",
            path=text.name,
            line=1,
        )
    profiles = [Profile(j, key, [_as_text(obj.get(key)) for obj in objects]) for j, key in enumerate(keys)]
    choice = choose_columns(profiles, columns, text.name, header=True)

    def where(row: int) -> tuple[int | None, str]:
        return line_of_row(
            (text, False), row
        ) if parse != "array" else None, "" if parse != "array" else f"object {row + 1}: "

    table = _table(text, parse, choice, objects)
    arrays: dict[str, np.ndarray] = {}
    for role, position in choice.positions.items():
        col = table.column(choice.names[position])
        null = first_null(col)
        if null is not None:
            raise null_error(role, null, where, text.name, choice.names[position])
        if role in ("user", "item"):
            ids = IdColumn(len(col))
            ids.add_ids(col)
            arrays[role] = ids.result()
        elif role == "timestamp":
            arrays[role] = times_of(col, choice.time_format, where, text.name, choice.names[position])
        else:
            arrays[role] = values_of(col, role, text.name, choice.names[position])
    origin = {"format": "JSON lines" if parse != "array" else "a JSON array", **(origin or {})}
    return assemble(
        arrays, choice, where=where, source=text.name, scale=scale, origin=origin, item_meta=item_meta
    )


def _as_text(value: Any) -> str:
    """A sampled value as the profile reads it: numbers as written, lists and objects as not usable."""
    if value is None or isinstance(value, list | dict):
        return "" if value is None else "[...]"
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def _sample(text: FileText) -> tuple[list[dict[str, Any]], str]:
    """The first objects, and how the file is written: 'json' lines, 'python' dict lines or an 'array'."""
    raw = text.head(SNIFF_BYTES)
    complete = raw if text.size() <= len(raw) else raw[: raw.rfind(b"\n") + 1] or raw
    try:
        head = complete.decode(text.encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise undecodable(text, complete[: exc.start].count(b"\n") + 1) from None
    if not head.strip():
        raise DataError("the file is empty (expected one JSON object per line)", path=text.name, line=1)
    if head.lstrip().startswith("["):
        try:
            whole = json.loads(text.read_bytes().decode(text.encoding))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"not valid JSON ({exc})", path=text.name) from None
        if not isinstance(whole, list) or not all(isinstance(o, dict) for o in whole):
            raise DataError(
                "a JSON array of something else than objects (expected one object per rating)", path=text.name
            )
        return whole, "array"
    objects, parse = [], "json"
    for number, line in enumerate(head.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line) if parse == "json" else ast.literal_eval(line)
        except (json.JSONDecodeError, ValueError, SyntaxError) as exc:
            if parse == "json" and not objects and _python_dict(line):
                parse, obj = "python", ast.literal_eval(line)
            else:
                raise DataError(f"not a JSON object ({exc})", path=text.name, line=number) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"a JSON {type(obj).__name__}, not an object (expected one object per line)",
                path=text.name,
                line=number,
            )
        objects.append(obj)
        if len(objects) >= SAMPLE_OBJECTS:
            break
    return objects, parse


def _python_dict(line: str) -> bool:
    try:
        return isinstance(ast.literal_eval(line), dict)
    except (ValueError, SyntaxError):
        return False


def _table(text: FileText, parse: str, choice: ColumnChoice, sample: list[dict[str, Any]]) -> pa.Table:
    """The chosen fields of every object: pyarrow with an explicit schema, else Python for odd files."""
    fields = [choice.names[p] for p in choice.positions.values()]
    if parse == "json":
        schema = _schema(fields, sample)
        if schema is not None:
            try:
                return pajson.read_json(
                    text.stream(),
                    read_options=pajson.ReadOptions(block_size=1 << 22),
                    parse_options=pajson.ParseOptions(
                        explicit_schema=schema, unexpected_field_behavior="ignore"
                    ),
                )
            except pa.ArrowInvalid as exc:
                found = re.search(r"in row (\d+)", str(exc))
                if found is None or "changed from" not in str(exc):
                    line = line_of_row((text, False), int(found.group(1))) if found else None
                    raise DataError(
                        f"not valid JSON lines ({str(exc).split(' in row')[0]})", path=text.name, line=line
                    ) from None
    objects = sample if parse == "array" else _all_objects(text, parse)
    return pa.table({f: pa.array([_plain(o.get(f)) for o in objects]) for f in fields})


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _schema(fields: list[str], sample: list[dict[str, Any]]) -> pa.Schema | None:
    """Each field's JSON type in the sample (None when one field mixes numbers and strings)."""
    types = []
    for f in fields:
        kinds = {type(o[f]) for o in sample if o.get(f) is not None}
        if kinds <= {int}:
            types.append(pa.int64())
        elif kinds <= {int, float}:
            types.append(pa.float64())
        elif kinds <= {str}:
            types.append(pa.string())
        elif kinds <= {bool}:
            types.append(pa.bool_())
        else:
            return None
    return pa.schema(list(zip(fields, types, strict=True)))


def _all_objects(text: FileText, parse: str) -> list[dict[str, Any]]:
    """Every object, parsed in Python (the slow path, for mixed types and Python dict lines)."""
    loads = json.loads if parse == "json" else ast.literal_eval
    objects = []
    for number, raw in text.raw_lines():
        line = raw.decode(text.encoding, errors="replace").strip()
        if not line:
            continue
        try:
            objects.append(loads(line))
        except (json.JSONDecodeError, ValueError, SyntaxError) as exc:
            raise DataError(f"not a JSON object ({exc})", path=text.name, line=number) from None
    return objects
