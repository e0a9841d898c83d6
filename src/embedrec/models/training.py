"""The one training loop every PyTorch model shares: random init -> predict -> loss -> step.

A model hands in a `torch.nn.Module` whose `forward(users, items)` returns predicted ratings (or, for
other losses, logits from any two input arrays: a table model passes category codes and numbers); it
may also define `reset_parameters(generator)` (seeded init), `penalty(users, items)` (L2 on the rows a
batch touched, added to the loss) and `param_groups(weight_decay)` (per-group AdamW decay). The loss is
picked by name from `LOSSES` (MSE unless the config says otherwise), unless the module defines
`batch_loss(users, items, values, generator)`, a loss of its own (ranking models: it samples negatives
with the loop's seeded generator).

The data lives on the training device and each epoch is shuffled and gathered there in one go, so a
step is a slice, a forward and backward pass and an optimiser step, with no copy or read back to the
host; the loss is read once per epoch. A `LoopHook` is what the loop asks of the processes around it:
the default is one process, `models/distributed.py` supplies the data-parallel one (`data_parallel`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedrec.checks import check_choice, check_positive
from embedrec.errors import DivergenceError, ParameterError
from embedrec.models.progress import TrainHistory, progress


def _one_cycle(progress: float) -> float:
    """Warm up over the first 25% from 1/25 of the peak, then cosine down to ~0 (fastai's shape)."""
    if progress < 0.25:
        return 0.04 + 0.96 * (1 - math.cos(math.pi * progress / 0.25)) / 2
    return 1e-4 + (1 - 1e-4) * (1 + math.cos(math.pi * (progress - 0.25) / 0.75)) / 2


def _cosine(progress: float) -> float:
    return 1e-4 + (1 - 1e-4) * (1 + math.cos(math.pi * progress)) / 2


def _constant(progress: float) -> float:
    return 1.0


SCHEDULES: dict[str, Callable[[float], float]] = {
    "onecycle": _one_cycle,
    "cosine": _cosine,
    "constant": _constant,
}


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (output - target) ** 2


def _bce(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(output, target, reduction="none")


def _cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output, target.long(), reduction="none")  # output (batch, n_classes)


# Per-row losses (batch,) of the module's output against the target: MSE on predictions, binary
# cross-entropy on one logit per row, cross-entropy on (batch, n_classes) logits and class indices.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": _mse,
    "bce": _bce,
    "cross_entropy": _cross_entropy,
}


@dataclass
class TrainConfig:
    """Settings of the shared loop; models fill it from their hyper-parameters."""

    epochs: int = 20
    batch_size: int = 1024
    lr: float = 0.01
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    loss: str = "mse"  # a name in LOSSES
    patience: int | None = None  # epochs without valid improvement before stopping; None: never stop
    seed: int = 0
    device: str = "cpu"
    sparse: bool = False  # sparse embedding gradients + SparseAdam (for large tables)
    compile: bool = False  # torch.compile the forward and backward pass (fewer, fused kernels per step)
    mixed_precision: bool = False  # bfloat16 autocast for the forward pass; weights and loss stay float32
    threads: int | None = 1  # torch CPU threads while training; small tables run fastest on one
    verbose: bool = True
    description: str = "training"
    unit: str = "epochs"  # what the progress bar counts

    @classmethod
    def from_model(cls, model: object, description: str) -> TrainConfig:
        """The loop's settings from a model's hyper-parameters of the same names (others keep defaults)."""
        names = [f.name for f in fields(cls) if f.name != "description" and hasattr(model, f.name)]
        return cls(**{name: getattr(model, name) for name in names}, description=description)

    def __post_init__(self) -> None:
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("loss", self.loss, LOSSES)
        check_positive("epochs", self.epochs, integer=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("lr", self.lr)
        if self.weight_decay < 0:
            raise ParameterError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.patience is not None:
            check_positive("patience", self.patience, integer=True)
        if self.threads is not None:
            check_positive("threads", self.threads, integer=True)
        for name in ("sparse", "compile", "mixed_precision"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name} must be True or False, got {getattr(self, name)!r}")


def resolve_device(device: str) -> torch.device:
    """A torch device from its name; asking for CUDA without it is a clear error."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} was asked for but CUDA is not available; use device='cpu'")
    return dev


def frequency_weights(indices: np.ndarray, n: int, exponent: float) -> torch.Tensor:
    """Per-row L2 weights (count / mean count)^-exponent for a penalty applied once per rating.

    Exponent 0 regularises a row in proportion to its activity (classic SGD), 1 regularises every row
    equally; in between works best on MovieLens.
    """
    counts = np.bincount(np.asarray(indices), minlength=n).astype(np.float64)
    mean = counts[counts > 0].mean() if (counts > 0).any() else 1.0
    return torch.from_numpy((np.maximum(counts, 1.0) / mean) ** -exponent).float()


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` torch CPU threads (None: unchanged), restoring the setting afterwards.

    Embedding models do many small operations; one thread avoids the synchronisation cost that
    dominates them, most of all on a machine whose cores are busy with other work.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LoopHook:
    """What the loop asks of the processes it runs in; this base is one process, and does nothing.

    The loop trains on `shard(data)`, calls `prepare(module)` once the module is initialised,
    `reduce_gradients(module)` after every backward pass, `all_sum` on each epoch's totals (so every
    process takes the same early-stopping and divergence decisions) and `finish(module)` at the end.
    """

    rank = 0
    world_size = 1

    def device(self, device: torch.device) -> torch.device:
        """The device this process trains on, given the one the model asked for."""
        return device

    def shard(self, arrays: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], int]:
        """This process's rows of equally long arrays, padded to one length in every process, and how
        many of them are its own (the rest repeat a few of them)."""
        return arrays, len(arrays[0])

    def prepare(self, module: nn.Module) -> None:
        """Make the processes' modules agree (and split tables) before the optimisers are built."""

    def reduce_gradients(self, module: nn.Module) -> None:
        """Combine the processes' gradients after a backward pass."""

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """`values` summed over the processes."""
        return values

    def finish(self, module: nn.Module) -> None:
        """Undo what `prepare` split, so every process ends with the whole trained module."""


