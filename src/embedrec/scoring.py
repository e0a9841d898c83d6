"""Array kernels behind the queries: products that stay fast on a busy machine, partial sorts, masks,
and the similarity functions picked by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

_EPS = np.float32(1e-12)
_SMALL = 1 << 22  # products with fewer outputs run on one BLAS thread
_blas = None


def one_blas_thread() -> Any:
    """A context that runs BLAS on one thread: idle worker threads of torch and OpenBLAS spinning against
    each other on a busy 2-core machine made a 60k-item matrix-vector product 30× slower (16 ms vs 0.5 ms)."""
    global _blas
    if _blas is None:  # built on first use: it scans the loaded libraries
        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _OneBlasThread(_blas)


class _OneBlasThread:
    """What `ThreadpoolController.limit(limits=1, user_api="blas")` does, without re-reading every
    library's description on each entry (16 µs, several times per web request)."""

    def __init__(self, libs: list[Any]) -> None:
        self.libs = libs
        self.saved: list[tuple[Any, Any]] = []

    def __enter__(self) -> _OneBlasThread:
        self.saved = [(lib, lib.get_num_threads()) for lib in self.libs]
        for lib, n in self.saved:
            if n != 1:
                lib.set_num_threads(1)
        return self

    def __exit__(self, *exc: object) -> None:
        for lib, n in self.saved:
            if n is not None and n != 1:
                lib.set_num_threads(n)


def dot_rows(a: np.ndarray, b: np.ndarray, add: np.ndarray | None = None) -> np.ndarray:
    """a @ b.T (+ `add` on every row) in float32: small products on one BLAS thread, large ones through
    torch on all cores, with the addition fused into the matrix product."""
    a32 = np.asarray(a, dtype=np.float32)
    b32 = np.asarray(b, dtype=np.float32)
    if a32.shape[0] * b32.shape[0] < _SMALL:
        with one_blas_thread():
            out = a32 @ b32.T
        if add is not None:
            out += add
        return out
    import torch

    ta = torch.from_numpy(np.ascontiguousarray(a32))
    tb = torch.from_numpy(np.ascontiguousarray(b32))
    if add is None:
        return (ta @ tb.T).numpy()
    return torch.addmm(torch.from_numpy(np.ascontiguousarray(add, dtype=np.float32)), ta, tb.T).numpy()


# -- similarity functions: (queries (b, k), matrix (n, k), query norms (b,), matrix norms (n,)) -> (b, n)
def cached_gram(owner: Any, vectors: np.ndarray) -> np.ndarray:
    """vectorsᵀ·vectors in float64, kept on `owner` until its vectors are replaced: every fold-in of a
    new user starts from it, and it costs a pass over all the vectors."""
    hit = owner.__dict__.get("_gram_cache")
    if hit is None or hit[0] is not vectors:
        v = vectors.astype(np.float64)
        hit = (vectors, v.T @ v)
        owner._gram_cache = hit
    return hit[1]


def cosine(q: np.ndarray, m: np.ndarray, qn: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """Cosine similarity; a zero vector is similar to nothing (0), never NaN."""
    return dot_rows(q, m) / np.maximum(qn[:, None] * mn[None, :], _EPS)


def dot(q: np.ndarray, m: np.ndarray, qn: np.ndarray, mn: np.ndarray) -> np.ndarray:
    return dot_rows(q, m)


def neg_euclidean(q: np.ndarray, m: np.ndarray, qn: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """Minus the Euclidean distance, so that larger is more similar like the other metrics."""
    sq = qn[:, None] ** 2 + mn[None, :] ** 2 - 2 * dot_rows(q, m)
    return -np.sqrt(np.maximum(sq, 0))


SIMILARITIES: dict[str, Callable[..., np.ndarray]] = {
    "cosine": cosine,
    "dot": dot,
    "euclidean": neg_euclidean,
}


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise best `n` (column indices, scores), best first, by partial selection — never a full sort."""
    n = min(n, scores.shape[1])
    if scores.size >= 1 << 20:  # big blocks: torch.topk selects on all cores, ~10x numpy's argpartition
        import torch

        values, idx = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), n, dim=1)
        return idx.numpy(), values.numpy()
    width = scores.shape[1]
    part = np.argpartition(scores, width - n, axis=1)[:, width - n :]  # (b, n) the largest, unordered
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def mask_rows(scores: np.ndarray, csr: Any, rows: np.ndarray, columns: np.ndarray | None = None) -> None:
    """Set scores[r, c] = -inf for the items each user of `rows` has in `csr` (in place)."""
    starts, ends = csr.indptr[rows], csr.indptr[np.asarray(rows) + 1]
    lengths = ends - starts
    r = np.repeat(np.arange(len(rows)), lengths)
    # positions of each row's entries in csr.indices, without slicing the sparse matrix
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    c = csr.indices[np.repeat(starts, lengths) + offsets]
    if columns is not None:  # scores cover a candidate subset: map item index -> column
        c = columns[c]
        keep = c >= 0
        r, c = r[keep], c[keep]
    scores[r, c] = -np.inf
