"""The Gibbs sampler behind BayesianDotBias: the posterior mean of the scaled-sigmoid factor model.

The model is DotBias's: r = low' + span·σ(g + b_u + b_i + p_u·q_i) + noise. Each row [b_u, p_u] (and
[b_i, q_i]) has a Gaussian prior whose mean and full precision matrix are drawn every sweep from their
Normal-Wishart posterior (BPMF, Salakhutdinov & Mnih 2008), and the noise precision from its Gamma
posterior, so only the rank and the number of sweeps are settings. The sigmoid makes a row's conditional
non-Gaussian: each row is drawn from its Laplace approximation, the Gaussian of one Gauss-Newton step
from the current draw (a weighted ridge solve). The prediction
averages the raw score over the kept sweeps (Rao-Blackwellised: each half-sweep's conditional mean
times the other side's draw), truncated back to a rank-k factor model without forming users × items.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp

from embedrec.errors import DivergenceError
from embedrec.scoring import one_blas_thread

BURN_IN = 10  # sweeps discarded while the chain moves away from its random start


@dataclass
class GibbsResult:
    """The posterior mean as a factor model, plus the training MSE of each sweep's draw."""

    user_factors: np.ndarray  # (n_users, k)
    item_factors: np.ndarray  # (n_items, k)
    user_bias: np.ndarray  # (n_users,)
    item_bias: np.ndarray  # (n_items,)
    global_bias: float
    train_mse: list[float] = field(default_factory=list)
    valid_rmse: list[float] = field(default_factory=list)  # of the running posterior mean, when asked
    user_prior_mean: np.ndarray | None = None  # (k + 1,) [bias, factors]: the users' prior, averaged
    user_prior_cov: np.ndarray | None = None  # (k + 1, k + 1) over the kept sweeps
    item_draw_sq: float = 0.0  # the mean over items and kept sweeps of a drawn item vector's |q|²
    sweep_seconds: list[float] = field(default_factory=list)  # wall time of each sweep (setup excluded)


FASTMATH = {"contract", "afn", "reassoc"}


@numba.njit(inline="always", fastmath=FASTMATH)
def _newton_term(n, rows, cols, ratings, own, other, offset, weight, target):  # pragma: no cover
    """Rating n's Gauss-Newton weight and weighted target (see _newton_terms); returns its (r - r̂)²."""
    i, j = rows[n], cols[n]
    mine = own[i, 0]
    for d in range(1, own.shape[1]):
        mine += own[i, d] * other[j, d]
    s = 1.0 / (1.0 + math.exp(-(offset + other[j, 0] + mine)))
    slope = s * (1.0 - s)
    error = ratings[n] - s
    weight[n] = slope * slope
    target[n] = slope * (slope * mine + error)
    return error * error


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _newton_terms(rows, cols, ratings, own, other, offset, weight, target):  # pragma: no cover
    """Per rating: the Gauss-Newton weight and weighted target of the row's fit; returns Σ (r - r̂)².

    Ratings are in units of the sigmoid's range, (r - low') / span, so f(z) = σ(z). With z = offset +
    b_u + b_i + p_u·q_i the current raw score, the row's part of z, x·[1, other row], is fitted to
    x·[1, other] + (r - f(z)) / f'(z) with weight f'(z)²; `target` holds weight × that, so no division by
    a vanishing f' happens. Column 0 of a row holds its bias.
    """
    total = 0.0
    for n in range(rows.shape[0]):
        total += _newton_term(n, rows, cols, ratings, own, other, offset, weight, target)
    return total


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)
def _newton_terms_parallel(rows, cols, ratings, own, other, offset, weight, target):  # pragma: no cover
    """_newton_terms with the ratings split over numba's threads."""
    total = 0.0
    for n in numba.prange(rows.shape[0]):
        total += _newton_term(n, rows, cols, ratings, own, other, offset, weight, target)
    return total


