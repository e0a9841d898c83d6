"""Reading ratings: MovieLens layouts on the real data, CSV/TSV/Parquet variants, and every bad input."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedrec import DataError, ParameterError, read_ratings
from embedrec.data.movielens import read_movielens, year_of

ML100K_FILES = ("u.data", "u.item", "u.user", "u.genre", "u1.base", "u1.test")


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.fixture(scope="module")
def ml100k(ml100k_dir: Path):
    return read_ratings(ml100k_dir)


@pytest.fixture(scope="module")
def ml100k_zip(ml100k_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip laid out like GroupLens' ml-100k.zip (a top folder), built from the shared copy."""
    path = tmp_path_factory.mktemp("zip") / "ml-100k.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ML100K_FILES:
            zf.write(ml100k_dir / name, f"ml-100k/{name}")
    return path


# -- MovieLens on the real files -------------------------------------------------------------------


def test_ml100k_counts_and_repr(ml100k) -> None:
    assert (ml100k.n_users, ml100k.n_items, len(ml100k)) == (943, 1682, 100_000)
    assert repr(ml100k) == "<Interactions 943 users × 1,682 items × 100,000 ratings>"
    assert (ml100k.scale.low, ml100k.scale.high, ml100k.scale.step) == (1.0, 5.0, 1.0)
    assert ml100k.timestamps is not None and ml100k.timestamps.min() == 874724710


def test_ml100k_first_row_matches_the_file(ml100k, ml100k_dir: Path) -> None:
    first = (ml100k_dir / "u.data").read_text().split("\n", 1)[0].split("\t")  # 196 242 3 881250949
    assert ml100k.user_ids.raw_id(ml100k.users[0]) == int(first[0])
    assert ml100k.item_ids.raw_id(ml100k.items[0]) == int(first[1])
    assert ml100k.ratings[0] == float(first[2]) and ml100k.timestamps[0] == int(first[3])


def test_ml100k_item_metadata_toy_story_and_latin1(ml100k) -> None:
    toy = ml100k.item_meta.iloc[ml100k.item_ids.index(1)]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["genres"] == "Animation|Children's|Comedy"
    assert toy["year"] == 1995.0
    # u.item is latin-1: the é must come through, not a replacement character
    assert ml100k.item_meta.iloc[ml100k.item_ids.index(543)]["title"] == "Misérables, Les (1995)"
    assert ml100k.item_titles()[ml100k.item_ids.index(1)] == "Toy Story (1995)"


def test_ml100k_user_metadata(ml100k) -> None:
    first = ml100k.user_meta.iloc[ml100k.user_ids.index(1)]  # 1|24|M|technician|85711
    assert (first["age"], first["gender"], first["occupation"], first["zip"]) == (
        24.0,
        "M",
        "technician",
        "85711",
    )


def test_ml100k_zip_equals_folder(ml100k, ml100k_zip: Path) -> None:
    from_zip = read_ratings(ml100k_zip)
    assert from_zip.fingerprint == ml100k.fingerprint
    assert from_zip.item_meta["title"].tolist() == ml100k.item_meta["title"].tolist()


def test_u_data_file_path_reads_the_layout(ml100k_dir: Path, ml100k) -> None:
    assert read_ratings(ml100k_dir / "u.data").fingerprint == ml100k.fingerprint
    fold = read_movielens(ml100k_dir, ratings_file="u1.base")
    assert len(fold) == 80_000 and fold.item_meta is not None


def test_movielens_small_bundled_layout(ml_small_dir: Path) -> None:
    data = read_ratings(ml_small_dir)
    assert (data.n_users, data.n_items, len(data)) == (610, 9724, 100_836)
    toy = data.item_meta.iloc[data.item_ids.index(1)]
    assert toy["title"] == "Toy Story (1995)" and toy["year"] == 1995.0
    assert toy["genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert data.scale.step == 0.5


def test_year_of_titles() -> None:
    assert year_of("Toy Story (1995)") == 1995.0
    assert year_of("Fawlty Towers (1975-1979)") == 1975.0
    assert np.isnan(year_of("Babylon 5"))


def test_ml1m_dat_layout(tmp_path: Path) -> None:
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(
        tmp_path / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James (1996)::Animation\n".encode(
            "latin-1"
        ),
    )
    write(tmp_path / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    data = read_ratings(tmp_path)
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3)
    assert data.scale.step == 1.0
    assert data.item_meta.iloc[data.item_ids.index(1193)]["year"] == 1975.0
    assert data.user_meta.iloc[data.user_ids.index(2)]["occupation"] == "self-employed"


# -- generic delimited files -----------------------------------------------------------------------


