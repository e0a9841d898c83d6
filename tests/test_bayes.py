"""The Gibbs sampler behind DotBias's default solver, step by step against dense NumPy references."""

from __future__ import annotations

import numpy as np
import torch

import embedrec
from embedrec.models.bayes import BayesianDotBias
from embedrec.models.gibbs import (
    GibbsResult,
    _newton_terms,
    _newton_terms_parallel,
    _RunningMean,
    _Side,
    draw_normal_wishart,
    gibbs_factors,
    prior_with_floor,
    row_conditionals,
)

OFFSET = 0.3


def _ratings(n_users: int = 12, n_items: int = 9, seed: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.6)
    stars = rng.integers(1, 6, len(users))
    unit = (stars - 0.6) / 4.8  # ratings in units of the sigmoid's range (0.6, 5.4), as the sampler sees them
    return users.astype(np.int64), items.astype(np.int64), unit.astype(np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_row_conditional_equals_a_dense_gauss_newton_ridge_solve() -> None:
    users, items, ratings = _ratings()
    rng = np.random.default_rng(0)
    d = 4  # bias + 3 factors
    own = rng.normal(0, 0.5, (12, d)).astype(np.float32)
    other = rng.normal(0, 0.5, (9, d)).astype(np.float32)
    side = _Side(users, items, ratings, 12, 9)
    err = _newton_terms(side.rows, side.cols, side.ratings, own, other, OFFSET, side.weight, side.target)
    alpha, centre = 1.7, rng.normal(0, 0.1, d)
    root = rng.normal(0, 0.3, (d, d))
    precision = root @ root.T + np.eye(d)
    noise = rng.standard_normal((12, d)).astype(np.float32)
    mean, draw = row_conditionals(side, other, alpha, centre, precision, noise)

    z_other = other.astype(np.float64)
    z_other[:, 0] = 1.0  # the other side's bias is an offset; its slot multiplies this row's bias
    raw = OFFSET + other[items, 0] + np.sum(own[users].astype(np.float64) * z_other[items], 1)
    fit = _sigmoid(raw)
    assert np.isclose(err, np.sum((ratings - fit) ** 2), rtol=1e-4)
    slope = _sigmoid(raw) * (1 - _sigmoid(raw))
    work = np.sum(own[users] * z_other[items], 1) + (ratings - fit) / slope  # linearised target
    for u in range(12):
        rows = users == u
        z, w = z_other[items[rows]], slope[rows] ** 2
        a = alpha * (z.T * w) @ z + precision
        expected = np.linalg.solve(a, alpha * (z.T * w) @ work[rows] + precision @ centre)
        np.testing.assert_allclose(mean[u], expected, rtol=1e-3, atol=1e-4)
        # the draw is mean + L⁻ᵀε with A = LLᵀ, so (draw - mean)ᵀ A (draw - mean) = εᵀε
        step = (draw[u] - mean[u]).astype(np.float64)
        assert np.isclose(step @ a @ step, noise[u].astype(np.float64) @ noise[u], rtol=1e-3)


def test_repeated_gauss_newton_steps_reach_the_rows_posterior_mode() -> None:
    # The Laplace approximation is centred one Gauss-Newton step from the draw; iterated, the step must
    # stop where the gradient of the row's log posterior (by autograd, from the formula) vanishes.
    users, items, ratings = _ratings(seed=7)
    rng = np.random.default_rng(1)
    own = np.zeros((12, 4), np.float32)
    other = rng.normal(0, 0.6, (9, 4)).astype(np.float32)
    side = _Side(users, items, ratings, 12, 9)
    alpha, centre, precision = 2.0, np.zeros(4), np.eye(4) * 3.0
    for _ in range(25):
        _newton_terms(side.rows, side.cols, side.ratings, own, other, OFFSET, side.weight, side.target)
        own, _ = row_conditionals(side, other, alpha, centre, precision, np.zeros((12, 4), np.float32))
    x = torch.tensor(own, dtype=torch.float64, requires_grad=True)
    q = torch.tensor(other, dtype=torch.float64)
    u, i = torch.from_numpy(users), torch.from_numpy(items)
    raw = OFFSET + x[u, 0] + q[i, 0] + (x[u, 1:] * q[i, 1:]).sum(1)
    fit = torch.sigmoid(raw)
    log_post = -alpha / 2 * ((torch.from_numpy(ratings) - fit) ** 2).sum() - 1.5 * (x**2).sum()
    log_post.backward()
    assert float(x.grad.abs().max()) < 1e-3


def test_normal_wishart_draws_average_to_the_posterior_mean() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal([0.5, -1.0, 0.0], [1.0, 0.5, 2.0], (400, 3))
    draws = [draw_normal_wishart(x, rng) for _ in range(3000)]
    n, d, mean = len(x), 3, x.mean(0)
    centred = x - mean
    scale = np.linalg.inv(np.eye(d) + centred.T @ centred + (2 * n / (2 + n)) * np.outer(mean, mean))
    np.testing.assert_allclose(np.mean([p for _, p in draws], 0), (d + n) * scale, rtol=0.03, atol=0.01)
    np.testing.assert_allclose(np.mean([c for c, _ in draws], 0), n * mean / (2 + n), atol=0.01)


def test_running_mean_matches_the_dense_truncated_svd_of_the_average() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items, k = 80, 60, 4
    # Draws scattered around one model, as a chain's are: their average of products is not rank k, and
    # the running mean must keep its best rank-k part.
    p0, q0 = rng.normal(0, 1, (n_users, k + 1)), rng.normal(0, 1, (n_items, k + 1))
    samples = [(p0 + rng.normal(0, 0.4, p0.shape), q0 + rng.normal(0, 0.4, q0.shape)) for _ in range(20)]
    running = _RunningMean(n_users, n_items, k)
    for p, q in samples:
        running.add(p, q)
    user_rows, item_rows, user_bias, item_bias = running.result()
    mean = np.mean([p[:, 1:] @ q[:, 1:].T for p, q in samples], 0)
    u, s, vt = np.linalg.svd(mean)
    best = (u[:, :k] * s[:k]) @ vt[:k]
    got = user_rows.astype(np.float64) @ item_rows.T
    assert np.linalg.norm(got - best) <= 1e-3 * np.linalg.norm(best)
    np.testing.assert_allclose(user_bias, np.mean([p[:, 0] for p, _ in samples], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(item_bias, np.mean([q[:, 0] for _, q in samples], 0), rtol=1e-5, atol=1e-6)


def test_prior_floor_keeps_every_factor_variance_above_it() -> None:
    # rows squeezed near zero (what sparse data do to the draws) would give a prior that squeezes them
    # further; the floor keeps each factor's prior variance at least `floor`, and leaves the bias alone
    rng = np.random.default_rng(5)
    x = np.hstack([rng.normal(0, 1, (500, 1)), rng.normal(0, 0.001, (500, 4))])
    _, precision, cov = prior_with_floor(x, rng, 0.01)
    assert np.all(np.diag(cov)[1:] >= 0.01) and 0.7 < cov[0, 0] < 1.3  # the bias: its data's variance
    np.testing.assert_allclose(np.linalg.inv(precision), cov, rtol=1e-6, atol=1e-9)
    _, _, bare = prior_with_floor(x, rng, 0.0)
    assert np.all(np.diag(bare)[1:] < 0.005)


def test_threaded_sweep_passes_equal_the_one_thread_ones() -> None:
    """The per-rating pass over numba's threads, and the per-row pass in blocks of rows over them,
    compute what the one-thread passes do (sums in another order only)."""
    users, items, ratings = _ratings(n_users=40, n_items=30, seed=3)
    rng = np.random.default_rng(5)
    own = rng.normal(0, 0.5, (40, 5)).astype(np.float32)
    other = rng.normal(0, 0.5, (30, 5)).astype(np.float32)
    one, three = _Side(users, items, ratings, 40, 30), _Side(users, items, ratings, 40, 30, threads=3)
    assert one.blocks is None and three.blocks[0] == 0 and three.blocks[-1] == 40 and len(three.blocks) > 3
    args = (own, other, np.float32(OFFSET))
    err = _newton_terms(one.rows, one.cols, one.ratings, *args, one.weight, one.target)
    err3 = _newton_terms_parallel(three.rows, three.cols, three.ratings, *args, three.weight, three.target)
    assert np.isclose(err, err3, rtol=1e-5)
    np.testing.assert_allclose(three.weight, one.weight, rtol=1e-6)
    noise = rng.standard_normal((40, 5)).astype(np.float32)
    centre, precision = np.zeros(5), np.eye(5) * 2.0
    for a, b in zip(
        row_conditionals(three, other, 1.5, centre, precision, noise),
        row_conditionals(one, other, 1.5, centre, precision, noise),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_two_threads_sample_the_same_chain() -> None:
    users, items, ratings = _ratings(n_users=60, n_items=40, seed=9)
    data = embedrec.Interactions.from_arrays(users, items, np.round(ratings * 4.8 + 0.6))
    one = embedrec.BayesianDotBias(n_factors=3, sweeps=12, threads=1, verbose=False).fit(data)
    two = embedrec.BayesianDotBias(n_factors=3, sweeps=12, threads=2, verbose=False).fit(data)
    np.testing.assert_allclose(
        two.predict(users, items, raw=False), one.predict(users, items, raw=False), atol=1e-3
    )
    assert len(two.history_.epoch_seconds) == 12


def test_new_user_prior_is_rescaled_from_the_draws_to_the_posterior_mean() -> None:
    # a prior learned for draws whose |q|² averages 1.0, used against averaged items with |q|² = 0.25:
    # the same spread of p·q needs 4 times the factors' variance; the bias is not rescaled
    q = np.full((6, 2), np.sqrt(0.125), np.float32)  # |q|² = 0.25 for every item
    cov = np.diag([0.3, 0.1, 0.2])  # (bias, factor, factor)
    result = GibbsResult(
        np.zeros((3, 2)), q, np.zeros(3), np.zeros(6), 0.0, user_prior_cov=cov, item_draw_sq=1.0
    )
    var = BayesianDotBias(n_factors=2)._new_user_prior(result)
    np.testing.assert_allclose(var, [4 * (0.1 + 0.2) / 2, 0.3], rtol=1e-6)
    unknown = GibbsResult(np.zeros((3, 2)), q, np.zeros(3), np.zeros(6), 0.0, user_prior_cov=cov)
    np.testing.assert_allclose(BayesianDotBias(n_factors=2)._new_user_prior(unknown), [0.15, 0.3], rtol=1e-6)


def test_sampler_reports_the_draws_item_norm_above_the_averaged_one() -> None:
    # averaging over the chain cancels what it is unsure of, so the averaged item vectors are shorter
    # than the draws: on 64 ratings of 12 × 9 the draws' |q|² is 4.5 to 6.8 times the mean's (seeds 0-3)
    users, items, unit = _ratings()
    stars = 0.6 + 4.8 * unit
    result = gibbs_factors(users, items, stars, 12, 9, n_factors=3, sweeps=30, y_range=(0.6, 5.4), floor=0.02)
    mean_sq = float(np.mean(np.sum(result.item_factors.astype(np.float64) ** 2, 1)))
    assert result.item_draw_sq > 2 * mean_sq > 0
