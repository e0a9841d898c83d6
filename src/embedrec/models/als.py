"""`ALS`: weighted matrix factorisation for implicit feedback (Hu, Koren & Volinsky 2008), solved by
alternating least squares with a few conjugate-gradient steps per row (Takács, Pilászy & Tikk 2011).

    min Σ_{u,i} c_ui (p_ui - x_u·y_i)² + λ (Σ |x_u|² + Σ |y_i|²),   p_ui = 1 if u liked i else 0,
    c_ui = 1 + α·w_ui  (w: the like-weight, optionally BM25- or TF-IDF-weighted first)

Every (user, item) pair enters the loss, the unliked ones with confidence 1, without ever being formed:
each half-step works from YᵀY and the liked entries only (`als_kernels`). A new user is folded in by
the exact least-squares solve of the same user step, so the explanation splits the score over the
user's liked items exactly (see `models.latent`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from embedrec.checks import check_non_negative, check_positive, pick
from embedrec.data.implicit import WEIGHTS
from embedrec.data.interactions import Interactions
from embedrec.errors import DivergenceError, ParameterError
from embedrec.models.als_kernels import cg_half_step, squared_loss, thread_scratch
from embedrec.models.latent import LatentRanker
from embedrec.models.progress import TrainHistory, progress
from embedrec.models.saved import SavedState
from embedrec.scoring import one_blas_thread

BM25_K1, BM25_B = 100.0, 0.8  # implicit's defaults for bm25_weight


def _item_stats(liked: sp.csr_matrix) -> np.ndarray:
    """BM25's per-item length norm, (1 - B) + B · (item's total weight) / (mean item total)."""
    totals = np.asarray(liked.sum(axis=0), dtype=np.float64).ravel()
    mean = totals[totals > 0].mean() if (totals > 0).any() else 1.0
    return (1.0 - BM25_B) + BM25_B * totals / mean


def _user_idf(n_liked: np.ndarray, n_items: int) -> np.ndarray:
    """A user's inverse document frequency over items, log(n_items / (1 + items liked)), at least 0."""
    return np.maximum(np.log(n_items) - np.log1p(n_liked), 0.0)


def _bm25(w: np.ndarray, items: np.ndarray, rows: np.ndarray, n_liked: np.ndarray, stats: Any) -> np.ndarray:
    norm, n_items = stats
    return w * (BM25_K1 + 1.0) / (BM25_K1 * norm[items] + w) * _user_idf(n_liked, n_items)[rows]


def _tfidf(w: np.ndarray, items: np.ndarray, rows: np.ndarray, n_liked: np.ndarray, stats: Any) -> np.ndarray:
    _, n_items = stats
    return np.sqrt(w) * _user_idf(n_liked, n_items)[rows]


def _plain(w: np.ndarray, items: np.ndarray, rows: np.ndarray, n_liked: np.ndarray, stats: Any) -> np.ndarray:
    return w


# like-weight reweighting schemes, as implicit applies them (items are the documents, users the terms):
# (weights, their items, their row numbers, likes per row, (item norms, n_items)) -> new weights
WEIGHTINGS: dict[str, Callable[..., np.ndarray]] = {"none": _plain, "bm25": _bm25, "tfidf": _tfidf}


@contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run a block with `n` numba threads (0: all cores), restoring the setting afterwards."""
    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS) if n > 0 else numba.config.NUMBA_NUM_THREADS)
    try:
        yield
    finally:
        numba.set_num_threads(before)


class ALS(LatentRanker):
    """Implicit-feedback matrix factorisation by alternating least squares, conjugate-gradient solver.

    `weights` and `min_rating` say what counts as a like (`data.implicit`: "binary" likes, counts as
    "value", ratings "scaled"...); `weighting` reweights the likes ("bm25", "tfidf") before the
    confidence c = 1 + `alpha`·w. The default alpha=0 weighs a like as much as an unobserved pair, which
    is what implicit's defaults give binary data and measured best on MovieLens (NDCG@10 0.390 on ML-100K
    u1–u5 likes, 0.357 with alpha=1); raise it for counts. `num_threads=0` uses every core.
    `fold_in_regularization` = c solves a new user with m liked items with λ = max(regularization, c/m)
    (None: the training λ, the exact user step): a user known by a few items is ranked better with a
    larger λ, which pulls the solve towards the sum of the given items' vectors, and one known by many
    gets the exact step back (benchmarks/new_user.py: c = 900 on ML-100K).
    """

    def __init__(
        self,
        n_factors: int = 64,
        *,
        regularization: float = 10.0,
        alpha: float = 0.0,
        iterations: int = 15,
        cg_steps: int = 3,
        weighting: str = "none",
        min_rating: float | None = None,
        weights: str = "binary",
        fold_in_regularization: float | None = None,
        num_threads: int = 0,
        seed: int = 0,
        verbose: bool = True,
    ) -> None:
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.weighting = weighting
        self.min_rating = min_rating
        self.weights = weights
        self.fold_in_regularization = fold_in_regularization
        self.num_threads = num_threads
        self.seed = seed
        self.verbose = verbose

    def _validate(self) -> None:
        check_positive("n_factors", self.n_factors, integer=True)
        check_non_negative("regularization", self.regularization)
        check_non_negative("alpha", self.alpha)
        check_positive("iterations", self.iterations, integer=True)
        check_positive("cg_steps", self.cg_steps, integer=True)
        pick(WEIGHTINGS, self.weighting, "weighting")
        pick(WEIGHTS, self.weights, "weights")
        if self.min_rating is not None:
            check_non_negative("min_rating", self.min_rating)
        if self.fold_in_regularization is not None:
            check_non_negative("fold_in_regularization", self.fold_in_regularization)
        if (
            isinstance(self.num_threads, bool)
            or not isinstance(self.num_threads, int)
            or self.num_threads < 0
        ):
            raise ParameterError(
                f"num_threads must be an integer >= 0 (0: every core), got {self.num_threads!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")

    # -- confidence --------------------------------------------------------------------------------
    def _fold_in_settings(self) -> tuple[float, float]:
        return float(self.alpha), float(self.regularization)

    def _solve_regularization(self, n_liked: int, trained: bool) -> float:
        """The training λ, or for a new user max(λ, fold_in_regularization / n_liked)."""
        if trained or self.fold_in_regularization is None:
            return float(self.regularization)
        return max(float(self.regularization), float(self.fold_in_regularization) / max(n_liked, 1))

    def _confidence(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """c = 1 + α·(reweighted w) for one user's liked items, with the training data's item norms."""
        rows = np.zeros(len(items), np.int64)
        w = WEIGHTINGS[self.weighting](weights, items, rows, np.array([len(items)]), self._stats())
        return 1.0 + self.alpha * np.asarray(w, np.float64)

    def _stats(self) -> tuple[np.ndarray, int]:
        return self.item_norm_.astype(np.float64), len(self.item_norm_)

    def confidence_matrix(self, liked: sp.csr_matrix) -> sp.csr_matrix:
        """users × items confidences c = 1 + α·w of a like-weight matrix (float32 CSR, same pattern)."""
        coo = liked.tocoo()
        n_liked = np.diff(liked.indptr)
        w = WEIGHTINGS[self.weighting](coo.data.astype(np.float64), coo.col, coo.row, n_liked, self._stats())
        out = liked.copy()
        out.data = (1.0 + self.alpha * w).astype(np.float32)  # CSR and its COO share the entry order
        return out

    # -- fitting -----------------------------------------------------------------------------------
    def _fit_bytes(self, n_users: int, n_items: int, n_ratings: int, n_factors: int) -> float:
        """Both float32 factor tables and a float64 copy of one (the Gram); the like, confidence and
        transposed confidence matrices with their build temporaries (about 48 bytes per rating)."""
        tables = 4.0 * n_factors * (n_users + n_items) + 8.0 * n_factors * max(n_users, n_items)
        return tables + 48.0 * n_ratings

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        liked = self._liked(train)
        self.item_norm_ = _item_stats(liked).astype(np.float32)
        conf = self.confidence_matrix(liked)
        conf_t = conf.T.tocsr()
        k = self.n_factors
        rng = np.random.default_rng(self.seed)
        users = (rng.standard_normal((train.n_users, k)) * 0.01).astype(np.float32)
        items = (rng.standard_normal((train.n_items, k)) * 0.01).astype(np.float32)
        history = TrainHistory()
        start = time.perf_counter()
        with (
            progress(f"ALS k={k}", self.iterations, unit="iterations", verbose=self.verbose) as bar,
            numba_threads(self.num_threads),
        ):
            for it in range(self.iterations):
                self._half_step(conf, users, items)
                self._half_step(conf_t, items, users)
                if not (np.isfinite(users).all() and np.isfinite(items).all()):
                    raise DivergenceError(
                        f"ALS produced NaN or infinite factors at iteration {it + 1}: "
                        "raise regularization or lower alpha"
                    )
                # the objective costs a pass over the data: computed only for the bar, else NaN
                loss = self._loss(conf, users, items) if bar is not None else float("nan")
                history.train_loss.append(loss)
                if bar is not None:
                    bar.update(it, loss)
        history.seconds = time.perf_counter() - start
        self.user_factors_, self.item_factors_ = users, items
        self.item_bias_ = np.zeros(train.n_items, dtype=np.float32)
        self.history_ = history

    def _half_step(self, conf: sp.csr_matrix, x: np.ndarray, y: np.ndarray) -> None:
        """Update every row of `x` from the fixed `y` (in place)."""
        with one_blas_thread():
            y64 = y.astype(np.float64)
            gram = (y64.T @ y64 + self.regularization * np.eye(y.shape[1])).astype(np.float32)
        scratch = thread_scratch(x.shape[1])
        cg_half_step(conf.indptr, conf.indices, conf.data, x, y, gram, self.cg_steps, scratch)

    def _loss(self, conf: sp.csr_matrix, x: np.ndarray, y: np.ndarray) -> float:
        """The training objective per liked entry (for the progress bar)."""
        with one_blas_thread():
            gram = y.astype(np.float64).T @ y.astype(np.float64)
            penalty = self.regularization * (
                np.square(x, dtype=np.float64).sum() + np.square(y, dtype=np.float64).sum()
            )
        total = squared_loss(conf.indptr, conf.indices, conf.data, x, y, gram)
        return float((total + penalty) / max(conf.nnz, 1))

    # -- persistence -------------------------------------------------------------------------------
    _array_names = (*LatentRanker._array_names, "item_norm_")

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        return {**super()._saved_shapes(saved), "item_norm_": (np.float32, (saved.n_items,))}