_ONE_PROCESS = LoopHook()
_HOOK: ContextVar[LoopHook | None] = ContextVar("embedrec_loop_hook", default=None)


@contextmanager
def using_hook(hook: LoopHook) -> Iterator[LoopHook]:
    """Run every `train_module` in the block with `hook` (models/distributed.py's data_parallel uses it)."""
    token = _HOOK.set(hook)
    try:
        yield hook
    finally:
        _HOOK.reset(token)


def current_hook() -> LoopHook:
    """The hook `train_module` uses when none is passed: one process, unless a `using_hook` block is open."""
    return _HOOK.get() or _ONE_PROCESS


def _optimizers(module: nn.Module, config: TrainConfig) -> list[torch.optim.Optimizer]:
    sparse_params: list[nn.Parameter] = []
    if config.sparse:
        for sub in module.modules():  # nn.Embedding, or a table split over processes (models/sharded.py)
            weight = getattr(sub, "weight", None)
            if getattr(sub, "sparse", False) is True and isinstance(weight, nn.Parameter):
                sparse_params.append(weight)
    sparse_ids = {id(p) for p in sparse_params}
    if hasattr(module, "param_groups"):
        groups = module.param_groups(config.weight_decay)
    else:
        groups = [{"params": list(module.parameters()), "weight_decay": config.weight_decay}]
    dense_groups = []
    for group in groups:
        params = [p for p in group["params"] if id(p) not in sparse_ids]
        if params:
            dense_groups.append({**group, "params": params})
    opts: list[torch.optim.Optimizer] = []
    if dense_groups:
        # The fused kernel updates all tensors in one pass: a measurable share of a small model's step.
        opts.append(torch.optim.AdamW(dense_groups, lr=config.lr, fused=True))
    if sparse_params:  # SparseAdam has no weight decay: models regularise these via `penalty`
        opts.append(torch.optim.SparseAdam(sparse_params, lr=config.lr))
    return opts


@torch.inference_mode()
def predict_module(
    module: nn.Module, users: torch.Tensor, items: torch.Tensor, chunk: int = 65536
) -> np.ndarray:
    """Predictions of a module for index tensors, in chunks, in eval mode (train mode restored)."""
    return _predict(module, users, items, chunk).float().cpu().numpy()


@torch.inference_mode()
def _predict(module: nn.Module, users: torch.Tensor, items: torch.Tensor, chunk: int) -> torch.Tensor:
    """Predictions on the module's device, chunk by chunk, without reading them back."""
    was_training = module.training
    module.eval()
    try:
        out = [module(users[s : s + chunk], items[s : s + chunk]) for s in range(0, len(users), chunk)]
    finally:
        module.train(was_training)
    return torch.cat(out) if out else torch.empty(0, device=users.device)


