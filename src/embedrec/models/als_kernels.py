"""The least-squares half-steps of implicit-feedback ALS: a compiled conjugate-gradient solver, and the
slow dense solver it is tested against.

One half-step solves, for every row u of a sparse confidence matrix C (rows × cols, entries c_uj ≥ 1 for
the liked columns; every other column has confidence 1 and preference 0):

    x_u = argmin Σ_j c_uj (p_uj - x·y_j)² + λ |x|²  =  (YᵀY + λI + Σ_j (c_uj - 1) y_j y_jᵀ)⁻¹ Σ_j c_uj y_j

(Hu, Koren & Volinsky 2008). The fast solver never forms the k × k matrix per row: it runs a few
conjugate-gradient steps from the previous x_u, each touching only the row's liked columns (Takács,
Pilászy & Tikk 2011), in parallel over rows.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from embedrec.scoring import one_blas_thread

_FAST = {"contract", "afn", "reassoc"}  # no "nnan"/"ninf": a NaN must stay visible to the finiteness check


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def cg_half_step(indptr, indices, confidence, x, y, gram, cg_steps, scratch):  # pragma: no cover
    """Update every row of `x` in place by `cg_steps` conjugate-gradient steps on its normal equations.

    `gram` is YᵀY + λI (k × k, float32); rows without liked columns get x = 0, the exact solution.
    `scratch` is (numba threads, 3, k) float32: each thread's residual and directions, allocated once.
    """
    n_rows, k = x.shape
    for u in numba.prange(n_rows):
        start, end = indptr[u], indptr[u + 1]
        xu = x[u]
        if start == end:
            xu[:] = 0.0
            continue
        mine = scratch[numba.get_thread_id()]
        r, p, ap = mine[0], mine[1], mine[2]
        # r = b - A x, with b = Σ c y and A x = gram x + Σ (c - 1) (y·x) y
        for a in range(k):
            acc = np.float32(0.0)
            for b in range(k):
                acc += gram[a, b] * xu[b]
            r[a] = -acc
        for n in range(start, end):
            j = indices[n]
            c = confidence[n]
            yj = y[j]
            dot = np.float32(0.0)
            for a in range(k):
                dot += yj[a] * xu[a]
            w = c - (c - np.float32(1.0)) * dot
            for a in range(k):
                r[a] += w * yj[a]
        rs_old = np.float32(0.0)
        for a in range(k):
            p[a] = r[a]
            rs_old += r[a] * r[a]
        if rs_old < 1e-20:
            continue
        for _ in range(cg_steps):
            for a in range(k):
                acc = np.float32(0.0)
                for b in range(k):
                    acc += gram[a, b] * p[b]
                ap[a] = acc
            for n in range(start, end):
                j = indices[n]
                yj = y[j]
                dot = np.float32(0.0)
                for a in range(k):
                    dot += yj[a] * p[a]
                w = (confidence[n] - np.float32(1.0)) * dot
                for a in range(k):
                    ap[a] += w * yj[a]
            pap = np.float32(0.0)
            for a in range(k):
                pap += p[a] * ap[a]
            if pap <= 0.0:
                break
            step = rs_old / pap
            rs_new = np.float32(0.0)
            for a in range(k):
                xu[a] += step * p[a]
                r[a] -= step * ap[a]
                rs_new += r[a] * r[a]
            if rs_new < 1e-20:
                break
            beta = rs_new / rs_old
            for a in range(k):
                p[a] = r[a] + beta * p[a]
            rs_old = rs_new


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def squared_loss(indptr, indices, confidence, x, y, gram_plain):  # pragma: no cover - compiled
    """Σ_u Σ_j c_uj (p_uj - x_u·y_j)² over every (u, j), without forming x yᵀ: the liked entries
    explicitly, the rest as Σ_u x_uᵀ YᵀY x_u minus the liked entries' share of it."""
    n_rows, k = x.shape
    total = 0.0
    for u in numba.prange(n_rows):
        xu = x[u]
        all_items = 0.0
        for a in range(k):
            acc = 0.0
            for b in range(k):
                acc += gram_plain[a, b] * xu[b]
            all_items += acc * xu[a]
        liked = 0.0
        for n in range(indptr[u], indptr[u + 1]):
            yj = y[indices[n]]
            s = 0.0
            for a in range(k):
                s += yj[a] * xu[a]
            liked += confidence[n] * (1.0 - s) ** 2 - s * s
        total += all_items + liked
    return total


def normal_equations(
    confidence: sp.csr_matrix, row: int, y: np.ndarray, regularization: float
) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) of one row's least squares in float64: A = YᵀY + λI + Σ (c - 1) y yᵀ, b = Σ c y."""
    y64 = y.astype(np.float64)
    start, end = confidence.indptr[row], confidence.indptr[row + 1]
    cols, c = confidence.indices[start:end], confidence.data[start:end].astype(np.float64)
    yl = y64[cols]  # (m, k)
    a = y64.T @ y64 + regularization * np.eye(y.shape[1]) + (yl.T * (c - 1.0)) @ yl
    return a, c @ yl


def thread_scratch(k: int) -> np.ndarray:
    """The conjugate-gradient solver's per-thread working memory for `k` factors."""
    return np.empty((numba.get_num_threads(), 3, k), dtype=np.float32)


def dense_half_step(confidence: sp.csr_matrix, y: np.ndarray, regularization: float) -> np.ndarray:
    """The exact solution of every row's normal equations, one dense solve per row: slow and obvious,
    the reference the conjugate-gradient solver is tested against."""
    out = np.zeros((confidence.shape[0], y.shape[1]), dtype=np.float64)
    with one_blas_thread():
        for u in range(confidence.shape[0]):
            if confidence.indptr[u] == confidence.indptr[u + 1]:
                continue
            a, b = normal_equations(confidence, u, y, regularization)
            out[u] = np.linalg.solve(a, b)
    return out
