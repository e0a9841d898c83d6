"""Train/test splits that share the full data's id maps, so indices mean the same thing on both sides.

Every split drops test rows whose user or item has no training rating, unless `cold_start=True`:
a model cannot have learned an embedding for an id it never saw.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from embedrec.data.datasets import dataset_path
from embedrec.data.interactions import Interactions
from embedrec.data.movielens import Layout, read_movielens
from embedrec.errors import Arg, DataError, ParameterError

FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


def random_split(
    data: Interactions, test_fraction: float = 0.2, seed: int = 0, *, cold_start: bool = False
) -> tuple[Interactions, Interactions]:
    """A seeded random `test_fraction` of all ratings goes to test."""
    _check_fraction(test_fraction)
    rng = np.random.default_rng(seed)
    n_test = int(round(test_fraction * len(data)))
    test = np.zeros(len(data), dtype=bool)
    test[rng.permutation(len(data))[:n_test]] = True
    return _finish(data, test, cold_start, {"name": "random", "test_fraction": test_fraction, "seed": seed})


def user_split(
    data: Interactions,
    test_fraction: float = 0.2,
    leave_k: int | None = None,
    seed: int = 0,
    *,
    cold_start: bool = False,
) -> tuple[Interactions, Interactions]:
    """Per user, a random `test_fraction` of their ratings (or exactly `leave_k`) goes to test.

    Every user keeps at least one training rating, so no user is cold in test.
    """
    if leave_k is None:
        _check_fraction(test_fraction)
    elif leave_k < 1:
        raise ParameterError(f"{{}} must be a positive number of ratings, got {leave_k!r}", Arg("leave_k"))
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(data)), data.users))  # users grouped, random order inside
    split = {"name": "user", "test_fraction": test_fraction, "leave_k": leave_k, "seed": seed}
    return _finish(data, _tail_per_user(data, order, test_fraction, leave_k), cold_start, split)


def temporal_split(
    data: Interactions, test_fraction: float = 0.2, per_user: bool = False, *, cold_start: bool = False
) -> tuple[Interactions, Interactions]:
    """The latest ratings go to test: the last `test_fraction` overall, or of each user's history."""
    _check_fraction(test_fraction)
    if data.timestamps is None:
        raise DataError("a temporal split needs timestamps and this data has none", path=data.source or None)
    rows = np.arange(len(data))
    split = {"name": "temporal", "test_fraction": test_fraction, "per_user": per_user}
    if not per_user:
        order = np.lexsort((rows, data.timestamps))  # ties keep file order
        test = np.zeros(len(data), dtype=bool)
        test[order[len(data) - int(round(test_fraction * len(data))) :]] = True
        return _finish(data, test, cold_start, split)
    order = np.lexsort((rows, data.timestamps, data.users))
    return _finish(data, _tail_per_user(data, order, test_fraction, None), cold_start, split)


def predefined_split(
    name_or_path: str | Path,
    fold: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    cold_start: bool = False,
) -> tuple[Interactions, Interactions]:
    """MovieLens 100K's published folds (`u1`..`u5`, `ua`, `ub`), with id maps from the full u.data."""
    if fold not in FOLDS:
        raise ParameterError(f"unknown fold {fold!r}; the ML-100K folds are {', '.join(FOLDS)}")
    root = dataset_path(name_or_path, data_dir=data_dir, download=download)
    if root.is_file() and root.name in ("u.data", f"{fold}.base", f"{fold}.test"):
        root = root.parent
    layout = Layout(root) if root.is_dir() or zipfile.is_zipfile(root) else None
    if layout is None or not layout.has("u.data") or not layout.has(f"{fold}.base"):
        raise DataError(
            f"{fold} is one of MovieLens 100K's published folds ({', '.join(FOLDS)}: files {fold}.base and "
            f"{fold}.test beside u.data), and this is not an ML-100K folder; split other data with {{}} "
            "(or user, temporal)",
            path=str(root),
            hints=(Arg("split", "random"),),
        )
    full = read_movielens(root)
    parts = []
    for part in ("base", "test"):
        rows = read_movielens(root, ratings_file=f"{fold}.{part}")
        parts.append(
            Interactions._owned(
                full.user_ids.indices(rows.user_ids.raw_ids[rows.users]),
                full.item_ids.indices(rows.item_ids.raw_ids[rows.items]),
                rows.ratings,
                rows.timestamps,
                user_ids=full.user_ids,
                item_ids=full.item_ids,
                scale=full.scale,
                user_meta=full.user_meta,
                item_meta=full.item_meta,
                source=rows.source,
            )
        )
    origin = {**full.origin, "data_fingerprint": full.fingerprint, "split": {"name": fold}}
    train, test = (
        part.subset(np.arange(len(part)), origin={**origin, "part": name})
        for part, name in zip(parts, ("train", "test"), strict=True)
    )
    return train, test if cold_start else _known_only(train, test)


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(
            f"{{}} must lie strictly between 0 and 1, got {test_fraction!r}", Arg("test_fraction")
        )


def _tail_per_user(
    data: Interactions, order: np.ndarray, test_fraction: float, leave_k: int | None
) -> np.ndarray:
    """Mark the last n_u rows of each user's run in `order` as test, keeping one for training."""
    counts = np.bincount(data.users, minlength=data.n_users)
    if leave_k is None:
        n_test = np.floor(counts * test_fraction + 0.5).astype(np.int64)
    else:
        n_test = np.full(data.n_users, leave_k, dtype=np.int64)
    n_test = np.minimum(n_test, np.maximum(counts - 1, 0))
    sorted_users = data.users[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(order)) - starts[sorted_users]  # position inside the user's run
    test = np.zeros(len(data), dtype=bool)
    test[order[rank >= (counts - n_test)[sorted_users]]] = True
    return test


def _finish(
    data: Interactions, test: np.ndarray, cold_start: bool, split: dict[str, Any]
) -> tuple[Interactions, Interactions]:
    """(train, test) rows; each records the split and the full data's fingerprint in its `origin`."""
    origin = {**data.origin, "data_fingerprint": data.fingerprint, "split": split}
    train = data.subset(~test, origin={**origin, "part": "train"})
    held = data.subset(test, origin={**origin, "part": "test"})
    return train, held if cold_start else _known_only(train, held)


def _known_only(train: Interactions, test: Interactions) -> Interactions:
    """Test rows whose user and item both have at least one training rating."""
    known_users = np.bincount(train.users, minlength=train.n_users) > 0
    known_items = np.bincount(train.items, minlength=train.n_items) > 0
    keep = known_users[test.users] & known_items[test.items]
    return test if keep.all() else test.subset(keep)
