"""Word2Vec's negative-sampling updates, compiled with numba: skip-gram and CBOW, Hogwild over threads.

The corpus is cut into jobs of about `batch_words` words; each job has its own learning rate (decaying
linearly over the whole run) and its own random stream (word2vec.c's 48-bit linear congruential
generator), and the jobs run on all threads at once, updating the shared tables without locks, as
word2vec.c and gensim do. Within a job every step is gensim's, in gensim's order of random draws: the
whole job is subsampled first (word w survives when sample_int[w] >= a random 32-bit integer), then
each position looks at window - b words on each side, b in [0, window) drawn beforehand by NumPy, a
stream apart from the negatives' (as gensim's model.random), and each prediction
draws its negatives from the unigram^0.75 table by bisection, skipping the positive.
The sigmoid is read from a 1,000-entry table over (-6, 6) with word2vec.c's index (see
EXP_INDEX_SCALE); a pair whose dot product falls outside is
skipped, as gensim does. With the same random draws the updates equal gensim's (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

MAX_EXP = 6.0
EXP_TABLE_SIZE = 1000
# word2vec.c and gensim index the table with (f + MAX_EXP) * (EXP_TABLE_SIZE / MAX_EXP / 2) in integer
# arithmetic: 1000 / 6 / 2 = 83, not 83.3, so the lookup reads σ(0.996 f - 0.024). That small shift of
# the logit towards "not seen together" is part of the algorithm people compare against, so it is kept.
EXP_INDEX_SCALE = float(EXP_TABLE_SIZE // int(MAX_EXP) // 2)
_MUL = np.uint64(25214903917)
_ADD = np.uint64(11)
_MASK = np.uint64((1 << 48) - 1)
_SHIFT = np.uint64(16)
GUIDE_SHIFT = 15  # 2^31 / 2^15 = 65,536 buckets of the negatives' draw


def sigmoid_table() -> np.ndarray:
    """σ(x) at EXP_TABLE_SIZE points of [-MAX_EXP, MAX_EXP), as word2vec.c's expTable."""
    x = (np.arange(EXP_TABLE_SIZE, dtype=np.float64) / EXP_TABLE_SIZE * 2 - 1) * MAX_EXP
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def cum_table(counts: np.ndarray, exponent: float = 0.75, domain: int = 2**31 - 1) -> np.ndarray:
    """Cumulative unigram^exponent table: a word is drawn by bisecting it with a uniform integer."""
    weights = np.asarray(counts, dtype=np.float64) ** exponent
    return np.round(np.cumsum(weights) / weights.sum() * domain).astype(np.uint32)


