"""`TabularModel`: entity embeddings of a table's categorical columns beside its numbers, then an MLP.

A scikit-learn estimator for any table (a DataFrame, or a 2-D array of numbers): regression, binary or
multi-class classification, chosen from `y` or given. Each categorical column gets its own embedding,
learned with the rest of the network (`models/tabular_net.py`), and kept as a first-class
`EmbeddingTable` in `embeddings_[column]` for `similar`, maps and export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import accuracy_score, log_loss, r2_score, roc_auc_score
from sklearn.utils import ClassifierTags, RegressorTags, Tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d

from embedrec.checks import check_choice, check_non_negative, check_positive
from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.table_encoding import TableEncoder
from embedrec.data.tables import as_frame, infer_schema
from embedrec.errors import DataError, NotFittedError, ParameterError
from embedrec.models.tabular_net import TabularNet, embedding_size
from embedrec.models.tabular_persist import load_table_model, save_table_model
from embedrec.models.training import TrainConfig, TrainHistory, predict_module, torch_threads, train_module

TASKS = ("auto", "regression", "classification", "binary", "multiclass")
CLASSIFICATION = ("classification", "binary", "multiclass")


def _classifies(model: TabularModel) -> bool:
    """Whether predict_proba exists: not for a regression model (by its task, or as fitted)."""
    return model.task != "regression" and getattr(model, "task_", "binary") != "regression"


class TableNotFittedError(NotFittedError, SklearnNotFittedError):
    """A table model used before `fit`: embedrec's NotFittedError that scikit-learn also recognises."""


