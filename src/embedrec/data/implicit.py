"""Implicit feedback: interactions read as "this user liked this item, this much" instead of ratings.

Clicks, plays and purchases come without ratings (every value 1) or with counts; a rating file becomes
implicit feedback by keeping the ratings at or above `min_rating` as likes, or by reading each rating
as a confidence weight. Ranking models (ALS, BPR, EASE) turn their training values into like-weights
with `liked_matrix`, so the same rule applies when they fit and when they fold a new user in; `implicit`
gives the same view as an `Interactions` for any other use (sharing the id maps, so splits and
evaluation line up).

Weight functions, picked by name (`WEIGHTS`), map values v ≥ `min_rating` to weights w ≥ 0:

    binary   w = 1                              every kept interaction is one like
    value    w = v                              counts (or ratings) as confidence
    log      w = log(1 + v)                     heavy-tailed counts, damped
    scaled   w = (v - low) / (high - low)       ratings on their scale: the lowest is seen, not liked
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embedrec.checks import check_non_negative, pick
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.errors import DataError


def _binary(values: np.ndarray, scale: RatingScale) -> np.ndarray:
    return np.ones_like(values)


def _value(values: np.ndarray, scale: RatingScale) -> np.ndarray:
    return values.copy()


def _log(values: np.ndarray, scale: RatingScale) -> np.ndarray:
    return np.log1p(values)


def _scaled(values: np.ndarray, scale: RatingScale) -> np.ndarray:
    return (values - np.float32(scale.low)) / np.float32(scale.high - scale.low)


WEIGHTS: dict[str, Callable[[np.ndarray, RatingScale], np.ndarray]] = {
    "binary": _binary,
    "value": _value,
    "log": _log,
    "scaled": _scaled,
}


def check_feedback(values: np.ndarray, source: str = "") -> None:
    """Raise a DataError naming the first row whose value cannot be a like-weight (NaN, infinite, < 0)."""
    values = np.asarray(values)
    bad = ~np.isfinite(values)
    what = "is not a finite number"
    if not bad.any():
        bad, what = values < 0, "is negative (counts and confidence weights must be >= 0)"
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"row {row}: value {values[row]:g} {what}", path=source or None, field="rating")


def like_weights(
    values: np.ndarray, scale: RatingScale, min_rating: float | None, weights: str, source: str = ""
) -> np.ndarray:
    """Like-weights (float32) of interaction values: 0 below `min_rating` (seen, not liked), else
    `WEIGHTS[weights]`."""
    fn = pick(WEIGHTS, weights, "weights")
    values = np.asarray(values, dtype=np.float32)
    check_feedback(values, source)
    out = fn(values, scale).astype(np.float32)
    if min_rating is not None:
        out[values < check_non_negative("min_rating", min_rating)] = 0.0
    return np.maximum(out, 0.0)


def liked_matrix(
    data: Interactions, min_rating: float | None = None, weights: str = "binary"
) -> sp.csr_matrix:
    """users × items float32 CSR of like-weights > 0: what a ranking model learns from.

    Interactions left out (below `min_rating`, or weight 0) still count as seen: the model's `seen_`
    keeps them, so they are never recommended back. Raises DataError when nothing is liked, or when
    one user or one item holds every like (there is nothing to learn across users or items).
    """
    w = like_weights(data.ratings, data.scale, min_rating, weights, data.source)
    keep = w > 0
    if not keep.any():
        values = data.ratings
        if weights == "scaled" and values.size and values.min() == values.max():
            why = (
                f"every value is {values[0]:g}, and 'scaled' weights make the lowest value 0: "
                "use weights='binary'"
            )
        elif min_rating is not None:
            why = f"no value is at or above min_rating={min_rating:g}"
        else:
            why = f"every like-weight ({weights!r}) is 0"
        raise DataError(f"{why}: nothing to learn a ranking from", path=data.source or None)
    users, items = data.users[keep], data.items[keep]
    for kind, idx, ids in (("user", users, data.user_ids), ("item", items, data.item_ids)):
        if np.all(idx == idx[0]):
            raise DataError(
                f"every like belongs to one {kind} ({ids.raw_id(int(idx[0]))!r}): a ranking model needs "
                f"likes from at least two {kind}s",
                path=data.source or None,
            )
    m = sp.csr_matrix((w[keep], (users, items)), shape=(data.n_users, data.n_items), dtype=np.float32)
    m.sort_indices()
    return m


def implicit(data: Interactions, *, min_rating: float | None = None, weights: str = "binary") -> Interactions:
    """The implicit-feedback view of `data`: only the interactions liked (at or above `min_rating`), each
    valued by its like-weight; id maps, timestamps and metadata are shared, so splits still line up.

    `implicit(load_dataset("ml-100k"), min_rating=4)` is MovieLens as "liked" events;
    `implicit(plays, weights="log")` damps play counts.
    """
    w = like_weights(data.ratings, data.scale, min_rating, weights, data.source)
    keep = np.flatnonzero(w > 0)
    scale = RatingScale.infer(w[keep])
    return Interactions._owned(
        data.users[keep],
        data.items[keep],
        w[keep],
        None if data.timestamps is None else data.timestamps[keep],
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        scale=scale,
        user_meta=data.user_meta,
        item_meta=data.item_meta,
        source=data.source,
    )


def default_weights(data: Interactions) -> str:
    """The like-weight rule that suits `data`: "binary" when every value is the same (clicks), "scaled"
    for star ratings (at most 10 distinct values on a grid), else "log" (counts)."""
    values = pd.unique(data.ratings)
    if len(values) <= 1:
        return "binary"
    if data.scale.step is not None and len(values) <= 10:
        return "scaled"
    return "log"
