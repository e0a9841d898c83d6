"""The one contract every embedrec model keeps: scikit-learn style parameters, fitting on indices, saving.

`Params` gives `get_params`/`set_params` from the `__init__` signature (so `sklearn.base.clone` works);
`Saveable` adds `save` (safetensors + JSON through `models.persist`); `Estimator` is the user–item
contract documented in docs/architecture.md: fit on `Interactions`, score item indices for users, fold a
new user in, expose vectors, explain a score exactly. What a model cannot do is listed in
`capabilities`, and asking for it raises `UnsupportedQueryError` instead of a made-up answer.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embedrec.checks import check_memory
from embedrec.data.idmap import IdMap
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.errors import DataError, NotFittedError, ParameterError, UnknownIdError, UnsupportedQueryError
from embedrec.models.persist import register, save_model
from embedrec.models.saved import SavedState, frame_from_json, frame_to_json

# what an estimator may be able to do, and how a refusal says it
CAPABILITIES = {
    "predict": "predict ratings",
    "recommend": "rank items for a user",
    "fold_in": "fold in a new user",
    "similar": "compare vectors (it learns none)",
    "explain": "explain a score",
}
OBJECTIVES = ("rating", "ranking")  # what an estimator's scores mean: ratings before the link, or an order


class Params:
    """Hyper-parameters as scikit-learn sees them: the `__init__` arguments, stored unchanged."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register(cls)

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters given to `__init__`; `deep` adds nested estimators' as `name__param`."""
        out = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any) -> Params:
        """Change hyper-parameters (validated at the next `fit`); returns self."""
        valid = self._param_names()
        for name, value in params.items():
            head, _, rest = name.partition("__")
            if head not in valid:
                raise ParameterError(
                    f"{type(self).__name__} has no parameter {head!r}; valid: {', '.join(valid)}"
                )
            if rest:
                getattr(self, head).set_params(**{rest: value})
            else:
                setattr(self, head, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params(deep=False).items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"


class Saveable(Params):
    """A fitted object saved as named arrays (a safetensors file) plus JSON state (model.json)."""

    _array_names: ClassVar[tuple[str, ...]] = ()  # fitted arrays saved as they are
    _fitted_attribute: ClassVar[str] = "fingerprint_"  # set by every fit: tells fitted from not

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, self._fitted_attribute)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit first, or embedrec.load_model(dir)"
            )

    def save(self, path: str | Path) -> Path:
        """Save to a directory (safetensors weights + model.json) as one atomic commit; returns the path."""
        self._check_fitted()
        return save_model(self, path)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays to save."""
        return {name: np.asarray(getattr(self, name)) for name in self._array_names}

    def _state_json(self) -> dict[str, Any]:
        """Small JSON-ready learned state that is not an array."""
        return {}

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Restore what `_state_arrays` and `_state_json` saved (after `_check_saved` passed)."""
        for name in self._array_names:
            setattr(self, name, arrays[name])

    def _check_saved(self, saved: SavedState) -> None:
        """Validate a saved state before `_load_state` (ModelFormatError naming the field): the arrays
        `_saved_shapes` lists, with their dtype and shape; floating arrays of `_array_names` finite."""
        shapes = self._saved_shapes(saved)
        for name, spec in (shapes or {}).items():
            if spec is not None:  # None: an optional array this file does not have
                saved.array(name, *spec)
        for name in self._array_names:  # arrays a subclass added without declaring them: present, finite
            if shapes is None or name not in shapes:
                a = saved.arrays.get(name)
                saved.array(name, a.dtype if a is not None else np.float32, a.shape if a is not None else ())
        if shapes is not None:
            saved.unexpected()

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]] | None] | None:
        """{array name: (dtype, shape)} of everything this model saves, from the JSON state already
        checked (None for an optional array a file lacks); None where a model does not list them (then
        only presence and finiteness are checked)."""
        return None


