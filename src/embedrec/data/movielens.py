"""MovieLens native layouts (ml-100k, ml-1m/10m, ml-latest/25m/32m) as a folder, a zip or a ratings file.

A layout is recognised by its files and their contents, not by a file name alone: `u.data` beside
`u.item` (100K); `ratings.dat` of `user::movie::rating::time` lines with ratings in 0.5..5 beside a
`movies.dat` of `id::title::genres` (1M, 10M); `ratings.csv` headed `userId,movieId,rating,timestamp`
beside a `movies.csv` headed `movieId,title,genres` (latest, 20M, 25M, 32M). Anything else (another
data set that borrows the names, such as a 0..10 `ratings.dat`) is read as plain delimited text. Titles,
years and genres become item metadata; ages, genders, occupations and zip codes become user metadata.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from embedrec.data.delimited import read_delimited
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.items import year_of
from embedrec.data.source import FileText
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
FOLD_FILES = tuple(
    f"{fold}.{part}" for fold in ("u1", "u2", "u3", "u4", "u5", "ua", "ub") for part in ("base", "test")
)
WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)  # ml-100k, ml-1m
HALF_STARS = RatingScale(0.5, 5.0, 0.5)  # ml-10m and later


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
                    f"not a readable zip archive ({exc}): it may be truncated or corrupt", path=str(path)
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
            raise DataError(f"corrupt zip member ({exc}): the zip may be damaged", path=display) from None
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

    def first_lines(self, name: str, n: int = 20) -> list[str]:
        """The first lines of a file, decoded leniently: enough to recognise a layout."""
        text = self.text(name)
        head = text.head(1 << 14)
        return [line for line in head.decode("latin-1").splitlines()[:n] if line.strip()]

    @property
    def kind(self) -> str | None:
        """'100k', 'dat' or 'csv' when the files really are a MovieLens release, else None."""
        if self.has("u.data") and self.has("u.item"):
            return "100k"
        if self.has("ratings.dat") and self.has("movies.dat"):
            rows = [line.split("::") for line in self.first_lines("ratings.dat")]
            movies = [line.split("::") for line in self.first_lines("movies.dat")]
            if rows and all(len(r) == 4 and _stars(r[2]) for r in rows) and all(len(m) == 3 for m in movies):
                return "dat"
        if self.has("ratings.csv") and self.has("movies.csv"):
            ratings, movies = self.first_lines("ratings.csv", 1), self.first_lines("movies.csv", 1)
            if ratings and movies and ratings[0].strip().startswith("userId,movieId,rating"):
                if movies[0].strip().startswith("movieId,title"):
                    return "csv"
        return None


def _stars(value: str) -> bool:
    try:
        return 0.5 <= float(value) <= 5
    except ValueError:
        return False


def is_movielens(path: Path) -> bool:
    """True when the folder or zip (or a ratings file in one) is really a MovieLens release."""
    folder = path.parent if path.is_file() and path.suffix.lower() != ".zip" else path
    if path.is_file() and path.suffix.lower() != ".zip" and path.name not in RATINGS_FILES + FOLD_FILES:
        return False
    try:
        return Layout(folder).kind is not None
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
    kind = layout.kind
    if kind is None:
        raise DataError(
            "not a MovieLens release (expected u.data with u.item, ratings.dat with movies.dat, or "
            "ratings.csv with movies.csv)",
            path=str(path),
        )
    name = ratings_file or {"100k": "u.data", "dat": "ratings.dat", "csv": "ratings.csv"}[kind]
    if not layout.has(name):
        raise DataError(f"no file {name!r} in this MovieLens folder", path=str(path))
    data = _read_layout(layout, kind, name, scale, {"layout": f"MovieLens ({name})"})
    columns = data.origin.get("columns", {})
    data.origin["columns"] = {
        role: how.replace("(given)", "(MovieLens layout)") for role, how in columns.items()
    }
    return data


def _read_layout(
    layout: Layout, kind: str, name: str, scale: RatingScale | None, origin: dict[str, str]
) -> Interactions:
    if kind == "100k":
        return read_delimited(
            layout.text(name),
            sep="\t",
            header=False,
            scale=scale or WHOLE_STARS,
            columns={"user": 0, "item": 1, "rating": 2, "timestamp": 3},
            item_meta=_ml100k_items(layout),
            user_meta=_ml100k_users(layout) if layout.has("u.user") else None,
            origin=origin,
        )
    if kind == "dat":
        whole = _is_users_dat(layout)  # ml-1m has whole stars and users.dat; ml-10m neither
        return read_delimited(
            layout.text(name),
            sep="::",
            header=False,
            scale=scale or (WHOLE_STARS if whole else HALF_STARS),
            columns={"user": 0, "item": 1, "rating": 2, "timestamp": 3},
            item_meta=_dat_items(layout),
            user_meta=_dat_users(layout) if whole else None,
            origin=origin,
        )
    return read_delimited(
        layout.text(name),
        sep=",",
        header=True,
        scale=scale or HALF_STARS,
        columns={"user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"},
        item_meta=_csv_items(layout),
        origin=origin,
    )


def _is_users_dat(layout: Layout) -> bool:
    """ml-1m's users.dat (`id::gender::age::occupation::zip`); other data sets' users.dat are left alone."""
    return layout.has("users.dat") and all(
        len(line.split("::")) == 5 for line in layout.first_lines("users.dat")
    )


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
