"""`TableEncoder`: a table's columns as what a network eats, learned from the training frame and saved.

Categorical column -> one code per row: 0 for a value never seen in training, 1.. for the training
values in order of first appearance ("#na#" is a value of its own when training had missing ones).
Numeric column -> (x - mean) / std with missing values imputed by the median, plus a 0/1 "missing"
feature when training had missing values; a numeric column with few distinct values (ages, hours,
capital gains: at most `max_values`, each seen 10 times on average) is also coded like a categorical
one, so that each value gets an embedding of its own beside the number. Multi-label column
("Comedy|Drama") -> one 0/1 feature per label seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from embedrec.data.idmap import IdMap
from embedrec.data.tables import LABEL_SEP, TableSchema, check_frame, numbers

MISSING = "#na#"  # the key of a categorical column's missing values (fastai's name for it)


@dataclass(frozen=True, eq=False)
class Categories:
    """A categorical column's vocabulary: keys (ints or strings) with their training counts."""

    name: str
    ids: IdMap  # the keys, in row order 1..n (row 0 is "unknown")
    counts: np.ndarray  # (n,) training rows per key

    @property
    def n_rows(self) -> int:
        """Rows of the column's embedding: the keys plus the unknown row."""
        return len(self.ids) + 1

    def codes(self, values: pd.Series) -> np.ndarray:
        """Row per value: 1 + the key's position, 0 when the key is unknown (int64)."""
        keys = _keys(values, integer=self.ids.is_integer, has_missing=MISSING in self.ids)
        found = pd.Index(self.ids.raw_ids).get_indexer(keys)
        return (found + 1).astype(np.int64)  # -1 (not found) becomes the unknown row 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ids": self.ids.to_json(), "counts": self.counts.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Categories:
        return cls(str(data["name"]), IdMap.from_json(data["ids"]), np.asarray(data["counts"], np.int64))


def _keys(values: pd.Series, *, integer: bool, has_missing: bool) -> np.ndarray:
    """Category keys of a column: integers when the vocabulary's are, else strings; NaN -> "#na#"."""
    missing = values.isna().to_numpy()
    if integer:
        x = pd.to_numeric(values.astype(object), errors="coerce").to_numpy(dtype=np.float64)
        whole = np.isfinite(x) & (np.round(x) == x)
        out = np.full(len(values), -(2**62), dtype=np.int64)  # a key no vocabulary holds
        out[whole] = x[whole].astype(np.int64)
        return out
    keys = np.array([_text(v) for v in values.astype(object).to_numpy()], dtype=object)
    keys[missing] = MISSING if has_missing else None
    return keys


def _text(value: Any) -> str:
    """A category value as its key: whole numbers without ".0", everything else as str()."""
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def learn_categories(name: str, values: pd.Series) -> Categories:
    """The vocabulary of one training column, in order of first appearance."""
    missing = values.isna()
    known = values[~missing]
    integer = False
    if pd.api.types.is_numeric_dtype(known) and not pd.api.types.is_bool_dtype(known) and not missing.any():
        x = known.to_numpy(dtype=np.float64)
        integer = bool(np.all(np.round(x) == x))
    codes, uniques = pd.factorize(_keys(values, integer=integer, has_missing=True))
    counts = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
    return Categories(name, IdMap(np.asarray(uniques) if integer else list(uniques), kind=name), counts)


