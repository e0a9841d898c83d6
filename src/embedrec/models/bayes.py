"""Bayesian matrix factorisation with biases by Gibbs sampling (BPMF), DotBias's `solver="gibbs"`.

r = μ + b_u + b_i + p_u·q_i + noise, with Gaussian priors on [b_u, p_u] and [b_i, q_i] whose means and
precisions (per dimension) and the noise precision are sampled too, so nothing needs tuning. Each sweep
draws every user row given the items (a batched ridge solve plus noise), then every item row given the
users. The prediction is the posterior mean of p_u·q_i averaged over the sweeps (Rao-Blackwellised: each
half-sweep's conditional mean times the other side's draw), compressed back to a rank-k factor model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

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


class _Side:
    """The rows of one side (users or items), the ratings grouped by them, and their sufficient statistics."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> None:
        order = np.arange(1, len(rows) + 1, dtype=np.float64)
        m = sp.csr_matrix((order, (rows, cols)), shape=(n_rows, n_cols))  # (n_rows, n_cols)
        self.perm = m.data.astype(np.int64) - 1  # rating index of each stored entry
        self.ones = m.astype(np.float32)
        self.ones.data[:] = 1.0
        self.cols = cols

    def statistics(self, other: torch.Tensor, target: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Σ z zᵀ and Σ z·t per row, where z = [1, other row's factors] and t the target of each rating."""
        d = other.shape[1]
        z = other.clone()
        z[:, 0] = 1.0  # the other side's bias column is a known offset, so its slot is the constant 1
        zn = z.numpy()
        ti, tj = np.triu_indices(d)
        gram = self.ones @ (zn[:, ti] * zn[:, tj])  # (n_rows, d(d+1)/2): symmetric, upper half only
        full = np.zeros((d, d), np.int64)
        full[ti, tj] = full[tj, ti] = np.arange(len(ti))
        gram_t = torch.index_select(torch.from_numpy(gram), 1, torch.from_numpy(full.ravel()))
        weighted = self.ones.copy()
        weighted.data = target[self.perm]
        return gram_t.view(-1, d, d), torch.from_numpy(weighted @ zn)  # (n, d, d), (n, d)


def conditional(
    gram: torch.Tensor, rhs: torch.Tensor, alpha: float, prior_mean: np.ndarray, prior_prec: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's Gaussian given the other side: Cholesky L of the precision A = α·gram + diag(λ), and
    b = α·rhs + λμ, so that the mean is A⁻¹b."""
    a = gram * alpha
    a.diagonal(dim1=1, dim2=2).add_(torch.from_numpy(prior_prec).float())
    b = alpha * rhs + torch.from_numpy(prior_prec * prior_mean).float()  # (n, d)
    chol, _ = torch.linalg.cholesky_ex(a)
    return chol, b


def _draw_hyper(x: torch.Tensor, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and precision per dimension from their Normal-Gamma posterior (β₀ = 2, a₀ = b₀ = 1)."""
    xs = x.double().numpy()
    n, mean = len(xs), xs.mean(0)
    spread = ((xs - mean) ** 2).sum(0)
    prec = rng.gamma(1 + n / 2, 1 / (1 + 0.5 * spread + n * mean**2 / (2 + n)))
    centre = rng.normal(n * mean / (2 + n), 1 / np.sqrt((2 + n) * prec))
    return centre, prec


def gibbs_factors(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    *,
    n_factors: int,
    sweeps: int,
    seed: int = 0,
    on_sweep: Callable[[int, float], None] | None = None,
) -> GibbsResult:
    """Sample the posterior of biased MF for `sweeps` sweeps; return its mean as a rank-`n_factors` model.

    `on_sweep(sweep, train_mse)` is called after each sweep (progress reporting)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    u, i = np.asarray(users, np.int64), np.asarray(items, np.int64)
    r = np.asarray(ratings, np.float32)
    mu = float(r.mean(dtype=np.float64))
    d = n_factors + 1  # column 0 holds the bias
    sides = (_Side(u, i, n_users, n_items), _Side(i, u, n_items, n_users))
    x = [torch.randn(n, d, generator=gen) * 0.1 for n in (n_users, n_items)]
    for rows in x:
        rows[:, 0] = 0.0
    alpha, burn_in = 1.0, min(BURN_IN, sweeps // 2)
    kept_u: list[torch.Tensor] = []
    kept_i: list[torch.Tensor] = []
    bias_sum = [torch.zeros(n_users, dtype=torch.float64), torch.zeros(n_items, dtype=torch.float64)]
    mse: list[float] = []
    for sweep in range(sweeps):
        items_before, means = x[1], []
        for s, side in enumerate(sides):
            centre, prec = _draw_hyper(x[s], rng)
            target = r - mu - x[1 - s][:, 0].numpy()[side.cols]  # (n_ratings,)
            gram, rhs = side.statistics(x[1 - s], target)
            chol, b = conditional(gram, rhs, alpha, centre, prec)
            half = torch.linalg.solve_triangular(chol, b.unsqueeze(-1), upper=False)  # (n, d, 1)
            noise = torch.randn(half.shape, generator=gen)
            both = torch.linalg.solve_triangular(chol.mT, torch.cat([half, half + noise], -1), upper=True)
            means.append(both[..., 0])  # (n, d): conditional mean
            x[s] = both[..., 1].contiguous()  # (n, d): the draw
        # Squared error of the new draw from the item side's statistics: Σt² - 2 xᵀrhs + xᵀ gram x.
        err = float(np.dot(target, target)) - 2 * float((x[1] * rhs).sum())
        err += float(torch.einsum("nd,nde,ne->", x[1], gram, x[1]))
        mse.append(max(err, 0.0) / len(r))
        if on_sweep is not None:
            on_sweep(sweep, mse[-1])
        alpha = float(rng.gamma(1 + len(r) / 2, 1 / (1 + 0.5 * max(err, 0.0))))
        if sweep >= burn_in:
            kept_u += [means[0][:, 1:], x[0][:, 1:]]
            kept_i += [items_before[:, 1:], means[1][:, 1:]]
            bias_sum[0] += means[0][:, 0].double() + x[0][:, 0].double()
            bias_sum[1] += items_before[:, 0].double() + means[1][:, 0].double()
    n_kept = len(kept_u)
    p, q = _compress(torch.cat(kept_u, 1) / n_kept, torch.cat(kept_i, 1), n_factors, gen)
    return GibbsResult(
        p.numpy(),
        q.numpy(),
        (bias_sum[0] / n_kept).float().numpy(),
        (bias_sum[1] / n_kept).float().numpy(),
        mu,
        mse,
    )


def _compress(
    left: torch.Tensor, right: torch.Tensor, rank: int, gen: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """Rank-`rank` factors of left @ rightᵀ by a randomised SVD (two power iterations), split as U√S, V√S."""
    m = left @ right.T  # (n_users, n_items)
    basis, _ = torch.linalg.qr(m @ torch.randn(m.shape[1], min(rank + 10, min(m.shape)), generator=gen))
    for _ in range(2):
        basis, _ = torch.linalg.qr(m @ (m.T @ basis))
    uu, sv, vt = torch.linalg.svd(basis.T @ m, full_matrices=False)
    root = sv[:rank].sqrt()
    p, q = (basis @ uu[:, :rank]) * root, vt[:rank].T * root
    if p.shape[1] < rank:  # fewer rows than factors: the missing directions are zero
        p = torch.nn.functional.pad(p, (0, rank - p.shape[1]))
        q = torch.nn.functional.pad(q, (0, rank - q.shape[1]))
    return p.contiguous(), q.contiguous()
