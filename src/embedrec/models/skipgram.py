"""The one trainer behind Word2Vec and Item2Vec: skip-gram or CBOW with negative sampling over an
EncodedCorpus, on the compiled CPU kernels or, for a GPU, in PyTorch.

Each epoch is cut into jobs of whole sentences, at most `batch_words` tokens each (gensim's jobs); the
learning rate falls linearly from `alpha` to `min_alpha` with the sentences trained over the whole run,
one value per job, as gensim's does for a corpus of sentences. On the CPU the jobs of a
block run in rounds of one per `workers` thread, side by side, without locks (Hogwild, as word2vec.c),
so results with more than one worker vary slightly from run to run; one worker with a fixed seed
repeats exactly.

Inside `embedrec.data_parallel()` (torchrun, or `spawn`) the processes split each block's jobs, every
process trains its part on its own tables, then the tables become their start plus the steps of all
processes (one all-reduce of the changes per block of `BLOCK_JOBS` jobs): Hogwild across processes,
a block apart, so every process ends with the same vectors.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from embedrec.checks import check_choice, check_non_negative, check_positive
from embedrec.data.text import MAX_SENTENCE_LEN, EncodedCorpus
from embedrec.errors import DivergenceError, ParameterError

BLOCK_JOBS = 64  # jobs per kernel call: the progress bar moves between calls


@dataclass(frozen=True)
class SkipGramConfig:
    """The trainer's settings; gensim's names and defaults except `sg` (skip-gram by default here)."""

    vector_size: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    sg: int = 1
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 1e-4
    seed: int = 0
    workers: int | None = None
    device: str = "cpu"
    cbow_mean: bool = True
    ns_exponent: float = 0.75
    batch_words: int = 10_000
    shrink_windows: bool = True
    backend: str = "auto"  # "numba" (CPU kernels), "torch" (any device), "auto": numba on the CPU
    verbose: bool = True
    description: str = "word2vec"

    def __post_init__(self) -> None:
        for name in ("vector_size", "window", "negative", "epochs", "batch_words"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("alpha", self.alpha)
        check_non_negative("min_alpha", self.min_alpha)
        check_non_negative("sample", self.sample)
        check_non_negative("ns_exponent", self.ns_exponent)
        if self.min_alpha > self.alpha:
            raise ParameterError(f"min_alpha ({self.min_alpha}) must not exceed alpha ({self.alpha})")
        if self.sg not in (0, 1) or isinstance(self.sg, bool):
            raise ParameterError(f"sg must be 1 (skip-gram) or 0 (CBOW), got {self.sg!r}")
        if self.workers is not None:
            check_positive("workers", self.workers, integer=True)
        if not isinstance(self.seed, int | np.integer) or isinstance(self.seed, bool):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.device, str) or self.device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ParameterError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {self.device!r}")
        check_choice("backend", self.backend, ("auto", "numba", "torch"))
        if self.backend == "numba" and self.device != "cpu":
            raise ParameterError(
                f"the numba kernels run on the CPU only; use backend='torch' for {self.device}"
            )

    @property
    def engine(self) -> str:
        """'numba' or 'torch': the backend that trains."""
        if self.backend != "auto":
            return self.backend
        return "numba" if self.device == "cpu" else "torch"

    @property
    def threads(self) -> int:
        """CPU threads the kernels use: `workers`, or every core."""
        return int(self.workers or os.cpu_count() or 1)


@dataclass
class TrainedVectors:
    """What training produced: input vectors (the embeddings), output vectors, and how it went."""

    syn0: np.ndarray  # (V, k) float32
    syn1: np.ndarray  # (V, k) float32
    seconds: float
    raw_words: int  # corpus tokens × epochs, the unit of words/s
    kept_words: int  # words trained on after subsampling, all epochs
    threads: int
    backend: str

    @property
    def words_per_second(self) -> float:
        return self.raw_words / max(self.seconds, 1e-9)


def initial_vectors(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """gensim 4's start: input vectors uniform in [-1, 1) / size, output vectors zero."""
    rng = np.random.default_rng(seed)
    syn0 = (rng.random((n, size), dtype=np.float32) * np.float32(2) - np.float32(1)) / np.float32(size)
    return syn0, np.zeros((n, size), dtype=np.float32)


