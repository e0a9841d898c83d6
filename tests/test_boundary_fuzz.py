"""One error hierarchy at the boundary: whatever bytes and argument values the public functions get, the
only exceptions that leave them are EmbedrecError subclasses (which may also be ValueError, TypeError,
KeyError ...) — never a numpy, pandas, pyarrow or Python error from inside."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import embedrec
from embedrec import DotBias, EmbedrecError, Interactions, Recommender, load_model, read_ratings

# EMBEDREC_FUZZ_EXAMPLES=5000 for a longer hunt; 150 each keeps the default run to about 15 s
EXAMPLES = int(os.environ.get("EMBEDREC_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_embedrec_errors(call: Callable[[], Any]) -> Any:
    """Run `call`; an exception other than an EmbedrecError fails the test, naming it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except EmbedrecError as exc:
        assert "\n" not in str(exc).strip() or "Traceback" not in str(exc)
        return exc
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{type(exc).__name__} leaked out: {exc!r:.300}")


# -- values of any kind ---------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.sampled_from(["1", "²", "٣", " 7 ", "-0", "NA", "null", "None", "n/a", "NaN", "Toy Story", "star"]),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=8,
)
arrays = st.one_of(
    st.lists(scalars, max_size=6).map(lambda v: np.array(v, dtype=object)),
    st.lists(st.integers(-5, 2**40), max_size=6).map(np.array),
    st.lists(st.floats(), max_size=6).map(np.array),
    st.lists(st.text(max_size=4), max_size=6).map(np.array),
    st.just(np.zeros((2, 2))),
    st.just(np.array([1 + 2j])),
    st.just(np.array(["2020-01-01"], dtype="datetime64[D]")),
)
values = st.one_of(anything, arrays)


# -- read_ratings -------------------------------------------------------------------------------------
FIELDS = ["1", "2", "3.5", "-1", "1e400", "nan", "NA", "null", "", '"', '"a,b"', "9007199254740993", "x",
          "userId", "movieId", "rating", "2021-01-01", "\x1c", "\x00", "é", "\ufeff"]  # fmt: skip
SEPS = [",", "\t", ";", "|", "::", " ", "", "\x1f"]
rows = st.lists(st.lists(st.sampled_from(FIELDS) | st.text(max_size=4), min_size=0, max_size=5), max_size=8)
csv_bytes = st.one_of(
    st.binary(max_size=200),
    st.tuples(rows, st.sampled_from(SEPS), st.sampled_from(["\n", "\r\n", "\r"]),
              st.sampled_from(["utf-8", "latin-1", "utf-16"])).map(
        lambda r: r[2].join(r[1].join(line) for line in r[0]).encode(r[3], errors="replace")
    ),
)  # fmt: skip
read_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "sep": st.one_of(st.none(), st.sampled_from(SEPS), st.text(max_size=3), st.integers()),
        "header": st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=2)),
        "columns": st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["user", "item", "rating", "timestamp", "x"]),
                st.sampled_from(["user", "item", "rating", "userId", "q"]) | st.integers(-2, 5),
            ),
            st.lists(st.sampled_from(["user", "item", "rating", "timestamp", "f4"]), max_size=5),
            anything,
        ),  # fmt: skip
        "encoding": st.one_of(st.sampled_from(["utf-8", "latin-1", "utf-16", "ascii", "bogus"]), anything),
        "scale": st.one_of(st.none(), st.tuples(st.floats(), st.floats()), anything),
        "na_values": st.one_of(st.lists(st.sampled_from(["NA", "null", "", "1"])), anything),
    },
)


_ints = st.integers(-3, 40).map(str)  # mostly good values, now and then a strange one
ID = st.one_of(
    _ints, _ints, _ints, _ints, st.sampled_from(["NA", "null", "u1", "2147483648", "9" * 20, "é", ""])
)
_stars = st.integers(0, 5).map(str)
RATING = st.one_of(
    _stars, _stars, _stars, _stars, st.sampled_from(["3.5", "nan", "1e400", "-1", "NA", "", "x"])
)
HEADERS = [
    [],
    ["user", "item", "rating", "timestamp"],
    ["userId", "movieId", "rating", "ts"],
    ["a", "b", "grade", "t"],
]


def _file(header: list[str], rows: list[tuple[str, ...]], sep: str, width: int) -> bytes:
    lines = ([header[:width]] if header else []) + [list(row[:width]) for row in rows]
    return "".join(sep.join(line) + "\n" for line in lines).encode()