def test_tsv_without_header_is_sniffed(tmp_path: Path) -> None:
    rows = "10\t20\t4\t881250949\n11\t20\t5\t881250950\n10\t21\t3\t881250960\n"
    data = read_ratings(write(tmp_path / "r.tsv", rows))
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3)
    assert data.timestamps.tolist() == [881250949, 881250950, 881250960]


def test_semicolon_header_with_column_mapping_and_string_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "customer;sku;stars\nann;x-1;4.5\nbob;x-2;2\nann;x-2;1\n")
    data = read_ratings(path, columns={"user": "customer", "item": "sku", "rating": "stars"})
    assert data.user_ids.raw_ids.tolist() == ["ann", "bob"]
    assert data.ratings.tolist() == [4.5, 2.0, 1.0] and data.timestamps is None


def test_columns_list_names_a_headerless_file(tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "7,1,3\n8,1,4\n")
    data = read_ratings(path, columns=["item", "user", "rating"])
    assert data.n_users == 1 and data.n_items == 2


def test_implicit_feedback_without_ratings(tmp_path: Path) -> None:
    data = read_ratings(write(tmp_path / "clicks.csv", "user,item\n1,2\n1,3\n"))
    assert data.ratings.tolist() == [1.0, 1.0]


def test_large_integer_ids_widen_to_int64(tmp_path: Path) -> None:
    data = read_ratings(write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n1,99999999999,4\n"))
    assert 99999999999 in data.item_ids


def test_iso_dates_become_epoch_seconds(tmp_path: Path) -> None:
    data = read_ratings(write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,2,3,1970-01-02T00:00:00\n"))
    assert data.timestamps.tolist() == [86400]


def test_double_colon_separator(tmp_path: Path) -> None:
    data = read_ratings(write(tmp_path / "r.txt", "1::2::3::978300760\n2::2::5::978300761\n"))
    assert len(data) == 2 and data.ratings.tolist() == [3.0, 5.0]


def test_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"userId": [1, 2, 2], "movieId": [5, 5, 6], "rating": [1.0, 2.0, 3.5]})
    frame.to_parquet(tmp_path / "r.parquet")
    data = read_ratings(tmp_path / "r.parquet")
    assert len(data) == 3 and data.ratings.tolist() == [1.0, 2.0, 3.5]