def job_bounds(corpus: EncodedCorpus, batch_words: int) -> np.ndarray:
    """Sentence indices where jobs start (and the end): gensim's packing, each job as many whole
    sentences as fit in `batch_words` tokens (rare ones included, when the corpus knows where they
    were), a longer sentence alone."""
    starts = corpus.token_starts
    bounds = [0]
    while bounds[-1] < corpus.n_sentences:
        s = bounds[-1]
        fits = int(np.searchsorted(starts, starts[s] + batch_words, side="right")) - 1
        bounds.append(min(max(fits, s + 1), corpus.n_sentences))
    return np.array(bounds, dtype=np.int64)


def job_alphas(bounds: np.ndarray, epoch: int, config: SkipGramConfig) -> np.ndarray:
    """Each job's learning rate in `epoch`: linear in the share of the run's sentences trained before
    it, gensim's schedule for a corpus of sentences (by words, long-sentence stretches of a corpus get
    other rates: 0.004 lower WordSim-353 for CBOW on Brown, paired over 16 seeds)."""
    progress = (epoch + bounds[:-1] / max(int(bounds[-1]), 1)) / config.epochs
    return (config.alpha - (config.alpha - config.min_alpha) * progress).astype(np.float32)


def train_skipgram(
    corpus: EncodedCorpus, config: SkipGramConfig, init: tuple[np.ndarray, np.ndarray] | None = None
) -> TrainedVectors:
    """Train vectors for every word of `corpus.vocab` (from `init` when given) and return them."""
    import embedrec.models.word2vec_kernels as kern

    if init is None:
        syn0, syn1 = initial_vectors(len(corpus.vocab), config.vector_size, config.seed)
    else:
        syn0, syn1 = (np.array(a, dtype=np.float32, order="C") for a in init)
    bounds = job_bounds(corpus, config.batch_words)
    n_jobs = len(bounds) - 1
    sample_int = kern.sample_ints(corpus.counts, config.sample)
    table = kern.sigmoid_table()
    cum = kern.cum_table(corpus.counts, config.ns_exponent)
    hook = _loop_hook()
    rank, world = (hook.rank, hook.world_size) if hook is not None else (0, 1)
    rng = np.random.default_rng(config.seed if world == 1 else [config.seed, rank])
    if rank != 0:
        config = replace(config, verbose=False)  # rank 0 shows the progress
    if world > 1 and config.workers is None:  # the processes on this machine share its cores
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        config = replace(config, workers=max(1, (os.cpu_count() or 1) // max(1, local)))
    # tokens of each job, for progress in raw corpus words (rare words included, as gensim counts)
    tokens = corpus.token_starts
    raw_per_job = np.diff(tokens[bounds]) * (corpus.raw_words / max(int(tokens[-1]), 1))
    total = float(corpus.raw_words) * config.epochs
    window = max(1, min(config.window, MAX_SENTENCE_LEN))
    backend = config.engine
    torch_state = None
    if backend == "torch":
        from embedrec.models.training import resolve_device
        from embedrec.models.word2vec_torch import TorchTrainer

        device = hook.device(resolve_device(config.device)) if hook is not None else None
        torch_state = TorchTrainer(syn0, syn1, config, sample_int, cum, rng, device=device, stream=rank)
    else:
        kern.compile_kernels()  # before the clock starts: compiling (or loading the cache) is not training
    kept = 0
    if world > 1:  # wait for every process, so the clock counts training, not another's start-up
        import torch

        hook.all_sum(torch.zeros(1, dtype=torch.float64))
    start = time.perf_counter()
    with (
        _Progress(config, total) as bar,
        _numba_threads(config.threads if backend == "numba" else None) as lanes,
    ):
        done = 0.0
        for epoch in range(config.epochs):
            alphas = job_alphas(bounds, epoch, config)
            for first in range(0, n_jobs, BLOCK_JOBS):
                jobs = slice(first, min(first + BLOCK_JOBS, n_jobs))
                alpha = alphas[jobs]
                a, b = _my_jobs(len(alpha), rank, world)
                sub, alpha = bounds[first + a : first + b + 1], alpha[a:b]
                start_tables = _start_of_block(torch_state, syn0, syn1, world)
                if b == a:
                    pass  # fewer jobs than processes: this one only takes the others' steps
                elif torch_state is not None:
                    kept += torch_state.train(corpus.words, corpus.starts, sub, alpha)
                else:
                    seeds = rng.integers(0, 1 << 48, len(alpha), dtype=np.uint64)
                    n_words = int(corpus.starts[sub[-1]] - corpus.starts[sub[0]])
                    if config.shrink_windows:  # a stream of its own, as gensim's model.random
                        reduced = rng.integers(0, window, n_words, dtype=np.int32)
                    else:
                        reduced = np.zeros(n_words, dtype=np.int32)
                    kept += int(
                        kern.train_jobs(
                            syn0,
                            syn1,
                            corpus.words,
                            corpus.starts,
                            sub,
                            alpha,
                            seeds,
                            sample_int,
                            cum,
                            window,
                            config.negative,
                            config.sg,
                            int(config.cbow_mean),
                            reduced,
                            int(config.sample > 0),
                            table,
                            lanes,
                        ).sum()
                    )
                if start_tables is not None:
                    _add_all_steps(hook, torch_state, syn0, syn1, start_tables)
                done += float(raw_per_job[jobs].sum())
                bar.update(done)
            if torch_state is not None:
                syn0, syn1 = torch_state.arrays()
            _check_finite(syn0, epoch, config.alpha)
    if torch_state is not None:
        syn0, syn1 = torch_state.arrays()
    seconds = time.perf_counter() - start
    if world > 1:
        import torch

        kept = int(hook.all_sum(torch.tensor([kept], dtype=torch.float64)).item())
    return TrainedVectors(
        syn0=syn0,
        syn1=syn1,
        seconds=seconds,
        raw_words=int(corpus.raw_words) * config.epochs,
        kept_words=kept,
        threads=config.threads if backend == "numba" else 0,
        backend=backend,
    )


def _loop_hook() -> Any:
    """The data-parallel hook of an open `data_parallel()` block, or None in one process. Such a block
    imports the training loop, so where it was never imported none is open (and torch stays unloaded)."""
    training = sys.modules.get("embedrec.models.training")
    hook = training.current_hook() if training is not None else None
    return hook if hook is not None and hook.world_size > 1 else None


def _my_jobs(n: int, rank: int, world: int) -> tuple[int, int]:
    """[a, b): this process's contiguous share of a block's n jobs (the first n % world take one more)."""
    per, extra = divmod(n, world)
    a = rank * per + min(rank, extra)
    return a, a + per + (rank < extra)


def _start_of_block(torch_state: Any, syn0: np.ndarray, syn1: np.ndarray, world: int) -> Any:
    """A copy of the tables before a block, when other processes' steps are to be added after it."""
    if world == 1:
        return None
    if torch_state is not None:
        return torch_state.syn0.clone(), torch_state.syn1.clone()
    return syn0.copy(), syn1.copy()


def _add_all_steps(hook: Any, torch_state: Any, syn0: np.ndarray, syn1: np.ndarray, before: Any) -> None:
    """Set each table to its start plus the changes every process made in the block (in place)."""
    import torch

    if torch_state is not None:
        for table, start in zip((torch_state.syn0, torch_state.syn1), before, strict=True):
            table.copy_(start + hook.all_sum(table - start))
        return
    for table, start in zip((syn0, syn1), before, strict=True):
        steps = hook.all_sum(torch.from_numpy(table - start)).numpy()
        np.add(start, steps, out=table)


def _check_finite(syn0: np.ndarray, epoch: int, alpha: float) -> None:
    if not np.isfinite(syn0[:: max(1, len(syn0) // 1000)]).all():
        raise DivergenceError(
            f"word2vec diverged in epoch {epoch + 1} (vectors not finite) with alpha={alpha:g}; "
            f"lower alpha (try {alpha / 5:g})"
        )


class _numba_threads:
    """Run a block on `n` numba threads (None: unchanged), restoring the setting afterwards; gives the
    number of threads the kernels run on (None when unchanged)."""

    def __init__(self, n: int | None) -> None:
        self.n, self.before = n, None

    def __enter__(self) -> int | None:
        if self.n is None:
            return None
        import numba

        self.before = numba.get_num_threads()
        numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        return numba.get_num_threads()

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            import numba

            numba.set_num_threads(self.before)


class _Progress:
    """A rich bar counting corpus words with words/s, or nothing when verbose=False."""

    def __init__(self, config: SkipGramConfig, total: float) -> None:
        self.bar: Any = None
        if config.verbose:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[rate]} words/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task(config.description, total=total, rate="-")
        self.start = time.perf_counter()

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def update(self, done: float) -> None:
        if self.bar is not None:
            rate = done / max(time.perf_counter() - self.start, 1e-9)
            self.bar.update(self.task, completed=done, rate=f"{rate:,.0f}" if math.isfinite(rate) else "-")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