def train_module(
    module: nn.Module,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: TrainConfig,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    *,
    weights: np.ndarray | None = None,
    valid_weights: np.ndarray | None = None,
    hook: LoopHook | None = None,
) -> TrainHistory:
    """Fit `module` to (users, items, ratings) with the config's loss + penalty; early-stop on valid.

    Integer input arrays become index tensors, float ones stay float (a table's numeric columns).
    `weights` (n,) and `valid_weights` weigh each row's loss (class weights), mean 1 expected.
    With several processes (`hook`, or an open `data_parallel` block) each trains on its shard of the
    rows and `batch_size` stays the number of rows of one step over all of them, so the same settings
    learn the same model however many processes share the work.
    """
    hook = current_hook() if hook is None else hook
    dev = hook.device(resolve_device(config.device))
    gen = torch.Generator().manual_seed(config.seed)
    history = TrainHistory()
    start = time.perf_counter()
    with torch_threads(config.threads):
        _run(module, train, config, valid, dev, gen, history, hook, (weights, valid_weights))
    module.eval()
    history.seconds = time.perf_counter() - start
    return history


def _inputs(array: np.ndarray, dev: torch.device) -> torch.Tensor:
    """A copy of an input array as a tensor: indices as int64, numbers (float arrays) as float32."""
    tensor = torch.from_numpy(np.array(array))  # a copy: inputs are read-only
    return (tensor.float() if tensor.is_floating_point() else tensor.long()).to(dev)


def _on_device(
    arrays: tuple[np.ndarray, ...], weights: np.ndarray | None, dev: torch.device
) -> tuple[torch.Tensor, ...]:
    """(users, items, targets, row weights) as tensors on `dev`; weights of 1 where none are given."""
    users, items, targets = (_inputs(a, dev) for a in arrays[:3])
    targets = targets.float()
    w = (
        torch.ones_like(targets)
        if weights is None
        else torch.from_numpy(np.array(weights, np.float32)).to(dev)
    )
    return users, items, targets, w


