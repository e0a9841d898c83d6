"""`TabularModel`: entity embeddings of a table's categorical columns beside its numbers, then an MLP.

A scikit-learn estimator for any table (a DataFrame, or a 2-D array of numbers): regression, binary or
multi-class classification, chosen from `y` or given. Each categorical column gets its own embedding,
learned with the rest of the network (`models/tabular_net.py`), and kept as a first-class
`EmbeddingTable` in `embeddings_[column]` for `similar`, maps and export.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags, Tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, column_or_1d

from embedrec.checks import check_choice, check_non_negative, check_positive
from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.table_encoding import TableEncoder
from embedrec.data.tables import as_frame, infer_schema
from embedrec.errors import NotFittedError, ParameterError
from embedrec.models.base import Saveable
from embedrec.models.progress import TrainHistory
from embedrec.models.tabular_net import TabularNet, embedding_size
from embedrec.models.tabular_target import (
    LOSS,
    Target,
    encode_target,
    row_weights,
    target_metrics,
    validation_rows,
)
from embedrec.models.training import TrainConfig, predict_module, torch_threads, train_module

TASKS = ("auto", "regression", "classification", "binary", "multiclass")
CLASSIFICATION = ("classification", "binary", "multiclass")


def _classifies(model: TabularModel) -> bool:
    """Whether predict_proba exists: not for a regression model (by its task, or as fitted)."""
    return model.task != "regression" and getattr(model, "task_", "binary") != "regression"


class TableNotFittedError(NotFittedError, SklearnNotFittedError):
    """A table model used before `fit`: embedrec's NotFittedError that scikit-learn also recognises."""