class TabularModel(BaseEstimator):
    """Entity embeddings + MLP for a table; `TabularModel().fit(X, y).predict(X)`.

    Columns: `categorical`, `numeric`, `multilabel` and `skip` name those whose role is not the
    inferred one (`embedrec.data.tables.infer_schema`). Each categorical column gets an embedding of
    width min(max_embedding_size, ⌈1.6·n^0.56⌉) for its n rows (values + unknown) unless
    `embedding_sizes` gives it; numeric columns with at most `value_embeddings` distinct values also get
    one for their values. Numbers are standardised, missing ones imputed by the median with a 0/1
    missing feature.
    Network: MLP `hidden` with ReLU, batch norm and `dropout`; `interaction_size` k > 0 adds a
    factorisation machine (a bias per category + pairwise dot products of k-dim factors), the part
    that lets two id columns interact like user and item factors; `embedding_reg` puts an L2 penalty
    on the rows each batch uses (rows seen often penalised less per use) instead of weight decay.
    Training: a `validation_fraction` of the rows (stratified by class) is held out to keep the best
    epoch and stop after `patience` epochs without improvement; `class_weight` ("balanced" or a dict)
    weighs the loss; `y_range=(low, high)` bounds regression outputs with a scaled sigmoid.
    Fitted: `task_`, `classes_`, `schema_`, `encoder_`, `net_`, `embeddings_` (column -> EmbeddingTable),
    `history_`, `n_features_in_` and `feature_names_in_` (DataFrames with string column names).
    """

    def __init__(
        self,
        task: str = "auto",
        *,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        multilabel: list[str] | None = None,
        skip: list[str] | None = None,
        embedding_sizes: dict[str, int] | None = None,
        max_embedding_size: int = 50,
        value_embeddings: int = 200,
        hidden: tuple[int, ...] = (200, 100),
        dropout: float = 0.1,
        embedding_dropout: float = 0.0,
        batch_norm: bool = True,
        interaction_size: int = 0,
        embedding_reg: float = 0.0,
        unknown_rate: float = 0.01,
        y_range: tuple[float, float] | None = None,
        class_weight: str | dict[Any, float] | None = None,
        epochs: int = 5,
        lr: float = 0.01,
        batch_size: int | str = "auto",
        weight_decay: float = 0.01,
        schedule: str = "onecycle",
        validation_fraction: float = 0.1,
        patience: int | None = 3,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self.task = task
        self.categorical = categorical
        self.numeric = numeric
        self.multilabel = multilabel
        self.skip = skip
        self.embedding_sizes = embedding_sizes
        self.max_embedding_size = max_embedding_size
        self.value_embeddings = value_embeddings
        self.hidden = hidden
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.batch_norm = batch_norm
        self.interaction_size = interaction_size
        self.embedding_reg = embedding_reg
        self.unknown_rate = unknown_rate
        self.y_range = y_range
        self.class_weight = class_weight
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.target_tags.required = True
        if self.task in CLASSIFICATION:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=self.task != "binary")
        elif self.task == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TabularModel:
        """Learn the embeddings and the MLP from a table and its target (starting over); returns self."""
        self._check_params()
        frame = self._frame(X, reset=True)
        y_name = y.name if isinstance(y, pd.Series) else None
        y = column_or_1d(y.to_numpy() if isinstance(y, pd.Series) else y, warn=True)
        if len(y) != len(frame):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y)}")
        if len(frame) < 2:
            raise ValueError(f"TabularModel needs at least 2 rows to fit, got n_samples = {len(frame)}")
        self.target_name_ = str(y_name) if y_name is not None else None
        target = self._encode_target(y)
        weights = self._row_weights(target, sample_weight)
        self.schema_ = infer_schema(
            frame,
            categorical=self.categorical,
            numeric=self.numeric,
            multilabel=self.multilabel,
            skip=self.skip,
        )
        self.encoder_ = TableEncoder.fit(frame, self.schema_, self.value_embeddings)
        codes, numbers = self.encoder_.transform(frame)
        train, valid = self._split(target)
        net = self._build()
        net.reg_weights = [_frequency_weights(c.counts) for c in self.encoder_.categories]
        config = self._config(len(train))
        fit_w = None if weights is None else weights[train] / weights[train].mean()
        valid_w = (
            None if weights is None or valid is None else weights[valid] / max(weights[valid].mean(), 1e-12)
        )
        self.history_: TrainHistory = train_module(
            net,
            (codes[train], numbers[train], target[train]),
            config,
            None if valid is None else (codes[valid], numbers[valid], target[valid]),
            weights=fit_w,
            valid_weights=valid_w,
        )
        self.net_ = net.cpu().eval()
        self._set_embeddings()
        return self

    def _check_params(self) -> None:
        check_choice("task", self.task, TASKS)
        if not isinstance(self.hidden, list | tuple):
            raise ParameterError(f"hidden must be a tuple of layer widths, got {self.hidden!r}")
        for width in self.hidden:
            check_positive("hidden layer width", width, integer=True)
        check_positive("max_embedding_size", self.max_embedding_size, integer=True)
        for name in ("value_embeddings", "interaction_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ParameterError(f"{name} must be an integer >= 0, got {value!r}")
        check_non_negative("embedding_reg", self.embedding_reg)
        for name in ("dropout", "embedding_dropout", "unknown_rate", "validation_fraction"):
            value = check_non_negative(name, getattr(self, name))
            if value >= (0.5 if name == "unknown_rate" else 1.0):
                raise ParameterError(
                    f"{name} must be below {0.5 if name == 'unknown_rate' else 1}, got {value}"
                )
        if self.y_range is not None:
            low, high = _pair("y_range", self.y_range)
            if not low < high:
                raise ParameterError(f"y_range must be (low, high) with low < high, got {self.y_range!r}")
        if (
            self.class_weight is not None
            and self.class_weight != "balanced"
            and not isinstance(self.class_weight, dict)
        ):
            raise ParameterError(
                f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}"
            )
        if not isinstance(self.seed, int | np.integer) or isinstance(self.seed, bool):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        if self.batch_size != "auto":
            check_positive("batch_size", self.batch_size, integer=True)
        self._config(1)  # checks epochs, lr, weight_decay, schedule, patience

    def _config(self, n_rows: int) -> TrainConfig:
        """The shared loop's settings; batch_size="auto" is n/50 rows (about 50 steps an epoch), 32..512."""
        batch = self.batch_size if self.batch_size != "auto" else int(min(512, max(32, n_rows // 50)))
        loss = {"regression": "mse", "binary": "bce", "multiclass": "cross_entropy"}.get(
            getattr(self, "task_", ""), "mse"
        )
        return TrainConfig(
            epochs=self.epochs,
            batch_size=batch,
            lr=self.lr,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            loss=loss,
            patience=self.patience,
            seed=int(self.seed),
            device=self.device,
            verbose=bool(self.verbose),
            description=f"TabularModel ({getattr(self, 'task_', '')})",
        )

    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """X as a DataFrame with string column names; an array's columns are the training ones in order.

        Records (reset) or checks the number of columns; DataFrame columns are matched by name.
        """
        named = isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)
        if isinstance(X, pd.DataFrame):
            frame = X if named else X.rename(columns=str)
        else:
            arr = check_array(X, dtype=None, ensure_all_finite=False, ensure_min_samples=1)
            if not reset and arr.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {arr.shape[1]} features, but TabularModel is expecting {self.n_features_in_} "
                    "features as input"
                )
            frame = as_frame(arr, None if reset else [c.name for c in self.schema_.columns])
        if reset:
            self.n_features_in_ = frame.shape[1]
            if named:
                self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        return frame

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        """Sets task_ (and classes_); the target as float32 (regression, binary) or class indices."""
        numeric = y.dtype.kind in "iuf" or all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in y
        )
        distinct = pd.unique(pd.Series(y, dtype=object))
        if self.task != "regression" and len(distinct) < 2:
            one = distinct[0].item() if isinstance(distinct[0], np.generic) else distinct[0]
            raise DataError(f"the target has one class ({one!r} on every row): nothing to learn")
        task = self.task
        if task == "auto":
            task = "regression" if numeric and len(distinct) > 2 else "classification"
        if task == "regression":
            if not numeric:
                bad = next(v for v in y if not isinstance(v, int | float | np.number) or isinstance(v, bool))
                bad = bad.item() if isinstance(bad, np.generic) else bad
                raise DataError(
                    f"the target has a non-number {bad!r}: for classes pass task='classification'"
                )
            values = np.asarray(y, dtype=np.float64)
            if not np.isfinite(values).all():
                raise DataError("the target has a missing or infinite value (every row needs a number)")
            self.task_ = "regression"
            self.target_mean_, self.target_std_ = float(values.mean()), float(values.std() or 1.0)
            if hasattr(self, "classes_"):
                del self.classes_
            return ((values - self.target_mean_) / self.target_std_).astype(np.float32)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        n = len(self.classes_)
        if task == "binary" and n != 2:
            raise ParameterError(f"task='binary' but the target has {n} classes")
        self.task_ = "binary" if n == 2 and task != "multiclass" else "multiclass"
        return index.astype(np.float32)

    def _row_weights(self, target: np.ndarray, sample_weight: Any) -> np.ndarray | None:
        """Per-row loss weights from class_weight and sample_weight (None when all are 1)."""
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w is not None and (
            len(w) != len(target) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0
        ):
            raise ParameterError("sample_weight must be one finite number >= 0 per row, not all zero")
        if self.class_weight is not None:
            if self.task_ == "regression":
                raise ParameterError("class_weight is for classification; this target is a regression one")
            index = target.astype(np.int64)
            if self.class_weight == "balanced":
                per_class = len(index) / (
                    len(self.classes_) * np.bincount(index, minlength=len(self.classes_))
                )
            else:
                per_class = np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_.tolist()])
            w = per_class[index] * (1.0 if w is None else w)
        return w

    def _split(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Train and valid row indices: a seeded `validation_fraction`, stratified by class."""
        n = len(target)
        rng = np.random.default_rng(self.seed)
        if not self.validation_fraction or round(n * self.validation_fraction) < 1:
            return np.arange(n), None
        groups = (
            [np.arange(n)]
            if self.task_ == "regression"
            else [np.flatnonzero(target == c) for c in np.unique(target)]
        )
        valid = []
        for rows in groups:
            k = min(int(round(len(rows) * self.validation_fraction)), len(rows) - 1)
            valid.append(rng.permutation(rows)[:k])
        held = np.sort(np.concatenate(valid))
        if len(held) == 0:
            return np.arange(n), None
        return np.setdiff1d(np.arange(n), held), held

    def _build(self) -> TabularNet:
        """A fresh network shaped by the encoder (the embedding sizes are recorded in sizes_)."""
        given = dict(self.embedding_sizes or {})
        names = [c.name for c in self.encoder_.categories]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ParameterError(
                f"embedding_sizes names {unknown[0]!r}, which is not a categorical column "
                f"(those are: {', '.join(names) or 'none'})"
            )
        for name, size in given.items():
            check_positive(f"embedding_sizes[{name!r}]", size, integer=True)
        cards = [c.n_rows for c in self.encoder_.categories]
        self.sizes_ = [
            int(given.get(c.name, embedding_size(c.n_rows, self.max_embedding_size)))
            for c in self.encoder_.categories
        ]
        y_range = None
        if self.task_ == "regression" and self.y_range is not None:
            low, high = _pair("y_range", self.y_range)
            y_range = (
                (low - self.target_mean_) / self.target_std_,
                (high - self.target_mean_) / self.target_std_,
            )
        n_out = len(self.classes_) if self.task_ == "multiclass" else 1
        return TabularNet(
            cards,
            self.sizes_,
            len(self.encoder_.features),
            tuple(self.hidden),
            n_out,
            dropout=self.dropout,
            embedding_dropout=self.embedding_dropout,
            batch_norm=self.batch_norm,
            unknown_rate=self.unknown_rate,
            y_range=y_range,
            interaction_size=self.interaction_size,
            embedding_reg=self.embedding_reg,
        )

    def _set_embeddings(self) -> None:
        """embeddings_: one EmbeddingTable per embedded column (keys = its values; the unknown row is
        left out), with training counts and, for a one-output model with interactions, the learned
        bias of each value."""
        self.embeddings_: dict[str, EmbeddingTable] = {}
        biases = list(self.net_.biases) if self.net_.n_out == 1 else []
        for j, (cats, emb) in enumerate(zip(self.encoder_.categories, self.net_.embeddings, strict=True)):
            bias = biases[j].weight.detach().numpy()[1:, 0].copy() if biases else None
            self.embeddings_[cats.name] = EmbeddingTable(
                emb.weight.detach().numpy()[1:].copy(),
                cats.ids,
                counts=cats.counts,
                bias=bias,
                name=f"TabularModel {cats.name} embeddings",
                kind=cats.name,
            )

    def column_vectors(self, X: Any) -> dict[str, np.ndarray]:
        """Each embedded column's vector for every row of X (n, d): the learned "unknown" vector where a
        value was never seen in training. What EmbeddingEncoder hands to other models."""
        self._check_fitted()
        codes, _ = self.encoder_.transform(self._frame(X, reset=False))
        return {
            cats.name: emb.weight.detach().numpy()[codes[:, j]]
            for j, (cats, emb) in enumerate(zip(self.encoder_.categories, self.net_.embeddings, strict=True))
        }

    # -- prediction ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise TableNotFittedError(
                "this TabularModel is not fitted yet: call fit(X, y) or TabularModel.load(dir)"
            )

    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs for a table: predictions (regression) or logits."""
        self._check_fitted()
        codes, numbers = self.encoder_.transform(self._frame(X, reset=False))
        with torch_threads(1):
            return predict_module(self.net_, torch.from_numpy(codes), torch.from_numpy(numbers))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values (regression) or classes, one per row."""
        out = self._outputs(X)
        if self.task_ == "regression":
            return (out.astype(np.float64) * self.target_std_ + self.target_mean_).astype(np.float64)
        index = (out > 0).astype(np.int64) if self.task_ == "binary" else out.argmax(axis=1)
        return self.classes_[index]

    @available_if(_classifies)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in the order of classes_ (classifiers only)."""
        out = torch.from_numpy(self._outputs(X)).double()
        if self.task_ == "binary":
            p = torch.sigmoid(out).numpy()
            return np.stack([1 - p, p], axis=1)
        return torch.softmax(out, dim=1).numpy()

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy for classification, R² for regression (scikit-learn's defaults)."""
        pred = self.predict(X)
        if self.task_ == "regression":
            return float(r2_score(np.asarray(y, dtype=np.float64), pred, sample_weight=sample_weight))
        return float(accuracy_score(np.asarray(y), pred, sample_weight=sample_weight))

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """Test metrics: accuracy, ROC AUC (one-vs-rest for more than two classes) and log loss, or RMSE,
        MAE and R² for regression. AUC and log loss need every test class to be known to the model."""
        if self.task_ == "regression":
            truth, pred = np.asarray(y, dtype=np.float64), self.predict(X)
            err = pred - truth
            return {
                "RMSE": float(np.sqrt(np.mean(err**2))),
                "MAE": float(np.mean(np.abs(err))),
                "R²": float(r2_score(truth, pred)),
            }
        truth, proba = np.asarray(y, dtype=object), self.predict_proba(X)
        out = {"accuracy": float(accuracy_score(truth, self.classes_[proba.argmax(axis=1)].astype(object)))}
        if np.isin(truth, self.classes_).all() and len(np.unique(truth)) > 1:
            if self.task_ == "binary":
                out["ROC AUC"] = float(roc_auc_score(truth == self.classes_[1], proba[:, 1]))
            elif len(np.unique(truth)) == len(self.classes_):
                out["ROC AUC"] = float(roc_auc_score(truth, proba, multi_class="ovr", labels=self.classes_))
            out["log loss"] = float(log_loss(truth, proba, labels=self.classes_))
        return out

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save to a directory (model.safetensors + model.json), atomically; returns the path."""
        self._check_fitted()
        return save_table_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> TabularModel:
        """A model saved with `save`; any problem raises a one-line ModelFormatError."""
        return load_table_model(cls, path)


def _frequency_weights(counts: np.ndarray, exponent: float = 0.5) -> torch.Tensor:
    """Per-row penalty weights (count / mean count)^-exponent, the unknown row first with weight 1:
    rows seen often are penalised less per occurrence (NeuralCF's rule)."""
    c = np.maximum(counts.astype(np.float64), 1.0)
    return torch.from_numpy(np.concatenate([[1.0], (c / c.mean()) ** -exponent])).float()


def _pair(name: str, value: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a pair of numbers (low, high), got {value!r}") from None
    return low, high
