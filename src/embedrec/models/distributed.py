"""Data-parallel training on torch.distributed: any model of the shared loop, over N processes.

    torchrun --nproc-per-node 2 -m embedrec train ml-100k --model dotbias     # or: embedrec train --nproc 2

Inside `with data_parallel():` every `fit` of a torch model trains on this process's shard of the
ratings, and the gradients are averaged over the processes after each backward pass (gloo on CPU,
NCCL on GPU), so each step sees `batch_size` rows spread over all of them and every process ends with
the same model. `shard_tables=True` also splits the embedding tables row-wise (models/sharded.py), so
each process keeps 1/N of their training state. `spawn(n, fn)` starts n local processes the way
torchrun does on one machine. The Word2Vec/Item2Vec trainer, which runs its own loop, also reads this
hook (models/skipgram.py).
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from embedrec import errors
from embedrec.checks import check_positive
from embedrec.errors import EmbedrecError, ParameterError
from embedrec.models.sharded import ShardedEmbedding
from embedrec.models.training import LoopHook, using_hook

SHARD_SEED = 0x5EED  # the same in every process, so the shards of the rows partition them
TIMEOUT = timedelta(minutes=10)  # a process that stops answering fails the others after this


def world_size_from_env() -> int:
    """How many processes torchrun (or `spawn`) started for this job; 1 outside one."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        raise ParameterError(f"WORLD_SIZE must be an integer, got {os.environ['WORLD_SIZE']!r}") from None


def default_backend() -> str:
    """gloo for CPU tensors, plus NCCL for CUDA tensors where a GPU is there."""
    if torch.cuda.is_available() and dist.is_nccl_available():
        return "cpu:gloo,cuda:nccl"
    return "gloo"


def shard_rows(n: int, rank: int, world_size: int) -> tuple[np.ndarray, int]:
    """Rank's rows of n: every world_size-th of one seeded permutation, starting at `rank`, the shorter
    shards wrapping around to the common length ⌈n / world_size⌉ so that every process takes as many
    steps; and how many of them are its own (the first ones). The own rows of all ranks partition n."""
    per = math.ceil(n / world_size)
    positions = rank + world_size * np.arange(per)
    rows = np.random.default_rng(SHARD_SEED).permutation(n)[positions % n] if n else positions[:0]
    return rows, int((positions < n).sum())


