"""Factor models: a score is a biased dot product of user and item vectors, through a monotonic link.

    score(u, i) = g + b_u + b_i + p_u·q_i,   rating(u, i) = link(score)

`FactorModel` holds the shared state (`user_factors_`, `item_factors_`, `user_bias_`, `item_bias_`,
`global_bias_`), the closed-form fold-in of a new user and the exact explanation of a score;
`SigmoidFactorModel` adds fastai's scaled sigmoid link. DotBias, BayesianDotBias and BiasBaseline
are factor models that differ only in how they learn the arrays.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from embedrec.checks import check_non_negative
from embedrec.models.base import CAPABILITIES, Estimator, FoldedUser, Term
from embedrec.models.saved import SavedState
from embedrec.scoring import cached_gram, dot_rows, one_blas_thread

PRIOR_SAMPLE = 20_000  # training ratings sampled to estimate the residual variance of the fold-in prior


class FactorModel(Estimator):
    """A biased dot product of user and item factors through a monotonic link (identity here)."""

    capabilities = frozenset(CAPABILITIES)
    _array_names = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    linear: ClassVar[bool] = True  # score = the biased dot product itself: approximate search applies
    fold_in_reg: ClassVar[float] = 1.0  # strength of the pull towards the average trained user
    like_confidence: ClassVar[float] = 40.0  # weight of a liked item in the implicit fold-in
    like_reg: ClassVar[float] = 0.1

    @property
    def n_factors_(self) -> int:
        self._check_fitted()
        return int(self.user_factors_.shape[1])

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "global_bias": float(self.global_bias_)}

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.global_bias_ = float(state["global_bias"])
        super()._load_state(arrays, state)

    def _check_saved(self, saved: SavedState) -> None:
        saved.number("global_bias")
        super()._check_saved(saved)

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        """Factors (n, k) and biases (n,) in float32; k is `n_factors` where the model has one."""
        users, items = saved.n_users, saved.n_items
        found = saved.arrays.get("user_factors_")
        k = found.shape[1] if found is not None and found.ndim == 2 else 0
        k = int(getattr(self, "n_factors", k))
        return {
            "user_factors_": (np.float32, (users, k)),
            "item_factors_": (np.float32, (items, k)),
            "user_bias_": (np.float32, (users,)),
            "item_bias_": (np.float32, (items,)),
        }

    # -- the link ----------------------------------------------------------------------------------
    def link(self, raw: np.ndarray) -> np.ndarray:
        """Scores -> ratings; monotonic in every subclass, so ranking can use the scores."""
        return np.asarray(raw, dtype=np.float32)

    def inverse_link(self, ratings: np.ndarray) -> np.ndarray:
        """Ratings -> scores (clipped where the link cannot reach them)."""
        return np.asarray(ratings, dtype=np.float32)

    def to_rating(self, scores: np.ndarray) -> np.ndarray:
        return self.link(scores)

    # -- scores ------------------------------------------------------------------------------------
    def raw_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores (before the link) of index pairs."""
        dots = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        return dots + self.user_bias_[users] + self.item_bias_[items] + np.float32(self.global_bias_)

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.link(self.raw_scores(users, items))

    def _score_items(self, users: np.ndarray) -> np.ndarray:
        scores = dot_rows(self.user_factors_[users], self.item_factors_, self.item_bias_)  # (b, n_items)
        scores += (self.user_bias_[users] + np.float32(self.global_bias_))[:, None]
        return scores

    def _score_folded(self, user: FoldedUser) -> np.ndarray:
        vector = np.asarray(user.vector, dtype=np.float32)
        if user.values is None:  # liked items: a preference score, q_i·p, as implicit-feedback ALS gives
            return dot_rows(vector[None, :], self.item_factors_)[0]
        raw = dot_rows(vector[None, :], self.item_factors_, self.item_bias_)[0]
        return raw + np.float32(user.bias + self.global_bias_)

    # -- a new user --------------------------------------------------------------------------------
    def _fold_in(self, items: np.ndarray, values: np.ndarray | None) -> FoldedUser:
        """Closed form, item side fixed: ridge regression of the ratings (in score units) on the items'
        [q_j, 1], shrunk towards the average trained user; for liked items, implicit-feedback ALS's
        solve p = (QᵀQ + c·Q_lᵀQ_l + λI)⁻¹ (1 + c) Σ_l q_l."""
        if values is None:
            solve, rhs = self._like_system(np.unique(items))
            with one_blas_thread():
                vector = np.linalg.solve(solve, rhs)
            return FoldedUser(items, None, vector.astype(np.float32), 0.0)
        a, x, y, prior = self._rating_system(items, values)
        with one_blas_thread():
            w = np.linalg.solve(a, x.T @ y + prior)
        return FoldedUser(items, values, w[:-1].astype(np.float32), float(w[-1]))

    def _rating_system(
        self, items: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(A, X, y, Λμ) of the rating fold-in: w = A⁻¹ (Xᵀy + Λμ), w = [p, b]."""
        mean, var, sigma2 = self._fold_in_prior()
        x = np.hstack([self.item_factors_[items], np.ones((len(items), 1))]).astype(np.float64)  # (m, k+1)
        y = self.inverse_link(values.astype(np.float32)).astype(np.float64) - self.global_bias_
        y -= self.item_bias_[items]
        lam = self.fold_in_reg * sigma2 / var
        return x.T @ x + np.diag(lam), x, y, lam * mean

    def _like_system(self, liked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A, b) of the implicit fold-in: p = A⁻¹ b."""
        c = self.like_confidence
        q = self.item_factors_.astype(np.float64)
        ql = q[liked]  # (m, k)
        a = cached_gram(self, self.item_factors_) + c * (ql.T @ ql) + self.like_reg * np.eye(q.shape[1])
        return a, (1 + c) * ql.sum(axis=0)

    def _fold_in_prior(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Mean and variance of [user factors, user bias] over trained users, and the residual variance."""
        hit = self.__dict__.get("_prior_cache")
        if hit is not None and hit[0] is self.user_factors_:
            return hit[1]
        w = np.hstack([self.user_factors_, self.user_bias_[:, None]]).astype(np.float64)  # (n_users, k+1)
        mean, var = w.mean(axis=0), np.maximum(w.var(axis=0), 1e-6)
        seen = self.seen_.tocoo()
        rows = np.random.default_rng(0).choice(seen.nnz, size=min(seen.nnz, PRIOR_SAMPLE), replace=False)
        u, i = seen.row[rows].astype(np.int64), seen.col[rows].astype(np.int64)
        resid = self.inverse_link(seen.data[rows]) - self.raw_scores(u, i)
        sigma2 = float(max(np.mean(np.square(resid, dtype=np.float64)), 1e-3))
        self._prior_cache = (self.user_factors_, (mean, var, sigma2))
        return mean, var, sigma2

    # -- explanations ------------------------------------------------------------------------------
    def _explain(self, user: int | FoldedUser, item: int) -> list[Term]:
        return self._explain_many(user, np.array([item], dtype=np.int64))[0]

    def _explain_many(self, user: int | FoldedUser, items: np.ndarray) -> list[list[Term]]:
        """global + user bias + item bias + p·q_i, with p·q_i split over the user's rated items by the
        fold-in solve's weights (implicit's ALS explain), a prior term, and the rest (what training
        learned beyond the solve; zero for a folded-in user). The terms sum to the score exactly. The
        fold-in system is built and factorised once for all `items`."""
        if type(self)._explain is not FactorModel._explain:  # a subclass that explains its own way
            return super()._explain_many(user, items)
        if isinstance(user, FoldedUser):
            rated, values, p, bias = user.items, user.values, user.vector, user.bias
        else:
            rated, values = self.user_history(user)
            p, bias = self.user_factors_[user], float(self.user_bias_[user])
        q = self.item_factors_[items].astype(np.float64)  # (m, k)
        dots = q @ np.asarray(p, np.float64)  # (m,)
        if values is None:  # liked items, implicit fold-in: score = q·p exactly split over the liked items
            liked = np.unique(rated)
            a, _ = self._like_system(liked)
            weights = (1 + self.like_confidence) * (self.item_factors_[liked] @ np.linalg.solve(a, q.T))
            return [
                [
                    *(
                        Term("liked item", float(w), int(j))
                        for j, w in zip(liked, weights[:, c], strict=True)
                    ),
                    Term("rest", float(dots[c]) - float(weights[:, c].sum())),
                ]
                for c in range(len(items))
            ]
        parts = prior_parts = None
        if len(rated):
            a, x, y, prior = self._rating_system(rated, values)
            z = np.linalg.solve(a, np.vstack([q.T, np.zeros((1, len(items)))]))  # A⁻¹ [q_i, 0]: (k+1, m)
            parts = (x @ z) * y[:, None]  # (n_rated, m): each rated item's share of p̂·q_i
            prior_parts = z.T @ prior  # (m,)
        # Python numbers taken out of the arrays once (.tolist()), not one numpy scalar per term: the web
        # app explains every card of every page
        glob, item_bias, dots_ = float(self.global_bias_), self.item_bias_[items].tolist(), dots.tolist()
        rated_, values_ = np.asarray(rated).tolist(), np.asarray(values).tolist()
        out = []
        for c in range(len(items)):
            terms = [Term("global bias", glob), Term("user bias", bias), Term("item bias", item_bias[c])]
            dot = dots_[c]
            if parts is not None and prior_parts is not None:
                column = parts[:, c]
                terms += [
                    Term("rated item", v, j, r)
                    for j, v, r in zip(rated_, column.tolist(), values_, strict=True)
                ]
                terms.append(Term("prior", float(prior_parts[c])))
                dot -= float(column.sum()) + float(prior_parts[c])
            terms.append(Term("rest", dot))
            out.append(terms)
        return out


class SigmoidFactorModel(FactorModel):
    """A factor model through fastai's link: rating = low' + (high' - low') · σ(score), [low', high'] the
    rating scale widened by `y_margin` × its width on each side so the extreme ratings are reachable."""

    y_margin: float

    def _validate(self) -> None:
        check_non_negative("y_margin", self.y_margin)

    def _y_range(self, low: float, high: float) -> tuple[float, float]:
        pad = self.y_margin * (high - low)
        return low - pad, high + pad

    @property
    def y_range(self) -> tuple[float, float]:
        """The sigmoid's output range (low', high')."""
        return self._y_range(self.scale_.low, self.scale_.high)

    def link(self, raw: np.ndarray) -> np.ndarray:
        low, high = self.y_range
        raw = np.asarray(raw, dtype=np.float32)
        return (low + (high - low) * 0.5 * (1.0 + np.tanh(0.5 * raw))).astype(np.float32)  # overflow-free σ

    def inverse_link(self, ratings: np.ndarray) -> np.ndarray:
        low, high = self.y_range
        p = np.clip((np.asarray(ratings, dtype=np.float64) - low) / (high - low), 1e-4, 1 - 1e-4)
        return np.log(p / (1 - p)).astype(np.float32)

    @staticmethod
    def initial_logit(ratings: np.ndarray, low: float, high: float) -> float:
        """The score whose link is the mean rating: where the global offset starts."""
        mean = float(np.clip((np.mean(ratings, dtype=np.float64) - low) / (high - low), 1e-3, 1 - 1e-3))
        return math.log(mean / (1 - mean))
