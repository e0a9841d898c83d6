"""One-hot matrix product ≡ embedding lookup: the identity behind every embedding layer, made measurable.

Multiplying a one-hot row for index i by a weight matrix W picks out row i of W. An embedding layer
computes the same thing by indexing, without ever building the (batch, V) one-hot matrix; the
gradients agree too (only the looked-up rows receive gradient, repeated indices add up).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from embedrec.checks import available_memory, check_memory, check_positive, format_bytes
from embedrec.errors import ParameterError

__all__ = ["OneHotRow", "compare_onehot_lookup", "format_bytes", "lookup", "one_hot"]

_FLOAT_BYTES = 4  # float32
DEFAULT_MEMORY_BUDGET = 1 << 30  # 1 GiB for the measurement: a 2-core, shared-memory machine's worth


def _as_index(idx: object, n: int) -> torch.Tensor:
    """Validate indices (any int array-like) against a vocabulary of n and return an int64 tensor."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ParameterError(f"vocabulary size must be a positive integer, got {n!r}")
    if isinstance(idx, torch.Tensor):
        t = idx
    else:
        a = np.asarray(idx)
        t = torch.as_tensor(a.astype(np.int64) if a.size == 0 else a)  # [] arrives as float64
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ParameterError(f"indices must be integers, got dtype {t.dtype}")
    t = t.to(torch.int64)
    if t.numel() > 0:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise ParameterError(
                f"index {bad} is out of range for a vocabulary of {n} (expected 0 ≤ index < {n})"
            )
    return t


def one_hot(idx: object, n: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Encode integer indices of shape S as a float tensor of shape (*S, n) with a single 1 per row."""
    t = _as_index(idx, n)
    check_memory("n", int(n), lambda v: t.numel() * v * _FLOAT_BYTES, f"a ({t.numel():,}, n) one-hot matrix")
    # Written straight into a float tensor: F.one_hot would build an int64 copy twice the size first.
    out = torch.zeros(*t.shape, int(n), dtype=dtype)  # (*S, n)
    return out.scatter_(-1, t.unsqueeze(-1), 1)


def lookup(weights: torch.Tensor, idx: object, *, sparse: bool = False) -> torch.Tensor:
    """Rows of `weights` (V, d) at integer indices of shape S, shape (*S, d): what an embedding layer does.

    Equals `one_hot(idx, V) @ weights`, forward and backward, without building the one-hot matrix;
    `sparse=True` makes the gradient a sparse tensor holding only the looked-up rows.
    """
    if not isinstance(weights, torch.Tensor) or weights.dim() != 2:
        raise ParameterError(
            f"weights must be a 2-D tensor (vocabulary, dim), got {type(weights).__name__} "
            f"of shape {tuple(getattr(weights, 'shape', ()))}"
        )
    t = _as_index(idx, weights.shape[0])
    return F.embedding(t, weights, sparse=sparse)  # (*S, d)


class OneHotRow(NamedTuple):
    """One line of the one-hot vs lookup comparison; one-hot fields are None where it was not run."""

    vocab_size: int
    onehot_seconds: float | None
    onehot_bytes: int  # the (batch, V) one-hot matrix plus the (batch, d) output; what it *would* take
    lookup_seconds: float
    lookup_bytes: int  # the (batch,) int64 indices plus the (batch, d) output
    weight_bytes: int  # the (V, d) table itself, the same for both
    note: str


def _best_time(fn, repeats: int) -> float:  # noqa: ANN001
    """Smallest wall time of `repeats` calls after one warm-up: the least noisy figure on a shared machine."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def compare_onehot_lookup(
    vocab_sizes: Sequence[int] = (10**3, 10**4, 10**5, 10**6),
    batch: int = 1024,
    dim: int = 32,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    repeats: int = 3,
    seed: int = 0,
) -> list[OneHotRow]:
    """Time and memory of `one_hot(idx, V) @ W` vs `W[idx]` for each vocabulary size V, on CPU.

    Everything is sized against `memory_budget` bytes (or half the memory available, if less) before
    anything is allocated: the one-hot side is skipped (with a note) once its (batch, V) matrix would
    not fit, so large vocabularies report instead of crashing; a weight table (V, dim) or a batch that
    does not fit raises ResourceError naming the largest size that does.
    """
    for name, value in (
        ("batch", batch),
        ("dim", dim),
        ("repeats", repeats),
        ("memory_budget", memory_budget),
    ):
        check_positive(name, value, integer=True)
    sizes = [
        int(v) if isinstance(v, int | np.integer) and not isinstance(v, bool) else 0 for v in vocab_sizes
    ]
    if not sizes or min(sizes) <= 0:
        raise ParameterError(f"vocabulary sizes must be positive integers, got {list(vocab_sizes)}")
    available = available_memory()
    limit = memory_budget if available is None else min(memory_budget, available // 2)
    out_bytes = batch * (8 + dim * _FLOAT_BYTES)  # the indices and the looked-up rows
    which = "budget" if limit == memory_budget else "half the available memory"
    sized = {"budget": limit, "budget_name": "budget" if which == "budget" else f"budget ({which})"}
    check_memory("dim", dim, lambda d: min(sizes) * d * _FLOAT_BYTES + 8 + d * _FLOAT_BYTES,
                 "the smallest weight table", **sized)  # fmt: skip
    check_memory("batch", batch, lambda b: min(sizes) * dim * _FLOAT_BYTES + b * (8 + dim * _FLOAT_BYTES),
                 "the lookup's indices and rows", **sized)  # fmt: skip
    check_memory("vocabulary size", max(sizes), lambda v: v * dim * _FLOAT_BYTES + out_bytes,
                 f"the (V, {dim}) float32 weight table", **sized)  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    rows: list[OneHotRow] = []
    with torch.inference_mode():
        for v in sizes:
            weights = torch.randn(v, dim, generator=gen)  # (V, d)
            idx = torch.randint(0, v, (batch,), generator=gen)  # (batch,)
            out_bytes = batch * dim * _FLOAT_BYTES
            onehot_bytes = batch * v * _FLOAT_BYTES + out_bytes
            lookup_bytes = batch * 8 + out_bytes
            lookup_s = _best_time(lambda w=weights, i=idx: F.embedding(i, w), 10 * repeats)  # cheap; noisy
            if onehot_bytes > limit:
                note = (
                    f"one-hot skipped: its matrix would need {format_bytes(onehot_bytes)}, "
                    f"over the {which} of {format_bytes(limit)}"
                )
                rows.append(
                    OneHotRow(v, None, onehot_bytes, lookup_s, lookup_bytes, v * dim * _FLOAT_BYTES, note)
                )
                continue
            onehot_s = _best_time(
                lambda w=weights, i=idx, n=v: one_hot(i, n) @ w,  # (batch, d)
                repeats,
            )
            rows.append(
                OneHotRow(v, onehot_s, onehot_bytes, lookup_s, lookup_bytes, v * dim * _FLOAT_BYTES, "")
            )
    return rows
