"""The one training loop every PyTorch model shares: random init -> predict -> loss -> step.

A model hands in a `torch.nn.Module` whose `forward(users, items)` returns predicted ratings (or, for
other losses, logits from any two input arrays: a table model passes category codes and numbers); it
may also define `reset_parameters(generator)` (seeded init), `penalty(users, items)` (L2 on the rows a
batch touched, added to the loss) and `param_groups(weight_decay)` (per-group AdamW decay). The loss is
picked by name from `LOSSES` (MSE unless the config says otherwise), unless the module defines
`batch_loss(users, items, values, generator)`, a loss of its own (ranking models: it samples negatives
with the loop's seeded generator).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

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


def _optimizers(module: nn.Module, config: TrainConfig) -> list[torch.optim.Optimizer]:
    sparse_params: list[nn.Parameter] = []
    if config.sparse:
        for sub in module.modules():
            if isinstance(sub, nn.Embedding) and sub.sparse:
                sparse_params.append(sub.weight)
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
    was_training = module.training
    module.eval()
    try:
        out = [module(users[s : s + chunk], items[s : s + chunk]) for s in range(0, len(users), chunk)]
    finally:
        module.train(was_training)
    return torch.cat(out).float().cpu().numpy() if out else np.empty(0, np.float32)


def train_module(
    module: nn.Module,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: TrainConfig,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    *,
    weights: np.ndarray | None = None,
    valid_weights: np.ndarray | None = None,
) -> TrainHistory:
    """Fit `module` to (users, items, ratings) with the config's loss + penalty; early-stop on valid.

    Integer input arrays become index tensors, float ones stay float (a table's numeric columns).
    `weights` (n,) and `valid_weights` weigh each row's loss (class weights), mean 1 expected.
    """
    dev = resolve_device(config.device)
    gen = torch.Generator().manual_seed(config.seed)
    history = TrainHistory()
    start = time.perf_counter()
    with torch_threads(config.threads):
        _run(module, train, config, valid, dev, gen, history, (weights, valid_weights))
    module.eval()
    history.seconds = time.perf_counter() - start
    return history


def _run(
    module: nn.Module,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: TrainConfig,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    dev: torch.device,
    gen: torch.Generator,
    history: TrainHistory,
    weights: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> None:
    loss_fn = LOSSES[config.loss]
    with torch.random.fork_rng(devices=[]):  # dropout uses the global RNG: seed it without leaking
        torch.manual_seed(config.seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters(gen)
        module.to(dev).train()
        users, items = (_inputs(a, dev) for a in train[:2])
        ratings = torch.from_numpy(np.array(train[2])).float().to(dev)  # a copy: inputs are read-only
        w = None if weights[0] is None else torch.from_numpy(np.asarray(weights[0], dtype=np.float32)).to(dev)
        if valid is not None:
            vu, vi = (_inputs(a, dev) for a in valid[:2])
            vr = np.asarray(valid[2], dtype=np.float64)
            vw = np.ones(len(vr)) if weights[1] is None else np.asarray(weights[1], dtype=np.float64)
        opts = _optimizers(module, config)
        base_lrs = [[g["lr"] for g in opt.param_groups] for opt in opts]
        schedule = SCHEDULES[config.schedule]
        n = len(ratings)
        steps_per_epoch = max(1, math.ceil(n / config.batch_size))
        total = config.epochs * steps_per_epoch
        best, best_state, stale = math.inf, None, 0
        valid_label = "valid RMSE" if config.loss == "mse" else "valid loss"
        with progress(config.description, config.epochs, unit=config.unit, verbose=config.verbose,
                      valid=valid_label) as bar:  # fmt: skip
            for epoch in range(config.epochs):
                order = torch.randperm(n, generator=gen).to(dev)
                loss_sum = torch.zeros((), device=dev)
                for b in range(steps_per_epoch):
                    frac = schedule((epoch * steps_per_epoch + b) / total)
                    for opt, lrs in zip(opts, base_lrs, strict=True):
                        for group, lr in zip(opt.param_groups, lrs, strict=True):
                            group["lr"] = lr * frac
                    rows = order[b * config.batch_size : (b + 1) * config.batch_size]
                    u, i = users[rows], items[rows]
                    if hasattr(module, "batch_loss"):  # a loss of its own (ranking: sampled negatives)
                        fit = module.batch_loss(u, i, ratings[rows], gen)
                    else:
                        per_row = loss_fn(module(u, i), ratings[rows])  # (batch,)
                        fit = torch.mean(per_row if w is None else per_row * w[rows])
                    loss = fit + module.penalty(u, i) if hasattr(module, "penalty") else fit
                    for opt in opts:
                        opt.zero_grad(set_to_none=True)
                    loss.backward()
                    for opt in opts:
                        opt.step()
                    loss_sum += fit.detach() * len(rows)
                train_loss = float(loss_sum) / n
                _check_finite(module, train_loss, epoch, config.lr)
                history.train_loss.append(train_loss)
                score = math.nan  # on valid: RMSE with the MSE loss, else the mean loss; lower is better
                if valid is not None:
                    pred = predict_module(module, vu, vi)
                    if config.loss == "mse":
                        score = float(np.sqrt(np.mean(vw * (pred - vr) ** 2)))
                        history.valid_rmse.append(score)
                    else:
                        per_row = loss_fn(torch.from_numpy(pred), torch.from_numpy(vr).float()).numpy()
                        score = float(np.mean(vw * per_row))
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


def _inputs(array: np.ndarray, dev: torch.device) -> torch.Tensor:
    """A copy of an input array as a tensor: indices as int64, numbers (float arrays) as float32."""
    tensor = torch.from_numpy(np.array(array))  # a copy: inputs are read-only
    return (tensor.float() if tensor.is_floating_point() else tensor.long()).to(dev)


def _check_finite(module: nn.Module, loss: float, epoch: int, lr: float) -> None:
    """Cheap per-epoch guard: NaN/inf loss or weights means the optimisation diverged."""
    finite = math.isfinite(loss) and all(bool(torch.isfinite(p).all()) for p in module.parameters())
    if not finite:
        raise DivergenceError(
            f"training diverged in epoch {epoch + 1} (loss {loss:g}, or weights not finite) "
            f"with lr={lr:g}; lower the learning rate (try lr={lr / 10:g})"
        )
