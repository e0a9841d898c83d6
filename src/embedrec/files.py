"""Durable writes: the new version is written and fsynced beside the old one, then switched in by one
atomic rename, and the folder is fsynced. A crash or Ctrl-C at any instant leaves the old file or the
new one, never half of one; the temporaries of an interrupted write start with TMP_PREFIX, so the next
writer can find and remove them (`remove_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from embedrec.errors import ParameterError, ResourceError

TMP_PREFIX = ".tmp-"
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def temporary_name(path: Path) -> Path:
    """A fresh name beside `path` for its next version: hidden, marked as temporary, never reused."""
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}")


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new names, renames, removals) durable; a no-op where folders cannot be
    opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; nothing more can be done there
        pass
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to a new file at `path` (which must not exist) and fsync it; removed if interrupted."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides the mode
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Replace the file at `path` by `data` durably and atomically; returns the path."""
    return write_files_atomic({Path(path): data})[0]


def write_files_atomic(files: Mapping[Path, bytes]) -> list[Path]:
    """Write several files: every new version first (fsynced, under temporary names), then the renames,
    so an interruption before the renames leaves all the old files and no temporaries."""
    staged: list[tuple[Path, Path]] = []
    try:  # OSError (no such folder, no permission, disk full) becomes one embedrec error, below
        for path, data in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temporary_name(path)
            staged.append((tmp, path))
            write_file(tmp, data)
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        _discard(staged)
        raise storage_error(exc, next(iter(files), Path("."))) from None
    except BaseException:
        _discard(staged)
        raise
    for parent in {path.parent for _, path in staged}:
        fsync_dir(parent)
    return [path for _, path in staged]


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for tmp, _ in staged:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path (same folder, same suffix) for a writer that wants a file name (matplotlib);
    on success it is fsynced and renamed onto `path`, on any error or Ctrl-C it is removed."""
    target = Path(path)
    tmp = temporary_name(target).with_suffix(target.suffix)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise storage_error(exc, target) from None
        raise
    fsync_dir(target.parent)


def remove_temporaries(folder: Path) -> int:
    """Remove the temporaries interrupted writes left in `folder`; returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith(TMP_PREFIX):
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def storage_error(exc: OSError, path: Path) -> ParameterError | ResourceError:
    """The one-line embedrec error for a file system refusal while writing `path`."""
    where = exc.filename or path
    if exc.errno in _FULL:
        return ResourceError(f"cannot write {where}: {exc.strerror} (free some space, or write elsewhere)")
    return ParameterError(f"cannot write {where}: {exc.strerror or exc} (choose a folder you can write to)")
