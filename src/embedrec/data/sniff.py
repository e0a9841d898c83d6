"""Sniffing delimited text: separator, header, the names that mean each column, and error lines.

`FileText` is the one view of the input (a path, or bytes from a zip member) that pyarrow parses and
that error messages point into.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from embedrec.errors import DataError

ROLES = ("user", "item", "rating", "timestamp")
# Column names that mean each role, compared lower-case with '_', '-' and spaces removed.
ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "userid", "users", "uid", "customer", "customerid", "visitor", "visitorid"),
    "item": ("item", "itemid", "items", "iid", "movie", "movieid", "product", "productid", "track"),
    "rating": ("rating", "ratings", "score", "stars", "value", "preference"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unixtime", "created"),
}
SEPARATORS = ("\t", "::", ",", ";", "|")
SNIFF_BYTES = 1 << 16
INT = re.compile(r"^[+-]?\d+$")
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class FileText:
    """Where delimited text comes from (a file or bytes from a zip member), for pyarrow and for errors."""

    def __init__(
        self, name: str, *, path: Path | None = None, data: bytes | None = None, encoding: str = "utf-8"
    ) -> None:
        self.name, self.path, self.data, self.encoding = name, path, data, encoding

    @classmethod
    def from_path(cls, path: Path, encoding: str = "utf-8") -> FileText:
        return cls(str(path), path=path, encoding=encoding)

    def head(self, n: int = SNIFF_BYTES) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with open(self.path, "rb") as f:  # type: ignore[arg-type]
            return f.read(n)

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    def stream(self) -> Any:
        """What pyarrow reads: the path itself (memory-mapped, multithreaded) or an in-memory buffer."""
        return pa.BufferReader(self.data) if self.data is not None else str(self.path)

    def lines(self) -> Iterator[tuple[int, str]]:
        """(1-based line number, text) over the whole input; only used to locate errors."""
        raw = io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")  # type: ignore[arg-type]  # noqa: SIM115
        with raw:
            for number, line in enumerate(raw, 1):
                yield number, line.decode(self.encoding, errors="replace").rstrip("\r\n")


def sample_lines(text: FileText) -> list[str]:
    raw = text.head()
    if not raw.strip():
        raise DataError("the file is empty (expected a header or rating rows)", path=text.name, line=1)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    complete = raw if text.size() <= len(raw) else raw[: raw.rfind(b"\n") + 1] or raw
    try:
        decoded = complete.decode(text.encoding)
    except UnicodeDecodeError as exc:
        line = complete[: exc.start].count(b"\n") + 1
        raise DataError(
            f"bytes that are not valid {text.encoding} (pass encoding='latin-1' if the file uses it)",
            path=text.name,
            line=line,
        ) from None
    lines = [line for line in decoded.splitlines() if line.strip()][:200]
    if not lines:  # str.strip() takes control characters such as 0x1c-0x1f for whitespace
        raise DataError("no text lines: only whitespace and control characters", path=text.name, line=1)
    return lines


def split_fields(line: str, sep: str) -> list[str]:
    return line.split(sep) if sep != " " else line.split()


def sniff_separator(name: str, lines: list[str]) -> str:
    """The separator that splits (nearly) every sampled line into the same number (>= 2) of fields."""
    sample = lines[:50]
    for sep in SEPARATORS:  # the first separator that splits most lines like the first one
        counts = [len(split_fields(line, sep)) for line in sample]
        if counts[0] >= 2 and counts.count(counts[0]) > 0.5 * len(counts):
            return sep
    if all(len(line.split()) >= 2 for line in lines[:50]):
        return " "
    raise DataError(
        "found a single column: no separator among tab, '::', ',', ';', '|' or space splits every line "
        "(expected user and item columns; pass sep=...)",
        path=name,
        line=1,
    )


def separator_hint(lines: list[str]) -> str:
    try:
        return f"; the file looks {SEP_NAMES[sniff_separator('', lines)]}-separated"
    except DataError:
        return ""


SEP_NAMES = {"\t": "tab", "::": "'::'", ",": "comma", ";": "';'", "|": "'|'", " ": "space"}


def looks_like_header(lines: list[str], sep: str) -> bool:
    first = [f.strip().strip('"') for f in split_fields(lines[0], sep)]
    names = {re.sub(r"[\s_\-]", "", f.lower()) for f in first}
    if any(names & set(aliases) for aliases in ALIASES.values()):
        return True
    if len(lines) < 2:
        return not any(NUMBER.match(f) for f in first)
    second = [f.strip() for f in split_fields(lines[1], sep)]
    return any(not NUMBER.match(a) and NUMBER.match(b) for a, b in zip(first, second, strict=False))


def line_of_row(text: tuple[FileText, str, bool] | None, row: int) -> int | None:
    """The file line of data row `row` (0-based), counting the header and skipping blank lines."""
    if text is None:
        return None
    source, _, header = text
    seen = -1 - int(header)
    for number, line in source.lines():
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return None


def first_line(text: FileText, bad: Callable[[list[str]], bool], sep: str, header: bool) -> int | None:
    for number, line in text.lines():
        if (header and number == 1) or not line.strip():
            continue
        if bad(split_fields(line, sep)):
            return number
    return None


def first_undecodable_line(text: FileText) -> int | None:
    raw = io.BytesIO(text.data) if text.data is not None else open(text.path, "rb")  # type: ignore[arg-type]  # noqa: SIM115
    with raw:
        for number, line in enumerate(raw, 1):
            try:
                line.decode(text.encoding)
            except UnicodeDecodeError:
                return number
    return None
