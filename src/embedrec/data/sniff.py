"""Sniffing delimited text: the sample lines, the separator, the header, and the lines errors point at."""

from __future__ import annotations

from collections.abc import Callable

from embedrec.data.columns import ROLES, name_score
from embedrec.data.profile import NUMBER
from embedrec.data.source import FileText, undecodable
from embedrec.errors import Arg, DataError

SEPARATORS = ("\t", "::", ",", ";", "|")
SEP_NAMES = {"\t": "tab", "::": "'::'", ",": "comma", ";": "';'", "|": "'|'", " ": "space"}
SNIFF_BYTES = 1 << 18  # the first 256 KiB: a few thousand lines to sniff and profile
SAMPLE_LINES = 2000


def sample_lines(text: FileText) -> list[str]:
    """The first non-blank lines (complete ones only), decoded; the errors name the file and line."""
    raw = text.head(SNIFF_BYTES)
    if not raw.strip():
        raise DataError("the file is empty (expected a header or rating rows)", path=text.name, line=1)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    complete = raw if text.size() <= len(raw) else raw[: raw.rfind(b"\n") + 1] or raw
    try:
        decoded = complete.decode(text.encoding)
    except UnicodeDecodeError as exc:
        raise undecodable(text, complete[: exc.start].count(b"\n") + 1) from None
    except LookupError:
        raise DataError(
            f"unknown encoding {text.encoding!r} (expected e.g. 'utf-8' or 'latin-1')", path=text.name
        ) from None
    lines = [line for line in decoded.splitlines() if line.strip()][:SAMPLE_LINES]
    if not lines:  # str.strip() takes control characters such as 0x1c-0x1f for whitespace
        raise DataError("no text lines: only whitespace and control characters", path=text.name, line=1)
    return lines


def split_fields(line: str, sep: str) -> list[str]:
    """The fields of one line, honouring double quotes around fields that hold the separator."""
    if sep == " ":
        return line.split()
    if '"' not in line or len(sep) > 1:
        return line.split(sep)
    fields, current, quoted = [], [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            fields.append("".join(current))
            current = []
            continue
        current.append(ch)
    fields.append("".join(current))
    return fields


def sniff_separator(name: str, lines: list[str]) -> str:
    """The separator that splits (nearly) every sampled line into the same number (>= 2) of fields."""
    sample = lines[:50]
    for sep in SEPARATORS:  # the first separator that splits most lines like the first one
        counts = [len(split_fields(line, sep)) for line in sample]
        if counts[0] >= 2 and counts.count(counts[0]) > 0.5 * len(counts):
            return sep
    if all(len(line.split()) >= 2 for line in sample):
        return " "
    raise DataError(
        "found a single column: no separator among tab, '::', ',', ';', '|' or space splits every line "
        "(expected user and item columns; give the separator with {})",
        path=name,
        line=1,
        hints=(Arg("sep"),),
    )


def separator_hint(lines: list[str]) -> str:
    try:
        return f"; the file looks {SEP_NAMES[sniff_separator('', lines)]}-separated"
    except DataError:
        return ""


def looks_like_header(lines: list[str], sep: str) -> bool:
    """A first line naming a role (userId, rating, ...), or text above numbers, is a header."""
    first = [f.strip().strip('"') for f in split_fields(lines[0], sep)]
    if any(name_score(f, role) == 2 for f in first for role in ROLES):
        return True
    if len(lines) < 2:
        return not any(NUMBER.match(f) for f in first)
    second = [f.strip().strip('"') for f in split_fields(lines[1], sep)]
    return any(not NUMBER.match(a) and NUMBER.match(b) for a, b in zip(first, second, strict=False))


def header_names(fields: list[str]) -> list[str]:
    """Header names, stripped and unique (a repeated or empty name gets its column number)."""
    names: list[str] = []
    for j, field in enumerate(fields):
        name = field.strip().strip('"').strip()
        names.append(name if name and name not in names else f"column {j}")
    return names


def first_line(text: FileText, bad: Callable[[list[str]], bool], sep: str, header: bool) -> int | None:
    """The first data line whose fields `bad` flags."""
    for number, line in text.lines():
        if (header and number == 1) or not line.strip():
            continue
        if bad(split_fields(line, sep)):
            return number
    return None
