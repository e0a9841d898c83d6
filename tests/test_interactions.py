"""The Interactions object and its IdMaps: validated once, immutable, views equal to a dense reference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from embedrec import DataError, IdMap, Interactions, RatingScale, UnknownIdError


@pytest.fixture()
def raw() -> dict[str, np.ndarray]:
    return {
        "users": np.array([30, 10, 30, 20, 10], dtype=np.int64),
        "items": np.array([7, 7, 9, 8, 9], dtype=np.int64),
        "ratings": np.array([4.0, 3.0, 5.0, 1.0, 2.5]),
        "timestamps": np.array([5, 4, 3, 2, 1], dtype=np.int64),
    }


@pytest.fixture()
def small(raw) -> Interactions:
    return Interactions.from_arrays(raw["users"], raw["items"], raw["ratings"], raw["timestamps"])


def test_repr_counts_and_dtypes(small: Interactions) -> None:
    assert repr(small) == "<Interactions 3 users × 3 items × 5 ratings>"
    assert (small.n_users, small.n_items, len(small)) == (3, 3, 5)
    assert small.users.dtype == np.int32 and small.items.dtype == np.int32
    assert small.ratings.dtype == np.float32 and small.timestamps.dtype == np.int64


def test_indices_follow_sorted_raw_ids(small: Interactions, raw) -> None:
    assert small.user_ids.raw_ids.tolist() == [10, 20, 30]
    assert small.user_ids.raw_ids[small.users].tolist() == raw["users"].tolist()
    assert small.item_ids.raw_ids[small.items].tolist() == raw["items"].tolist()


def test_callers_arrays_untouched_and_ours_read_only(raw) -> None:
    copies = {k: v.copy() for k, v in raw.items()}
    data = Interactions.from_arrays(raw["users"], raw["items"], raw["ratings"], raw["timestamps"])
    for key in raw:
        np.testing.assert_array_equal(raw[key], copies[key])
    for arr in (data.users, data.items, data.ratings, data.timestamps, data.user_ids.raw_ids):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 0
    raw["ratings"][0] = 1.0  # changing the caller's array afterwards does not reach ours
    assert data.ratings[0] == 4.0


@pytest.mark.parametrize("rating_dtype", [np.float32, np.float64])
def test_callers_arrays_stay_writable_and_unshared(rating_dtype: type) -> None:
    users, items = np.array([1, 2], dtype=np.int32), np.array([3, 4], dtype=np.int32)
    ratings, stamps = np.array([1.0, 2.0], dtype=rating_dtype), np.array([5, 6], dtype=np.int64)
    data = Interactions.from_arrays(users, items, ratings, stamps)
    for theirs, ours in ((users, data.users), (ratings, data.ratings), (stamps, data.timestamps)):
        assert theirs.flags.writeable and not np.shares_memory(theirs, ours)
    assert users.tolist() == [1, 2] and items.tolist() == [3, 4]


def test_constructor_copies_index_arrays() -> None:
    users = np.array([0, 1], dtype=np.int32)
    data = Interactions(
        users, np.array([0, 0]), np.array([1.0, 2.0]), user_ids=IdMap([5, 6]), item_ids=IdMap([1])
    )
    users[0] = 1
    assert data.users[0] == 0


def test_csr_and_seen_equal_dense_reference(small: Interactions, raw) -> None:
    dense = np.zeros((3, 3), dtype=np.float32)
    for u, i, r in zip(raw["users"], raw["items"], raw["ratings"], strict=True):
        dense[small.user_ids.index(u), small.item_ids.index(i)] = r
    np.testing.assert_array_equal(small.csr.toarray(), dense)
    for u in range(3):
        assert small.seen(u).tolist() == np.flatnonzero(dense[u]).tolist()
    assert small.density == pytest.approx(5 / 9)


def test_subset_shares_maps_and_metadata(small: Interactions) -> None:
    part = small.subset(np.array([0, 2]))
    assert part.user_ids is small.user_ids and part.item_ids is small.item_ids
    assert len(part) == 2 and part.ratings.tolist() == [4.0, 5.0] and part.scale == small.scale


def test_dataframe_round_trip(small: Interactions) -> None:
    frame = small.to_dataframe()
    again = Interactions.from_dataframe(frame)
    assert again.fingerprint == small.fingerprint
    assert frame.columns.tolist() == ["user", "item", "rating", "timestamp"]


def test_from_dataframe_names_missing_and_bad_columns() -> None:
    with pytest.raises(DataError, match="missing column 'user'"):
        Interactions.from_dataframe(pd.DataFrame({"u": [1], "item": [2]}))
    with pytest.raises(DataError, match="not a number") as info:
        Interactions.from_dataframe(pd.DataFrame({"user": [1, 2], "item": [2, 3], "rating": [1, "x"]}))
    assert info.value.field == "rating"


def test_non_finite_and_out_of_scale_ratings_rejected() -> None:
    with pytest.raises(DataError, match="not a finite number"):
        Interactions.from_arrays(np.array([1]), np.array([1]), np.array([np.nan]))
    with pytest.raises(DataError, match="outside the scale"):
        Interactions.from_arrays(
            np.array([1, 2]), np.array([1, 1]), np.array([3.0, 6.0]), scale=RatingScale(1, 5)
        )


def test_rating_scale_inference() -> None:
    assert RatingScale.infer(np.array([1.0, 2.0, 5.0])) == RatingScale(1.0, 5.0, 1.0)
    assert RatingScale.infer(np.array([0.5, 3.5, 4.0, 5.0])).step == 0.5
    with pytest.raises(ValueError):
        RatingScale(5, 1)


def test_duplicates_keep_latest_by_timestamp() -> None:
    with pytest.warns(UserWarning, match="1 duplicate"):
        data = Interactions.from_arrays(
            np.array([1, 1, 2]), np.array([5, 5, 5]), np.array([1.0, 2.0, 3.0]), np.array([20, 10, 0])
        )
    assert len(data) == 2 and data.ratings.tolist() == [1.0, 3.0]


def test_duplicates_without_timestamps_keep_the_last_row() -> None:
    with pytest.warns(UserWarning, match="2 duplicate"):
        data = Interactions.from_arrays(np.array([1, 1, 1]), np.array([5, 5, 5]), np.array([1.0, 2.0, 3.0]))
    assert data.ratings.tolist() == [3.0]


def test_duplicate_check_matches_pandas_on_random_data() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, 3000), rng.integers(0, 40, 3000)
    stamps = rng.permutation(3000)
    with pytest.warns(UserWarning):
        data = Interactions.from_arrays(users, items, rng.random(3000), stamps)
    frame = pd.DataFrame({"u": users, "i": items, "t": stamps}).sort_values("t")
    expected = frame.drop_duplicates(["u", "i"], keep="last")
    assert len(data) == len(expected)
    got = set(zip(data.timestamps.tolist(), strict=True))
    assert got == set(zip(expected["t"].tolist(), strict=True))


def test_metadata_aligned_to_indices() -> None:
    meta = pd.DataFrame({"title": ["nine", "seven", "unused"]}, index=[9, 7, 100])
    data = Interactions.from_arrays(np.array([1, 1]), np.array([9, 7]), item_meta=meta)
    assert data.item_titles() == ["seven", "nine"]


def test_idmap_lookup_and_unknown_id(small: Interactions) -> None:
    ids = small.item_ids
    assert ids.index(9) == 2 and ids.index("9") == 2 and ids.raw_id(0) == 7
    assert ids.indices([9, 7]).tolist() == [2, 0] and 8 in ids and 99 not in ids
    with pytest.raises(UnknownIdError, match="unknown item id 99"):
        ids.index(99)
    with pytest.raises(UnknownIdError):
        ids.indices([7, 99])


def test_idmap_json_round_trip_ints_and_strings() -> None:
    for raw in ([3, 1, 2], ["b", "a"]):
        ids = IdMap(raw, kind="user")
        again = IdMap.from_json(json.loads(json.dumps(ids.to_json())))
        assert again == ids and again.raw_id(0) == raw[0]
    with pytest.raises(ValueError, match="appears twice"):
        IdMap([1, 1])


def test_given_id_maps_are_used_and_unknown_raw_ids_raise() -> None:
    users, items = IdMap([1, 2, 3], "user"), IdMap([10, 20], "item")
    data = Interactions.from_arrays(np.array([3]), np.array([20]), user_ids=users, item_ids=items)
    assert data.users.tolist() == [2] and data.n_users == 3
    with pytest.raises(UnknownIdError):
        Interactions.from_arrays(np.array([4]), np.array([20]), user_ids=users, item_ids=items)