def test_duplicates_keep_latest_and_warn_with_count(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,1,2,50\n1,1,5,10\n1,2,3,1\n1,1,4,30\n")
    with pytest.warns(UserWarning, match="2 duplicate"):
        data = read_ratings(path)
    assert len(data) == 2
    kept = data.ratings[(data.users == 0) & (data.items == data.item_ids.index(1))]
    assert kept.tolist() == [2.0]  # timestamp 50 is the latest of the three


# -- bad input: each names file, line and field ---------------------------------------------------


def error_of(path: Path, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        read_ratings(path, **kwargs)
    return info.value


def test_misnamed_user_column(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", "usr,movieId,rating\n1,2,3\n"))
    assert (err.path, err.line, err.field) == (str(tmp_path / "r.csv"), 1, "user")
    assert "usr" in str(err) and "columns=" in str(err)


def test_missing_mapped_column(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", "a,b,c\n1,2,3\n"), columns={"user": "a", "item": "sku"})
    assert err.line == 1 and err.field == "sku"


def test_non_numeric_rating(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n\n1,3,abc\n"))
    assert (err.line, err.field) == (4, "rating")  # the blank line still counts
    assert "'abc' is not a number" in str(err)
    assert str(err).startswith(f"{tmp_path / 'r.csv'}:4: field 'rating':")


@pytest.mark.parametrize("value", ["nan", "NaN", ""])
def test_nan_or_empty_rating(tmp_path: Path, value: str) -> None:
    err = error_of(write(tmp_path / "r.csv", f"user,item,rating\n1,2,3\n1,3,{value}\n"))
    assert (err.line, err.field) == (3, "rating") and "NaN" in str(err)


def test_infinite_rating(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", "user,item,rating\n1,2,inf\n"))
    assert (err.line, err.field) == (2, "rating")


def test_rating_outside_declared_scale(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.tsv", "1\t2\t3\n1\t3\t4\n2\t2\t7\n"), scale=(1, 5))
    assert (err.line, err.field) == (3, "rating") and "between 1 and 5" in str(err)


def test_movielens_scale_is_declared(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t3\t881250949\n1\t3\t6\t881250949\n")
    write(tmp_path / "u.item", "2|A (1995)|01-Jan-1995||url" + "|0" * 19 + "\n")
    err = error_of(tmp_path / "u.data")
    assert (err.line, err.field) == (2, "rating")


def test_empty_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", ""))
    assert "empty" in str(err) and err.path == str(tmp_path / "r.csv")


def test_header_only(tmp_path: Path) -> None:
    assert "no rating rows" in str(error_of(write(tmp_path / "r.csv", "user,item,rating\n")))


def test_single_column_cannot_be_split(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", "1 2 3x\n4\n5\n"))
    assert "single column" in str(err) and "with sep" in str(err)


def test_wrong_separator_given(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.tsv", "1\t2\t3\n4\t5\t6\n"), sep=",")
    assert "single column" in str(err) and "tab-separated" in str(err) and err.line == 1


def test_ragged_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n1,2\n"))
    assert err.line == 3 and "2 fields" in str(err)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", b"user,item,rating\nann,x,1\n" + "zoë,y,2\n".encode("latin-1"))
    err = error_of(path)
    assert err.line == 3 and "utf-8" in str(err) and "encoding='latin-1'" in str(err)
    assert read_ratings(path, encoding="latin-1").user_ids.raw_ids.tolist() == ["ann", "zoë"]


@pytest.mark.parametrize("encoding", ["no-such-codec", "\x00", 8])
def test_unknown_encoding_is_a_parameter_error(tmp_path: Path, encoding: object) -> None:
    path = write(tmp_path / "r.csv", "user,item,rating\nann,x,1\n")
    with pytest.raises(ParameterError, match="unknown encoding"):
        read_ratings(path, encoding=encoding)  # type: ignore[arg-type]


def test_truncated_zip(ml100k_zip: Path, tmp_path: Path) -> None:
    cut = write(tmp_path / "cut.zip", ml100k_zip.read_bytes()[: ml100k_zip.stat().st_size // 2])
    assert "truncated or corrupt" in str(error_of(cut))


def test_corrupt_zip_member(ml100k_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("ml/u.data", (ml100k_dir / "u.data").read_bytes()[:5000])
    blob = bytearray(path.read_bytes())
    blob[200:210] = b"XXXXXXXXXX"  # inside the stored member: its CRC no longer matches
    write(path, bytes(blob))
    err = error_of(path)
    assert "corrupt" in str(err) and "u.data" in err.path


def test_missing_path(tmp_path: Path) -> None:
    assert "no such file" in str(error_of(tmp_path / "nope.csv"))


def test_bad_input_leaves_caller_files_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "user,item,rating\n1,2,abc\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    error_of(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_cli_bad_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n1,3,abc\n")
    run = subprocess.run(
        [sys.executable, "-c", "from embedrec.cli.main import app; app()", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}:3: field 'rating'" in lines[0] and "Traceback" not in run.stderr


def test_many_blocks_and_a_low_row_estimate_match_pandas(tmp_path: Path) -> None:
    # Long first lines make the size-based row estimate too small, so the arrays must grow; ~2 MB
    # also spans several parse blocks.
    rng = np.random.default_rng(0)
    users, items = rng.integers(1, 500, 200_000), rng.integers(1, 3000, 200_000)
    frame = pd.DataFrame({"user": users, "item": items, "rating": rng.integers(1, 6, 200_000)})
    frame = frame.drop_duplicates(["user", "item"])
    lines = [f"{u},{i},{r},{'x' * 60}" for u, i, r in frame.head(300).itertuples(index=False)]
    lines += [f"{u},{i},{r}," for u, i, r in frame.iloc[300:].itertuples(index=False)]
    data = read_ratings(write(tmp_path / "r.csv", "user,item,rating,note\n" + "\n".join(lines) + "\n"))
    assert len(data) == len(frame)
    np.testing.assert_array_equal(data.user_ids.raw_ids[data.users], frame["user"].to_numpy())
    np.testing.assert_array_equal(data.item_ids.raw_ids[data.items], frame["item"].to_numpy())
    np.testing.assert_array_equal(data.ratings, frame["rating"].to_numpy(np.float32))


def test_ml10m_dat_layout_has_half_stars(tmp_path: Path) -> None:
    write(tmp_path / "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n")
    write(tmp_path / "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action\n")
    data = read_ratings(tmp_path)
    assert data.scale.step == 0.5 and data.user_meta is None
    assert data.item_meta["genres"].tolist() == ["Comedy|Romance", "Action"]


def test_parquet_null_rating_names_the_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user": [1, 2], "item": [5, 5], "rating": [1.0, None]})
    frame.to_parquet(tmp_path / "r.parquet")
    err = error_of(tmp_path / "r.parquet")
    assert err.field == "rating" and "row 2" in str(err)
