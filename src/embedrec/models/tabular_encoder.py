"""`EmbeddingEncoder`: categorical columns replaced by entity embeddings learned on a target, as features
for any other model (Guo & Berkhahn 2016: gradient boosting, k-NN and linear models do better on them
than on one-hot codes).

    encoder = EmbeddingEncoder(TabularModel(epochs=5))
    features = encoder.fit_transform(train, y)          # occupation -> occupation_0 .. occupation_9
    lightgbm.LGBMClassifier().fit(features, y)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone

from embedrec.checks import check_choice
from embedrec.data.tables import as_frame
from embedrec.errors import NotFittedError, ParameterError
from embedrec.models.tabular import TabularModel


class EmbeddingEncoder(TransformerMixin, BaseEstimator):
    """Fits a TabularModel on (X, y), then turns each categorical column into its embedding's columns.

    `model` is the (unfitted) TabularModel to learn with (a default one when None; it is cloned, never
    changed). `columns` are the columns to encode (default: every column the model embeds): a
    categorical column is replaced by its vector, a numeric one keeps its number and gains the vector
    of its value. `remainder="passthrough"` keeps the other columns as they are, "drop" leaves them
    out. A DataFrame comes back as a DataFrame (same index), an array as an array. Values never seen
    in training get the model's learned "unknown" vector.
    """

    def __init__(
        self,
        model: TabularModel | None = None,
        *,
        columns: list[str] | None = None,
        remainder: str = "passthrough",
    ) -> None:
        self.model = model
        self.columns = columns
        self.remainder = remainder

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.target_tags.required = True
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EmbeddingEncoder:
        """Learn the embeddings from X and the target y; returns self."""
        check_choice("remainder", self.remainder, ("passthrough", "drop"))
        if self.model is not None and not isinstance(self.model, TabularModel):
            raise ParameterError(f"model must be a TabularModel, got {type(self.model).__name__}")
        model = clone(self.model) if self.model is not None else TabularModel()
        self.model_ = model.fit(X, y, sample_weight=sample_weight)
        embedded = list(self.model_.embeddings_)
        if self.columns is None:
            self.columns_ = embedded
        else:
            wanted = [self.columns] if isinstance(self.columns, str) else list(self.columns)
            bad = [c for c in wanted if c not in embedded]
            if bad:
                known = ", ".join(embedded) or "none"
                raise ParameterError(f"column {bad[0]!r} has no embedding; the embedded columns are {known}")
            self.columns_ = wanted
        self.n_features_in_ = self.model_.n_features_in_
        if hasattr(self.model_, "feature_names_in_"):
            self.feature_names_in_ = self.model_.feature_names_in_
        return self

    def _input_names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        return list(names) if names is not None else [f"x{i}" for i in range(self.n_features_in_)]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names: `column_0 .. column_{d-1}` for an encoded column, others unchanged."""
        self._check_fitted()
        sizes = {c: self.model_.embeddings_[c].dim for c in self.columns_}
        out: list[str] = []
        numeric = set(self.model_.schema_.names("numeric"))
        for name in self._input_names() if input_features is None else [str(f) for f in input_features]:
            if name in numeric and (name in sizes or self.remainder == "passthrough"):
                out.append(name)
            elif name not in sizes and self.remainder == "passthrough":
                out.append(name)
            if name in sizes:
                out += [f"{name}_{k}" for k in range(sizes[name])]
        return np.asarray(out, dtype=object)

    def transform(self, X: Any) -> pd.DataFrame | np.ndarray:
        """The encoded table: embedding columns in place of each encoded column."""
        self._check_fitted()
        is_frame = isinstance(X, pd.DataFrame)
        frame = X if is_frame else as_frame(np.asarray(X), self._input_names())
        vectors = self.model_.column_vectors(frame)
        parts: dict[str, Any] = {}
        names = [str(c) for c in frame.columns] if is_frame else self._input_names()
        numeric = set(self.model_.schema_.names("numeric"))
        for col, name in zip(frame.columns, names, strict=True):
            encoded = name in self.columns_
            if (name in numeric and encoded) or (not encoded and self.remainder == "passthrough"):
                parts[name] = frame[col].to_numpy()  # a number stays beside its value embedding
            if encoded:
                for k, values in enumerate(vectors[name].T):
                    parts[f"{name}_{k}"] = values
        out = pd.DataFrame(parts, index=frame.index)
        if is_frame:
            return out
        numeric = all(pd.api.types.is_numeric_dtype(out[c]) for c in out.columns)
        return out.to_numpy(dtype=np.float64 if numeric else object)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this EmbeddingEncoder is not fitted yet: call fit(X, y)")
