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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp
import torch

from embedrec.errors import DivergenceError
from embedrec.models.training import torch_threads

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
    """The rows of one side (users or items) with the ratings grouped by row, for per-row statistics."""

    def __init__(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        ratings: np.ndarray,
        n_rows: int,
        n_cols: int,
        blocks: int = 1,
    ) -> None:
        order = np.arange(1, len(rows) + 1, dtype=np.float64)
        m = sp.csr_matrix((order, (rows, cols)), shape=(n_rows, n_cols))  # (n_rows, n_cols)
        perm = m.data.astype(np.int64) - 1  # rating index of each stored entry
        self.rows, self.cols = rows[perm].astype(np.int32), cols[perm].astype(np.int32)  # in stored order
        self.matrix = m.astype(np.float32)  # its data is overwritten with weights, then targets
        self.ratings = ratings[perm]
        self.weight = np.empty(len(rows), np.float32)
        self.target = np.empty(len(rows), np.float32)
        self.blocks = self._blocks(blocks) if blocks > 1 else []  # for a pool of threads: see statistics

    def _blocks(self, n: int) -> list[tuple[slice, slice, sp.csr_matrix]]:
        """n blocks of rows holding about as many ratings each: (rows, their ratings, that part of matrix)."""
        m, nnz = self.matrix, self.matrix.nnz
        cuts = np.unique(np.searchsorted(m.indptr, np.linspace(0, nnz, n + 1)[1:-1]).clip(0, m.shape[0]))
        bounds = [0, *cuts.tolist(), m.shape[0]]
        blocks = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            s, e = int(m.indptr[a]), int(m.indptr[b])
            part = sp.csr_matrix(
                (m.data[s:e], m.indices[s:e], m.indptr[a : b + 1] - s), shape=(b - a, m.shape[1])
            )
            blocks.append((slice(a, b), slice(s, e), part))
        return blocks

    def statistics(
        self, other: torch.Tensor, pool: ThreadPoolExecutor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Σ w z zᵀ and Σ w·t z per row, z = [1, other row's factors], w and t from self.weight/target;
        with a `pool`, blocks of rows go to its threads (scipy's product releases the GIL)."""
        d = other.shape[1]
        z = other.clone()
        z[:, 0] = 1.0  # the other side's bias is a known offset, so its slot is the constant 1
        zn = z.numpy()
        ti, tj = np.triu_indices(d)
        pairs = zn[:, ti] * zn[:, tj]  # (n_other, d(d+1)/2): the Gram matrix is symmetric, upper half only
        if pool is None:
            self.matrix.data = self.weight
            gram = self.matrix @ pairs  # (n_rows, d(d+1)/2)
            self.matrix.data = self.target
            rhs = self.matrix @ zn  # (n_rows, d)
        else:
            gram = np.empty((self.matrix.shape[0], len(ti)), np.float32)
            rhs = np.empty((self.matrix.shape[0], d), np.float32)

            def block(rows: slice, entries: slice, part: sp.csr_matrix) -> None:
                part.data = self.weight[entries]
                gram[rows] = part @ pairs
                part.data = self.target[entries]
                rhs[rows] = part @ zn

            list(pool.map(lambda b: block(*b), self.blocks))
        full = np.zeros((d, d), np.int64)
        full[ti, tj] = full[tj, ti] = np.arange(len(ti))
        gram_t = torch.index_select(torch.from_numpy(gram), 1, torch.from_numpy(full.ravel()))
        return gram_t.view(-1, d, d), torch.from_numpy(rhs)


def conditional(
    gram: torch.Tensor, rhs: torch.Tensor, alpha: float, prior_mean: np.ndarray, prior_prec: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's Gaussian: Cholesky L of the precision A = α·gram + Λ, and b = α·rhs + Λμ (mean A⁻¹b)."""
    a = gram * alpha + torch.from_numpy(prior_prec).float()
    b = alpha * rhs + torch.from_numpy(prior_prec @ prior_mean).float()  # (n, d)
    chol, _ = torch.linalg.cholesky_ex(a)
    return chol, b


def draw_normal_wishart(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and precision matrix of the rows `x` from their Normal-Wishart posterior.

    Hyperprior: μ₀ = 0, β₀ = 2, W₀ = I, ν₀ = d (BPMF's); the Wishart draw uses Bartlett's decomposition.
    """
    xs = np.asarray(x, np.float64)
    n, d = xs.shape
    mean = xs.mean(0)
    centred = xs - mean
    beta = 2.0 + n
    w_inv = np.eye(d) + centred.T @ centred + (2.0 * n / beta) * np.outer(mean, mean)
    scale = np.linalg.cholesky(np.linalg.inv(w_inv))
    bartlett = np.tril(rng.standard_normal((d, d)), -1)
    bartlett[np.diag_indices(d)] = np.sqrt(rng.chisquare(d + n - np.arange(d)))
    root = scale @ bartlett
    precision = root @ root.T  # (d, d)
    centre = n * mean / beta + np.linalg.solve(np.linalg.cholesky(beta * precision).T, rng.standard_normal(d))
    return centre, precision


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
    seed: int = 0,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    on_sweep: Callable[[int, float, float], None] | None = None,
    threads: int = 1,
) -> GibbsResult:
    """Sample the posterior of DotBias for `sweeps` sweeps; return its mean as a rank-`n_factors` model.

    `y_range` is the sigmoid's (low', high'). `valid` (users, items, ratings) is scored after each sweep
    by the posterior mean so far (the draw itself during burn-in); `on_sweep(sweep, train_mse,
    valid_rmse)` is called after each sweep (valid_rmse is NaN without `valid`). `threads` > 1 splits
    the per-rating and per-row work over that many cores (worth it from about a million ratings)."""
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None  # the rows' statistics, in blocks
    try:
        with torch_threads(1):  # many small batched solves: threads would only synchronise
            return _sample(
                users,
                items,
                ratings,
                n_users,
                n_items,
                n_factors,
                sweeps,
                y_range,
                seed,
                valid,
                on_sweep,
                pool,
                threads,
            )
    finally:
        numba.set_num_threads(before)
        if pool is not None:
            pool.shutdown()


def _sample(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    n_factors: int,
    sweeps: int,
    y_range: tuple[float, float],
    seed: int,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    on_sweep: Callable[[int, float, float], None] | None,
    pool: ThreadPoolExecutor | None,
    threads: int,
) -> GibbsResult:
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    idx = (np.asarray(users, np.int64), np.asarray(items, np.int64))
    r = np.asarray(ratings, np.float32)
    low, span = float(y_range[0]), float(y_range[1] - y_range[0])
    unit = ((r - low) / span).astype(np.float32)  # σ(z) fits these: the sampler is blind to rating units
    share = float(unit.mean(dtype=np.float64))
    offset = math.log(share / (1 - share))  # σ(offset) gives the mean rating
    d = n_factors + 1  # column 0 holds the bias
    sides = (
        _Side(idx[0], idx[1], unit, n_users, n_items, blocks=threads),
        _Side(idx[1], idx[0], unit, n_items, n_users, blocks=threads),
    )
    x = [torch.randn(n, d, generator=gen) * 0.1 for n in (n_users, n_items)]
    for rows in x:
        rows[:, 0] = 0.0
    burn_in = min(BURN_IN, sweeps // 2)
    mean = _RunningMean(n_users, n_items, n_factors)

    def newton(s: int) -> float:
        """Fill side s's Gauss-Newton weights and targets at the current draws; return Σ (r - r̂)²."""
        side = sides[s]
        own, other = x[s].numpy(), x[1 - s].numpy()
        kernel = _newton_terms if pool is None else _newton_terms_parallel
        return kernel(
            side.rows, side.cols, side.ratings, own, other, np.float32(offset), side.weight, side.target
        )

    def valid_raw(user_rows: torch.Tensor, item_rows: torch.Tensor) -> np.ndarray:
        a, b = user_rows.numpy()[valid[0]], item_rows.numpy()[valid[1]]  # (n_valid, d) each
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
            gram, rhs = side.statistics(x[1 - s], pool)
            centre, precision = draw_normal_wishart(x[s].numpy(), rng)
            chol, b = conditional(gram, rhs, alpha, centre, precision)
            half = torch.linalg.solve_triangular(chol, b.unsqueeze(-1), upper=False)  # (n, d, 1)
            noise = torch.randn(half.shape, generator=gen)
            both = torch.linalg.solve_triangular(chol.mT, torch.cat([half, half + noise], -1), upper=True)
            means.append(both[..., 0])  # (n, d): conditional mean
            x[s] = both[..., 1].contiguous()  # (n, d): the draw
        pairs = ((means[0], items_before), (x[0], means[1]))  # Rao-Blackwellised: a mean times a draw
        if sweep >= burn_in:
            for pair in pairs:
                mean.add(*pair)
        err = newton(0)  # this sweep's error, and the next sweep's user-side terms
        if not math.isfinite(err):
            raise DivergenceError(
                f"sampling broke down in sweep {sweep + 1} (training error {err:g}); the ratings may hold "
                "extreme values: check them, or fit with solver='adam'"
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
    return GibbsResult(p, q, user_bias, item_bias, offset, mse, valid_rmse, seconds)


class _RunningMean:
    """The mean of P_s Q_sᵀ over samples, kept as a low-rank product, and the mean biases.

    Samples are appended as columns; whenever more than 2 × `keep` columns pile up they are compressed
    to the best rank-`keep` product (QR of both sides, SVD of the small core), so memory stays
    O((users + items)·k) and nothing users × items is ever formed. `keep` = 2k + 8 holds far more than the
    rank-k part that `result` returns, so the compressions lose almost nothing of it.
    """

    def __init__(self, n_users: int, n_items: int, rank: int) -> None:
        self.rank, self.keep = rank, 2 * rank + 8
        self.left = torch.zeros(n_users, 0)
        self.right = torch.zeros(n_items, 0)
        self.user_bias = torch.zeros(n_users, dtype=torch.float64)
        self.item_bias = torch.zeros(n_items, dtype=torch.float64)
        self.count = 0

    def add(self, users: torch.Tensor, items: torch.Tensor) -> None:
        """One sample: rows [b_u, p_u] and [b_i, q_i]."""
        self.left = torch.cat([self.left, users[:, 1:]], 1)
        self.right = torch.cat([self.right, items[:, 1:]], 1)
        if self.left.shape[1] > 2 * self.keep:
            self.left, self.right = _truncate(self.left, self.right, self.keep)
        self.user_bias += users[:, 0].double()
        self.item_bias += items[:, 0].double()
        self.count += 1

    def result(self) -> tuple[np.ndarray, ...]:
        """(user factors, item factors, user biases, item biases) of the mean, as float32 arrays."""
        p, q = _truncate(self.left / self.count, self.right, self.rank)
        if p.shape[1] < self.rank:  # fewer rows than factors: the missing directions are zero
            p = torch.nn.functional.pad(p, (0, self.rank - p.shape[1]))
            q = torch.nn.functional.pad(q, (0, self.rank - q.shape[1]))
        n = self.count
        return tuple(t.float().contiguous().numpy() for t in (p, q, self.user_bias / n, self.item_bias / n))


def _truncate(left: torch.Tensor, right: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-`rank` factors of left @ rightᵀ, split as U√S, V√S (exact: no users × items matrix)."""
    q_left, r_left = torch.linalg.qr(left)
    q_right, r_right = torch.linalg.qr(right)
    u, sv, vt = torch.linalg.svd(r_left @ r_right.T)
    k = min(rank, len(sv))
    root = sv[:k].sqrt()
    return (q_left @ u[:, :k]) * root, (q_right @ vt[:k].T) * root
