"""Where the bytes of a data file come from: a plain file, a gzip/bz2/xz/zip-compressed one, or a zip member.

`FileText` is the one view of an input that pyarrow parses and that error messages point into. A
compressed file is recognised by its first bytes, not its name, and decompressed into memory once; its
`format_name` drops the compression suffix (`reviews.json.gz` reads as `reviews.json`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from embedrec.errors import Arg, DataError

# first bytes -> (compression name, the suffixes it is usually written with)
MAGIC = {
    b"\x1f\x8b": ("gzip", (".gz", ".gzip")),
    b"BZh": ("bz2", (".bz2",)),
    b"\xfd7zXZ\x00": ("xz", (".xz", ".lzma")),
    b"PK\x03\x04": ("zip", (".zip",)),
}
_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "bz2": bz2.decompress,
    "xz": lzma.decompress,
}
SKIPPED_MEMBERS = ("__MACOSX/", ".DS_Store")


def compression_of(path: Path) -> str | None:
    """'gzip', 'bz2', 'xz' or 'zip' from the file's first bytes, else None."""
    with open(path, "rb") as f:
        head = f.read(8)
    return next((name for magic, (name, _) in MAGIC.items() if head.startswith(magic)), None)


def zip_members(path: Path) -> list[str]:
    """The files in a zip archive (folders and macOS metadata left out)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"not a readable zip archive ({exc}): it may be truncated or corrupt", path=str(path)
        ) from None
    return [n for n in names if not n.endswith("/") and not any(s in n for s in SKIPPED_MEMBERS)]


class FileText:
    """Where delimited text comes from (a file or bytes in memory), for pyarrow and for error messages."""

    def __init__(
        self,
        name: str,
        *,
        path: Path | None = None,
        data: bytes | None = None,
        encoding: str = "utf-8",
        format_name: str | None = None,
    ) -> None:
        self.name, self.path, self.data, self.encoding = name, path, data, encoding
        self.format_name = format_name or Path(name).name

    @classmethod
    def from_path(cls, path: Path, encoding: str = "utf-8") -> FileText:
        """A file as it is, or decompressed into memory when its first bytes say it is compressed."""
        kind = compression_of(path)
        if kind is None:
            return cls(str(path), path=path, encoding=encoding)
        if kind == "zip":
            members = zip_members(path)
            if len(members) != 1:
                shown = ", ".join(members[:6]) + (", ..." if len(members) > 6 else "")
                raise DataError(
                    f"the zip holds {len(members)} files ({shown or 'none'}), not one ratings file: "
                    "unzip it and pass the ratings file",
                    path=str(path),
                )
            return cls.from_zip(path, members[0], encoding)
        try:
            data = _DECOMPRESS[kind](path.read_bytes())
        except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
            raise DataError(
                f"cannot decompress this {kind} file ({exc}): it may be truncated", path=str(path)
            ) from None
        return cls(str(path), data=data, encoding=encoding, format_name=_strip_suffix(path.name, kind))

    @classmethod
    def from_zip(cls, path: Path, member: str, encoding: str = "utf-8") -> FileText:
        """One member of a zip archive, read into memory."""
        display = f"{path}:{member}"
        try:
            with zipfile.ZipFile(path) as zf:
                data = zf.read(member)
        except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
            raise DataError(
                f"cannot read this zip member ({exc}): the zip may be corrupt", path=display
            ) from None
        return cls(display, data=data, encoding=encoding, format_name=Path(member).name)

    def head(self, n: int) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with open(self.path, "rb") as f:  # type: ignore[arg-type]
            return f.read(n)

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    def read_bytes(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()  # type: ignore[union-attr]

    def stream(self) -> Any:
        """What pyarrow reads: the path itself (memory-mapped, multithreaded) or an in-memory buffer."""
        return pa.BufferReader(self.data) if self.data is not None else str(self.path)

    def raw_lines(self) -> Iterator[tuple[int, bytes]]:
        """(1-based line number, bytes) over the whole input."""
        raw = io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")  # type: ignore[arg-type]  # noqa: SIM115
        with raw:
            yield from enumerate(raw, 1)

    def lines(self) -> Iterator[tuple[int, str]]:
        """(1-based line number, text) over the whole input; only used to locate errors."""
        for number, line in self.raw_lines():
            yield number, line.decode(self.encoding, errors="replace").rstrip("\r\n")


def _strip_suffix(name: str, kind: str) -> str:
    """`reviews.json.gz` -> `reviews.json`: the name the format is recognised by."""
    suffixes = next(sfx for k, sfx in MAGIC.values() if k == kind)
    return next((name[: -len(s)] for s in suffixes if name.lower().endswith(s)), name)


def undecodable(text: FileText, line: int | None) -> DataError:
    """The error for bytes that are not valid in the text's encoding, suggesting latin-1."""
    return DataError(
        f"bytes that are not valid {text.encoding} (pass {{}} if the file uses it)",
        path=text.name,
        line=line,
        hints=(Arg("encoding", "latin-1"),),
    )


def first_undecodable_line(text: FileText) -> int | None:
    for number, line in text.raw_lines():
        try:
            line.decode(text.encoding)
        except UnicodeDecodeError:
            return number
    return None


def line_of_row(text: tuple[FileText, bool] | None, row: int) -> int | None:
    """The file line of data row `row` (0-based), counting the header and skipping blank lines."""
    if text is None:
        return None
    source, header = text
    seen = -1 - int(header)
    for number, line in source.raw_lines():
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return None
