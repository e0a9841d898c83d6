"""The contract every embedrec model keeps: scikit-learn style fitting, implicit style queries.

Fitted state (trailing underscore, set by `fit` or `load_model`):
    user_ids_, item_ids_   IdMap           raw id <-> index, saved with the model
    scale_                 RatingScale     the training data's rating scale
    user_meta_, item_meta_ DataFrame|None  display metadata aligned to indices (title, year, genres ...)
    seen_                  csr_matrix      users × items training ratings, float32 (exclude_seen, fold-in)
    fingerprint_           str             short hash of the training data
Factor models add:
    user_factors_ (n_users, k) float32, item_factors_ (n_items, k) float32,
    user_bias_ (n_users,) float32, item_bias_ (n_items,) float32, global_bias_ float
and score a pair as `link(global_bias_ + user_bias_[u] + item_bias_[i] + user_factors_[u] @ item_factors_[i])`
where `link` is monotonic (identity, or a sigmoid scaled to the rating range) so ranking can use
the raw sum; `inverse_link` maps ratings back to raw units (for closed-form fold-in).
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embedrec.data.idmap import IdMap
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.errors import NotFittedError, UnknownIdError
from embedrec.query.recommend import RecommendMixin

MODEL_TYPES: dict[str, type[Recommender]] = {}  # class name -> class, used by load_model


class Recommender:
    """A rating model: `Model(**hyper_parameters).fit(train, valid=None).predict(users, items)`."""

    # Fitted arrays saved to model.safetensors besides the shared state (subclasses extend this).
    _array_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODEL_TYPES[cls.__name__] = cls

    # -- hyper-parameters ------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds]

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters given to `__init__` (JSON-ready), as scikit-learn does."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, train: Interactions, valid: Interactions | None = None) -> Recommender:
        """Learn from `train` (starting over), optionally early-stopping on `valid`; returns self."""
        raise NotImplementedError

    def _check_train(self, train: Interactions, valid: Interactions | None) -> None:
        if not isinstance(train, Interactions):
            raise TypeError(f"fit expects Interactions, got {type(train).__name__}")
        if len(train) == 0:
            raise ValueError("cannot fit on empty interactions")
        if valid is not None:
            if not isinstance(valid, Interactions):
                raise TypeError(f"valid must be Interactions, got {type(valid).__name__}")
            if valid.user_ids != train.user_ids or valid.item_ids != train.item_ids:
                raise ValueError(
                    "valid must share train's id maps (make both with the same split of one dataset)"
                )

    def _set_data_state(self, train: Interactions) -> None:
        """Record what every model keeps from its training data."""
        self.user_ids_: IdMap = train.user_ids
        self.item_ids_: IdMap = train.item_ids
        self.scale_: RatingScale = train.scale
        self.user_meta_: pd.DataFrame | None = train.user_meta
        self.item_meta_: pd.DataFrame | None = train.item_meta
        self.seen_: sp.csr_matrix = train.csr
        self.fingerprint_: str = train.fingerprint

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "user_ids_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(train) or embedrec.load_model(dir)"
            )

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return len(self.user_ids_)

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.item_ids_)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, users: Any, items: Any, *, raw: bool = True) -> np.ndarray:
        """Predicted ratings (float32) for user/item pairs: raw ids by default, indices with raw=False.

        Scalars give a 0-d array; arrays broadcast against each other. Unknown ids raise UnknownIdError.
        """
        self._check_fitted()
        u, i = self._to_indices(users, "user", raw), self._to_indices(items, "item", raw)
        u, i = np.broadcast_arrays(u, i)
        out = self._predict_indices(u.ravel(), i.ravel())
        return np.asarray(out, dtype=np.float32).reshape(u.shape)

    def _to_indices(self, values: Any, kind: str, raw: bool) -> np.ndarray:
        ids = self.user_ids_ if kind == "user" else self.item_ids_
        arr = np.asarray(values)
        if raw:
            return ids.indices(arr.ravel()).reshape(arr.shape).astype(np.int64)
        if arr.size and arr.dtype.kind not in "iu":
            raise ValueError(f"{kind} indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr >= len(ids))
        if bad.any():
            raise UnknownIdError(kind, int(arr[bad].ravel()[0]), f"index outside 0..{len(ids) - 1}")
        return arr

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings for validated index arrays of equal length."""
        raise NotImplementedError

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save to a directory (model.safetensors + model.json), atomically; returns the path."""
        from embedrec.models.persist import save_model

        return save_model(self, path)

    def _get_arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays to save (besides the id maps and seen_ matrix)."""
        return {name: np.asarray(getattr(self, name)) for name in self._array_names}

    def _extra_state(self) -> dict[str, Any]:
        """Small JSON-ready learned state that is not an array (subclasses extend)."""
        return {}

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        """Restore what `_get_arrays` and `_extra_state` saved."""
        for name in self._array_names:
            setattr(self, name, arrays[name])


