"""Ranking models of user and item vectors: score(u, i) = p_u·q_i + b_i, an order, not a rating.

`ImplicitFeedback` is the one rule by which every ranking model (these and EASE) reads interaction values
as like-weights (`min_rating`, `weights`; see `data.implicit`). `LatentRanker` holds what ALS and BPR
share: the fitted arrays, scoring, and a new user folded in by implicit-feedback least squares against the
fixed item vectors (Hu, Koren & Volinsky 2008):

    x = A⁻¹ Σ_l c_l q_l,   A = QᵀQ + λI + Σ_l (c_l - 1) q_l q_lᵀ,   c_l = 1 + α·w_l

which is exactly ALS's user step, so the score of item i splits over the liked items as
c_l · q_lᵀ A⁻¹ q_i (implicit's `explain`): the explanation's terms add up to the score.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from embedrec.data.implicit import like_weights, liked_matrix
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.errors import DataError
from embedrec.models.base import Estimator, FoldedUser, Term
from embedrec.models.saved import SavedState
from embedrec.scoring import cached_gram, dot_rows, one_blas_thread


def values_by_item(items: np.ndarray, values: np.ndarray | None) -> dict[int, float | None]:
    """item index -> the value a user gave it (None for liked items given without values)."""
    if values is None:
        return dict.fromkeys(np.asarray(items).tolist())
    return {int(i): float(v) for i, v in zip(np.asarray(items).tolist(), values, strict=True)}


class ImplicitFeedback:
    """What counts as a like, shared by the ranking models: `min_rating` and `weights` (see
    `data.implicit`) turn training values and a new user's values into like-weights by one rule."""

    min_rating: float | None
    weights: str
    scale_: RatingScale
    seen_: sp.csr_matrix

    def _liked(self, train: Interactions) -> sp.csr_matrix:
        """users × items like-weights of the training data (the rest of `train` is seen, not liked)."""
        return liked_matrix(train, self.min_rating, self.weights)

    def _training_rows(self, users: np.ndarray) -> sp.csr_matrix:
        """Like-weight rows (len(users) × items CSR) of trained users, from their saved training values."""
        rows = self.seen_[users]
        rows.data = like_weights(rows.data, self.scale_, self.min_rating, self.weights)
        return rows

    def _row_weights(self, items: np.ndarray, values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(liked item indices, weights) of one user's items, by the rule training used; values=None
        means each item was liked once."""
        if values is None:
            liked = np.unique(items)
            return liked, np.ones(len(liked), dtype=np.float64)
        w = like_weights(values, self.scale_, self.min_rating, self.weights).astype(np.float64)
        keep = w > 0
        if not keep.any():
            raise DataError(
                "none of the new user's items counts as liked "
                f"(min_rating={self.min_rating}, weights={self.weights!r}): give at least one liked item",
                field="items",
            )
        # an item given twice keeps its last value, as the rating fold-in does
        liked, last = np.unique(items[keep][::-1], return_index=True)
        return liked, w[keep][::-1][last]


class LatentRanker(ImplicitFeedback, Estimator):
    """A ranking model with user vectors `user_factors_`, item vectors `item_factors_` and item biases
    `item_bias_` (zero for models without them). Subclasses learn the arrays in `_fit` and say how a
    new user is solved (`_fold_in_settings`, `_solve_regularization`)."""

    capabilities = frozenset({"recommend", "fold_in", "similar", "explain"})
    objective = "ranking"
    linear: ClassVar[bool] = True  # score = a dot product: approximate inner-product search applies
    _array_names = ("user_factors_", "item_factors_", "item_bias_")

    @property
    def n_factors_(self) -> int:
        self._check_fitted()
        return int(self.item_factors_.shape[1])

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        """Vectors (n, n_factors) and item biases (n_items,), all float32."""
        k = int(self.n_factors)
        return {
            "user_factors_": (np.float32, (saved.n_users, k)),
            "item_factors_": (np.float32, (saved.n_items, k)),
            "item_bias_": (np.float32, (saved.n_items,)),
        }

    def _confidence(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """c_l for one user's liked items and like-weights (1 + α·w; ALS may reweight first)."""
        alpha, _ = self._fold_in_settings()
        return 1.0 + alpha * weights

    def _fold_in_settings(self) -> tuple[float, float]:
        """(α, λ) of the least-squares fold-in."""
        raise NotImplementedError

    def _solve_regularization(self, n_liked: int, trained: bool) -> float:
        """λ of the solve for a user with `n_liked` liked items (`trained`: explaining a trained user)."""
        return self._fold_in_settings()[1]

    # -- scores ------------------------------------------------------------------------------------
    def raw_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of index pairs: p_u·q_i + b_i."""
        dots = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        return (dots + self.item_bias_[items]).astype(np.float32)

    def _score_items(self, users: np.ndarray) -> np.ndarray:
        return dot_rows(self.user_factors_[users], self.item_factors_, self.item_bias_)  # (b, n_items)

    def _score_folded(self, user: FoldedUser) -> np.ndarray:
        vector = np.asarray(user.vector, dtype=np.float32)
        return dot_rows(vector[None, :], self.item_factors_, self.item_bias_)[0]

    # -- a new user --------------------------------------------------------------------------------
    def _system(
        self, liked: np.ndarray, weights: np.ndarray, trained: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(A, c): the fold-in's matrix A (float64, k × k) and the liked items' confidences c."""
        reg = self._solve_regularization(len(liked), trained)
        c = self._confidence(liked, weights)
        ql = self.item_factors_[liked].astype(np.float64)  # (m, k)
        a = cached_gram(self, self.item_factors_) + reg * np.eye(ql.shape[1]) + (ql.T * (c - 1.0)) @ ql
        return a, c

    def _fold_in(self, items: np.ndarray, values: np.ndarray | None) -> FoldedUser:
        liked, weights = self._row_weights(items, values)
        a, c = self._system(liked, weights)
        with one_blas_thread():
            vector = np.linalg.solve(a, c @ self.item_factors_[liked].astype(np.float64))
        return FoldedUser(items, values, vector.astype(np.float32), 0.0)

    # -- explanations ------------------------------------------------------------------------------
    def _explain(self, user: int | FoldedUser, item: int) -> list[Term]:
        """One term per liked item, c_l q_lᵀ A⁻¹ q_i (the fold-in solve's split of the score), the item
        bias, and the rest: what training learned beyond that solve (zero for a folded-in user)."""
        if isinstance(user, FoldedUser):
            items, values, vector = user.items, user.values, np.asarray(user.vector, np.float64)
        else:
            items, values = self.user_history(user)
            vector = self.user_factors_[user].astype(np.float64)
        q = self.item_factors_[item].astype(np.float64)
        terms = []
        dot = float(vector @ q)
        try:
            liked, weights = self._row_weights(items, values)
        except DataError:  # a trained user with no like: the score is all "rest"
            liked = np.empty(0, np.int64)
        if len(liked):
            a, c = self._system(liked, weights, trained=not isinstance(user, FoldedUser))
            with one_blas_thread():
                z = np.linalg.solve(a, q)  # A⁻¹ q_i; A is symmetric
            parts = c * (self.item_factors_[liked].astype(np.float64) @ z)
            given = values_by_item(items, values)
            terms += [
                Term("liked item", float(v), int(j), given.get(int(j)))
                for j, v in zip(liked, parts, strict=True)
            ]
            dot -= float(parts.sum())
        if self.item_bias_.any():
            terms.append(Term("item bias", float(self.item_bias_[item])))
        terms.append(Term("rest", dot))
        return terms
