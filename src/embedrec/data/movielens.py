"""MovieLens native layouts (ml-100k, ml-1m/10m, ml-latest/25m/32m) as a folder, a zip or a ratings file.

A layout is recognised by its files, not its folder name: `u.data` (100K), `ratings.dat` (1M, 10M),
`ratings.csv` + `movies.csv` (latest, 20M, 25M, 32M). Titles, years and genres become item metadata;
ages, genders, occupations and zip codes become user metadata.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from embedrec.data.delimited import read_delimited
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.sniff import FileText
from embedrec.errors import DataError

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
RATINGS_FILES = ("u.data", "ratings.dat", "ratings.csv")
WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)  # ml-100k, ml-1m
HALF_STARS = RatingScale(0.5, 5.0, 0.5)  # ml-10m and later
_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


class Layout:
    """The files of one MovieLens release, read from a folder or straight out of a zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            found = [*path.glob("*/*"), *path.glob("*")]  # top-level files win over a subfolder's
            self.names = {p.name: p for p in found if p.is_file()}
        else:
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(
                    f"not a readable zip archive ({exc}); the download may be truncated or corrupt, "
                    "delete it and fetch it again",
                    path=str(path),
                ) from None
            self.names = {Path(n).name: n for n in self._zip.namelist() if not n.endswith("/")}  # type: ignore[misc]
        self.ratings = next((n for n in RATINGS_FILES if n in self.names), None)

    def has(self, name: str) -> bool:
        return name in self.names

    def text(self, name: str, encoding: str = "utf-8") -> FileText:
        """One file as FileText: a path for folders, the member's bytes for zips."""
        where = self.names[name]
        if self._zip is None:
            return FileText(str(where), path=Path(where), encoding=encoding)
        display = f"{self.path}:{where}"
        try:
            data = self._zip.read(str(where))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(
                f"corrupt zip member ({exc}); delete the zip and fetch it again", path=display
            ) from None
        return FileText(display, data=data, encoding=encoding)

    def decoded_lines(self, name: str) -> tuple[str, list[str]]:
        """A small metadata file's lines; MovieLens writes some of them in latin-1, not UTF-8."""
        text = self.text(name)
        raw = text.data if text.data is not None else Path(text.path).read_bytes()  # type: ignore[arg-type]
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = raw.decode("latin-1")  # every byte is valid latin-1: u.item and ml-1m movies.dat
        return text.name, decoded.splitlines()


def is_movielens(path: Path) -> bool:
    """True when the folder or zip holds a MovieLens ratings file."""
    try:
        return Layout(path).ratings is not None
    except DataError:
        return False


