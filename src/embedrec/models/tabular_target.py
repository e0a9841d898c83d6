"""The target of a table model: which task it is, its values as the network learns them, row weights,
the held-out validation rows, and the metrics a prediction of it is judged by.

Regression targets are standardised ((y - mean) / std) so that one learning rate suits any unit; class
labels become indices into `classes` (sorted, as scikit-learn keeps `classes_`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss, r2_score, roc_auc_score
from sklearn.utils.multiclass import check_classification_targets

from embedrec.errors import DataError, ParameterError

LOSS = {"regression": "mse", "binary": "bce", "multiclass": "cross_entropy"}


@dataclass(frozen=True, eq=False)
class Target:
    """A target ready for training: the task, float32 values (standardised numbers or class indices)."""

    task: str  # "regression", "binary" or "multiclass"
    values: np.ndarray  # (n,) float32
    classes: np.ndarray | None = None  # sorted labels of a classification target
    mean: float = 0.0  # of a regression target, to undo the standardisation
    std: float = 1.0


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def encode_target(y: np.ndarray, task: str) -> Target:
    """The task from `task` ("auto": numbers with more than two values are a regression, anything else
    classes) and the values to learn; one class, or text in a regression target, is a DataError."""
    numeric = y.dtype.kind in "iuf" or all(_is_number(v) for v in y)
    distinct = pd.unique(pd.Series(y, dtype=object))
    if task != "regression" and len(distinct) < 2:
        raise DataError(f"the target has one class ({_plain(distinct[0])!r} on every row): nothing to learn")
    if task == "auto":
        task = "regression" if numeric and len(distinct) > 2 else "classification"
    if task == "regression":
        if not numeric:
            bad = next(v for v in y if not _is_number(v))
            raise DataError(
                f"the target has a non-number {_plain(bad)!r}: for classes pass task='classification'"
            )
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all():
            raise DataError("the target has a missing or infinite value (every row needs a number)")
        mean, std = float(values.mean()), float(values.std() or 1.0)
        return Target("regression", ((values - mean) / std).astype(np.float32), mean=mean, std=std)
    check_classification_targets(y)
    classes, index = np.unique(y, return_inverse=True)
    if task == "binary" and len(classes) != 2:
        raise ParameterError(f"task='binary' but the target has {len(classes)} classes")
    kind = "binary" if len(classes) == 2 and task != "multiclass" else "multiclass"
    return Target(kind, index.astype(np.float32), classes=classes)


def row_weights(target: Target, class_weight: Any, sample_weight: Any) -> np.ndarray | None:
    """Per-row loss weights: class_weight ("balanced" as scikit-learn defines it, or a dict by label)
    times sample_weight; None when neither is given."""
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w is not None and (
        len(w) != len(target.values) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0
    ):
        raise ParameterError("sample_weight must be one finite number >= 0 per row, not all zero")
    if class_weight is None:
        return w
    if target.classes is None:
        raise ParameterError("class_weight is for classification; this target is a regression one")
    index = target.values.astype(np.int64)
    n_classes = len(target.classes)
    if class_weight == "balanced":
        per_class = len(index) / (n_classes * np.bincount(index, minlength=n_classes))
    else:
        per_class = np.array([float(class_weight.get(c, 1.0)) for c in target.classes.tolist()])
    return per_class[index] * (1.0 if w is None else w)


def validation_rows(target: Target, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(train rows, valid rows): a seeded `fraction` held out, stratified by class (each class keeps
    at least one training row); no valid rows when the fraction rounds to none."""
    n = len(target.values)
    if not fraction or round(n * fraction) < 1:
        return np.arange(n), None
    rng = np.random.default_rng(seed)
    if target.classes is None:
        groups = [np.arange(n)]
    else:
        groups = [np.flatnonzero(target.values == c) for c in range(len(target.classes))]
    held = [rng.permutation(rows)[: min(int(round(len(rows) * fraction)), len(rows) - 1)] for rows in groups]
    valid = np.sort(np.concatenate(held))
    if len(valid) == 0:
        return np.arange(n), None
    return np.setdiff1d(np.arange(n), valid), valid


def target_metrics(
    truth: np.ndarray, predicted: np.ndarray, classes: np.ndarray | None = None
) -> dict[str, float]:
    """RMSE, MAE and R² of predicted values; or, given class probabilities (n, n_classes) and `classes`,
    accuracy, ROC AUC (one-vs-rest beyond two classes) and log loss. AUC and log loss need every test
    label to be one of `classes`."""
    if classes is None:
        err = predicted - truth
        return {"RMSE": float(np.sqrt(np.mean(err**2))), "MAE": float(np.mean(np.abs(err))),
                "R²": float(r2_score(truth, predicted))}  # fmt: skip
    out = {"accuracy": float(accuracy_score(truth, classes[predicted.argmax(axis=1)].astype(object)))}
    present = np.unique(truth)
    if np.isin(truth, classes).all() and len(present) > 1:
        if len(classes) == 2:
            out["ROC AUC"] = float(roc_auc_score(truth == classes[1], predicted[:, 1]))
        elif len(present) == len(classes):
            out["ROC AUC"] = float(roc_auc_score(truth, predicted, multi_class="ovr", labels=classes))
        out["log loss"] = float(log_loss(truth, predicted, labels=classes))
    return out
