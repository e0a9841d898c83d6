"""DotBias: user and item embeddings, biases, and a dot product squashed into the rating range."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from embedrec.checks import check_choice, check_non_negative, check_positive
from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.interactions import Interactions
from embedrec.data.vectors import init_matrix, load_vectors
from embedrec.errors import ParameterError
from embedrec.models.factor import SigmoidFactorModel
from embedrec.models.training import SCHEDULES, TrainConfig, TrainHistory, frequency_weights, train_module


class _SparseTimesDense(torch.autograd.Function):
    """N @ Y for a fixed sparse N, with Nᵀ given up front so the backward pass does not transpose N."""

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, n: torch.Tensor, n_t: torch.Tensor) -> torch.Tensor:
        ctx.n_t = n_t
        return n @ y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return ctx.n_t @ grad, None, None


def implicit_matrix(train: Interactions) -> sp.csr_matrix:
    """Users × items with |N(u)|^-1/2 where u rated i: the SVD++ normalisation of "which items u rated"."""
    csr = train.csr
    counts = np.diff(csr.indptr)
    values = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts).astype(np.float32)
    return sp.csr_matrix((values, csr.indices, csr.indptr), shape=csr.shape)


def _torch_csr(m: sp.csr_matrix) -> torch.Tensor:
    m = m.tocsr()
    with warnings.catch_warnings():  # torch flags its CSR support as beta; the product used here is stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)),
            torch.from_numpy(m.indices.astype(np.int64)),
            torch.from_numpy(m.data.astype(np.float32)),
            size=m.shape,
            check_invariants=True,
        )


class DotBiasNet(nn.Module):
    """r̂ = low' + (high' - low') · σ(b + b_u + b_i + p_u·q_i), as a torch module."""

    def __init__(
        self, n_users: int, n_items: int, n_factors: int, y_range: tuple[float, float], *, sparse: bool
    ) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # reset_parameters re-initialises from a seeded generator
            self.user_factors = nn.Embedding(n_users, n_factors, sparse=sparse)
            self.item_factors = nn.Embedding(n_items, n_factors, sparse=sparse)
            self.user_bias = nn.Embedding(n_users, 1, sparse=sparse)
            self.item_bias = nn.Embedding(n_items, 1, sparse=sparse)
        self.global_bias = nn.Parameter(torch.zeros(()))
        self.low, self.span = y_range[0], y_range[1] - y_range[0]
        self.init_std, self.init_global = 0.01, 0.0
        self.reg, self.bias_reg = 0.0, 0.0
        self.implicit: tuple[torch.Tensor, torch.Tensor] | None = None
        self.pretrained: tuple[torch.Tensor, torch.Tensor] | None = None  # item rows (n, k), mask (n,)
        self.frozen_items = False
        self.register_buffer("user_reg_weight", torch.ones(n_users))
        self.register_buffer("item_reg_weight", torch.ones(n_items))

    def set_reg_weights(self, users: np.ndarray, items: np.ndarray, exponent: float) -> None:
        """Scale each row's L2 by (its rating count / the mean count)^-exponent (see frequency_weights)."""
        self.user_reg_weight.copy_(frequency_weights(users, len(self.user_reg_weight), exponent))
        self.item_reg_weight.copy_(frequency_weights(items, len(self.item_reg_weight), exponent))

    def use_implicit(self, matrix: sp.csr_matrix) -> None:
        """Add SVD++'s implicit term: p_u becomes p_u + Σ_{j∈N(u)} y_j / √|N(u)| (see implicit_matrix)."""
        with torch.random.fork_rng(devices=[]):
            self.implicit_factors = nn.Embedding(*self.item_factors.weight.shape)
        self.implicit = (_torch_csr(matrix), _torch_csr(matrix.T.tocsr()))

    def user_vectors(self) -> torch.Tensor:
        """Every user's effective factor vector  # (n_users, k)."""
        if self.implicit is None:
            return self.user_factors.weight
        y = self.implicit_factors.weight
        if self.implicit[0].device != y.device:  # plain attributes do not follow module.to(device)
            self.implicit = (self.implicit[0].to(y.device), self.implicit[1].to(y.device))
        n, n_t = self.implicit
        return self.user_factors.weight + _SparseTimesDense.apply(y, n, n_t)

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for emb in (self.user_factors, self.item_factors):
                nn.init.normal_(emb.weight, 0.0, self.init_std, generator=generator)
            for emb in (self.user_bias, self.item_bias):
                nn.init.zeros_(emb.weight)
            if self.implicit is not None:
                nn.init.zeros_(self.implicit_factors.weight)
            if self.pretrained is not None:
                rows, mask = self.pretrained
                self.item_factors.weight[mask] = rows[mask]
            self.global_bias.fill_(self.init_global)

    def use_pretrained_items(self, rows: np.ndarray, mask: np.ndarray, *, freeze: bool) -> None:
        """Start the item rows in `mask` at pre-trained vectors; `freeze` keeps them there (no gradient)."""
        self.pretrained = (torch.from_numpy(rows), torch.from_numpy(mask))
        self.frozen_items = freeze
        if freeze:
            keep = (~torch.from_numpy(mask)).to(torch.float32)[:, None]  # (n_items, 1)
            self.item_factors.weight.register_hook(lambda grad: grad * keep.to(grad.device))

    def shard_tables(self) -> list[str]:
        """The tables that can be split over processes (models/sharded.py): all four, looked up by row."""
        if self.implicit is not None:
            raise ParameterError("implicit=True multiplies whole tables each step, so they cannot be sharded")
        if self.frozen_items:
            raise ParameterError("freeze_items=True masks the whole item table, so it cannot be sharded")
        return ["user_factors", "item_factors", "user_bias", "item_bias"]

    def _lookup(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(user vectors, item vectors, user biases, item biases, user rows to regularise) of a batch."""
        own = self.user_factors(users)  # (batch, k)
        p = own if self.implicit is None else self.user_vectors()[users]  # (batch, k)
        q = self.item_factors(items)  # (batch, k)
        bu, bi = self.user_bias(users).squeeze(-1), self.item_bias(items).squeeze(-1)  # (batch,) each
        return p, q, bu, bi, own

    def raw(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        p, q, bu, bi, _ = rows = self._lookup(users, items)
        if self.training:
            self._rows = (users, items, rows)  # penalty reuses them: one lookup per table per step
        return (p * q).sum(-1) + bu + bi + self.global_bias

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.low + self.span * torch.sigmoid(self.raw(users, items))

    def penalty(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """L2 on the rows this batch touched, each scaled by its row's weight (see set_reg_weights)."""
        cached = getattr(self, "_rows", None)
        hit = cached is not None and cached[0] is users and cached[1] is items
        _, q, bu, bi, p = cached[2] if hit else self._lookup(users, items)
        self._rows = None
        out = self.global_bias.new_zeros(())
        if self.reg:
            wu, wi = self.user_reg_weight[users], self.item_reg_weight[items]  # (batch,) each
            norms = (p * p).sum(-1) * wu + (q * q).sum(-1) * wi  # (batch,)
            if self.implicit is not None:
                y = self.implicit_factors(items)  # (batch, k)
                norms = norms + (y * y).sum(-1) * wi
            out = out + self.reg * norms.mean()
        if self.bias_reg:
            out = out + self.bias_reg * (bu * bu + bi * bi).mean()
        return out

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Decoupled weight decay on the factor tables only; biases stay free."""
        factors = [self.user_factors.weight, self.item_factors.weight]
        if self.implicit is not None:
            factors.append(self.implicit_factors.weight)
        return [
            {"params": factors, "weight_decay": weight_decay},
            {
                "params": [self.user_bias.weight, self.item_bias.weight, self.global_bias],
                "weight_decay": 0.0,
            },
        ]


class DotBias(SigmoidFactorModel):
    """Biased matrix factorisation through a scaled sigmoid, learned by the shared PyTorch loop.

    r̂(u, i) = low' + (high' - low') · σ(b + b_u + b_i + p_u·q_i), [low', high'] the rating scale widened
    by `y_margin` × its width on each side. Random init → predict → MSE + L2 → AdamW step, `epochs`
    times: one point estimate (0.906 on ML-100K u1–u5 at the defaults, about 0.7 s per fit). It runs on a
    GPU (`device="cuda"`; `compile=True` fuses each step's kernels, `mixed_precision=True` computes in
    bfloat16), takes sparse gradients for very large tables (`sparse=True`), trains over several
    processes inside `embedrec.data_parallel()`, early-stops on `valid` (`patience`), and has two
    extras: `implicit=True` adds SVD++'s term p_u += Σ_{j rated by u} y_j / √|N(u)| while training
    (folded into `user_factors_`), and `pretrained_items` (an EmbeddingTable or a word2vec/GloVe file
    keyed by raw item id, `n_factors` wide) starts the matching item rows at pre-trained vectors
    (`freeze_items=True` keeps them there). `history_` has one entry per epoch.
    """

    def __init__(
        self,
        n_factors: int = 32,
        *,
        epochs: int = 6,
        lr: float = 0.01,
        batch_size: int = 1024,
        weight_decay: float = 0.0,
        reg: float = 0.1,
        reg_exponent: float = 0.5,
        bias_reg: float = 0.0,
        y_margin: float = 0.1,
        init_std: float = 0.01,
        schedule: str = "onecycle",
        patience: int | None = None,
        seed: int = 0,
        implicit: bool = False,
        sparse: bool = False,
        pretrained_items: Any = None,
        freeze_items: bool = False,
        device: str = "cpu",
        compile: bool = False,
        mixed_precision: bool = False,
        verbose: bool = True,
    ) -> None:
        self.n_factors = n_factors
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.reg = reg
        self.reg_exponent = reg_exponent
        self.bias_reg = bias_reg
        self.y_margin = y_margin
        self.init_std = init_std
        self.schedule = schedule
        self.patience = patience
        self.seed = seed
        self.implicit = implicit
        self.sparse = sparse
        self.pretrained_items = pretrained_items
        self.freeze_items = freeze_items
        self.device = device
        self.compile = compile
        self.mixed_precision = mixed_precision
        self.verbose = verbose

    def _validate(self) -> None:
        super()._validate()
        check_positive("n_factors", self.n_factors, integer=True)
        for name in ("weight_decay", "reg", "reg_exponent", "bias_reg", "init_std"):
            check_non_negative(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.implicit and self.sparse:
            raise ParameterError("implicit=True needs dense gradients: use sparse=False with it")
        if self.freeze_items and self.pretrained_items is None:
            raise ParameterError(
                "freeze_items=True needs pretrained_items (an EmbeddingTable or a word2vec/GloVe file)"
            )
        if self.freeze_items and self.sparse:
            raise ParameterError("freeze_items=True needs dense gradients: use sparse=False with it")
        self._config()  # validates epochs, lr, batch_size, patience, device

    def _config(self) -> TrainConfig:
        return TrainConfig.from_model(self, f"DotBias k={self.n_factors}")

    def _fit_bytes(self, n_users: int, n_items: int, n_ratings: int, n_factors: int) -> float:
        """Tables, gradients and two AdamW moments (and the copies made at the end): 6 floats per
        parameter; a batch's lookups; the training arrays. Measured on ML-100K at 1,024 factors: 95 MiB
        peak for an estimate of 113 MiB."""
        rows = n_users + n_items + (n_items if self.implicit else 0)
        batch = min(int(self.batch_size), n_ratings)
        return 4.0 * (6 * rows * (n_factors + 1) + 12 * batch * n_factors) + 40.0 * n_ratings

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        """Learn factors and biases with the shared loop, early-stopping on `valid` when `patience` is set."""
        low, high = self._y_range(train.scale.low, train.scale.high)
        net = DotBiasNet(train.n_users, train.n_items, self.n_factors, (low, high), sparse=self.sparse)
        net.init_std, net.reg, net.bias_reg = self.init_std, self.reg, self.bias_reg
        net.init_global = self.initial_logit(train.ratings, low, high)
        net.set_reg_weights(train.users, train.items, self.reg_exponent)
        if self.implicit:
            net.use_implicit(implicit_matrix(train))
        if self.pretrained_items is not None:
            rows, mask = self._pretrained_rows(train)
            net.use_pretrained_items(rows, mask, freeze=self.freeze_items)
        val = None if valid is None else (valid.users, valid.items, valid.ratings)
        self.history_: TrainHistory = train_module(
            net, (train.users, train.items, train.ratings), self._config(), val
        )
        net.cpu()
        with torch.no_grad():  # the implicit term is folded into the user vectors: a plain factor model
            self.user_factors_ = net.user_vectors().detach().numpy().astype(np.float32)
        self.item_factors_ = net.item_factors.weight.detach().numpy().astype(np.float32)
        if self.freeze_items:  # AdamW's decoupled decay may still have nudged them: restore exactly
            self.item_factors_[mask] = rows[mask]
        self.user_bias_ = net.user_bias.weight.detach().numpy()[:, 0].astype(np.float32)
        self.item_bias_ = net.item_bias.weight.detach().numpy()[:, 0].astype(np.float32)
        self.global_bias_ = float(net.global_bias.detach())

    def _pretrained_rows(self, train: Interactions) -> tuple[np.ndarray, np.ndarray]:
        """Rows of `pretrained_items` for the training items (matched by raw id), and the found ones' mask."""
        table = self.pretrained_items
        if not isinstance(table, EmbeddingTable):
            table = load_vectors(table)
        return init_matrix(table, train.item_ids, dim=self.n_factors)