class DataParallel(LoopHook):
    """The loop hook of one process of a data-parallel job: shards rows, averages gradients.

    With `shard_tables`, the tables a module names in `shard_tables()` (every nn.Embedding if it has
    no such method) are split row-wise over the processes while it trains.
    """

    def __init__(self, group: Any = None, *, shard_tables: bool = False) -> None:
        self.group = group
        self.rank, self.world_size = dist.get_rank(group), dist.get_world_size(group)
        self.shard_tables = shard_tables
        self._sharded: list[str] = []
        self._tables: dict[int, str] = {}  # replicated embedding tables: "table" (dense) or "sparse"

    def device(self, device: torch.device) -> torch.device:
        if device.type == "cuda" and device.index is None:  # one GPU per process on a machine
            local = int(os.environ.get("LOCAL_RANK", self.rank % max(1, torch.cuda.device_count())))
            return torch.device("cuda", local)
        return device

    def shard(self, arrays: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], int]:
        rows, own = shard_rows(len(arrays[0]), self.rank, self.world_size)
        return tuple(np.asarray(a)[rows] for a in arrays), own

    def prepare(self, module: nn.Module) -> None:
        self._sharded = []  # this fit's module only (a block may fit several models)
        if self.shard_tables:
            names = module.shard_tables() if hasattr(module, "shard_tables") else _embedding_names(module)
            plans: dict = {}  # shared: tables of one length look the same ids up with one plan
            for name in names:
                table = module.get_submodule(name)
                if not isinstance(table, nn.Embedding):
                    raise ParameterError(f"{name!r} is not an embedding table, so it cannot be sharded")
                _replace(module, name, ShardedEmbedding.split(table, self.group, plans))
            self._sharded = list(names)
        with torch.no_grad():  # the same start everywhere, whatever each process's seed was
            for tensor in (*self._replicated(module), *module.buffers()):
                dist.broadcast(tensor, src=0, group=self.group)
        self._tables = {
            id(sub.weight): "sparse" if sub.sparse else "table"
            for sub in module.modules()
            if isinstance(sub, nn.Embedding)
        }

    def _replicated(self, module: nn.Module) -> list[nn.Parameter]:
        own = {id(module.get_submodule(name).weight) for name in self._sharded}
        return [p for p in module.parameters() if id(p) not in own]

    def reduce_gradients(self, module: nn.Module) -> None:
        """Average the gradients over the processes: the small ones in one flat all-reduce, a large
        table's by the rows this step touched, sparse ones by gathering their rows; a sharded table's
        rows already hold the sum over the processes (the exchange added them up). Which way each
        parameter goes is decided the same in every process, whatever its own batch touched."""
        dense, tables, sparse = [], [], []
        for p in self._replicated(module):
            if p.requires_grad:
                kind = self._tables.get(id(p))
                (dense if kind is None else sparse if kind == "sparse" else tables).append(p)
        if tables:  # a table's dense gradient is zero but in the rows the batch looked up
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in tables]
            touched = [g.ne(0).any(1).nonzero().squeeze(1) for g in grads]
            most = self.all_max(torch.tensor([len(t) for t in touched], device=grads[0].device))
            rows_of = torch.tensor([len(p) for p in tables], device=most.device)
            for p, g, rows, few in zip(
                tables, grads, touched, (most * 4 * self.world_size < rows_of).tolist(), strict=True
            ):
                if few:  # a few rows of a large table: send those rows, not the whole table
                    part = torch.sparse_coo_tensor(rows[None], g[rows], g.shape, check_invariants=False)
                    p.grad = _all_reduce_sparse(part, self.group).to_dense() / self.world_size
                else:
                    dense.append(p)
        if dense:
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in dense]
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat, group=self.group)
            flat /= self.world_size
            for p, part in zip(dense, flat.split([g.numel() for g in grads]), strict=True):
                p.grad = part.view_as(p)
        for p in sparse:
            grad = (
                p.grad
                if p.grad is not None
                else torch.sparse_coo_tensor(
                    torch.zeros((1, 0), dtype=torch.long, device=p.device),
                    p.new_zeros((0, p.shape[1])),
                    p.shape,
                    check_invariants=False,
                )
            )
            p.grad = _all_reduce_sparse(grad, self.group) / self.world_size
        for name in self._sharded:
            weight = module.get_submodule(name).weight
            if weight.grad is not None:
                weight.grad = weight.grad / self.world_size

    def all_max(self, values: torch.Tensor) -> torch.Tensor:
        """`values`, elementwise the largest over the processes."""
        out = values.clone()
        dist.all_reduce(out, op=dist.ReduceOp.MAX, group=self.group)
        return out

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        out = values.clone()
        dist.all_reduce(out, group=self.group)
        return out

    def finish(self, module: nn.Module) -> None:
        for name in self._sharded:
            _replace(module, name, module.get_submodule(name).to_embedding())
        self._sharded = []
        with torch.no_grad():  # running statistics (batch norm) were kept per process: take rank 0's
            for tensor in module.buffers():
                dist.broadcast(tensor, src=0, group=self.group)


def _embedding_names(module: nn.Module) -> list[str]:
    return [name for name, sub in module.named_modules() if isinstance(sub, nn.Embedding)]


def _replace(module: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, leaf, new)