class _Side:
    """The rows of one side (users or items) with the ratings grouped by row (CSR order)."""

    def __init__(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        ratings: np.ndarray,
        n_rows: int,
        n_cols: int,
        threads: int = 1,
    ) -> None:
        order = np.arange(1, len(rows) + 1, dtype=np.float64)
        m = sp.csr_matrix((order, (rows, cols)), shape=(n_rows, n_cols))  # (n_rows, n_cols)
        perm = m.data.astype(np.int64) - 1  # rating index of each stored entry
        self.rows, self.cols = rows[perm].astype(np.int32), cols[perm].astype(np.int32)  # in stored order
        self.indptr = m.indptr.astype(np.int64)
        self.ratings = ratings[perm]
        self.weight = np.empty(len(rows), np.float32)
        self.target = np.empty(len(rows), np.float32)
        # for threads: blocks of rows holding about as many ratings each, a few per thread to balance them
        cuts = np.searchsorted(self.indptr, np.linspace(0, len(rows), 4 * threads + 1)[1:-1])
        self.blocks = (
            np.unique(np.concatenate([[0], cuts, [n_rows]])).astype(np.int64) if threads > 1 else None
        )


@numba.njit(inline="always", fastmath=True)
def _draw_row(
    i, indptr, cols, weight, target, other, alpha, prior_prec, prior_b, noise, mean_out, draw_out, a, b, y
):  # pragma: no cover
    """Row i's Gaussian conditional and a draw from it (see _draw_rows); a, b, y are scratch space."""
    d = mean_out.shape[1]
    a[:] = 0.0
    b[:] = 0.0
    for n in range(indptr[i], indptr[i + 1]):
        j = cols[n]
        w, t = weight[n], target[n]
        b[0] += t
        a[0, 0] += w
        for r in range(1, d):  # the lower triangle of Σ w z zᵀ, z[0] = 1
            zr = other[j, r]
            b[r] += t * zr
            wz = w * zr
            a[r, 0] += wz
            for c in range(1, r + 1):
                a[r, c] += wz * other[j, c]
    for r in range(d):
        b[r] = alpha * b[r] + prior_b[r]
        for c in range(r + 1):
            a[r, c] = alpha * a[r, c] + prior_prec[r, c]
    for r in range(d):  # Cholesky, in place
        s = a[r, r]
        for c in range(r):
            s -= a[r, c] * a[r, c]
        a[r, r] = math.sqrt(max(s, 1e-12))
        for q in range(r + 1, d):
            s = a[q, r]
            for c in range(r):
                s -= a[q, c] * a[r, c]
            a[q, r] = s / a[r, r]
    for r in range(d):  # L y = b
        s = b[r]
        for c in range(r):
            s -= a[r, c] * y[c]
        y[r] = s / a[r, r]
    for r in range(d - 1, -1, -1):  # Lᵀ mean = y, Lᵀ draw = y + ε
        s, s2 = y[r], y[r] + noise[i, r]
        for c in range(r + 1, d):
            s -= a[c, r] * mean_out[i, c]
            s2 -= a[c, r] * draw_out[i, c]
        mean_out[i, r] = s / a[r, r]
        draw_out[i, r] = s2 / a[r, r]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _draw_rows(
    indptr, cols, weight, target, other, alpha, prior_prec, prior_b, noise, mean_out, draw_out
):  # pragma: no cover
    """Each row's Gaussian conditional, and a draw from it, in one pass over its ratings.

    With z = [1, other row's factors] per rating (the other side's bias is a known offset, so its slot
    is the constant 1), the precision is A = α Σ w z zᵀ + Λ and b = α Σ w·t z + Λμ (w, t: the Gauss-Newton
    weight and weighted target of `_newton_terms`); the mean is A⁻¹b and the draw mean + L⁻ᵀε, A = LLᵀ.
    """
    n_rows, d = mean_out.shape
    a, b, y = np.empty((d, d)), np.empty(d), np.empty(d)
    for i in range(n_rows):
        _draw_row(i, indptr, cols, weight, target, other, alpha, prior_prec, prior_b, noise, mean_out,
                  draw_out, a, b, y)  # fmt: skip


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _draw_rows_parallel(
    indptr, cols, weight, target, other, alpha, prior_prec, prior_b, noise, mean_out, draw_out, blocks
):  # pragma: no cover
    """_draw_rows with blocks of rows (boundaries in `blocks`) split over numba's threads."""
    d = mean_out.shape[1]
    for k in numba.prange(len(blocks) - 1):
        a, b, y = np.empty((d, d)), np.empty(d), np.empty(d)  # each thread its own scratch space
        for i in range(blocks[k], blocks[k + 1]):
            _draw_row(i, indptr, cols, weight, target, other, alpha, prior_prec, prior_b, noise, mean_out,
                      draw_out, a, b, y)  # fmt: skip


