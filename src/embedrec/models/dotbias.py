"""DotBias: user and item embeddings, biases, and a dot product squashed into the rating range."""

from __future__ import annotations

import inspect
import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from embedrec.checks import check_choice, check_positive
from embedrec.data.interactions import Interactions
from embedrec.models.base import FactorModel, SigmoidLink
from embedrec.models.training import (
    TrainConfig,
    TrainHistory,
    frequency_weights,
    progress,
    torch_threads,
    train_module,
)

SOLVERS = ("auto", "gibbs", "adam")
DEFAULT_FACTORS = {"adam": 32, "gibbs": 8}  # n_factors=None: the size each solver was tuned at
# Settings that only the Adam loop honours: solver="auto" picks it when any of them differs from its default.
ADAM_ONLY = tuple(
    "epochs lr batch_size weight_decay reg reg_exponent bias_reg init_std schedule patience implicit sparse "
    "item_vectors freeze_items device".split()
)


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
        if freeze:
            keep = (~torch.from_numpy(mask)).to(torch.float32)[:, None]  # (n_items, 1)
            self.item_factors.weight.register_hook(lambda grad: grad * keep.to(grad.device))

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


class DotBias(SigmoidLink, FactorModel):
    """Biased matrix factorisation through a scaled sigmoid (fastai's collab "dot" model).

    r̂(u, i) = low' + (high' - low') · σ(b + b_u + b_i + p_u·q_i), where [low', high'] is the data's
    rating scale widened by `y_margin` × its width on each side, so the extreme ratings are reachable.

    Two ways to learn it (`solver`; "auto", the default, means "gibbs" unless a setting only "adam" has
    is given):
    - "gibbs": Bayesian, by Gibbs sampling (models/bayes.py): the factors are the posterior mean over
      `sweeps` sweeps, with priors learned from the data, so there is nothing to tune. Defaults (8 factors,
      90 sweeps), tuned on ML-100K's u1–u5 folds: mean test RMSE 0.897 at about 0.9 s per fit. CPU only.
    - "adam": the shared PyTorch loop (random init → predict → MSE + L2 → AdamW step) for `epochs` epochs:
      one point estimate, 0.906 at its defaults (32 factors, 6 epochs, about 0.6 s). It runs on a GPU,
      takes sparse gradients for very large tables, early-stops on `valid`, and has two extras:
      `implicit=True` adds SVD++'s term p_u += Σ_{j rated by u} y_j / √|N(u)| while training (0.903,
      several times slower; folded into `user_factors_`), and `item_vectors` (a word2vec or GloVe file keyed
      by raw item id, n_factors wide) starts the matching item rows at pre-trained vectors
      (`freeze_items=True` keeps them there).
    n_factors=None means the solver's tuned size: 8 ("gibbs") or 32 ("adam").
    """

    def __init__(
        self,
        n_factors: int | None = None,
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
        solver: str = "auto",
        sweeps: int = 90,
        implicit: bool = False,
        sparse: bool = False,
        item_vectors: str | None = None,
        freeze_items: bool = False,
        device: str = "cpu",
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
        self.solver = solver
        self.sweeps = sweeps
        self.implicit = implicit
        self.sparse = sparse
        self.item_vectors = None if item_vectors is None else str(item_vectors)
        self.freeze_items = freeze_items
        self.device = device
        self.verbose = verbose
        self._validate()

    def _validate(self) -> None:
        if self.n_factors is not None:
            check_positive("n_factors", self.n_factors, integer=True)
        for name in ("weight_decay", "reg", "reg_exponent", "bias_reg", "y_margin", "init_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.implicit and self.sparse:
            raise ValueError("implicit=True needs dense gradients: use sparse=False with it")
        if self.freeze_items and self.item_vectors is None:
            raise ValueError("freeze_items=True needs item_vectors (a word2vec or GloVe file) to freeze")
        if self.freeze_items and self.sparse:
            raise ValueError("freeze_items=True needs dense gradients: use sparse=False with it")
        check_choice("solver", self.solver, SOLVERS)
        check_positive("sweeps", self.sweeps, integer=True)
        if self.solver == "gibbs" and self.device != "cpu":
            raise ValueError(f"solver='gibbs' runs on the CPU; got device={self.device!r}")
        changed = self._changed()
        if self.solver == "gibbs" and changed & set(ADAM_ONLY):
            name = min(changed & set(ADAM_ONLY))
            raise ValueError(f"{name} applies to solver='adam' only; leave it unset with solver='gibbs'")
        if self._solver() == "adam" and "sweeps" in changed:
            raise ValueError("sweeps applies to solver='gibbs' only; leave it unset with solver='adam'")
        self._config()  # validates epochs, lr, batch_size, schedule, patience

    def _solver(self) -> str:
        """The solver that runs: `solver`, or for "auto" "adam" when an Adam-only setting is given."""
        if self.solver != "auto":
            return self.solver
        return "adam" if self._changed() & set(ADAM_ONLY) else "gibbs"

    def _changed(self) -> set[str]:
        """Names of the hyper-parameters set to something other than their defaults."""
        defaults = inspect.signature(DotBias.__init__).parameters
        return {name for name in self._param_names() if getattr(self, name) != defaults[name].default}

    def _rank(self) -> int:
        """The number of factors: n_factors, or the solver's tuned default when it is None."""
        return DEFAULT_FACTORS[self._solver()] if self.n_factors is None else self.n_factors

    def _config(self) -> TrainConfig:
        return TrainConfig.from_model(self, f"DotBias adam k={self._rank()}")

    def fit(self, train: Interactions, valid: Interactions | None = None) -> DotBias:
        """Learn factors and biases by sampling, or by the Adam loop (early-stopping on `valid`)."""
        self._check_train(train, valid)
        check_choice("schedule", self.schedule, ("onecycle", "cosine", "constant"))
        if self._solver() == "gibbs":
            return self._fit_gibbs(train, valid)
        low, high = self._y_range(train.scale.low, train.scale.high)
        net = DotBiasNet(train.n_users, train.n_items, self._rank(), (low, high), sparse=self.sparse)
        net.init_std, net.reg, net.bias_reg = self.init_std, self.reg, self.bias_reg
        net.init_global = self._initial_logit(train.ratings, low, high)
        net.set_reg_weights(train.users, train.items, self.reg_exponent)
        if self.implicit:
            net.use_implicit(implicit_matrix(train))
        if self.item_vectors is not None:
            rows, mask = self._pretrained_rows(train)
            net.use_pretrained_items(rows, mask, freeze=self.freeze_items)
        val = None if valid is None else (valid.users, valid.items, valid.ratings)
        self.history_: TrainHistory = train_module(
            net, (train.users, train.items, train.ratings), self._config(), val
        )
        self._set_data_state(train)
        net.cpu()
        with torch.no_grad():  # the implicit term is folded into the user vectors: a plain factor model
            self.user_factors_ = net.user_vectors().detach().numpy().astype(np.float32)
        self.item_factors_ = net.item_factors.weight.detach().numpy().astype(np.float32)
        if self.freeze_items:  # AdamW's decoupled decay may still have nudged them: restore exactly
            self.item_factors_[mask] = rows[mask]
        self.user_bias_ = net.user_bias.weight.detach().numpy()[:, 0].astype(np.float32)
        self.item_bias_ = net.item_bias.weight.detach().numpy()[:, 0].astype(np.float32)
        self.global_bias_ = float(net.global_bias.detach())
        return self

    def _pretrained_rows(self, train: Interactions) -> tuple[np.ndarray, np.ndarray]:
        """Rows of `item_vectors` for the training items (matched by raw id) and the mask of those found."""
        from embedrec.data.vectors import init_matrix, load_vectors

        return init_matrix(load_vectors(self.item_vectors), train.item_ids, dim=self._rank())

    def _fit_gibbs(self, train: Interactions, valid: Interactions | None) -> DotBias:
        """Posterior-mean factors and biases by Gibbs sampling; history_ holds each sweep's train MSE and
        (given `valid`) the valid RMSE of the posterior mean so far."""
        from embedrec.models.bayes import gibbs_factors  # numba: imported when a sampler first runs

        start = time.perf_counter()
        config = TrainConfig(
            epochs=self.sweeps,
            verbose=self.verbose,
            description=f"DotBias gibbs k={self._rank()}",
            unit="sweeps",
        )
        with torch_threads(1), progress(config) as bar:
            report = None if bar is None else bar.update
            result = gibbs_factors(
                train.users,
                train.items,
                train.ratings,
                train.n_users,
                train.n_items,
                n_factors=self._rank(),
                sweeps=self.sweeps,
                y_range=self._y_range(train.scale.low, train.scale.high),
                seed=self.seed,
                valid=None if valid is None else (valid.users, valid.items, valid.ratings.astype(np.float64)),
                on_sweep=report,
            )
        self._set_data_state(train)
        self.user_factors_, self.item_factors_ = result.user_factors, result.item_factors
        self.user_bias_, self.item_bias_ = result.user_bias, result.item_bias
        self.global_bias_ = result.global_bias
        history = TrainHistory(result.train_mse, result.valid_rmse, best_epoch=self.sweeps - 1)
        history.seconds = time.perf_counter() - start
        self.history_ = history
        return self