@dataclass(frozen=True)
class Scaler:
    """How a numeric column is standardised: median for missing values, then (x - mean) / std."""

    name: str
    median: float
    mean: float
    std: float
    indicator: bool  # training had missing values: add a 0/1 "missing" feature

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(n, 1 or 2) float32: the standardised value, and the missing flag when the column has one."""
        missing = np.isnan(x)
        z = (np.where(missing, self.median, x) - self.mean) / self.std
        cols = [z, missing.astype(np.float64)] if self.indicator else [z]
        return np.stack(cols, axis=1).astype(np.float32)

    @property
    def features(self) -> list[str]:
        return [self.name, f"{self.name}_na"] if self.indicator else [self.name]


def learn_scaler(name: str, x: np.ndarray) -> Scaler:
    """Median, mean and std of the known values (std 1 for a constant column)."""
    known = x[~np.isnan(x)]
    std = float(known.std())
    return Scaler(
        name, float(np.median(known)), float(known.mean()), std if std > 0 else 1.0, bool(np.isnan(x).any())
    )


@dataclass(frozen=True)
class Labels:
    """A multi-label column's labels; each becomes a 0/1 feature."""

    name: str
    labels: tuple[str, ...]

    def transform(self, values: pd.Series) -> np.ndarray:
        """(n, n_labels) float32 flags; labels unseen in training are ignored."""
        index = {label: j for j, label in enumerate(self.labels)}
        out = np.zeros((len(values), len(self.labels)), dtype=np.float32)
        for i, value in enumerate(values.to_numpy(dtype=object)):
            if isinstance(value, str):
                for label in value.split(LABEL_SEP):
                    j = index.get(label.strip())
                    if j is not None:
                        out[i, j] = 1.0
        return out

    @property
    def features(self) -> list[str]:
        return [f"{self.name}={label}" for label in self.labels]


def learn_labels(name: str, values: pd.Series) -> Labels:
    """The labels of a multi-label column, sorted."""
    found = {t.strip() for v in values.dropna().astype(str) for t in v.split(LABEL_SEP)} - {""}
    return Labels(name, tuple(sorted(found)))


class TableEncoder:
    """Turns frames into (codes (n, n_categorical) int64, numbers (n, n_features) float32)."""

    def __init__(
        self, schema: TableSchema, categories: list[Categories], scalers: list[Scaler], labels: list[Labels]
    ) -> None:
        self.schema, self.categories, self.scalers, self.labels = schema, categories, scalers, labels

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: TableSchema, max_values: int = 0) -> TableEncoder:
        """Learn vocabularies, scalers and labels from a training frame (checked against the schema).

        Numeric columns with at most `max_values` distinct values (and at least 10 rows per value on
        average) also get a vocabulary of their values; 0 turns that off.
        """
        check_frame(schema, frame)
        cats = [learn_categories(c, frame[c]) for c in schema.names("categorical")]
        for c in schema.names("numeric"):
            distinct = frame[c].nunique()
            if 2 <= distinct <= max_values and distinct * 10 <= len(frame):
                cats.append(learn_categories(c, pd.Series(numbers(frame, c), index=frame.index)))
        scalers = [learn_scaler(c, numbers(frame, c)) for c in schema.names("numeric")]
        labels = [learn_labels(c, frame[c]) for c in schema.names("multilabel")]
        return cls(schema, cats, scalers, labels)

    @property
    def features(self) -> list[str]:
        """Names of the columns of the numeric block."""
        return [f for s in [*self.scalers, *self.labels] for f in s.features]

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The codes and numbers of a frame; a missing column or text in a numeric one is a DataError."""
        check_frame(self.schema, frame)
        n = len(frame)
        codes = [c.codes(frame[c.name]) for c in self.categories]  # numeric ones: checked above
        blocks = [s.transform(numbers(frame, s.name)) for s in self.scalers]
        blocks += [lab.transform(frame[lab.name]) for lab in self.labels]
        cat = np.stack(codes, axis=1) if codes else np.zeros((n, 0), np.int64)  # (n, n_categorical)
        num = np.hstack(blocks) if blocks else np.zeros((n, 0), np.float32)  # (n, n_features)
        return cat, num.astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema.to_json(),
            "categories": [c.to_json() for c in self.categories],
            "scalers": [vars(s) for s in self.scalers],
            "labels": [{"name": lab.name, "labels": list(lab.labels)} for lab in self.labels],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableEncoder:
        return cls(
            TableSchema.from_json(data["schema"]),
            [Categories.from_json(c) for c in data["categories"]],
            [
                Scaler(
                    str(s["name"]),
                    float(s["median"]),
                    float(s["mean"]),
                    float(s["std"]),
                    bool(s["indicator"]),
                )
                for s in data["scalers"]
            ],
            [Labels(str(lab["name"]), tuple(map(str, lab["labels"]))) for lab in data["labels"]],
        )