plausible = st.builds(
    _file,
    st.sampled_from(HEADERS),
    st.lists(st.tuples(ID, ID, RATING, st.sampled_from(["964982703", "2021-01-01", "", "x"])), max_size=12),
    st.sampled_from([",", "\t", ";", "::"]),
    st.integers(2, 4),
)


@FUZZ
@given(data=plausible, sniff=st.booleans())
def test_read_ratings_of_plausible_files_reads_or_says_why(scratch: Path, data: bytes, sniff: bool) -> None:
    path = scratch / "plausible.csv"
    path.write_bytes(data)
    kwargs = {} if sniff else {"sep": ",", "header": data.startswith(b"u")}
    result = only_embedrec_errors(lambda: read_ratings(path, **kwargs))
    if isinstance(result, Interactions):
        assert len(result) > 0 and np.isfinite(result.ratings).all()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(
    data=csv_bytes, suffix=st.sampled_from([".csv", ".tsv", ".txt", ".dat", ".parquet"]), kwargs=read_kwargs
)
def test_read_ratings_raises_only_embedrec_errors(
    scratch: Path, data: bytes, suffix: str, kwargs: dict
) -> None:
    path = scratch / f"ratings{suffix}"
    path.write_bytes(data)
    result = only_embedrec_errors(lambda: read_ratings(path, **kwargs))
    assert isinstance(result, Interactions | EmbedrecError)


@FUZZ
@given(path=anything)
def test_read_ratings_of_any_path_value(path: Any) -> None:
    only_embedrec_errors(lambda: read_ratings(path))


# -- Interactions.from_arrays ------------------------------------------------------------------------
@FUZZ
@given(users=values, items=values, ratings=values, timestamps=values, scale=anything)
def test_from_arrays_raises_only_embedrec_errors(
    users: Any, items: Any, ratings: Any, timestamps: Any, scale: Any
) -> None:
    only_embedrec_errors(lambda: Interactions.from_arrays(users, items, ratings, timestamps, scale=scale))
    only_embedrec_errors(lambda: Interactions.from_arrays(users, items, ratings))


@FUZZ
@given(
    n=st.integers(0, 6),
    ids=st.lists(scalars, min_size=6, max_size=6),
    ratings=st.lists(st.floats(), min_size=6, max_size=6),
)
def test_from_arrays_with_aligned_columns(n: int, ids: list, ratings: list) -> None:
    users = np.array(ids[:n], dtype=object)
    only_embedrec_errors(lambda: Interactions.from_arrays(users, users[::-1], np.array(ratings[:n])))


# -- predict and recommend -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rec() -> Recommender:
    rng = np.random.default_rng(0)
    users, items = np.repeat(np.arange(1, 21), 6), rng.permutation(np.tile(np.arange(1, 31), 4))
    item_meta = pd.DataFrame({"title": [f"Star {i} (1990)" for i in range(1, 31)]}, index=np.arange(1, 31))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = Interactions.from_arrays(
            users, items, rng.integers(1, 6, 120).astype(np.float32), item_meta=item_meta
        )
    return Recommender(DotBias(n_factors=2, epochs=1, verbose=False).fit(data))


@FUZZ
@given(users=values, items=values, raw=anything)
def test_predict_raises_only_embedrec_errors(rec: Recommender, users: Any, items: Any, raw: Any) -> None:
    only_embedrec_errors(lambda: rec.model.predict(users, items))
    only_embedrec_errors(lambda: rec.model.predict(users, items, raw=bool(raw)))
    only_embedrec_errors(lambda: rec.predict(users, items))
    only_embedrec_errors(lambda: rec.explain(users, items))


@FUZZ
@given(
    users=values,
    n=st.one_of(st.integers(-3, 2**70), anything),
    kwargs=st.fixed_dictionaries(
        {},
        optional={
            "exclude_seen": anything,
            "items": values,
            "exclude": values,
            "popularity": anything,
            "exact": anything,
        },
    ),  # fmt: skip
)
def test_recommend_raises_only_embedrec_errors(rec: Recommender, users: Any, n: Any, kwargs: dict) -> None:
    only_embedrec_errors(lambda: rec.recommend(users, n, **kwargs))
    only_embedrec_errors(lambda: rec.recommend_for_ratings(users, n))
    only_embedrec_errors(lambda: rec.recommend_from_items(users, n))
    only_embedrec_errors(
        lambda: rec.similar_items(users, n, **({"metric": kwargs["exact"]} if "exact" in kwargs else {}))
    )
    only_embedrec_errors(lambda: rec.similar_users(users, n))