def _step_function(
    module: nn.Module, config: TrainConfig, gen: torch.Generator
) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """(weighted loss, loss + penalty) of a batch, or the module's own `batch_loss` (drawing from `gen`);
    compiled into fused kernels when `config.compile`."""
    has_penalty = hasattr(module, "penalty")
    own_loss = hasattr(module, "batch_loss")  # a loss of its own (ranking: sampled negatives)
    loss_fn = LOSSES[config.loss]

    def step(
        u: torch.Tensor, i: torch.Tensor, r: torch.Tensor, w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if own_loss:
            fit = module.batch_loss(u, i, r, gen)
        else:
            fit = torch.mean(loss_fn(module(u, i).float(), r) * w)  # (batch,) losses, weighted, averaged
        return fit, fit + module.penalty(u, i) if has_penalty else fit

    return torch.compile(step) if config.compile else step


def _run(
    module: nn.Module,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: TrainConfig,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    dev: torch.device,
    gen: torch.Generator,
    history: TrainHistory,
    hook: LoopHook,
    weights: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> None:
    loss_fn = LOSSES[config.loss]
    with torch.random.fork_rng(devices=[]):  # dropout uses the global RNG: seed it without leaking
        torch.manual_seed(config.seed + hook.rank)  # each process its own dropout masks
        if hasattr(module, "reset_parameters"):
            module.reset_parameters(gen)
        module.to(dev).train()
        hook.prepare(module)
        shard, _ = _with_weights(hook, train, weights[0])
        users, items, targets, w = _on_device(shard[:3], shard[3], dev)
        if valid is not None:
            shard, n_own = _with_weights(hook, valid, weights[1])
            vu, vi, vr, vw = _on_device(shard[:3], shard[3], dev)
            vr, vw = vr[:n_own].double(), vw[:n_own].double()
        # on a GPU the shuffle is drawn there too; on the CPU it continues the init's stream
        shuffle = gen if dev.type == "cpu" else torch.Generator(device=dev).manual_seed(config.seed)
        opts = _optimizers(module, config)
        base_lrs = [[g["lr"] for g in opt.param_groups] for opt in opts]
        schedule = SCHEDULES[config.schedule]
        step = _step_function(module, config, gen)  # batch_loss draws on the CPU, as it always has
        autocast = torch.autocast(dev.type, torch.bfloat16) if config.mixed_precision else nullcontext()
        n = len(targets)
        batch = math.ceil(config.batch_size / hook.world_size)  # this process's part of each step
        steps_per_epoch = max(1, math.ceil(n / batch))
        total = config.epochs * steps_per_epoch
        best, best_state, stale = math.inf, None, 0
        verbose = config.verbose and hook.rank == 0
        valid_label = "valid RMSE" if config.loss == "mse" else "valid loss"
        with progress(config.description, config.epochs, unit=config.unit, verbose=verbose,
                      valid=valid_label) as bar:  # fmt: skip
            for epoch in range(config.epochs):
                started = time.perf_counter()
                order = torch.randperm(n, generator=shuffle, device=dev)
                eu, ei, er, ew = users[order], items[order], targets[order], w[order]  # one gather per epoch
                loss_sum = torch.zeros((), device=dev)
                for b in range(steps_per_epoch):
                    frac = schedule((epoch * steps_per_epoch + b) / total)
                    for opt, lrs in zip(opts, base_lrs, strict=True):
                        for group, lr in zip(opt.param_groups, lrs, strict=True):
                            group["lr"] = lr * frac
                    rows = slice(b * batch, (b + 1) * batch)  # views: no copy, no read back
                    with autocast:
                        fit, loss = step(eu[rows], ei[rows], er[rows], ew[rows])
                    for opt in opts:
                        opt.zero_grad(set_to_none=True)
                    loss.backward()
                    hook.reduce_gradients(module)
                    for opt in opts:
                        opt.step()
                    loss_sum += fit.detach() * len(er[rows])
                train_loss = _epoch_loss(module, loss_sum, n, hook, epoch, config.lr)  # waits for the steps
                history.epoch_seconds.append(time.perf_counter() - started)
                history.train_loss.append(train_loss)
                score = math.nan  # on valid: RMSE with the MSE loss, else the mean loss; lower is better
                if valid is not None:
                    pred = _predict(module, vu, vi, 65536)[:n_own].double()
                    per_row = loss_fn(pred, vr) * vw  # squared errors with MSE
                    totals = hook.all_sum(torch.stack([per_row.sum(), per_row.new_tensor(float(n_own))]))
                    mean = (totals[0] / totals[1]).item()
                    if config.loss == "mse":
                        score = math.sqrt(mean)
                        history.valid_rmse.append(score)
                    else:
                        score = mean
                        history.valid_loss.append(score)
                    if score < best - 1e-5:
                        best, stale, history.best_epoch = score, 0, epoch
                        if config.patience is not None:
                            best_state = copy.deepcopy(module.state_dict())
                    else:
                        stale += 1
                else:
                    history.best_epoch = epoch
                if bar is not None:
                    bar.update(epoch, train_loss, score)
                if config.patience is not None and stale >= config.patience:
                    break
        if best_state is not None:
            module.load_state_dict(best_state)
        hook.finish(module)


def _with_weights(
    hook: LoopHook, arrays: tuple[np.ndarray, ...], weights: np.ndarray | None
) -> tuple[tuple[Any, ...], int]:
    """This process's shard of (users, items, targets, weights or None), and how many rows are its own."""
    if weights is None:
        shard, own = hook.shard(tuple(arrays))
        return (*shard, None), own
    return hook.shard((*arrays, weights))


def _epoch_loss(
    module: nn.Module, loss_sum: torch.Tensor, n: int, hook: LoopHook, epoch: int, lr: float
) -> float:
    """The epoch's mean training loss over every process, read back once; NaN/inf weights anywhere raise.

    Summed over the processes, so all of them take the same decision (one raising alone would leave
    the others waiting for it).
    """
    finite = torch.stack([torch.isfinite(p).all() for p in module.parameters()]).all()
    totals = hook.all_sum(torch.stack([loss_sum.float(), loss_sum.new_tensor(float(n)), (~finite).float()]))
    loss_total, count, broken = totals.tolist()
    loss = loss_total / count
    if broken or not math.isfinite(loss):
        raise DivergenceError(
            f"training diverged in epoch {epoch + 1} (loss {loss:g}, or weights not finite) "
            f"with lr={lr:g}; lower the learning rate (try lr={lr / 10:g})"
        )
    return loss