class TabularModel(Saveable, BaseEstimator):
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
    Parameters and saving come from embedrec's `Saveable` (`save(dir)`, `embedrec.load_model(dir)`),
    scikit-learn's tags from its `BaseEstimator`.
    """

    _fitted_attribute: ClassVar[str] = "net_"

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
        self._validate()
        frame = self._frame(X, reset=True)
        name = y.name if isinstance(y, pd.Series) else None
        y = column_or_1d(y.to_numpy() if isinstance(y, pd.Series) else y, warn=True)
        if len(y) != len(frame):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y)}")
        if len(frame) < 2:
            raise ValueError(f"TabularModel needs at least 2 rows to fit, got n_samples = {len(frame)}")
        target = encode_target(y, self.task)
        weights = row_weights(target, self.class_weight, sample_weight)
        self._set_target(target, None if name is None else str(name))
        self.schema_ = infer_schema(frame, categorical=self.categorical, numeric=self.numeric,
                                    multilabel=self.multilabel, skip=self.skip)  # fmt: skip
        self.encoder_ = TableEncoder.fit(frame, self.schema_, self.value_embeddings)
        codes, numbers = self.encoder_.transform(frame)
        train, valid = validation_rows(target, self.validation_fraction, int(self.seed))
        net = self._build()
        net.reg_weights = [_frequency_weights(c.counts) for c in self.encoder_.categories]
        y_fit = target.values

        def mean_one(rows: np.ndarray | None) -> np.ndarray | None:
            return (
                None if weights is None or rows is None else weights[rows] / max(weights[rows].mean(), 1e-12)
            )

        self.history_: TrainHistory = train_module(
            net,
            (codes[train], numbers[train], y_fit[train]),
            self._config(len(train)),
            None if valid is None else (codes[valid], numbers[valid], y_fit[valid]),
            weights=mean_one(train),
            valid_weights=mean_one(valid),
        )
        self.net_ = net.cpu().eval()
        self._set_embeddings()
        return self

    def _set_target(self, target: Target, name: str | None) -> None:
        """task_, target_name_ and classes_ (classification) or target_mean_/target_std_ (regression)."""
        self.task_, self.target_name_ = target.task, name
        for attr in ("classes_", "target_mean_", "target_std_"):
            if hasattr(self, attr):
                delattr(self, attr)
        if target.classes is not None:
            self.classes_ = target.classes
        else:
            self.target_mean_, self.target_std_ = target.mean, target.std

    def _validate(self) -> None:
        """Check every hyper-parameter (a ParameterError naming the bad one); fit and loading call it."""
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
            limit = 0.5 if name == "unknown_rate" else 1
            if value >= limit:
                raise ParameterError(f"{name} must be below {limit}, got {value}")
        if self.y_range is not None:
            low, high = _pair("y_range", self.y_range)
            if not low < high:
                raise ParameterError(f"y_range must be (low, high) with low < high, got {self.y_range!r}")
        if not (self.class_weight in (None, "balanced") or isinstance(self.class_weight, dict)):
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
        loss = LOSS.get(getattr(self, "task_", ""), "mse")
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
        if not self.is_fitted:
            raise TableNotFittedError(
                "this TabularModel is not fitted yet: call fit(X, y) first, or embedrec.load_model(dir)"
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
        """Test metrics: accuracy, ROC AUC and log loss, or RMSE, MAE and R² (see `target_metrics`)."""
        if self.task_ == "regression":
            return target_metrics(np.asarray(y, dtype=np.float64), self.predict(X))
        return target_metrics(np.asarray(y, dtype=object), self.predict_proba(X), self.classes_)

    # -- persistence ---------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}

    def _state_json(self) -> dict[str, Any]:
        h = self.history_
        state: dict[str, Any] = {
            "task": self.task_,
            "target_name": self.target_name_,
            "encoder": self.encoder_.to_json(),
            "sizes": list(self.sizes_),
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": list(getattr(self, "feature_names_in_", [])) or None,
            "history": {
                "train_loss": h.train_loss,
                "valid_rmse": h.valid_rmse,
                "valid_loss": h.valid_loss,
                "best_epoch": h.best_epoch,
                "seconds": h.seconds,
            },  # fmt: skip
        }
        if isinstance(self.class_weight, dict):  # JSON keys are strings: keep the labels as they are
            state["class_weight"] = [[k, v] for k, v in self.class_weight.items()]
        if self.task_ == "regression":
            state["target"] = {"mean": self.target_mean_, "std": self.target_std_}
        else:
            state["classes"] = self.classes_.tolist()
        return state

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Rebuild the fitted model, checking every tensor's name, shape and values against the JSON."""
        if "class_weight" in state:
            self.class_weight = {k: v for k, v in state["class_weight"]}
        classes = state.get("classes")
        target = state.get("target", {})
        if classes is not None:
            labels = np.asarray(classes, dtype=object if any(isinstance(c, str) for c in classes) else None)
            fitted = Target(str(state["task"]), np.zeros(0, np.float32), classes=labels)
        else:
            fitted = Target(
                "regression", np.zeros(0, np.float32), mean=float(target["mean"]), std=float(target["std"])
            )
        if fitted.task != str(state["task"]) or fitted.task not in LOSS:
            raise ValueError(f"task {state['task']!r} does not match the saved target")
        self._set_target(fitted, state["target_name"])
        self.encoder_ = TableEncoder.from_json(state["encoder"])
        self.schema_ = self.encoder_.schema
        self.n_features_in_ = int(state["n_features_in"])
        if state["feature_names_in"] is not None:
            self.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        h = state["history"]
        self.history_ = TrainHistory(list(h["train_loss"]), list(h["valid_rmse"]), int(h["best_epoch"]),
                                     float(h["seconds"]), list(h["valid_loss"]))  # fmt: skip
        net = self._build()
        if self.sizes_ != [int(size) for size in state["sizes"]]:
            raise ValueError("the embedding sizes differ from the saved ones")
        for name, array in arrays.items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise ValueError(f"tensor {name!r} holds non-finite values")
        try:
            net.load_state_dict(
                {k.removeprefix("net."): torch.from_numpy(v.copy()) for k, v in arrays.items()}
            )
        except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
            raise ValueError(str(exc).splitlines()[0]) from None
        self.net_ = net.eval()
        self._set_embeddings()


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
