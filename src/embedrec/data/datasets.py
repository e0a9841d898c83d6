"""Built-in datasets: the bundled `movielens-small` and the GroupLens MovieLens releases.

Releases are downloaded on first use, checked against a pinned sha256, and cached under
`$EMBEDREC_DATA` (else the platform's user cache folder). Downloads stream into a temporary file
in the cache folder and are moved into place only once verified, so a failure never leaves half a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import platformdirs
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from embedrec.data.interactions import Interactions
from embedrec.data.readers import read_ratings
from embedrec.errors import DataError, DatasetError

GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
BUNDLED = Path(__file__).resolve().parent.parent / "_bundled"


@dataclass(frozen=True)
class DatasetInfo:
    """One built-in dataset: where it comes from, its pinned checksum and its published size."""

    name: str
    n_ratings: int
    n_users: int
    n_items: int
    description: str
    url: str | None = None  # None: bundled inside the package
    sha256: str | None = None
    size: int | None = None  # bytes of the zip, checked before hashing
    cached: bool = False


def _grouplens(
    name: str, n_ratings: int, n_users: int, n_items: int, note: str, sha256: str, size: int
) -> DatasetInfo:
    return DatasetInfo(name, n_ratings, n_users, n_items, note, GROUPLENS + f"{name}.zip", sha256, size)


# sha256 and sizes of the GroupLens zips as published by dataset catalogues that pin them
# (ml-100k, ml-1m, ml-25m from TensorFlow Datasets' checksum list; ml-10m and ml-32m from projects
# that pin the archive next to GroupLens' own md5).
REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("movielens-small", 100_836, 610, 9_724, "2018, offline"),
        _grouplens("ml-100k", 100_000, 943, 1_682, "1998, u1-u5 folds",
                   "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229", 4_924_029),
        _grouplens("ml-1m", 1_000_209, 6_040, 3_706, "2003, user info",
                   "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20", 5_917_549),
        _grouplens("ml-10m", 10_000_054, 69_878, 10_677, "2009, half stars",
                   "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862", 65_566_137),
        _grouplens("ml-25m", 25_000_095, 162_541, 59_047, "2019, half stars",
                   "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa", 261_978_986),
        _grouplens("ml-32m", 32_000_204, 200_948, 84_432, "2023, half stars",
                   "e4a68655d7386b8f95f2f2424b2ff975dfdd15ffd59e0d864a14dca43e99d6ee", 238_950_008),
    )
}  # fmt: skip


def data_home(data_dir: str | Path | None = None) -> Path:
    """The cache folder: `data_dir`, else `$EMBEDREC_DATA`, else the platform's user cache folder."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("EMBEDREC_DATA"):
        return Path(os.environ["EMBEDREC_DATA"])
    return Path(platformdirs.user_cache_dir("embedrec")) / "datasets"


def list_datasets(data_dir: str | Path | None = None) -> list[DatasetInfo]:
    """Every built-in dataset, with `cached` telling whether it is ready without a download."""
    home = data_home(data_dir)
    return [
        replace(info, cached=info.url is None or _folder(info, home).is_dir()) for info in REGISTRY.values()
    ]


def load_dataset(
    name_or_path: str | Path,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
    **read_options: Any,
) -> Interactions:
    """A built-in dataset by name (downloaded and cached on first use), or a ratings file/folder/zip path.

    `read_options` go to `read_ratings` (columns, sep, header, scale, encoding, items, item_columns).
    """
    path = dataset_path(name_or_path, data_dir=data_dir, download=download, progress=progress)
    return read_ratings(path, **read_options)


def dataset_path(
    name_or_path: str | Path,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> Path:
    """Where a dataset's files are on disk, fetching a built-in one first if needed."""
    name = str(name_or_path)
    if name in REGISTRY:
        info = REGISTRY[name]
        if info.url is None:
            return BUNDLED / info.name
        return fetch(info, data_dir=data_dir, download=download, progress=progress)
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    raise DatasetError(
        f"unknown dataset {name!r}: not a built-in name ({', '.join(REGISTRY)}) "
        "and no file or folder at that path"
    )


def fetch(
    info: DatasetInfo, *, data_dir: str | Path | None = None, download: bool = True, progress: bool = True
) -> Path:
    """The extracted folder of a downloadable dataset: cached, or from a zip put by hand, or downloaded."""
    home = data_home(data_dir)
    folder = _folder(info, home)
    if folder.is_dir():
        return folder
    archive = home / f"{info.name}.zip"
    url = _mirrored(info)
    if not archive.is_file():
        if not download:
            raise DatasetError(
                f"{info.name} is not cached and download=False; {_by_hand(info, archive, url)}"
            )
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"cannot create the cache folder {home} ({exc}); set $EMBEDREC_DATA") from None
        _download(url, archive, info, progress)
    else:
        _verify(archive, info)
    _extract(archive, folder)
    return folder


def _folder(info: DatasetInfo, home: Path) -> Path:
    return home / info.name


def _mirrored(info: DatasetInfo) -> str:
    """The download URL; `$EMBEDREC_MIRROR` replaces the GroupLens base URL (a mirror or proxy cache)."""
    mirror, url = os.environ.get("EMBEDREC_MIRROR"), info.url or ""
    if mirror and url.startswith(GROUPLENS):
        return mirror.rstrip("/") + "/" + url[len(GROUPLENS) :]
    return url


def _by_hand(info: DatasetInfo, archive: Path, url: str) -> str:
    return f"download {url} by hand and put it at {archive} (sha256 {info.sha256})"


def _download(url: str, archive: Path, info: DatasetInfo, progress: bool) -> None:
    """Stream `url` into a temporary file beside `archive`, verify it, then move it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".part")
    tmp, digest = Path(tmp_name), hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or info.size
            bar = Progress(
                TextColumn(f"downloading {info.name}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
                disable=not progress,
            )
            with bar:
                task = bar.add_task("download", total=total)
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.advance(task, len(chunk))
        _check(tmp, info, digest.hexdigest(), f"the file downloaded from {url}", "nothing was kept")
        os.replace(tmp, archive)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = f"HTTP {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError) else exc
        reason = getattr(reason, "reason", None) or reason
        raise DatasetError(
            f"could not download {info.name} ({reason}); {_by_hand(info, archive, url)}"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _verify(archive: Path, info: DatasetInfo) -> None:
    """Check a zip that is already in the cache (e.g. put there by hand) against the pinned sha256."""
    digest = hashlib.sha256()
    with open(archive, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    _check(archive, info, digest.hexdigest(), str(archive), "delete it and try again")


def _check(path: Path, info: DatasetInfo, sha256: str, what: str, fix: str) -> None:
    size = path.stat().st_size
    if (info.size is not None and size != info.size) or (info.sha256 and sha256 != info.sha256):
        raise DatasetError(
            f"{what} does not match the published {info.name} zip (sha256 {sha256}, {size:,} bytes; "
            f"expected {info.sha256}, {info.size or 0:,} bytes): it is truncated, corrupt or another "
            f"release; {fix}"
        )


def _extract(archive: Path, folder: Path) -> None:
    """Unzip into a temporary folder beside `folder`, then rename it into place."""
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        entries = list(tmp.iterdir())
        inner = (
            entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        )  # ml-10m unpacks to ml-10M100K/
        os.replace(inner, folder)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"cannot extract ({exc}); delete it and fetch it again", path=str(archive)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
