"""Rating evaluation that cannot fool you: held-out rows only, re-indexed to the model, training rows refused.

A test set read from another file has its own id maps; `align` re-indexes it to the model's and counts
the rows whose user or item the model never saw. `evaluate_ratings` then checks every row against the
model's training pairs: scoring rows it was trained on would report training error as test error, so
they are refused (naming the split the model was trained with), or, when allowed, scored apart and
labelled as training error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedrec.data.interactions import Interactions
from embedrec.errors import Arg, DataError
from embedrec.metrics import mae, rmse
from embedrec.models.base import Estimator


@dataclass(frozen=True)
class Scores:
    """RMSE and MAE over n rows."""

    n: int
    rmse: float
    mae: float


@dataclass(frozen=True)
class Evaluation:
    """Scores on rows the model never saw, on rows it was trained on (only when allowed), and how many
    rows were skipped because the model does not know their user or item."""

    test: Scores | None
    train_rows: Scores | None
    unknown: int


def align(model: Estimator, part: Interactions) -> tuple[Interactions, int]:
    """`part` re-indexed to the model's id maps, without the rows whose user or item it does not know."""
    model._check_fitted()
    if part.user_ids == model.user_ids_ and part.item_ids == model.item_ids_:
        return part, 0
    raw_u, raw_i = part.user_ids.raw_ids[part.users], part.item_ids.raw_ids[part.items]
    keep = (model.user_ids_.lookup(raw_u) >= 0) & (model.item_ids_.lookup(raw_i) >= 0)
    aligned = Interactions.from_arrays(
        raw_u[keep],
        raw_i[keep],
        part.ratings[keep],
        None if part.timestamps is None else part.timestamps[keep],
        user_ids=model.user_ids_,
        item_ids=model.item_ids_,
        scale=model.scale_,
        source=part.source,
        origin=part.origin,
    )
    return aligned, int((~keep).sum())


def trained_rows(model: Estimator, part: Interactions) -> np.ndarray:
    """True for each row of `part` (indexed like the model) whose (user, item) pair the model trained on."""
    seen = model.seen_
    users = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
    keys = np.sort(users * seen.shape[1] + seen.indices)
    probe = part.users.astype(np.int64) * seen.shape[1] + part.items
    pos = np.clip(np.searchsorted(keys, probe), 0, max(len(keys) - 1, 0))
    return (len(keys) > 0) & (keys[pos] == probe)


def training_split(model: Estimator) -> str:
    """How the model's training rows were drawn, in words ('the random split (seed 0, 20% held out)')."""
    origin = model.train_origin_ if hasattr(model, "train_origin_") else {}
    split = origin.get("split")
    where = f" of {origin['source']}" if origin.get("source") else ""
    if not split:
        return f"all rows{where}"
    details = [f"seed {split['seed']}"] if split.get("seed") is not None else []
    if split.get("leave_k"):
        details.append(f"{split['leave_k']} per user held out")
    elif split.get("test_fraction") is not None:
        details.append(f"{split['test_fraction']:.0%} held out")
    shown = ", ".join(details)
    return f"the {split['name']} split{where}" + (f" ({shown})" if shown else "")


def evaluate_ratings(
    model: Estimator, part: Interactions, *, allow_train_rows: bool = False, what: str = "test rows"
) -> Evaluation:
    """RMSE/MAE of `model` on `part`; rows it was trained on are refused unless `allow_train_rows`."""
    aligned, unknown = align(model, part)
    if len(aligned) == 0:
        raise DataError(
            f"none of the {what} has a user and an item the model knows ({unknown:,} rows skipped): "
            f"is this data from the same source as its training data ({training_split(model)})?"
        )
    seen = trained_rows(model, aligned)
    if seen.any() and not allow_train_rows:
        raise DataError(
            f"{int(seen.sum()):,} of the {len(aligned):,} {what} were in the model's training data (it was "
            f"trained on {training_split(model)}): their error is training error, not test error; evaluate "
            "on the split the model was trained with or on new ratings, or pass {} to score them apart",
            hints=(Arg("allow_train_rows", True),),
        )
    return Evaluation(_scores(model, aligned, ~seen), _scores(model, aligned, seen), unknown)


def _scores(model: Estimator, part: Interactions, rows: np.ndarray) -> Scores | None:
    if not rows.any():
        return None
    pred = model.predict(part.users[rows], part.items[rows], raw=False)
    truth = part.ratings[rows]
    return Scores(int(rows.sum()), float(rmse(truth, pred)), float(mae(truth, pred)))
