"""Synthetic MovieLens-shaped ratings of any size, in memory, for the scale and throughput benchmarks.

At 25M ratings the shape is ML-25M's (162,541 users, 59,047 items, as in bench_loading.py); smaller
tables keep the per-user activity (users grow with the ratings) and a catalogue that grows with their
square root. Ratings come from a rank-8 model plus noise, rounded to half stars, so there is something
to learn; every (user, item) pair is distinct.
"""

from __future__ import annotations

import numpy as np

import embedrec

FULL = 25_000_000
FULL_USERS, FULL_ITEMS = 162_541, 59_047


def shape(n_ratings: int) -> tuple[int, int]:
    """(users, items) of a synthetic table of n ratings."""
    scale = n_ratings / FULL
    return max(100, round(FULL_USERS * scale)), max(100, round(FULL_ITEMS * scale**0.5))


def synthetic_arrays(n_ratings: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user indices, item indices, ratings) with Pareto user activity and Zipf-like item popularity."""
    rng = np.random.default_rng(seed)
    n_users, n_items = shape(n_ratings)
    activity = np.minimum(20 + rng.pareto(1.2, n_users) * 40, n_items / 2)
    share = activity / activity.sum()
    weights = (np.arange(n_items, dtype=np.float64) + 100) ** -1.2
    cumulative = np.cumsum(weights / weights.sum())
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n_ratings:  # top up until there are enough distinct pairs
        n = int((n_ratings - len(keys)) * 1.4) + 1000  # repeats are a few %: mostly one round
        users = rng.choice(n_users, size=n, p=share)
        items = np.minimum(np.searchsorted(cumulative, rng.random(n)), n_items - 1)
        keys = np.union1d(keys, users.astype(np.int64) * n_items + items)
    keys = rng.permutation(keys)[:n_ratings]
    users, items = (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)
    p = rng.normal(0, 0.5, (n_users, 8)).astype(np.float32)
    q = rng.normal(0, 0.5, (n_items, 8)).astype(np.float32)
    raw = rng.normal(3.6, 0.8, n_ratings).astype(np.float32)
    for s in range(0, n_ratings, 1 << 22):  # in chunks: the gathered rows of all ratings would take GBs
        rows = slice(s, s + (1 << 22))
        raw[rows] += np.einsum("nk,nk->n", p[users[rows]], q[items[rows]])
    return users, items, np.clip(np.round(raw * 2) / 2, 0.5, 5.0)


def synthetic(n_ratings: int, seed: int = 0) -> embedrec.Interactions:
    """The synthetic table as Interactions (raw ids are the indices)."""
    return embedrec.Interactions.from_arrays(*synthetic_arrays(n_ratings, seed))