def row_conditionals(
    side: _Side,
    other: np.ndarray,
    alpha: float,
    prior_mean: np.ndarray,
    prior_prec: np.ndarray,
    noise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(means, draws), each (n_rows, d) float32, of every row's conditional given the other side; in
    blocks of rows over numba's threads when the side was built for several."""
    n, d = noise.shape
    mean, draw = np.empty((n, d), np.float32), np.empty((n, d), np.float32)
    prec = np.ascontiguousarray(prior_prec, dtype=np.float64)
    args = (side.indptr, side.cols, side.weight, side.target, other, float(alpha), prec,
            prec @ np.asarray(prior_mean, np.float64), noise, mean, draw)  # fmt: skip
    if side.blocks is None:
        _draw_rows(*args)
    else:
        _draw_rows_parallel(*args, side.blocks)
    return mean, draw


def draw_normal_wishart(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and precision matrix of the rows `x` from their Normal-Wishart posterior.

    Hyperprior: μ₀ = 0, β₀ = 2, W₀ = I, ν₀ = d (BPMF's); the Wishart draw uses Bartlett's decomposition.
    """
    n, d = x.shape
    mean = x.mean(0, dtype=np.float64)
    scatter = (x.T @ x).astype(np.float64) - n * np.outer(mean, mean)  # Σ (x - x̄)(x - x̄)ᵀ
    beta = 2.0 + n
    w_inv = np.eye(d) + scatter + (2.0 * n / beta) * np.outer(mean, mean)
    scale = np.linalg.cholesky(np.linalg.inv(w_inv))
    bartlett = np.tril(rng.standard_normal((d, d)), -1)
    bartlett[np.diag_indices(d)] = np.sqrt(rng.chisquare(d + n - np.arange(d)))
    root = scale @ bartlett
    precision = root @ root.T  # (d, d)
    centre = n * mean / beta + np.linalg.solve(np.linalg.cholesky(beta * precision).T, rng.standard_normal(d))
    return centre, precision


def prior_with_floor(
    x: np.ndarray, rng: np.random.Generator, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Normal-Wishart draw of the rows' prior (mean, precision), its factors' variance kept >= `floor`.

    On sparse data most rows have a rating or two, their draws sit near the prior mean, and the learned
    precision, fitted to those draws, shrinks every factor towards zero; sweep by sweep the factors
    collapse onto one axis and every user gets the same list. A floor under the factors' prior variance
    (not the bias's) stops that loop. The sampler puts it under the users' prior only: that prior sets
    how far a user's taste may reach, for trained and folded-in users alike, while a floor under the
    items' prior spreads the vectors of items seen once on noise (ML-100K u1–u5 mean RMSE 0.8995 with
    0.01 on both sides, 0.8970 on the users' side alone). Returns (mean, precision, covariance).
    """
    centre, precision = draw_normal_wishart(x, rng)
    cov = np.linalg.inv(precision)
    if floor > 0:
        cov[1:, 1:] += floor * np.eye(len(cov) - 1)
        precision = np.linalg.inv(cov)
    return centre, 0.5 * (precision + precision.T), cov


def gibbs_factors(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    *,
    n_factors: int,
    sweeps: int,
    y_range: tuple[float, float],
    floor: float = 0.0,
    seed: int = 0,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    on_sweep: Callable[[int, float, float], None] | None = None,
    threads: int | None = 1,
) -> GibbsResult:
    """Sample the posterior of DotBias for `sweeps` sweeps; return its mean as a rank-`n_factors` model.

    `y_range` is the sigmoid's (low', high'); `floor` the least prior variance of a user factor (in
    logits²; the items' prior has none: see `prior_with_floor`).
    `valid` (users, items, ratings) is scored after each sweep by the posterior mean so far (the draw
    itself during burn-in); `on_sweep(sweep, train_mse, valid_rmse)` is called after each sweep
    (valid_rmse is NaN without `valid`). `threads` > 1 splits the per-rating and per-row passes over
    that many of numba's threads (None: all of them); the chain does not depend on it beyond rounding."""
    cores = numba.config.NUMBA_NUM_THREADS
    threads = cores if threads is None else max(1, min(threads, cores))
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with one_blas_thread():  # many small products: one thread beats synchronising two
            return _sample(
                users, items, ratings, n_users, n_items, n_factors, sweeps, y_range, floor, seed, valid,
                on_sweep, threads,
            )  # fmt: skip
    finally:
        numba.set_num_threads(before)


def _sample(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    n_factors: int,
    sweeps: int,
    y_range: tuple[float, float],
    floor: float,
    seed: int,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    on_sweep: Callable[[int, float, float], None] | None,
    threads: int = 1,
) -> GibbsResult:
    rng = np.random.default_rng(seed)
    idx = (np.asarray(users, np.int64), np.asarray(items, np.int64))
    r = np.asarray(ratings, np.float32)
    low, span = float(y_range[0]), float(y_range[1] - y_range[0])
    unit = ((r - low) / span).astype(np.float32)  # σ(z) fits these: the sampler is blind to rating units
    share = float(unit.mean(dtype=np.float64))
    offset = math.log(share / (1 - share))  # σ(offset) gives the mean rating
    d = n_factors + 1  # column 0 holds the bias
    sides = (
        _Side(idx[0], idx[1], unit, n_users, n_items, threads),
        _Side(idx[1], idx[0], unit, n_items, n_users, threads),
    )
    x = [(rng.standard_normal((n, d)) * 0.1).astype(np.float32) for n in (n_users, n_items)]
    for rows in x:
        rows[:, 0] = 0.0
    burn_in = min(BURN_IN, sweeps // 2)
    mean = _RunningMean(n_users, n_items, n_factors)
    prior_sum, prior_cov_sum, item_sq_sum = np.zeros(d), np.zeros((d, d)), 0.0

    def newton(s: int) -> float:
        """Fill side s's Gauss-Newton weights and targets at the current draws; return Σ (r - r̂)²."""
        side = sides[s]
        kernel = _newton_terms if threads == 1 else _newton_terms_parallel
        return kernel(side.rows, side.cols, side.ratings, x[s], x[1 - s], np.float32(offset), side.weight,
                      side.target)  # fmt: skip

    def valid_raw(user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        a, b = user_rows[valid[0]], item_rows[valid[1]]  # (n_valid, d) each
        return offset + a[:, 0] + b[:, 0] + np.einsum("nd,nd->n", a[:, 1:], b[:, 1:], dtype=np.float64)

    mse: list[float] = []
    valid_rmse: list[float] = []
    valid_sum = 0.0
    err = newton(0)
    seconds: list[float] = []
    for sweep in range(sweeps):
        started = time.perf_counter()
        # The noise precision given the current residuals (at the random start: 1 / the ratings' variance).
        alpha = float(rng.gamma(1 + len(r) / 2, 1 / (1 + 0.5 * err))) if sweep else 1 / max(unit.var(), 1e-6)
        items_before, means = x[1], []
        for s, side in enumerate(sides):
            if s == 1:
                newton(1)
            centre, precision, cov = prior_with_floor(x[s], rng, floor if s == 0 else 0.0)  # users only
            if s == 0 and sweep >= burn_in:
                prior_sum += centre
                prior_cov_sum += cov
            noise = rng.standard_normal(x[s].shape, dtype=np.float32)
            conditional_mean, x[s] = row_conditionals(side, x[1 - s], alpha, centre, precision, noise)
            means.append(conditional_mean)
        pairs = ((means[0], items_before), (x[0], means[1]))  # Rao-Blackwellised: a mean times a draw
        if sweep >= burn_in:
            for pair in pairs:
                mean.add(*pair)
            item_sq_sum += float(np.mean(np.einsum("nd,nd->n", x[1][:, 1:], x[1][:, 1:], dtype=np.float64)))
        err = newton(0)  # this sweep's error, and the next sweep's user-side terms
        if not math.isfinite(err):
            raise DivergenceError(
                f"sampling broke down in sweep {sweep + 1} (training error {err:g}); the ratings may hold "
                "extreme values: check them, or fit DotBias (the training loop) instead"
            )
        mse.append(err * span**2 / len(r))  # in rating units
        seconds.append(time.perf_counter() - started)
        if valid is not None:
            if sweep >= burn_in:
                valid_sum = valid_sum + sum(valid_raw(*pair) for pair in pairs)
                raw = valid_sum / mean.count
            else:
                raw = valid_raw(x[0], x[1])
            fit = low + span / (1 + np.exp(-raw))
            valid_rmse.append(float(np.sqrt(np.mean((valid[2] - fit) ** 2))))
        if on_sweep is not None:
            on_sweep(sweep, mse[-1], valid_rmse[-1] if valid_rmse else math.nan)
    p, q, user_bias, item_bias = mean.result()
    kept = max(sweeps - burn_in, 1)
    return GibbsResult(
        p, q, user_bias, item_bias, offset, mse, valid_rmse, prior_sum / kept, prior_cov_sum / kept,
        item_sq_sum / kept, seconds,
    )  # fmt: skip


class _RunningMean:
    """The mean of P_s Q_sᵀ over samples, kept as a low-rank product, and the mean biases.

    Samples fill the columns of two buffers; when they are full, the product is compressed to its best
    rank-`keep` part (through the two sides' Gram matrices and an SVD of the small core), so memory stays
    O((users + items)·k) and nothing users × items is ever formed. `keep` = k + 8 holds more than the
    rank-k part that `result` returns, so the compressions lose almost nothing of it.
    """

    def __init__(self, n_users: int, n_items: int, rank: int) -> None:
        self.rank, self.keep = rank, rank + 8
        width = self.keep + 2 * max(rank, 1)  # room for two samples beyond `keep`
        self.left = np.zeros((n_users, width), np.float32)
        self.right = np.zeros((n_items, width), np.float32)
        self.used = 0
        self.user_bias = np.zeros(n_users)
        self.item_bias = np.zeros(n_items)
        self.count = 0

    def add(self, users: np.ndarray, items: np.ndarray) -> None:
        """One sample: rows [b_u, p_u] and [b_i, q_i]."""
        k = users.shape[1] - 1
        if self.used + k > self.left.shape[1]:
            p, q = _truncate(self.left[:, : self.used], self.right[:, : self.used], self.keep)
            self.used = p.shape[1]
            self.left[:, : self.used], self.right[:, : self.used] = p, q
        self.left[:, self.used : self.used + k] = users[:, 1:]
        self.right[:, self.used : self.used + k] = items[:, 1:]
        self.used += k
        self.user_bias += users[:, 0]
        self.item_bias += items[:, 0]
        self.count += 1

    def result(self) -> tuple[np.ndarray, ...]:
        """(user factors, item factors, user biases, item biases) of the mean, as float32 arrays."""
        p, q = _truncate(self.left[:, : self.used] / self.count, self.right[:, : self.used], self.rank)
        if p.shape[1] < self.rank:  # fewer rows than factors: the missing directions are zero
            p = np.pad(p, ((0, 0), (0, self.rank - p.shape[1])))
            q = np.pad(q, ((0, 0), (0, self.rank - q.shape[1])))
        n = self.count
        return tuple(
            np.ascontiguousarray(t, dtype=np.float32) for t in (p, q, self.user_bias / n, self.item_bias / n)
        )


def _truncate(left: np.ndarray, right: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """The best rank-`rank` factors of left @ rightᵀ, split as U√S, V√S (exact: no users × items matrix).

    Each side is written as (orthonormal basis) × (small factor) through its Gram matrix's eigenvectors,
    then the SVD of the two small factors' product rotates the bases into the best rank-`rank` pair.
    """
    bases, cores = [], []
    for side in (left, right):
        side = np.asarray(side, np.float32)
        values, vectors = np.linalg.eigh((side.T @ side).astype(np.float64))  # (m, m)
        keep = values > values.max(initial=0.0) * 1e-6  # float32 Grams resolve about this much
        root = np.sqrt(values[keep])
        bases.append(side @ (vectors[:, keep] / root).astype(np.float32))  # (n, m') orthonormal columns
        cores.append(vectors[:, keep] * root)  # side = basis @ coreᵀ
    u, sv, vt = np.linalg.svd(cores[0].T @ cores[1])
    k = min(rank, len(sv))
    root = np.sqrt(sv[:k])
    return bases[0] @ (u[:, :k] * root).astype(np.float32), bases[1] @ (vt[:k].T * root).astype(np.float32)
