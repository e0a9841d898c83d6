"""`EASE`: the closed-form item-item model of Steck (2019), "Embarrassingly Shallow Autoencoders".

    B = argmin |X - XB|² + λ|B|²  subject to diag(B) = 0   =>   P = (XᵀX + λI)⁻¹,  B_ij = -P_ij / P_jj

X is users × items of like-weights; a user's score of item i is Σ_j x_uj B_ji, so a new user needs no
solve at all and the score splits exactly over the user's liked items. Only items someone liked enter
the inverse (an item nobody liked scores 0 for everyone, as in the full model).

`normalize` = γ > 0 scales the Gram matrix to D^-γ XᵀX D^-γ (D its diagonal: each item's squared
like-weight mass) before the closed form and keeps that input scaling when scoring (B becomes D^-γ B̃),
so co-occurrences with popular items weigh less: the item normalisation of Park et al. (2025), "Why is
normalization necessary for linear recommenders?". γ = 0 is Steck's model.

The inverse is dense and cubic in the catalogue: EASE is a strong reference on MovieLens-sized
catalogues, and asking for more memory than the machine has raises a ResourceError naming the amount.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from embedrec.checks import check_non_negative, check_positive, pick
from embedrec.data.implicit import WEIGHTS
from embedrec.data.interactions import Interactions
from embedrec.errors import ParameterError, ResourceError
from embedrec.models.base import CAPABILITIES, Estimator, FoldedUser, Term
from embedrec.models.latent import ImplicitFeedback, values_by_item
from embedrec.models.saved import SavedState

BYTES_PER_CELL = 6  # the float32 Gram, factored, inverted and made B in place, plus block temporaries
GRAM_BLOCK = 1 << 24  # Gram entries formed per sparse product, so the sparse temporaries stay small


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def gram_matrix(x: sp.csc_matrix) -> np.ndarray:
    """XᵀX (float32, dense) of a sparse users × items matrix, a block of columns at a time."""
    n = x.shape[1]
    out = np.empty((n, n), dtype=np.float32)
    step = max(1, GRAM_BLOCK // max(n, 1))
    xt = x.T.tocsr()
    for lo in range(0, n, step):
        out[:, lo : lo + step] = (xt @ x[:, lo : lo + step]).toarray()
    return out


def item_scale(diagonal: np.ndarray, gamma: float) -> np.ndarray | None:
    """D^-γ of a Gram diagonal as float32 (1 where an item has no weight), None when γ = 0."""
    if gamma == 0:
        return None
    d = diagonal.astype(np.float64)
    return np.where(d > 0, np.maximum(d, 1e-30) ** -gamma, 1.0).astype(np.float32)


def _symmetric(m: np.ndarray, *, upper: bool, block: int = GRAM_BLOCK) -> np.ndarray:
    """Copy the valid triangle of `m` (potri fills one) onto the other, in place, a block at a time."""
    n = len(m)
    step = max(1, block // max(n, 1))
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        square = m[lo:hi, lo:hi]
        if upper:
            m[hi:, lo:hi] = m[lo:hi, hi:].T
            square[...] = np.triu(square) + np.triu(square, 1).T
        else:
            m[lo:hi, hi:] = m[hi:, lo:hi].T
            square[...] = np.tril(square) + np.tril(square, -1).T
    return m


class EASE(ImplicitFeedback, Estimator):
    """Steck's closed-form item-item ranking model; `regularization` is λ. What counts as a like:
    `min_rating` and `weights` as in `data.implicit`. `min_count` leaves items liked by fewer users out
    of the inverse (faster; they then score 0, like items nobody liked). `normalize` is the item
    normalisation exponent γ (0: none; λ then acts on the normalised Gram). `memory_limit` in bytes (None:
    the memory available now) bounds the dense matrices; over it, fit raises ResourceError first."""

    capabilities = frozenset(CAPABILITIES) - {"predict"}
    objective = "ranking"
    _array_names = ("weights_", "modelled_")

    def __init__(
        self,
        regularization: float = 300.0,
        *,
        min_rating: float | None = None,
        weights: str = "binary",
        min_count: int = 1,
        normalize: float = 0.0,
        memory_limit: int | None = None,
    ) -> None:
        self.regularization = regularization
        self.min_rating = min_rating
        self.weights = weights
        self.min_count = min_count
        self.normalize = normalize
        self.memory_limit = memory_limit

    def _validate(self) -> None:
        check_positive("regularization", self.regularization)
        pick(WEIGHTS, self.weights, "weights")
        if self.min_rating is not None:
            check_non_negative("min_rating", self.min_rating)
        check_positive("min_count", self.min_count, integer=True)
        check_non_negative("normalize", self.normalize)
        if self.memory_limit is not None:
            check_positive("memory_limit", self.memory_limit)

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        liked = self._liked(train)
        counts = np.bincount(liked.indices, minlength=train.n_items)
        modelled = np.flatnonzero(counts >= self.min_count)
        n = len(modelled)
        need = BYTES_PER_CELL * n * n
        limit = available_memory() if self.memory_limit is None else int(self.memory_limit)
        if need > limit:
            raise ResourceError(
                f"EASE needs dense {n:,} × {n:,} item-item matrices: about {need / 2**30:,.1f} GiB, over the "
                f"{limit / 2**30:,.1f} GiB {'allowed' if self.memory_limit else 'available'}; use ALS or BPR "
                f"for a catalogue this large, or raise min_count (items liked by fewer users are left out)"
            )
        gram = gram_matrix(liked[:, modelled].tocsc())
        scale = item_scale(np.diag(gram), float(self.normalize))
        if scale is not None:
            gram *= scale[:, None]
            gram *= scale[None, :]
        inverse = self._inverse(gram, float(self.regularization))
        inverse /= -np.diag(inverse)[None, :]  # B_ij = -P_ij / P_jj
        inverse[np.diag_indices(n)] = 0.0
        if scale is not None:
            inverse *= scale[:, None]  # scores x D^-γ B̃: the input normalised as in training
        self.weights_ = inverse  # (n, n) B over the modelled items
        self.modelled_ = modelled.astype(np.int64)

    @staticmethod
    def _inverse(gram: np.ndarray, regularization: float) -> np.ndarray:
        """(XᵀX + λI)⁻¹ in float32 by Cholesky, in place."""
        gram[np.diag_indices(len(gram))] += np.float32(regularization)
        # the transpose of a C-ordered symmetric matrix is itself, Fortran-ordered: LAPACK works in place
        try:
            factor, lower = scipy.linalg.cho_factor(gram.T, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            raise ParameterError(
                f"XᵀX + λI is not positive definite with regularization={regularization}: raise it"
            ) from None
        inverse, info = scipy.linalg.lapack.spotri(factor, lower=lower, overwrite_c=1)
        if info != 0:
            raise ParameterError(f"inverting XᵀX + λI failed (LAPACK info {info}): raise regularization")
        return _symmetric(inverse.T, upper=lower)  # the C-ordered view: its valid triangle is the other one

    # -- persistence -------------------------------------------------------------------------------
    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        """The modelled items (m,) int64 and B over them (m, m) float32."""
        found = saved.arrays.get("modelled_")
        m = int(found.shape[0]) if found is not None and found.ndim == 1 else 0
        return {"modelled_": (np.int64, (m,)), "weights_": (np.float32, (m, m))}

    def _check_saved(self, saved: SavedState) -> None:
        super()._check_saved(saved)
        modelled = saved.indices("modelled_", np.int64, saved.arrays["modelled_"].shape, saved.n_items)
        if (np.diff(modelled) <= 0).any():
            saved.fail("modelled_", "item indices must be sorted and distinct")

    # -- scores ------------------------------------------------------------------------------------
    def _user_rows(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """Like-weight rows restricted to the modelled items' columns."""
        return rows[:, self.modelled_]

    def _expand(self, scores: np.ndarray) -> np.ndarray:
        """Scores over the modelled items -> over every item (0 for the others)."""
        out = np.zeros((scores.shape[0], len(self.item_ids_)), dtype=np.float32)
        out[:, self.modelled_] = scores
        return out

    def _score_items(self, users: np.ndarray) -> np.ndarray:
        x = self._user_rows(self._training_rows(users))
        return self._expand(np.asarray(x @ self.weights_, dtype=np.float32))

    def _fold_in(self, items: np.ndarray, values: np.ndarray | None) -> FoldedUser:
        self._row_weights(items, values)  # no solve to do: only check that something is liked
        return FoldedUser(items, values)

    def _folded_row(self, user: FoldedUser) -> sp.csr_matrix:
        liked, weights = self._row_weights(user.items, user.values)
        zeros = np.zeros(len(liked), np.int64)
        return sp.csr_matrix((weights.astype(np.float32), (zeros, liked)), shape=(1, len(self.item_ids_)))

    def _score_folded(self, user: FoldedUser) -> np.ndarray:
        x = self._user_rows(self._folded_row(user))
        return self._expand(np.asarray(x @ self.weights_, dtype=np.float32))[0]

    def _explain(self, user: int | FoldedUser, item: int) -> list[Term]:
        """One term per liked item j: x_uj · B_ji; they add up to the score."""
        if isinstance(user, FoldedUser):
            row, given = self._folded_row(user), values_by_item(user.items, user.values)
        else:
            row, given = self._training_rows(np.array([user])), values_by_item(*self.user_history(user))
        position = np.full(len(self.item_ids_), -1, np.int64)  # item index -> row of B, -1: not modelled
        position[self.modelled_] = np.arange(len(self.modelled_))
        column = position[item]
        terms = []
        for j, w in zip(row.indices, row.data, strict=True):
            if w > 0:
                share = (
                    0.0
                    if min(column, position[j]) < 0
                    else float(w) * float(self.weights_[position[j], column])
                )
                terms.append(Term("liked item", share, int(j), given.get(int(j))))
        return terms

    # -- vectors -----------------------------------------------------------------------------------
    def _vectors(self, kind: str) -> np.ndarray:
        """Items: their row of B (whom they vote for); users: their like-weights (EASE's input)."""
        if kind == "item":
            out = np.zeros((len(self.item_ids_), len(self.modelled_)), dtype=np.float32)
            out[self.modelled_] = self.weights_
            return out
        need, limit = 4 * len(self.user_ids_) * len(self.modelled_), available_memory()
        if need > limit:
            raise ResourceError(
                f"EASE's user vectors are dense {len(self.user_ids_):,} × {len(self.modelled_):,}: about "
                f"{need / 2**30:,.1f} GiB, over the {limit / 2**30:,.1f} GiB available"
            )
        rows = self._training_rows(np.arange(len(self.user_ids_)))
        return self._user_rows(rows).toarray().astype(np.float32)