class SigmoidLink:
    """The fastai-style link: r̂ = low' + (high' - low') · σ(raw), [low', high'] = the scale widened by
    `y_margin` × its width on each side so that the extreme ratings are reachable."""

    y_margin: float
    scale_: RatingScale

    def _y_range(self, low: float, high: float) -> tuple[float, float]:
        pad = self.y_margin * (high - low)
        return low - pad, high + pad

    @property
    def y_range(self) -> tuple[float, float]:
        """The sigmoid's output range (low', high')."""
        self._check_fitted()  # type: ignore[attr-defined]
        return self._y_range(self.scale_.low, self.scale_.high)

    def link(self, raw: np.ndarray) -> np.ndarray:
        """Raw score -> rating: low' + (high' - low') · σ(raw)."""
        low, high = self.y_range
        raw = np.asarray(raw, dtype=np.float32)
        return (low + (high - low) * 0.5 * (1.0 + np.tanh(0.5 * raw))).astype(np.float32)  # overflow-free σ

    def inverse_link(self, ratings: np.ndarray) -> np.ndarray:
        """Rating -> raw score (logit), clipped inside the open range (low', high')."""
        low, high = self.y_range
        p = np.clip((np.asarray(ratings, dtype=np.float64) - low) / (high - low), 1e-4, 1 - 1e-4)
        return np.log(p / (1 - p)).astype(np.float32)

    def _initial_logit(self, ratings: np.ndarray, low: float, high: float) -> float:
        """The raw score whose link is the mean rating: where the global offset starts."""
        mean = float(np.clip((np.mean(ratings, dtype=np.float64) - low) / (high - low), 1e-3, 1 - 1e-3))
        return math.log(mean / (1 - mean))


class FactorModel(RecommendMixin, Recommender):
    """A model whose score is a biased dot product of user and item factors, through a monotonic link."""

    _array_names = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")

    @property
    def n_factors_(self) -> int:
        self._check_fitted()
        return int(self.user_factors_.shape[1])

    def link(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores -> ratings. Identity here; monotonic in every subclass."""
        return np.asarray(raw, dtype=np.float32)

    def inverse_link(self, ratings: np.ndarray) -> np.ndarray:
        """Ratings -> raw scores (clipped where the link cannot reach them)."""
        return np.asarray(ratings, dtype=np.float32)

    def score_items(self, user_idx: np.ndarray | int) -> np.ndarray:
        """Raw (pre-link) scores of every item for a batch of user indices: shape (batch, n_items)."""
        self._check_fitted()
        u = np.atleast_1d(np.asarray(user_idx, dtype=np.int64))
        scores = self.user_factors_[u] @ self.item_factors_.T  # (batch, n_items)
        scores += self.item_bias_[None, :]
        scores += (self.user_bias_[u] + np.float32(self.global_bias_))[:, None]
        return scores

    def raw_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Raw (pre-link) scores of index pairs."""
        dots = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        return dots + self.user_bias_[users] + self.item_bias_[items] + np.float32(self.global_bias_)

    def score_user_vector(self, vector: np.ndarray, bias: float) -> np.ndarray:
        """Raw scores of every item for a user given only as (factor vector, bias), e.g. after fold-in."""
        self._check_fitted()
        raw = self.item_factors_ @ np.asarray(vector, dtype=np.float32) + self.item_bias_  # (n_items,)
        return raw + np.float32(bias + self.global_bias_)

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.link(self.raw_scores(users, items))

    def _extra_state(self) -> dict[str, Any]:
        return {"global_bias": float(self.global_bias_)}

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        super()._set_arrays(arrays, extra)
        self.global_bias_ = float(extra["global_bias"])