def _all_reduce_sparse(grad: torch.Tensor, group: Any) -> torch.Tensor:
    """The sum of a sparse (rows) gradient over the processes, by gathering every process's rows."""
    grad = grad.coalesce()
    indices, values = grad.indices()[0], grad.values()  # (nnz,), (nnz, dim)
    size = torch.tensor([len(indices)], device=values.device)
    sizes = [torch.empty_like(size) for _ in range(dist.get_world_size(group))]
    dist.all_gather(sizes, size, group=group)
    longest = int(max(s.item() for s in sizes))
    pad = longest - len(indices)
    index_parts = [indices.new_empty(longest) for _ in sizes]
    value_parts = [values.new_empty((longest, *values.shape[1:])) for _ in sizes]
    dist.all_gather(index_parts, torch.cat([indices, indices.new_zeros(pad)]), group=group)
    dist.all_gather(value_parts, torch.cat([values, values.new_zeros((pad, *values.shape[1:]))]), group=group)
    n = [int(s.item()) for s in sizes]
    rows = torch.cat([part[:k] for part, k in zip(index_parts, n, strict=True)])
    vals = torch.cat([part[:k] for part, k in zip(value_parts, n, strict=True)])
    return torch.sparse_coo_tensor(rows[None], vals, grad.shape, check_invariants=False).coalesce()


@contextmanager
def data_parallel(*, shard_tables: bool = False, backend: str | None = None) -> Iterator[LoopHook]:
    """Train every torch model fitted in the block data-parallel over the processes of this job.

    Under torchrun (or `spawn`) it starts the process group from the environment and ends it after the
    block, unless one is already running (then it uses that). In a single process it changes nothing.
    """
    started = False
    if not dist.is_initialized():
        if world_size_from_env() == 1:
            with using_hook(LoopHook()) as hook:
                yield hook
            return
        if "MASTER_ADDR" not in os.environ:
            raise ParameterError(
                "WORLD_SIZE is set but MASTER_ADDR is not: start the processes with torchrun "
                "(or `embedrec train --nproc N`), which sets both"
            )
        dist.init_process_group(backend or default_backend(), timeout=TIMEOUT)
        started = True
    try:
        with using_hook(DataParallel(shard_tables=shard_tables)) as hook:
            yield hook
    finally:
        if started:
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, nproc: int, port: int, results: Any, fn: Callable[..., Any], args: tuple) -> None:
    """One spawned process: torchrun's environment, then `fn(*args)`; our errors go back as messages."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        value = fn(*args)
    except EmbedrecError as exc:
        results.put((rank, "error", (type(exc).__name__, str(exc))))
        raise SystemExit(2) from None  # a non-zero exit: spawn stops the other processes
    results.put((rank, "ok", value))


def spawn(nproc: int, fn: Callable[..., Any], *args: Any) -> list[Any]:
    """Run `fn(*args)` in `nproc` new local processes that form one job (as torchrun would start them).

    Returns each rank's return value (which must pickle). An embedrec error in any process stops
    the others and is raised here again with its message (also when another process noticed the loss
    of its peer first); any other failure raises torch's ProcessRaisedException or
    ProcessExitedException, carrying the worker's traceback.
    """
    check_positive("nproc", nproc, integer=True)
    results = mp.get_context("spawn").SimpleQueue()
    job = mp.start_processes(
        _worker, (nproc, _free_port(), results, fn, args), nprocs=nproc, join=False, start_method="spawn"
    )
    collected: list[tuple[int, str, Any]] = []
    quiet = logging.getLogger("torch.multiprocessing.spawn")  # it warns as it stops the other processes
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        while not job.join(timeout=0.2):  # read while they run: a full pipe would block a worker
            collected += _drain(results)
    except (mp.ProcessExitedException, mp.ProcessRaisedException):
        # The first to fail may be a process whose peer had stopped on an error: report that error.
        failures = [item for item in collected + _drain(results) if item[1] == "error"]
        if not failures:
            raise
        _, _, (kind, message) = min(failures)
        raise _rebuild(kind, message) from None
    finally:
        quiet.setLevel(level)
    values = {rank: value for rank, _, value in collected + _drain(results)}
    return [values.get(rank) for rank in range(nproc)]


def _drain(queue: Any) -> list[tuple[int, str, Any]]:
    out = []
    while not queue.empty():
        out.append(queue.get())
    return out


def _rebuild(kind: str, message: str) -> EmbedrecError:
    """The error a worker raised, as the same class where it takes a plain message."""
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, EmbedrecError):
        try:
            exc = cls(message)
            if str(exc) == message:
                return exc
        except TypeError:
            pass
    return EmbedrecError(message)
