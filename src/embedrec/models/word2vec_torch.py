"""Word2Vec's negative-sampling updates in PyTorch, for a GPU: the same model as the compiled kernels,
with the pairs of a block of jobs built at once and applied in batches.

Subsampling and reduced windows are drawn on the CPU with NumPy; negatives are drawn on the device from
the same unigram^0.75 table. A batch reads the vectors once and adds every pair's step with
`index_add_`, so a word met several times in a batch gets its steps summed (Hogwild across a batch
instead of across threads). A row met more than `MAX_REPEAT` times gets the mean of its steps times
`MAX_REPEAT`: summing hundreds of steps computed from the same stale vector (a frequent word, a tiny
vocabulary) would overshoot where the sequential updates correct themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from embedrec.models.training import resolve_device

BATCH = 8192  # (context, centre) pairs per update (CBOW: centres)
MAX_REPEAT = 64  # summed steps per row and batch, at most (no divergence on a 30-word vocabulary)


class TorchTrainer:
    """Holds the two tables on the device and trains them block by block (`device` overrides the
    config's; `stream` > 0 draws other negatives, one stream per process of a data-parallel job)."""

    def __init__(
        self,
        syn0: np.ndarray,
        syn1: np.ndarray,
        config: Any,
        sample_int: np.ndarray,
        cum: np.ndarray,
        rng: np.random.Generator,
        device: torch.device | None = None,
        stream: int = 0,
    ) -> None:
        self.device = resolve_device(config.device) if device is None else device
        self.syn0 = torch.from_numpy(np.ascontiguousarray(syn0)).to(self.device)  # (V, k)
        self.syn1 = torch.from_numpy(np.ascontiguousarray(syn1)).to(self.device)  # (V, k)
        self.config = config
        self.sample_int = sample_int
        self.cum = torch.from_numpy(cum.astype(np.int64)).to(self.device)
        self.rng = rng
        self.gen = torch.Generator(device=self.device).manual_seed(int(config.seed) + 1_000_003 * stream)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The tables as float32 NumPy arrays (copied off the device)."""
        return self.syn0.cpu().numpy().copy(), self.syn1.cpu().numpy().copy()

    def train(self, words: np.ndarray, starts: np.ndarray, bounds: np.ndarray, alpha: np.ndarray) -> int:
        """Train on the jobs whose sentences start at `bounds` (with one alpha per job); returns the words
        kept after subsampling."""
        cfg = self.config
        lo, hi = int(starts[bounds[0]]), int(starts[bounds[-1]])
        w = np.asarray(words[lo:hi])
        sent = np.repeat(np.arange(bounds[0], bounds[-1]), np.diff(starts[bounds[0] : bounds[-1] + 1]))
        job = np.repeat(np.arange(len(alpha)), np.diff(starts[bounds]))
        keep = self.sample_int[w].astype(np.uint64) >= self.rng.integers(0, 1 << 32, len(w), dtype=np.uint64)
        w, sent, job = w[keep], sent[keep], job[keep]
        n = len(w)
        if n == 0:
            return 0
        window = cfg.window
        reach = window - self.rng.integers(0, window, n) if cfg.shrink_windows else np.full(n, window)
        if cfg.sg:
            inp, out, pos = _pairs(w, sent, reach, window)
            a = alpha[job[pos]]
            for s in range(0, len(inp), BATCH):
                self._sg_batch(inp[s : s + BATCH], out[s : s + BATCH], a[s : s + BATCH])
        else:
            ctx, centres = _contexts(w, sent, reach, window)
            a = alpha[job[centres]]
            for s in range(0, len(centres), BATCH):
                self._cbow_batch(ctx[s : s + BATCH], w[centres[s : s + BATCH]], a[s : s + BATCH])
        return n

    def _targets(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(targets (B, 1+neg), labels, mask): the positive then negatives drawn by bisecting the table;
        a negative equal to the positive is masked out (gensim skips it)."""
        b, neg = len(out), self.config.negative
        draws = torch.randint(
            0, int(self.cum[-1]), (b, neg), generator=self.gen, device=self.device, dtype=torch.int64
        )
        negs = torch.searchsorted(self.cum, draws)  # (B, neg)
        targets = torch.cat([out[:, None], negs], dim=1)  # (B, 1 + neg)
        labels = torch.zeros(targets.shape, device=self.device)
        labels[:, 0] = 1.0
        mask = torch.ones(targets.shape, device=self.device)
        mask[:, 1:] = (negs != out[:, None]).float()
        return targets, labels, mask

    def _step(self, hidden: torch.Tensor, out: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Update the output vectors of the targets from `hidden` (B, k); returns the hidden gradient."""
        targets, labels, mask = self._targets(out)
        u = self.syn1[targets]  # (B, 1 + neg, k)
        f = torch.bmm(u, hidden[:, :, None]).squeeze(-1)  # (B, 1 + neg)
        g = (labels - torch.sigmoid(f)) * mask * alpha[:, None]  # (B, 1 + neg)
        grad_hidden = torch.bmm(g[:, None, :], u).squeeze(1)  # (B, k)
        k = hidden.shape[1]
        rows = targets.reshape(-1)
        self.syn1.index_add_(0, rows, (g[:, :, None] * hidden[:, None, :]).reshape(-1, k) * _damping(rows))
        return grad_hidden

    def _sg_batch(self, inp: np.ndarray, out: np.ndarray, alpha: np.ndarray) -> None:
        i = torch.from_numpy(inp.astype(np.int64)).to(self.device)
        o = torch.from_numpy(out.astype(np.int64)).to(self.device)
        a = torch.from_numpy(alpha).to(self.device)
        grad = self._step(self.syn0[i], o, a)
        self.syn0.index_add_(0, i, grad * _damping(i))

    def _cbow_batch(self, ctx: np.ndarray, out: np.ndarray, alpha: np.ndarray) -> None:
        c = torch.from_numpy(ctx.astype(np.int64)).to(self.device)  # (B, 2 window), -1 = none
        present = c >= 0
        count = present.sum(dim=1, keepdim=True).float()  # (B, 1)
        rows = self.syn0[c.clamp(min=0)] * present[:, :, None]  # (B, 2 window, k)
        hidden = rows.sum(dim=1)  # (B, k)
        if self.config.cbow_mean:
            hidden = hidden / count
        o = torch.from_numpy(out.astype(np.int64)).to(self.device)
        grad = self._step(hidden, o, torch.from_numpy(alpha).to(self.device))
        if not self.config.cbow_mean:
            grad = grad / count
        spread = grad[:, None, :].expand(-1, c.shape[1], -1)  # (B, 2 window, k)
        rows = c[present]
        self.syn0.index_add_(0, rows, spread[present] * _damping(rows))


def _damping(rows: torch.Tensor) -> torch.Tensor:
    """(n, 1) factor on each step so that no row moves by more than MAX_REPEAT summed steps."""
    _, inverse, counts = torch.unique(rows, return_inverse=True, return_counts=True)
    return (MAX_REPEAT / counts.clamp(min=MAX_REPEAT).float())[inverse][:, None]


def _pairs(
    w: np.ndarray, sent: np.ndarray, reach: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skip-gram (context word, centre word, centre position) for every centre and every context within
    its reduced window in the same sentence."""
    inp, out, pos = [], [], []
    n = len(w)
    for d in range(1, window + 1):
        i = np.arange(n - d)
        j = i + d
        same = sent[i] == sent[j]
        for centre, other in ((i, j), (j, i)):
            ok = same & (reach[centre] >= d)
            inp.append(w[other[ok]])
            out.append(w[centre[ok]])
            pos.append(centre[ok])
    return np.concatenate(inp), np.concatenate(out), np.concatenate(pos)


def _contexts(
    w: np.ndarray, sent: np.ndarray, reach: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """CBOW contexts (n, 2 window) of word indices (-1 where none) and the centre positions that have one."""
    n = len(w)
    ctx = np.full((n, 2 * window), -1, dtype=np.int64)
    col = 0
    i = np.arange(n)
    for d in range(1, window + 1):
        for j in (i - d, i + d):
            ok = (j >= 0) & (j < n) & (reach >= d)
            ok[ok] &= sent[j[ok]] == sent[i[ok]]
            ctx[ok, col] = w[j[ok]]
            col += 1
    has = (ctx >= 0).any(axis=1)
    return ctx[has], np.flatnonzero(has)