def sample_ints(counts: np.ndarray, sample: float) -> np.ndarray:
    """gensim's keep probabilities × 2^32: word w survives when sample_int[w] >= a random 32-bit int."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.full(len(counts), 2**32 - 1, dtype=np.uint32)
    threshold = sample * counts.sum() if sample < 1.0 else float(sample)
    seen = np.maximum(counts, 1.0)  # a word never seen is never drawn: any value will do
    keep = np.minimum((np.sqrt(seen / threshold) + 1) * (threshold / seen), 1.0)
    return (keep * (2**32 - 1)).astype(np.uint32)


@njit(inline="always", cache=True)
def _next(rng: np.uint64) -> np.uint64:
    return (rng * _MUL + _ADD) & _MASK


@njit(inline="always", cache=True)
def _sigmoid(f: np.float32, table: np.ndarray) -> np.float32:
    """σ(f) from the table, for -MAX_EXP < f < MAX_EXP, indexed as word2vec.c and gensim do."""
    return table[int((f + MAX_EXP) * EXP_INDEX_SCALE)]


@njit(cache=True)
def _guide(cum):  # noqa: ANN001, ANN202
    """guide[b] = bisect_left(cum, b << GUIDE_SHIFT): where a draw in bucket b starts its bisection."""
    n = len(cum)
    guide = np.empty((np.int64(cum[n - 1]) >> GUIDE_SHIFT) + 2, dtype=np.int64)
    i = 0
    for b in range(len(guide)):
        while i < n and np.int64(cum[i]) < (np.int64(b) << GUIDE_SHIFT):
            i += 1
        guide[b] = i
    return guide


@njit(inline="always", cache=True)
def _draw(cum: np.ndarray, guide: np.ndarray, rng: np.uint64) -> int:
    """bisect_left(cum, (rng >> 16) % cum[-1]), searched only between the guide's bounds for the
    target's bucket (one or two steps instead of log2(V) dependent loads; the same answer)."""
    target = (rng >> _SHIFT) % np.uint64(cum[len(cum) - 1])
    bucket = np.int64(target >> np.uint64(GUIDE_SHIFT))
    lo, hi = guide[bucket], guide[bucket + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if np.uint64(cum[mid]) < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(fastmath=True, nogil=True, cache=True)
def sg_step(syn0, syn1, inp, targets, n_targets, alpha, work, table):  # noqa: ANN001, ANN201
    """One skip-gram pair: syn0[inp] predicts targets[0] (label 1) against targets[1:n] (label 0).

    Gradients use the values before this step's update of syn0[inp], as in word2vec.c.
    """
    size = syn0.shape[1]
    src = syn0[inp]  # row views, not syn0[inp, d] in the loops: LLVM vectorises these (CBOW 1.7x faster)
    for d in range(size):
        work[d] = 0.0
    for t in range(n_targets):
        out = syn1[targets[t]]
        f = np.float32(0.0)
        for d in range(size):
            f += src[d] * out[d]
        if f <= -MAX_EXP or f >= MAX_EXP:
            continue
        label = np.float32(1.0) if t == 0 else np.float32(0.0)
        g = (label - _sigmoid(f, table)) * alpha
        for d in range(size):  # one pass: the hidden gradient reads each output value before its update
            work[d] += g * out[d]
            out[d] += g * src[d]
    for d in range(size):
        src[d] += work[d]


@njit(fastmath=True, nogil=True, cache=True)
def cbow_step(syn0, syn1, context, n_context, targets, n_targets, alpha, cbow_mean, neu1, work, table):  # noqa: ANN001, ANN201
    """One CBOW position: the mean (or sum) of the context vectors predicts targets[0] against the rest;
    every context vector then moves by the hidden layer's gradient (divided by the count for a sum)."""
    size = syn0.shape[1]
    for d in range(size):
        neu1[d] = 0.0
        work[d] = 0.0
    for c in range(n_context):
        src = syn0[context[c]]
        for d in range(size):
            neu1[d] += src[d]
    inv = np.float32(1.0) / np.float32(n_context)
    if cbow_mean:
        for d in range(size):
            neu1[d] *= inv
    for t in range(n_targets):
        out = syn1[targets[t]]
        f = np.float32(0.0)
        for d in range(size):
            f += neu1[d] * out[d]
        if f <= -MAX_EXP or f >= MAX_EXP:
            continue
        label = np.float32(1.0) if t == 0 else np.float32(0.0)
        g = (label - _sigmoid(f, table)) * alpha
        for d in range(size):
            work[d] += g * out[d]
            out[d] += g * neu1[d]
    if not cbow_mean:
        for d in range(size):
            work[d] *= inv
    for c in range(n_context):
        dst = syn0[context[c]]
        for d in range(size):
            dst[d] += work[d]


@njit(nogil=True, cache=True)
def _negatives(positive, negative, cum, guide, targets, rng):  # noqa: ANN001, ANN202
    """targets[0] = positive, then up to `negative` draws that are not the positive; returns (n, rng)."""
    targets[0] = positive
    n = 1
    for _ in range(negative):
        w = _draw(cum, guide, rng)
        rng = _next(rng)
        if w != positive:
            targets[n] = w
            n += 1
    return n, rng


@njit(fastmath=True, nogil=True, cache=True)
def _train_job(  # noqa: ANN201
    j, syn0, syn1, words, starts, job_bounds, job_alpha, job_seed, sample_int, cum, guide, window,  # noqa: ANN001
    negative, sg, cbow_mean, reduced, subsample, table,  # noqa: ANN001
):  # fmt: skip
    """Train on job j (see `train_jobs`); returns the words it kept after subsampling."""
    size = syn0.shape[1]
    first, last = job_bounds[j], job_bounds[j + 1]
    offset = starts[first] - starts[job_bounds[0]]  # this job's reduced windows in `reduced`
    buf = np.empty(starts[last] - starts[first], dtype=np.int32)
    bounds = np.empty(last - first + 1, dtype=np.int64)
    context = np.empty(2 * window, dtype=np.int32)
    targets = np.empty(negative + 1, dtype=np.int32)
    work = np.empty(size, dtype=np.float32)
    neu1 = np.empty(size, dtype=np.float32)
    rng = job_seed[j]
    alpha = job_alpha[j]
    # first the whole job is subsampled, then trained on: gensim's order of random draws
    n = 0
    bounds[0] = 0
    for s in range(first, last):
        for p in range(starts[s], starts[s + 1]):
            w = words[p]
            if subsample:
                r = rng >> _SHIFT
                rng = _next(rng)
                if np.uint64(sample_int[w]) < r:
                    continue
            buf[n] = w
            n += 1
        bounds[s - first + 1] = n
    for s in range(last - first):
        lo_s, hi_s = bounds[s], bounds[s + 1]
        for i in range(lo_s, hi_s):
            b = int(reduced[offset + i])
            lo = max(lo_s, i - window + b)
            hi = min(hi_s, i + window + 1 - b)
            if sg:
                for c in range(lo, hi):
                    if c == i:
                        continue
                    n_t, rng = _negatives(buf[i], negative, cum, guide, targets, rng)
                    sg_step(syn0, syn1, buf[c], targets, n_t, alpha, work, table)
            else:
                n_c = 0
                for c in range(lo, hi):
                    if c != i:
                        context[n_c] = buf[c]
                        n_c += 1
                n_t, rng = _negatives(buf[i], negative, cum, guide, targets, rng)  # even when unused
                if n_c == 0:
                    continue
                cbow_step(syn0, syn1, context, n_c, targets, n_t, alpha, cbow_mean, neu1, work, table)
    return n


@njit(parallel=True, fastmath=True, nogil=True, cache=True)
def train_jobs(  # noqa: ANN201
    syn0,  # (V, k) float32 input vectors, updated in place
    syn1,  # (V, k) float32 output vectors, updated in place
    words,  # (n_tokens,) int32
    starts,  # (n_sentences + 1,) int64
    job_bounds,  # (n_jobs + 1,) int64: sentence s belongs to job j when bounds[j] <= s < bounds[j+1]
    job_alpha,  # (n_jobs,) float32
    job_seed,  # (n_jobs,) uint64
    sample_int,  # (V,) uint32
    cum,  # (V,) uint32
    window,
    negative,
    sg,
    cbow_mean,
    reduced,  # (words of these jobs,) int32: position i of a job looks at window - reduced[i] words
    subsample,  # draw a number per word to subsample (gensim draws nothing when sample=0)
    table,  # (EXP_TABLE_SIZE,) float32
    lanes,  # jobs per round: the threads the kernel runs on
):
    """Train on every job, in parallel; returns the words kept after subsampling, per job.

    The jobs run in rounds of `lanes`, one job per thread, side by side: the threads stay on adjacent
    stretches of the corpus, as with gensim's job queue. Threads left to run free through their share
    of a block drift apart, and training far-apart stretches at once lowered WordSim-353 by 0.003
    (Brown, paired over 20 seeds; 0.005 with contiguous halves), at no gain in speed worth having.
    """
    n_jobs = len(job_alpha)
    kept = np.zeros(n_jobs, dtype=np.int64)
    guide = _guide(cum)
    lanes = max(1, lanes)
    for first in range(0, n_jobs, lanes):
        for t in prange(min(lanes, n_jobs - first)):
            j = first + t
            kept[j] = _train_job(
                j, syn0, syn1, words, starts, job_bounds, job_alpha, job_seed, sample_int, cum, guide,
                window, negative, sg, cbow_mean, reduced, subsample, table,
            )  # fmt: skip
    return kept


_compiled = False


def compile_kernels() -> None:
    """Compile `train_jobs` (or load it from numba's cache) on a tiny problem, once per process."""
    global _compiled
    if _compiled:
        return
    vectors = np.zeros((2, 1), dtype=np.float32)
    for sg in (0, 1):
        train_jobs(
            vectors, vectors.copy(), np.zeros(2, np.int32), np.array([0, 2]), np.array([0, 1]),
            np.zeros(1, np.float32), np.ones(1, np.uint64), np.full(2, 2**32 - 1, np.uint32),
            np.array([1, 2], np.uint32), 1, 1, sg, 1, np.zeros(2, np.int32), 1, sigmoid_table(), 1,
        )  # fmt: skip
    _compiled = True