def read_movielens(
    path: str | Path, *, scale: RatingScale | None = None, ratings_file: str | None = None
) -> Interactions:
    """Ratings plus item and user metadata from a MovieLens folder, zip, or one of its ratings files.

    `ratings_file` picks another file of the same layout, e.g. ml-100k's `u1.base`.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() != ".zip":
        ratings_file, path = ratings_file or path.name, path.parent
    layout = Layout(path)
    if layout.ratings is None:
        raise DataError(
            f"no MovieLens ratings file here (expected one of {', '.join(RATINGS_FILES)})", path=str(path)
        )
    name = ratings_file or layout.ratings
    if not layout.has(name):
        raise DataError(f"no file {name!r} in this MovieLens folder", path=str(path))
    if layout.ratings == "u.data":
        return read_delimited(
            layout.text(name),
            sep="\t",
            header=False,
            scale=scale or WHOLE_STARS,
            item_meta=_ml100k_items(layout) if layout.has("u.item") else None,
            user_meta=_ml100k_users(layout) if layout.has("u.user") else None,
        )
    if layout.ratings == "ratings.dat":
        whole = "users.dat" in layout.names  # ml-1m has whole stars and users.dat; ml-10m neither
        return read_delimited(
            layout.text(name),
            sep="::",
            header=False,
            scale=scale or (WHOLE_STARS if whole else HALF_STARS),
            item_meta=_dat_items(layout) if layout.has("movies.dat") else None,
            user_meta=_dat_users(layout) if whole else None,
        )
    return read_delimited(
        layout.text(name),
        sep=",",
        header=True,
        scale=scale or HALF_STARS,
        item_meta=_csv_items(layout) if layout.has("movies.csv") else None,
    )


def year_of(title: str) -> float:
    """The year in a trailing '(1995)' of a MovieLens title, else NaN."""
    found = _YEAR.search(title)
    return float(found.group(1)) if found else np.nan


def _fields(name: str, lines: list[str], sep: str, n: int) -> list[list[str]]:
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) != n:
            raise DataError(
                f"{len(fields)} fields separated by {sep!r} (expected {n})", path=name, line=number
            )
        rows.append(fields)
    return rows


def _int_ids(name: str, rows: list[list[str]]) -> np.ndarray:
    try:
        return np.array([int(r[0]) for r in rows], dtype=np.int64)
    except ValueError:
        bad = next(i for i, r in enumerate(rows) if not r[0].strip().lstrip("-").isdigit())
        raise DataError(
            f"{rows[bad][0]!r} is not an integer id", path=name, line=bad + 1, field="id"
        ) from None


def _ml100k_items(layout: Layout) -> pd.DataFrame:
    name, lines = layout.decoded_lines("u.item")
    rows = _fields(name, lines, "|", 5 + len(ML100K_GENRES))
    genres = [
        "|".join(g for g, flag in zip(ML100K_GENRES, r[5:], strict=True) if flag.strip() == "1") for r in rows
    ]
    years = [float(r[2][-4:]) if re.search(r"\d{4}$", r[2]) else np.nan for r in rows]
    return pd.DataFrame(
        {"title": [r[1] for r in rows], "year": years, "genres": genres}, index=_int_ids(name, rows)
    )


def _ml100k_users(layout: Layout) -> pd.DataFrame:
    name, lines = layout.decoded_lines("u.user")
    rows = _fields(name, lines, "|", 5)
    return pd.DataFrame(
        {
            "age": [float(r[1]) for r in rows],
            "gender": [r[2] for r in rows],
            "occupation": [r[3] for r in rows],
            "zip": [r[4] for r in rows],
        },
        index=_int_ids(name, rows),
    )


def _dat_items(layout: Layout) -> pd.DataFrame:
    name, lines = layout.decoded_lines("movies.dat")
    rows = _fields(name, lines, "::", 3)
    return _titled(name, rows, [r[2] for r in rows])


def _dat_users(layout: Layout) -> pd.DataFrame:
    name, lines = layout.decoded_lines("users.dat")
    rows = _fields(name, lines, "::", 5)
    occupation = [
        ML1M_OCCUPATIONS[int(r[3])] if r[3].isdigit() and int(r[3]) < len(ML1M_OCCUPATIONS) else r[3]
        for r in rows
    ]
    return pd.DataFrame(
        {
            "age": [float(r[2]) for r in rows],  # ml-1m gives the age band's lower bound (1, 18, 25, ...)
            "gender": [r[1] for r in rows],
            "occupation": occupation,
            "zip": [r[4] for r in rows],
        },
        index=_int_ids(name, rows),
    )


def _csv_items(layout: Layout) -> pd.DataFrame:
    text = layout.text("movies.csv")
    source = text.path if text.data is None else __import__("io").BytesIO(text.data)
    try:
        movies = pd.read_csv(source, dtype={"movieId": "int64", "title": str, "genres": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read movies ({exc})", path=text.name) from None
    missing = {"movieId", "title", "genres"} - set(movies.columns)
    if missing:
        raise DataError(
            f"missing column {sorted(missing)[0]!r} (expected movieId,title,genres)", path=text.name, line=1
        )
    rows = [[str(i), str(t)] for i, t in zip(movies["movieId"], movies["title"].fillna(""), strict=True)]
    genres = movies["genres"].fillna("").replace("(no genres listed)", "").tolist()
    return _titled(text.name, rows, genres)


def _titled(name: str, rows: list[list[str]], genres: list[str]) -> pd.DataFrame:
    titles = [r[1].strip() for r in rows]
    return pd.DataFrame(
        {"title": titles, "year": [year_of(t) for t in titles], "genres": genres}, index=_int_ids(name, rows)
    )