# -- load_model ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(rec: Recommender, scratch: Path) -> Path:
    return rec.model.save(scratch / "model")


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
              st.text(max_size=6)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(meta: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(meta, dict):
        for key, value in meta.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(meta, list) and meta:
        found += _paths(meta[0], (*prefix, 0))
    return found


@FUZZ
@given(pick=st.integers(0, 10**6), value=json_values, flips=st.lists(st.integers(0, 10**9), max_size=3),
       weights_junk=st.one_of(st.none(), st.binary(max_size=64)))  # fmt: skip
def test_load_model_of_damaged_files_raises_only_embedrec_errors(
    saved: Path, scratch: Path, pick: int, value: Any, flips: list[int], weights_junk: bytes | None
) -> None:
    folder = scratch / "damaged"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved, folder)
    meta = json.loads((folder / "model.json").read_text())
    weights = folder / meta["weights_file"]
    paths = _paths(meta)
    *parents, last = paths[pick % len(paths)]
    node = meta
    for key in parents:
        node = node[key]
    node[last] = value  # one field of model.json replaced by any JSON value
    text = json.dumps(meta).encode()
    (folder / "model.json").write_bytes(text)
    if weights_junk is not None:
        blob = bytearray(weights.read_bytes())
        for flip in flips:
            blob[flip % len(blob)] ^= 0xFF
        weights.write_bytes(bytes(blob) + weights_junk)
    only_embedrec_errors(lambda: load_model(folder))
    (folder / "model.json").write_bytes(text[: pick % max(len(text), 1)])  # a truncated model.json
    only_embedrec_errors(lambda: load_model(folder))


@FUZZ
@given(path=anything)
def test_load_model_of_any_path_value(path: Any) -> None:
    only_embedrec_errors(lambda: load_model(path))


def test_the_issues_cases_raise_embedrec_errors(rec: Recommender, scratch: Path) -> None:
    """The foreign exceptions the hardening run found, one by one."""
    ratings = scratch / "r.csv"
    ratings.write_text("user,item,rating\n1,2,3\n2,3,4\n")
    big = scratch / "big.csv"
    big.write_text("user,item,rating\n1,2,9007199254740992\n")
    cases: dict[str, Callable[[], Any]] = {
        "predict('²', 1)": lambda: rec.model.predict("²", 1),
        "predict({}, 1)": lambda: rec.model.predict({}, 1),
        "predict([1, 2], [1, 2, 3])": lambda: rec.model.predict([1, 2], [1, 2, 3]),
        "recommend(1, popularity='a')": lambda: rec.recommend(1, popularity="a"),
        "read_ratings(encoding='bogus')": lambda: read_ratings(ratings, encoding="bogus"),
        "read_ratings(sep='')": lambda: read_ratings(ratings, sep=""),
        "read_ratings(duplicate columns)": lambda: read_ratings(ratings, columns={"user": "a", "item": "a"}),
        "save('/proc/x')": lambda: rec.model.save("/proc/x"),
        "fit on empty data": lambda: DotBias().fit(Interactions.from_arrays([], [])),
        "bad constructor argument": lambda: DotBias(n_factors="x").fit(read_ratings(ratings)),
        "load_model(None)": lambda: load_model(None),
    }  # fmt: skip
    for name, call in cases.items():
        with pytest.raises(EmbedrecError):
            try:
                call()
            except EmbedrecError:
                raise
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{name}: {type(exc).__name__}: {exc}")
    assert read_ratings(big).ratings[0] == 2.0**53  # a rating >= 2^53 is a number like any other


def test_na_like_strings_are_ids_unless_asked(scratch: Path) -> None:
    path = scratch / "na.csv"
    path.write_text("user,item,rating\nNA,None,3\nnull,n/a,4\nNaN,1,5\n")
    data = read_ratings(path)
    assert sorted(data.user_ids.raw_ids) == ["NA", "NaN", "null"]
    assert sorted(data.item_ids.raw_ids) == ["1", "None", "n/a"]
    with pytest.raises(embedrec.DataError, match="field 'user'"):
        read_ratings(path, na_values=["NA"])
