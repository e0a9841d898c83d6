"""Implicit feedback: like-weights of interaction values, the implicit view of a rating file, bad values."""

from __future__ import annotations

import numpy as np
import pytest

from embedrec import DataError, Interactions, ParameterError, implicit
from embedrec.data.idmap import IdMap
from embedrec.data.implicit import WEIGHTS, default_weights, like_weights, liked_matrix
from embedrec.data.interactions import RatingScale


def frame(users: list, items: list, values: list | None) -> Interactions:
    return Interactions.from_arrays(
        np.array(users), np.array(items), None if values is None else np.array(values)
    )


RATED = frame([1, 1, 1, 2, 2, 3], [10, 11, 12, 10, 12, 11], [5.0, 3.0, 1.0, 4.0, 4.5, 2.0])


def test_weight_functions_by_name() -> None:
    v = np.array([1.0, 3.0, 5.0], np.float32)
    scale = RatingScale(1.0, 5.0, 1.0)
    np.testing.assert_allclose(like_weights(v, scale, None, "binary"), [1, 1, 1])
    np.testing.assert_allclose(like_weights(v, scale, None, "value"), [1, 3, 5])
    np.testing.assert_allclose(like_weights(v, scale, None, "log"), np.log1p([1, 3, 5]), rtol=1e-6)
    np.testing.assert_allclose(like_weights(v, scale, None, "scaled"), [0, 0.5, 1])
    np.testing.assert_allclose(like_weights(v, scale, 3.0, "value"), [0, 3, 5])  # below min_rating: 0
    assert set(WEIGHTS) == {"binary", "value", "log", "scaled"}
    with pytest.raises(ParameterError, match="binary, log, scaled, value"):
        like_weights(v, scale, None, "squared")


def test_liked_matrix_keeps_likes_and_ids() -> None:
    m = liked_matrix(RATED, min_rating=4)
    assert m.shape == (3, 3) and m.dtype == np.float32
    users, items = m.nonzero()
    liked = {(RATED.user_ids.raw_id(u), RATED.item_ids.raw_id(i)) for u, i in zip(users, items, strict=True)}
    assert liked == {(1, 10), (2, 10), (2, 12)}


def test_implicit_view_shares_id_maps() -> None:
    view = implicit(RATED, min_rating=4)
    assert view.user_ids is RATED.user_ids and view.item_ids is RATED.item_ids
    assert len(view) == 3 and np.all(view.ratings == 1.0)
    weighted = implicit(RATED, weights="scaled")
    assert len(weighted) == 5  # the 1-star rating scales to 0: seen, not liked
    np.testing.assert_allclose(sorted(weighted.ratings), [0.25, 0.5, 0.75, 0.875, 1.0])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([3.0, -1.0, 2.0, 2.0], "row 1: value -1 is negative"),
        ([3.0, np.inf, 2.0, 2.0], "row 1: value inf is not a finite number"),
    ],
)
def test_bad_values_name_the_row(values: list, message: str) -> None:
    with pytest.raises(DataError, match=message):
        like_weights(np.array(values), RatingScale(0, 5), None, "value")


def test_one_user_or_one_item_has_nothing_to_learn() -> None:
    with pytest.raises(DataError, match="every like belongs to one user"):
        liked_matrix(frame([7, 7, 7], [1, 2, 3], None))
    with pytest.raises(DataError, match="every like belongs to one item"):
        liked_matrix(frame([1, 2, 3], [9, 9, 9], None))
    with pytest.raises(DataError, match="no value is at or above min_rating=6"):
        liked_matrix(RATED, min_rating=6)


def test_equal_values_are_clicks_but_cannot_be_scaled() -> None:
    clicks = frame([1, 1, 2, 3], [1, 2, 2, 3], None)
    assert default_weights(clicks) == "binary"
    assert liked_matrix(clicks).nnz == 4
    with pytest.raises(DataError, match="every value is 1, and 'scaled' weights make the lowest value 0"):
        liked_matrix(clicks, weights="scaled")


def test_default_weights_tell_ratings_from_counts() -> None:
    assert default_weights(RATED) == "scaled"
    counts = frame(list(range(30)), [1] * 15 + [2] * 15, list(range(1, 31)))
    assert default_weights(counts) == "log"


def test_nan_values_are_refused_by_interactions() -> None:
    with pytest.raises(DataError, match="not a finite number"):
        Interactions(
            np.array([0, 1]),
            np.array([0, 0]),
            np.array([1.0, np.nan]),
            user_ids=IdMap(np.array([1, 2])),
            item_ids=IdMap(np.array([1])),
        )