@dataclass(frozen=True, eq=False)
class FoldedUser:
    """A user who is not in the training data, folded in from item indices (and ratings, if given)."""

    items: np.ndarray  # (m,) item indices
    values: np.ndarray | None  # (m,) ratings, or None for liked items without ratings
    vector: np.ndarray | None = None  # (k,) the solved factor vector, for factor models
    bias: float = 0.0  # the solved user bias


@dataclass(frozen=True)
class Term:
    """One additive part of a score: `explain_indices` returns terms that sum to the score exactly."""

    kind: str  # "global bias", "user bias", "item bias", "rated item", "prior", "rest", "network", ...
    value: float
    item: int | None = None  # the rated item's index, for kind "rated item"
    rating: float | None = None  # what the user gave that item, when known


class Estimator(Saveable):
    """A user–item model: `Model(**params).fit(train, valid=None)`, then queries on indices.

    Fitted state shared by every estimator (set by `fit` or `load_model`): `user_ids_`, `item_ids_`
    (IdMap), `scale_` (RatingScale), `seen_` (users × items CSR of training values), `user_meta_`,
    `item_meta_` (the training data's metadata, or None), `fingerprint_` (hash of the training data),
    `train_origin_` (where the training rows came from: the file, the columns read, the split).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()
    objective: ClassVar[str] = "rating"

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, train: Interactions, valid: Interactions | None = None) -> Estimator:
        """Learn from `train` (starting over), optionally early-stopping on `valid`; returns self."""
        self._validate()
        self._check_train(train, valid)
        self._check_memory(train)
        self._fit(train, valid)
        self._set_data_state(train)
        return self

    def _validate(self) -> None:
        """Check the hyper-parameters (ParameterError naming the bad one); called first by `fit`."""

    def _fit_bytes(self, n_users: int, n_items: int, n_ratings: int, n_factors: int) -> float:
        """An estimate of the memory `fit` allocates on data of this size with `n_factors` factors
        (models whose size grows with a parameter override it, and `_check_memory` uses it)."""
        return 0.0

    def _check_memory(self, train: Interactions) -> None:
        """A one-line ResourceError before fitting when the estimate exceeds the memory budget,
        naming the largest `n_factors` that fits (checks.check_memory)."""
        if not hasattr(self, "n_factors"):
            return
        shape = (train.n_users, train.n_items, len(train))
        check_memory(
            "n_factors",
            int(self.n_factors),
            lambda k: self._fit_bytes(*shape, k),
            f"fitting {type(self).__name__} on {shape[0]:,} users × {shape[1]:,} items",
        )

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        raise NotImplementedError

    @staticmethod
    def _check_train(train: Interactions, valid: Interactions | None) -> None:
        if not isinstance(train, Interactions):
            raise ParameterError(f"fit expects Interactions, got {type(train).__name__}")
        if len(train) == 0:
            raise DataError("cannot fit on empty interactions")
        if valid is not None:
            if not isinstance(valid, Interactions):
                raise ParameterError(f"valid must be Interactions, got {type(valid).__name__}")
            if valid.user_ids != train.user_ids or valid.item_ids != train.item_ids:
                raise ParameterError(
                    "valid must share train's id maps (make both with the same split of one dataset)"
                )

    def _set_data_state(self, train: Interactions) -> None:
        self.user_ids_: IdMap = train.user_ids
        self.item_ids_: IdMap = train.item_ids
        self.scale_: RatingScale = train.scale
        self.user_meta_: pd.DataFrame | None = train.user_meta
        self.item_meta_: pd.DataFrame | None = train.item_meta
        self.seen_: sp.csr_matrix = train.csr
        self.fingerprint_: str = train.fingerprint
        self.train_origin_: dict[str, Any] = dict(train.origin)

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return len(self.user_ids_)

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.item_ids_)

    def require(self, capability: str) -> None:
        """Raise UnsupportedQueryError unless this model can answer `capability` (see CAPABILITIES)."""
        self._check_fitted()
        if capability not in self.capabilities:
            can = "; ".join(CAPABILITIES[c] for c in CAPABILITIES if c in self.capabilities) or "nothing"
            raise UnsupportedQueryError(
                f"{type(self).__name__} cannot {CAPABILITIES[capability]} (it can: {can})"
            )

    # -- scoring on indices ------------------------------------------------------------------------
    def predict(self, users: Any, items: Any, *, raw: bool = True) -> np.ndarray:
        """Predicted ratings (float32) for user/item pairs: raw ids by default, indices with raw=False.

        Scalars give a 0-d array; arrays broadcast against each other. Unknown ids raise UnknownIdError.
        """
        self.require("predict")
        u, i = self._indices(users, "user", raw), self._indices(items, "item", raw)
        try:
            u, i = np.broadcast_arrays(u, i)
        except ValueError:
            raise ParameterError(
                f"users of shape {u.shape} and items of shape {i.shape} do not pair up"
            ) from None
        out = self.predict_indices(u.ravel(), i.ravel())
        return np.asarray(out, dtype=np.float32).reshape(u.shape)

    def _indices(self, values: Any, kind: str, raw: bool) -> np.ndarray:
        ids = self.user_ids_ if kind == "user" else self.item_ids_
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError):  # ragged nested lists
            arr = np.empty(0, dtype=object).reshape(0, 0, 0)
        if arr.ndim > 2 or (arr.dtype == object and arr.ndim == 0 and not isinstance(arr.item(), str | int)):
            raise ParameterError(f"{kind}s must be ids or arrays of ids, got {type(values).__name__}")
        if raw:
            return ids.indices(arr.ravel()).reshape(arr.shape).astype(np.int64)
        if arr.size and arr.dtype.kind not in "iu":
            raise ParameterError(f"{kind} indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr >= len(ids))
        if bad.any():
            raise UnknownIdError(kind, int(arr[bad].ravel()[0]), f"index outside 0..{len(ids) - 1}")
        return arr

    def predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings for index arrays of equal length."""
        self.require("predict")
        return self._predict_indices(np.asarray(users, np.int64), np.asarray(items, np.int64))

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score_items(self, user_indices: np.ndarray | int) -> np.ndarray:
        """Ranking scores (batch, n_items) float32 of every item for a batch of user indices."""
        self.require("recommend")
        return self._score_items(np.atleast_1d(np.asarray(user_indices, dtype=np.int64)))

    def _score_items(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def to_rating(self, scores: np.ndarray) -> np.ndarray:
        """Ranking scores in rating units (the link applied); ranking models have none."""
        if self.objective != "rating":
            raise UnsupportedQueryError(f"{type(self).__name__} ranks items; its scores are not ratings")
        return np.asarray(scores, dtype=np.float32)

    def fold_in(self, items: np.ndarray, values: np.ndarray | None = None) -> FoldedUser:
        """A new user from item indices and their ratings (or, with values=None, items they liked)."""
        self.require("fold_in")
        items = np.asarray(items, dtype=np.int64)
        if items.size == 0:
            raise DataError("a new user needs at least one item", field="items")
        vals = None if values is None else np.asarray(values, dtype=np.float64)
        if vals is not None and vals.shape != items.shape:
            raise ParameterError(f"{len(items)} items but {vals.size} values")
        return self._fold_in(items, vals)

    def _fold_in(self, items: np.ndarray, values: np.ndarray | None) -> FoldedUser:
        return FoldedUser(items, values)

    def score_folded(self, user: FoldedUser) -> np.ndarray:
        """Ranking scores (n_items,) float32 of every item for a folded-in user."""
        self.require("fold_in")
        return self._score_folded(user)

    def _score_folded(self, user: FoldedUser) -> np.ndarray:
        raise NotImplementedError

    def item_vectors(self) -> np.ndarray:
        """The item embeddings (n_items, k) that `similar_items` compares."""
        self.require("similar")
        return self._vectors("item")

    def user_vectors(self) -> np.ndarray:
        """The user embeddings (n_users, k) that `similar_users` compares."""
        self.require("similar")
        return self._vectors("user")

    def _vectors(self, kind: str) -> np.ndarray:
        return np.asarray(getattr(self, f"{kind}_factors_"), dtype=np.float32)

    def explain_indices(self, user: int | FoldedUser, item: int) -> list[Term]:
        """Terms that add up exactly to the ranking score of `item` for `user` (an index or a FoldedUser)."""
        self.require("explain")
        return self._explain(user, int(item))

    def explain_many(self, user: int | FoldedUser, items: Any) -> list[list[Term]]:
        """`explain_indices` of one user for several items (a model may share the work between them)."""
        self.require("explain")
        return self._explain_many(user, np.asarray(items, dtype=np.int64).reshape(-1))

    def _explain(self, user: int | FoldedUser, item: int) -> list[Term]:
        raise NotImplementedError

    def _explain_many(self, user: int | FoldedUser, items: np.ndarray) -> list[list[Term]]:
        return [self._explain(user, int(i)) for i in items]

    def user_history(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, values) the user had in training."""
        start, end = self.seen_.indptr[user], self.seen_.indptr[user + 1]
        return self.seen_.indices[start:end].astype(np.int64), self.seen_.data[start:end].astype(np.float64)

    # -- persistence -------------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, np.ndarray]:
        seen = self.seen_
        return {
            **super()._state_arrays(),
            "seen.indptr": seen.indptr.astype(np.int64),
            "seen.indices": seen.indices.astype(np.int32),
            "seen.data": seen.data.astype(np.float32),
        }

    def _state_json(self) -> dict[str, Any]:
        return {
            "user_ids": self.user_ids_.to_json(),
            "item_ids": self.item_ids_.to_json(),
            "scale": self.scale_.to_json(),
            "user_meta": frame_to_json(self.user_meta_),
            "item_meta": frame_to_json(self.item_meta_),
            "data_fingerprint": self.fingerprint_,
            "train_origin": self.train_origin_,
        }

    def _check_saved(self, saved: SavedState) -> None:
        """The data state every estimator saves: id maps, scale, metadata and the training matrix."""
        users, items = saved.id_map("user_ids", "user"), saved.id_map("item_ids", "item")  # their sizes
        saved.n_users, saved.n_items = users, items
        saved.scale("scale")
        saved.frame("user_meta", users)
        saved.frame("item_meta", items)
        saved.value("data_fingerprint", str)
        indptr = saved.array("seen.indptr", np.int64, (users + 1,))
        if indptr[0] != 0 or (np.diff(indptr) < 0).any():
            saved.fail("seen.indptr", "row offsets must start at 0 and never decrease")
        nnz = int(indptr[-1])
        if nnz > users * items:
            saved.fail("seen.indptr", f"{nnz:,} ratings do not fit {users:,} users × {items:,} items")
        saved.indices("seen.indices", np.int32, (nnz,), items)
        saved.array("seen.data", np.float32, (nnz,))
        super()._check_saved(saved)

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.user_ids_ = IdMap.from_json(state["user_ids"])
        self.item_ids_ = IdMap.from_json(state["item_ids"])
        self.scale_ = RatingScale(**state["scale"])
        self.user_meta_ = frame_from_json(state["user_meta"])
        self.item_meta_ = frame_from_json(state["item_meta"])
        shape = (len(self.user_ids_), len(self.item_ids_))
        self.seen_ = sp.csr_matrix(
            (arrays["seen.data"], arrays["seen.indices"], arrays["seen.indptr"]), shape=shape
        )
        super()._load_state(arrays, state)
        self.fingerprint_ = str(state["data_fingerprint"])
        self.train_origin_ = dict(state.get("train_origin") or {})
