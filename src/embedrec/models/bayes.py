"""BayesianDotBias: the DotBias model fitted by Gibbs sampling, its posterior mean instead of one fit.

Same model as DotBias, r̂ = low' + span·σ(b + b_u + b_i + p_u·q_i), but every row's vector and bias are
sampled given the other side, with priors learned from the data (Normal-Wishart means and precisions,
a Gamma noise precision), and the prediction averages over the kept sweeps. Averaging over what the
data cannot pin down predicts better than one point estimate (0.898 vs 0.906 mean RMSE on ML-100K
u1–u5) in about the same time, with nothing to tune but the size. A floor under the users' factors'
prior variance keeps sparse data (most users with a rating or two) from shrinking every taste to
nothing, which would give everyone the same recommendations. CPU only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from embedrec.checks import check_non_negative, check_positive
from embedrec.data.interactions import Interactions
from embedrec.errors import ParameterError
from embedrec.models.factor import SigmoidFactorModel
from embedrec.models.progress import TrainHistory, progress
from embedrec.models.saved import SavedState

if TYPE_CHECKING:  # the sampler's module loads numba: imported when a fit first runs
    from embedrec.models.gibbs import GibbsResult


class BayesianDotBias(SigmoidFactorModel):
    """Bayesian matrix factorisation through the scaled sigmoid, by Gibbs sampling (models/gibbs.py).

    Defaults (8 factors, 90 sweeps, the first 10 discarded) were tuned on ML-100K's u1–u5 folds: mean
    test RMSE 0.898 at about 0.9 s per fit. `factor_floor` is the least prior variance of a user factor
    (in logits²), chosen on the sparse benchmark's long tail (benchmarks/bench_sparse.py); `history_`
    has one entry per sweep: the training MSE of the sweep's draw and, given `valid`, the valid RMSE of
    the posterior mean so far. Each sweep is spread over `threads` cores (default: every core numba may
    use; `NUMBA_NUM_THREADS` caps it); any number of threads samples the same chain, up to rounding.
    """

    _array_names = (*SigmoidFactorModel._array_names, "user_prior_var_")

    def __init__(
        self,
        n_factors: int = 8,
        *,
        sweeps: int = 90,
        y_margin: float = 0.1,
        factor_floor: float = 0.02,
        seed: int = 0,
        threads: int | None = None,
        verbose: bool = True,
    ) -> None:
        self.n_factors = n_factors
        self.sweeps = sweeps
        self.y_margin = y_margin
        self.factor_floor = factor_floor
        self.seed = seed
        self.threads = threads
        self.verbose = verbose

    def _validate(self) -> None:
        super()._validate()
        check_positive("n_factors", self.n_factors, integer=True)
        check_positive("sweeps", self.sweeps, integer=True)
        if self.threads is not None:
            check_positive("threads", self.threads, integer=True)
        check_non_negative("factor_floor", self.factor_floor)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")

    def _fit_bytes(self, n_users: int, n_items: int, n_ratings: int, n_factors: int) -> float:
        """Per row of either side (models/gibbs.py): the draw, the conditional mean, the noise and the
        sweep's copies, d = k + 1 floats each, and the running mean's low-rank sides (3k + 8 columns) with
        their compression's temporaries, whose (m, m) Gram matrices and decompositions (float64) grow
        with the square; per rating the sorted copies, weights and targets. Measured on ML-100K: 31 MiB
        peak at 128 factors and 207 MiB at 512, for estimates of 38 and 225 MiB."""
        d, rows, m = n_factors + 1, n_users + n_items, 3 * n_factors + 8
        return 4.0 * rows * (8 * d + 4 * m) + 64.0 * n_ratings + 48.0 * m * m + 32.0 * d * d

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        from embedrec.models.gibbs import gibbs_factors  # numba: loaded when a sampler first runs

        start = time.perf_counter()
        description = f"BayesianDotBias k={self.n_factors}"
        with progress(description, self.sweeps, unit="sweeps", verbose=self.verbose) as bar:
            result = gibbs_factors(
                train.users,
                train.items,
                train.ratings,
                train.n_users,
                train.n_items,
                n_factors=self.n_factors,
                sweeps=self.sweeps,
                y_range=self._y_range(train.scale.low, train.scale.high),
                floor=self.factor_floor,
                seed=self.seed,
                valid=None if valid is None else (valid.users, valid.items, valid.ratings.astype(np.float64)),
                on_sweep=None if bar is None else bar.update,
                threads=self.threads,
            )
        self.user_factors_, self.item_factors_ = result.user_factors, result.item_factors
        self.user_bias_, self.item_bias_ = result.user_bias, result.item_bias
        self.global_bias_ = result.global_bias
        self.user_prior_var_ = self._new_user_prior(result)
        self.history_ = TrainHistory(
            result.train_mse,
            result.valid_rmse,
            best_epoch=self.sweeps - 1,
            epoch_seconds=result.sweep_seconds,
        )
        self.history_.seconds = time.perf_counter() - start

    def _new_user_prior(self, result: GibbsResult) -> np.ndarray:
        """The variances (of a factor, of the bias) of a new user's prior, in the posterior mean's units.

        The sampler learned the users' prior for its draws, but a new user is folded in against the
        posterior mean's item vectors, whose scale differs: averaging over the chain cancels what it is
        unsure of, and the average is split into user and item sides of equal scale. A taste drawn from
        the prior moves a new user's scores by p·q_draw; against the averaged items the same spread of
        scores needs the factors' variance scaled by E|q_draw|² / |q_mean|² (2.6 on the sparse
        benchmark's long tail, 0.73 on ML-100K u1). Unscaled, the long tail's fold-in shrank every new
        user's taste so far that fans of opposite genres got the item biases' list.
        """
        cov = result.user_prior_cov
        mean_sq = float(
            np.mean(np.einsum("nd,nd->n", result.item_factors, result.item_factors, dtype=np.float64))
        )
        scale = result.item_draw_sq / mean_sq if mean_sq > 0 and result.item_draw_sq > 0 else 1.0
        factor_var = np.trace(cov[1:, 1:]) / self.n_factors * scale
        return np.array([factor_var, cov[0, 0]], dtype=np.float32)

    def _fold_in_prior(self) -> tuple[np.ndarray, np.ndarray, float]:
        """A new user is a draw from the users' prior: its spread is the prior's, not that of the trained
        users' posterior means, which sparse data shrink towards the average."""
        mean, var, sigma2 = super()._fold_in_prior()
        learned = getattr(self, "user_prior_var_", None)
        if learned is None:  # saved before the prior was kept
            return mean, var, sigma2
        floor = np.append(np.full(len(var) - 1, learned[0]), learned[1])
        return mean, np.maximum(var, floor), sigma2

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]] | None]:
        """The factor model's arrays, and the users' prior variances (factors, bias) when saved."""
        prior = (np.float32, (2,)) if "user_prior_var_" in saved.arrays else None
        return {**super()._saved_shapes(saved), "user_prior_var_": prior}

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        if "user_prior_var_" not in arrays:  # a model saved before the prior was kept
            arrays = {**arrays, "user_prior_var_": None}
        super()._load_state(arrays, state)
