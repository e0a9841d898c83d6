"""A corpus of rating files in the layouts people bring, built from real MovieLens rows: each is read right
(every id, rating and time as written) or refused with one line that says how to choose.

Separators, headers or none, extra id columns before and after the rating, times as epoch seconds,
milliseconds or text, JSON lines (plain, gzipped, Python dicts), compressed text, `::` files with a
sibling movies file, Parquet, implicit feedback and counts.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from embedrec import DataError, read_ratings

N_ROWS = 3000


@pytest.fixture(scope="module")
def rows(ml100k_dir: Path) -> pd.DataFrame:
    """The first rows of ML-100K's u.data, with the extra columns files carry: a genre id (1..17), a review
    id counting up, a large random id, and the time as text."""
    frame = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["user", "item", "rating", "ts"], nrows=N_ROWS)
    rng = np.random.default_rng(0)
    frame["genre"] = frame["item"] % 17 + 1
    frame["review"] = np.arange(1000, 1000 + len(frame))
    frame["big"] = rng.choice(np.arange(10_000_000, 99_000_000), len(frame), replace=False)
    frame["day"] = pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    return frame


def day_seconds(frame: pd.DataFrame) -> np.ndarray:
    return (frame["ts"] // 86400 * 86400).to_numpy()


def text(frame: pd.DataFrame, columns: list[str], sep: str, header: list[str] | None = None) -> str:
    lines = [sep.join(header)] if header else []
    lines += [sep.join(str(v) for v in row) for row in frame[columns].itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# Each case writes a file and returns (path, read_ratings keyword arguments, what to expect): a dict of
# the expected columns, or the words a refusal must hold.
Case = Callable[[Path, pd.DataFrame], tuple[Path, dict[str, Any], Any]]


def expect(frame: pd.DataFrame, *, times: Any = "ts", users: Any = None, items: Any = None) -> dict:
    out = {
        "users": list(frame["user"] if users is None else users),
        "items": list(frame["item"] if items is None else items),
        "ratings": frame["rating"].astype(float).tolist(),
    }
    out["times"] = None if times is None else list(frame[times] if isinstance(times, str) else times)
    return out


ML = ["user", "item", "rating", "ts"]
ISSUE = ["user", "item", "genre", "review", "rating", "day"]
ISSUE_HEADER = ["userID", "movieID", "genreID", "reviewID", "rating", "date"]
REFUSE_HINT = "columns={"


def strftime(f: pd.DataFrame, fmt: str) -> pd.Series:
    return pd.to_datetime(f["ts"], unit="s").dt.strftime(fmt)


def aligned(f: pd.DataFrame) -> str:
    return "".join(f"{u:>6} {i:>6}  {r}  {t}\n" for u, i, r, t in f[ML].itertuples(index=False))


def review_site(f: pd.DataFrame) -> str:
    out = []
    for k, (u, i, r, t) in enumerate(f[ML].itertuples(index=False)):
        when = datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        row = {"review_id": f"r{k}", "user_id": f"u{u}", "business_id": f"b{i}", "stars": r, "date": when}
        out.append(json.dumps({**row, "text": "fine, thanks"}) + "\n")
    return "".join(out)


def python_dicts(f: pd.DataFrame) -> str:
    return "".join(repr(json.loads(line)) + "\n" for line in json_lines(f).splitlines())


def reviews_2018(f: pd.DataFrame) -> str:
    """Newer product-review lines: votes as text, a style object, images, a verified flag."""
    out = []
    for u, i, r, t in f[ML].itertuples(index=False):
        row = {"overall": float(r), "vote": str(u % 7), "verified": True, "reviewTime": "09 13, 2009",
               "reviewerID": f"A{u:05d}", "asin": f"{i:010d}", "style": {"Format:": " Audio CD"},
               "image": ["https://example.org/a.jpg"], "unixReviewTime": int(t)}  # fmt: skip
        out.append(json.dumps(row) + "\n")
    return "".join(out)


def book_ratings(f: pd.DataFrame) -> bytes:
    """A book-rating export: ';'-separated, every field quoted, ISBNs with leading zeros, 0..10, latin-1."""
    lines = ['"User-ID";"ISBN";"Book-Rating"']
    lines += [
        f'"{u}";"0{i:08d}";"{2 * r}"' for u, i, r in f[["user", "item", "rating"]].itertuples(index=False)
    ]
    return ("\n".join(lines) + "\n").encode("latin-1")


CASES: dict[str, Case] = {
    "csv, MovieLens header": lambda d, f: (
        write(d / "r.csv", text(f, ML, ",", ["userId", "movieId", "rating", "timestamp"])), {}, expect(f)),
    "tsv, no header (u.data)": lambda d, f: (write(d / "r.tsv", text(f, ML, "\t")), {}, expect(f)),
    "'::', no header, no movies file": lambda d, f: (
        write(d / "ratings.dat", text(f, ML, "::")), {}, expect(f)),
    "';', quoted header": lambda d, f: (
        write(d / "r.csv", text(f, ML, ";", ['"user"', '"item"', '"score"', '"time"'])), {}, expect(f)),
    "'|', no header": lambda d, f: (write(d / "r.txt", text(f, ML, "|")), {}, expect(f)),
    "spaces, aligned columns": lambda d, f: (write(d / "r.txt", aligned(f)), {}, expect(f)),
    "the issue's file: genre and review ids before the rating, a date after, no header": lambda d, f: (
        write(d / "r.csv", text(f, ISSUE, ",")), {}, expect(f, times=day_seconds(f))),
    "the issue's file with its header": lambda d, f: (
        write(d / "r.csv", text(f, ISSUE, ",", ISSUE_HEADER)), {}, expect(f, times=day_seconds(f))),
    "the issue's file with user, item and rating given": lambda d, f: (
        write(d / "r.csv", text(f, ISSUE, ",")), {"columns": {"user": 0, "item": 1, "rating": 4}},
        expect(f, times=day_seconds(f))),
    "review id first, with a header": lambda d, f: (
        write(d / "r.csv", text(f, ["review", *ML], ",", ["reviewID", "userID", "itemID", "rating", "ts"])),
        {}, expect(f)),
    "a large id after the rating, no header": lambda d, f: (
        write(d / "r.csv", text(f, ["user", "item", "rating", "big", "ts"], ",")), {}, expect(f)),
    "rating before the item, header": lambda d, f: (
        write(d / "r.csv", text(f, ["user", "rating", "item", "ts"], ",", ["user", "rating", "item", "t"])),
        {}, expect(f)),
    "epoch milliseconds": lambda d, f: (
        write(d / "r.csv", text(f.assign(ms=f["ts"] * 1000), ["user", "item", "rating", "ms"], ",")), {},
        expect(f)),
    "dates written '09 13, 2009', product-review names": lambda d, f: (
        write(d / "r.csv", text(f.assign(when=strftime(f, '"%m %d, %Y"')), ["user", "item", "rating", "when"],
                                ",", ["reviewerID", "asin", "overall", "reviewTime"])),
        {}, expect(f, times=day_seconds(f))),
    "date and time as text, no header": lambda d, f: (
        write(d / "r.csv", text(f.assign(w=strftime(f, "%Y-%m-%d %H:%M:%S")), [*ML[:3], "w"], ",")), {},
        expect(f)),
    "half stars and float epochs, no header": lambda d, f: (
        write(d / "r.csv", text(f.assign(rating=f["rating"] - 0.5, t=f["ts"].astype(float)),
                                ["user", "item", "rating", "t"], ",")),
        {}, expect(f.assign(rating=f["rating"] - 0.5))),
    "JSON lines, product reviews": lambda d, f: (write(d / "reviews.json", json_lines(f)), {}, expect(f)),
    "JSON lines, gzipped": lambda d, f: (
        write(d / "reviews.json.gz", gzip.compress(json_lines(f).encode())), {}, expect(f)),
    "JSON lines written as Python dicts": lambda d, f: (
        write(d / "reviews.json", python_dicts(f)), {}, expect(f)),
    "JSON lines, a review site's names and dates": lambda d, f: (
        write(d / "reviews.jsonl", review_site(f)), {},
        expect(f, users=[f"u{u}" for u in f["user"]], items=[f"b{i}" for i in f["item"]])),
    "JSON lines, newer product reviews (votes, styles, images)": lambda d, f: (
        write(d / "reviews.json", reviews_2018(f)), {}, expect(f)),
    "book ratings: ';', quoted, ISBNs, 0..10, latin-1": lambda d, f: (
        write(d / "BX-Book-Ratings.csv", book_ratings(f)), {"encoding": "latin-1"},
        expect(f.assign(rating=2 * f["rating"]), times=None, items=[f"0{i:08d}" for i in f["item"]])),
    "csv, gzip": lambda d, f: (write(d / "r.csv.gz", gzip.compress(text(f, ML, ",").encode())), {},
                               expect(f)),
    "csv, bz2": lambda d, f: (write(d / "r.csv.bz2", bz2.compress(text(f, ML, ",").encode())), {}, expect(f)),
    "tsv, xz": lambda d, f: (write(d / "r.tsv.xz", lzma.compress(text(f, ML, "\t").encode())), {}, expect(f)),
    "csv in a zip": lambda d, f: (
        zipped(d / "r.zip", "ratings.csv", text(f, ML, ",", ["user", "item", "rating", "timestamp"])), {},
        expect(f)),
    "csv with a pandas index column": lambda d, f: (
        write(d / "r.csv", f[ML].rename(columns={"ts": "timestamp"}).to_csv()), {}, expect(f)),
    "implicit feedback: user and item only": lambda d, f: (
        write(d / "clicks.csv", text(f, ["user", "item"], ",", ["user", "item"])), {},
        {**expect(f, times=None), "ratings": [1.0] * len(f)}),
    "rating=none: a genre id left out": lambda d, f: (
        write(d / "r.csv", text(f, ["user", "item", "genre", "ts"], ",")), {"columns": {"rating": None}},
        {**expect(f), "ratings": [1.0] * len(f)}),
    "two columns could be the rating": lambda d, f: (
        write(d / "r.csv", text(f.assign(other=6 - f["rating"]), [*ML[:3], "other"], ",")), {},
        ["2 columns could each be the rating", "column 2", "column 3", REFUSE_HINT]),
    "two columns could be the time": lambda d, f: (
        write(d / "r.csv", text(f.assign(later=f["ts"] + 3600), [*ML, "later"], ",")), {},
        ["could each be the time", "column 3", "column 4", REFUSE_HINT]),
    "a 0..100 column of many values and no other rating": lambda d, f: (
        write(d / "r.csv", text(f.assign(pct=f["review"] % 97), ["user", "item", "pct"], ",")), {},
        ["might be the rating", "column 2", REFUSE_HINT]),
    "a running counter where the user should be": lambda d, f: (
        write(d / "r.csv", text(f, ["review", "user", "item", "rating"], ",")), {},
        ["column 0 is a running counter", REFUSE_HINT]),
    "a header naming nothing known": lambda d, f: (
        write(d / "r.csv", text(f, ["user", "item", "rating"], ",", ["a", "b", "c"])), {},
        ["no user column", REFUSE_HINT]),
}  # fmt: skip


def json_lines(frame: pd.DataFrame) -> str:
    """Product-review JSON lines: text ids (ASINs keep their leading zeros), a rating, both time fields."""
    out = []
    for u, i, r, t in frame[["user", "item", "rating", "ts"]].itertuples(index=False):
        when = datetime.fromtimestamp(t, tz=UTC)
        out.append(json.dumps({
            "reviewerID": f"A{u:05d}", "asin": f"{i:010d}", "reviewerName": "J. Doe", "helpful": [2, 3],
            "reviewText": "Great, \"really\" great", "overall": float(r), "summary": "ok",
            "unixReviewTime": int(t), "reviewTime": when.strftime("%m %d, %Y"),
        }))  # fmt: skip
    return "\n".join(out) + "\n"


def zipped(path: Path, member: str, data: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
    return path


def ids_of(case: str, frame: pd.DataFrame, expected: dict) -> dict:
    if case.startswith("JSON lines") and "review site" not in case:  # the product-review ids
        return {
            **expected,
            "users": [f"A{u:05d}" for u in frame["user"]],
            "items": [f"{i:010d}" for i in frame["item"]],
        }
    return expected


@pytest.mark.parametrize("case", list(CASES))
def test_every_layout_is_read_right_or_refused_in_one_line(
    case: str, rows: pd.DataFrame, tmp_path: Path
) -> None:
    path, kwargs, expected = CASES[case](tmp_path, rows)
    if isinstance(expected, list):  # a refusal: one line that lists the candidates and how to choose
        with pytest.raises(DataError) as info:
            read_ratings(path, **kwargs)
        message = str(info.value)
        assert "\n" not in message
        for words in expected:
            assert words in message, (words, message)
        return
    data = read_ratings(path, **kwargs)
    expected = ids_of(case, rows, expected)
    frame = data.to_dataframe()
    assert frame["user"].tolist() == expected["users"]
    assert frame["item"].tolist() == expected["items"]
    np.testing.assert_allclose(frame["rating"].to_numpy(), expected["ratings"])
    if expected["times"] is None:
        assert data.timestamps is None or case.startswith("rating=none")
    else:
        np.testing.assert_array_equal(data.timestamps, np.asarray(expected["times"], dtype=np.int64))


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 20
    refused = [name for name in CASES if "could be" in name or "many values" in name or "counter" in name]
    assert 3 <= len(refused) < len(CASES) // 2


def test_ids_with_leading_zeros_and_a_0_to_10_scale_beside_movies_and_users_files(tmp_path: Path) -> None:
    # MovieTweetings' layout: ratings.dat of user::imdb id::0..10::time, a users.dat of two fields and a
    # movies.dat of id::title (year)::genres. It is not MovieLens: nothing is declared, ids keep their zeros.
    (tmp_path / "ratings.dat").write_text(
        "1::0114508::8::1381006850\n2::0208092::5::1586466072\n2::0120338::0::1586466070\n"
    )
    (tmp_path / "users.dat").write_text("1::177651718\n2::3344\n")
    (tmp_path / "movies.dat").write_text(
        "0114508::Species (1995)::Action|Horror|Sci-Fi\n0120338::Titanic (1997)::Drama|Romance\n"
        "0208092::Snatch (2000)::Comedy|Crime\n"
    )
    data = read_ratings(tmp_path / "ratings.dat")
    assert data.item_ids.raw_ids.tolist() == ["0114508", "0120338", "0208092"]
    assert data.ratings.tolist() == [8.0, 5.0, 0.0] and (data.scale.low, data.scale.high) == (0.0, 8.0)
    titanic = data.item_meta.iloc[data.item_ids.index("0120338")]
    assert (titanic["title"], titanic["year"], titanic["genres"]) == (
        "Titanic (1997)",
        1997.0,
        "Drama|Romance",
    )
    assert "0120338" in data.item_ids and 120338 not in data.item_ids
    assert read_ratings(tmp_path, scale=(0, 10)).scale.high == 10.0  # the folder reads the same way


def test_items_file_attached_by_raw_id(tmp_path: Path) -> None:
    ratings = write(tmp_path / "r.csv", "user,item,rating\nann,0007,4\nbob,0042,2\nann,0042,5\n")
    items = write(
        tmp_path / "titles.tsv",
        "id\ttitle\tgenres\n0042\tThe Answer (1979)\tSci-Fi\n0007\tSeven (1995)\tCrime|Thriller\n",
    )
    data = read_ratings(ratings, items=items)
    assert data.item_meta["title"].tolist() == ["Seven (1995)", "The Answer (1979)"]
    assert data.item_meta["year"].tolist() == [1995.0, 1979.0]
    assert "metadata for 2 of 2 items" in data.origin["items"]
    other = write(tmp_path / "other.csv", "id,title\n7,Seven\n")
    with pytest.raises(DataError, match="none of its 1 ids is an item id"):
        read_ratings(ratings, items=other)
    by_position = read_ratings(ratings, items=items, item_columns={"id": 0, "title": 2})
    assert by_position.item_meta["title"].tolist() == ["Crime|Thriller", "Sci-Fi"]


def test_origin_says_which_column_was_read_as_what(rows: pd.DataFrame, tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", text(rows, ["user", "item", "genre", "review", "rating", "day"], ","))
    origin = read_ratings(path).origin
    assert origin["columns"]["rating"].startswith("column 4 (by content: integers 1..5")
    assert origin["columns"]["timestamp"].startswith("column 5 (by content: dates")
    assert any(s.startswith("column 2: integers 1..17: not a rating scale") for s in origin["ignored"])
    assert any(s.startswith("column 3: a running counter") for s in origin["ignored"])


def test_a_rating_column_chosen_by_its_first_lines_is_checked_to_the_end(tmp_path: Path) -> None:
    lines = [f"{u // 3},{u % 7},{u % 5 + 1}" for u in range(3000)] + ["9,9,4000"]
    with pytest.raises(DataError, match="looked like ratings in the first lines but holds 1..4000"):
        read_ratings(write(tmp_path / "r.csv", "\n".join(lines) + "\n"))


def test_count_column_is_read_as_counts(tmp_path: Path) -> None:
    data = read_ratings(
        write(tmp_path / "plays.tsv", "user\tartist\tplays\nu1\tabba\t12\nu2\tabba\t3\nu1\tbach\t0\n")
    )
    assert data.ratings.tolist() == [12.0, 3.0, 0.0] and data.origin["feedback"] == "counts"


def test_parquet_with_text_ids_keeps_them(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer": ["007", "42", "007"], "sku": ["A1", "B2", "B2"], "stars": [5, 3, 4]})
    frame.to_parquet(tmp_path / "r.parquet")
    data = read_ratings(tmp_path / "r.parquet")
    assert data.user_ids.raw_ids.tolist() == ["007", "42"] and data.ratings.tolist() == [5.0, 3.0, 4.0]
