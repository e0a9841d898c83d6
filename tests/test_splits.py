"""Splits on real ML-100K: sizes, disjointness, shared id maps, time order, and no cold ids in test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedrec import (
    DataError,
    Interactions,
    predefined_split,
    random_split,
    read_ratings,
    temporal_split,
    user_split,
)


@pytest.fixture(scope="module")
def ml100k(ml100k_dir: Path) -> Interactions:
    return read_ratings(ml100k_dir)


def keys(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.users.tolist(), data.items.tolist(), strict=True))


def assert_no_cold_ids(train: Interactions, test: Interactions) -> None:
    assert np.isin(test.users, train.users).all() and np.isin(test.items, train.items).all()


def assert_partition(full: Interactions, train: Interactions, test: Interactions) -> None:
    assert train.user_ids is full.user_ids and test.item_ids is full.item_ids
    assert len(train) + len(test) == len(full)
    assert keys(train).isdisjoint(keys(test)) and keys(train) | keys(test) == keys(full)


def test_random_split_is_seeded_partition(ml100k: Interactions) -> None:
    train, test = random_split(ml100k, 0.2, seed=1, cold_start=True)
    assert_partition(ml100k, train, test)
    assert len(test) == 20_000
    again, _ = random_split(ml100k, 0.2, seed=1, cold_start=True)
    other, _ = random_split(ml100k, 0.2, seed=2, cold_start=True)
    assert again.fingerprint == train.fingerprint != other.fingerprint


def test_random_split_drops_cold_ids_by_default(ml100k: Interactions) -> None:
    train, test = random_split(ml100k, 0.5, seed=0)
    _, cold = random_split(ml100k, 0.5, seed=0, cold_start=True)
    assert_no_cold_ids(train, test)
    assert len(test) < len(cold)  # at half the data some items are only in test
    known = np.isin(cold.items, train.items) & np.isin(cold.users, train.users)
    assert len(test) == int(known.sum())


def test_user_split_fraction_per_user(ml100k: Interactions) -> None:
    train, test = user_split(ml100k, test_fraction=0.25, seed=0, cold_start=True)
    assert_partition(ml100k, train, test)
    counts = np.bincount(ml100k.users, minlength=ml100k.n_users)
    held = np.bincount(test.users, minlength=ml100k.n_users)
    np.testing.assert_array_equal(held, np.minimum(np.floor(counts * 0.25 + 0.5), counts - 1))


def test_leave_k_out(ml100k: Interactions) -> None:
    train, test = user_split(ml100k, leave_k=3, seed=0, cold_start=True)
    assert np.bincount(test.users, minlength=ml100k.n_users).tolist() == [3] * 943  # everyone has >= 20
    warm_train, warm_test = user_split(ml100k, leave_k=3, seed=0)
    assert_no_cold_ids(warm_train, warm_test)  # an item rated only in someone's held-out three is dropped
    assert len(warm_test) <= len(test)


def test_leave_k_keeps_one_training_rating() -> None:
    data = Interactions.from_arrays(np.array([1, 1, 2]), np.array([1, 2, 1]), np.array([1.0, 2.0, 3.0]))
    train, test = user_split(data, leave_k=5, cold_start=True)
    assert np.bincount(train.users).tolist() == [1, 1] and len(test) == 1


def test_temporal_global(ml100k: Interactions) -> None:
    train, test = temporal_split(ml100k, 0.1, cold_start=True)
    assert_partition(ml100k, train, test)
    assert len(test) == 10_000 and train.timestamps.max() <= test.timestamps.min()


def test_temporal_per_user(ml100k: Interactions) -> None:
    train, test = temporal_split(ml100k, 0.2, per_user=True, cold_start=True)
    assert_partition(ml100k, train, test)
    last_train = pd.Series(train.timestamps).groupby(train.users).max()
    first_test = pd.Series(test.timestamps).groupby(test.users).min()
    assert (last_train.reindex(first_test.index) <= first_test).all()


def test_predefined_u1(ml100k_dir: Path, ml100k: Interactions) -> None:
    train, test = predefined_split(ml100k_dir, "u1")
    assert len(train) == 80_000
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", header=None, names=["u", "i", "r", "t"])
    probe = pd.read_csv(ml100k_dir / "u1.test", sep="\t", header=None, names=["u", "i", "r", "t"])
    known = probe["u"].isin(base["u"]) & probe["i"].isin(base["i"])
    assert len(test) == int(known.sum()) < 20_000
    assert train.user_ids == ml100k.user_ids and train.item_ids == ml100k.item_ids  # shared, full maps
    assert test.item_ids is train.item_ids and train.item_meta is not None
    assert_no_cold_ids(train, test)
    _, everything = predefined_split(ml100k_dir, "u1", cold_start=True)
    assert len(everything) == 20_000
    first = probe.iloc[0]
    assert everything.user_ids.raw_id(everything.users[0]) == first["u"]
    assert everything.item_ids.raw_id(everything.items[0]) == first["i"]


def test_predefined_ua_has_ten_per_user(ml100k_dir: Path) -> None:
    train, test = predefined_split(ml100k_dir, "ua", cold_start=True)
    assert len(test) == 9_430 and len(train) == 90_570


def test_bad_arguments(ml100k: Interactions, ml100k_dir: Path) -> None:
    with pytest.raises(ValueError, match="strictly between"):
        random_split(ml100k, 1.0)
    with pytest.raises(ValueError, match="leave_k"):
        user_split(ml100k, leave_k=0)
    with pytest.raises(ValueError, match="u1, u2"):
        predefined_split(ml100k_dir, "u9")
    no_time = Interactions.from_arrays(np.array([1, 2]), np.array([1, 1]))
    with pytest.raises(DataError, match="timestamps"):
        temporal_split(no_time)
