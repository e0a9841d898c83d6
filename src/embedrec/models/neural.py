"""NeuralCF: user and item embeddings concatenated with side features, then an MLP.

r̂(u, i) = low' + (high' - low') · σ(b + b_u + b_i + MLP([p_u, q_i, x_u, x_i]) [+ p_u·q_i]), where x_u / x_i
are the user's and item's side features: genre flags, standardised numbers (year, age) and a small
embedding per categorical column (gender, occupation, ...). Without side features it is fastai's "neural"
model; `dot=True` adds the dot product beside the MLP (NeuMF's GMF + MLP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from embedrec.checks import check_non_negative, check_positive
from embedrec.data.catalogue import parse_genres
from embedrec.data.interactions import Interactions
from embedrec.errors import ParameterError
from embedrec.models.base import FoldedUser, Term
from embedrec.models.factor import SigmoidFactorModel
from embedrec.models.progress import TrainHistory
from embedrec.models.saved import SavedState
from embedrec.models.training import (
    TrainConfig,
    frequency_weights,
    predict_module,
    torch_threads,
    train_module,
)

SKIP_COLUMNS = {"title", "zip", "imdb_url", "url"}  # free text or near-unique: no signal to embed
MAX_CATEGORIES = 200
SCORE_CHUNK = 1 << 24  # MLP inputs (pairs × width floats) scored at once: bounds scoring memory at any size


@dataclass
class SideFeatures:
    """Side features of one kind (users or items): numeric columns and categorical codes per index."""

    numeric: np.ndarray  # (n, d) float32: flags and standardised numbers, 0 where unknown
    codes: np.ndarray  # (n, c) int64: category codes, 0 = unknown
    spec: list[dict[str, Any]] = field(default_factory=list)  # how each column was encoded (saved)

    @property
    def cardinalities(self) -> list[int]:
        return [len(s["vocab"]) + 1 for s in self.spec if s["kind"] == "category"]


def encode_side_features(meta: pd.DataFrame | None, n: int, use: bool) -> SideFeatures:
    """Turn a metadata frame into numeric features and category codes; `use=False` gives none."""
    numeric: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    spec: list[dict[str, Any]] = []
    if meta is not None and use:
        for col in meta.columns:
            name = str(col)
            values = meta[col]
            if name.lower() in SKIP_COLUMNS:
                continue
            if name == "genres":
                lists = [parse_genres(v) for v in values]
                vocab = sorted({g for row in lists for g in row})
                flags = np.array([[g in set(row) for g in vocab] for row in lists], dtype=np.float32)
                numeric.append(flags.reshape(n, len(vocab)))
                spec.append({"column": name, "kind": "flags", "vocab": vocab})
            elif pd.api.types.is_numeric_dtype(values):
                x = values.to_numpy(dtype=np.float64)
                known = np.isfinite(x)
                if not known.any():
                    continue
                mean, std = float(x[known].mean()), float(x[known].std() or 1.0)
                numeric.append(np.where(known, (x - mean) / std, 0.0).astype(np.float32)[:, None])
                spec.append({"column": name, "kind": "number", "mean": mean, "std": std})
            else:
                text = values.astype("string")
                vocab = sorted(text.dropna().unique().tolist())
                if not vocab or len(vocab) > min(MAX_CATEGORIES, max(2, n // 2)):
                    continue  # near-unique columns (ids, zip codes) would only memorise
                lookup = {v: k + 1 for k, v in enumerate(vocab)}
                codes.append(np.array([lookup.get(v, 0) if v is not pd.NA else 0 for v in text], np.int64))
                spec.append({"column": name, "kind": "category", "vocab": vocab})
    num = np.hstack(numeric) if numeric else np.zeros((n, 0), np.float32)
    cat = np.stack(codes, axis=1) if codes else np.zeros((n, 0), np.int64)
    return SideFeatures(num.astype(np.float32), cat, spec)


def _embedding_size(cardinality: int) -> int:
    return int(min(8, max(2, round(1.6 * cardinality**0.56))))


class NeuralNet(nn.Module):
    """Embeddings + side features -> MLP, plus wide bias terms, through the scaled sigmoid."""

    def __init__(
        self,
        n_factors: int,
        hidden: tuple[int, ...],
        dropout: float,
        users: SideFeatures,
        items: SideFeatures,
        n_users: int,
        n_items: int,
        y_range: tuple[float, float],
    ) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # reset_parameters re-initialises from a seeded generator
            self.user_factors = nn.Embedding(n_users, n_factors)
            self.item_factors = nn.Embedding(n_items, n_factors)
            self.user_bias = nn.Embedding(n_users, 1)
            self.item_bias = nn.Embedding(n_items, 1)
            self.user_cats = nn.ModuleList(nn.Embedding(c, _embedding_size(c)) for c in users.cardinalities)
            self.item_cats = nn.ModuleList(nn.Embedding(c, _embedding_size(c)) for c in items.cardinalities)
            width = 2 * n_factors + users.numeric.shape[1] + items.numeric.shape[1]
            width += sum(e.embedding_dim for e in [*self.user_cats, *self.item_cats])
            layers: list[nn.Module] = []
            for h in hidden:
                layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
                width = h
            layers.append(nn.Linear(width, 1))
            self.mlp = nn.Sequential(*layers)
        self.global_bias = nn.Parameter(torch.zeros(()))
        self.register_buffer("user_numeric", torch.from_numpy(users.numeric.copy()))
        self.register_buffer("item_numeric", torch.from_numpy(items.numeric.copy()))
        self.register_buffer("user_codes", torch.from_numpy(users.codes.copy()))
        self.register_buffer("item_codes", torch.from_numpy(items.codes.copy()))
        # not saved (only training uses them), but buffers, so they move to the training device once
        self.register_buffer("user_reg_weight", torch.ones(n_users), persistent=False)
        self.register_buffer("item_reg_weight", torch.ones(n_items), persistent=False)
        self.low, self.span = y_range[0], y_range[1] - y_range[0]
        self.init_global, self.reg, self.dot = 0.0, 0.0, False

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for emb in (self.user_factors, self.item_factors, *self.user_cats, *self.item_cats):
                nn.init.normal_(emb.weight, 0.0, 0.01, generator=generator)
            for emb in (self.user_bias, self.item_bias):
                nn.init.zeros_(emb.weight)
            for layer in self.mlp:
                if isinstance(layer, nn.Linear):
                    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu", generator=generator)
                    nn.init.zeros_(layer.bias)
            self.global_bias.fill_(self.init_global)

    def user_side(self, users: torch.Tensor) -> torch.Tensor:
        """The user half of the MLP input: [p_u, x_u, category embeddings]  # (batch, d_user)."""
        parts = [self.user_factors(users), self.user_numeric[users]]
        parts += [emb(self.user_codes[users, j]) for j, emb in enumerate(self.user_cats)]
        return torch.cat(parts, dim=1)

    def raw_from(self, user_part: torch.Tensor, user_bias: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Raw scores from a prepared user half (batch, d_user) and user bias (batch,)."""
        q = self.item_factors(items)  # (batch, k)
        parts = [user_part, q, self.item_numeric[items]]
        parts += [emb(self.item_codes[items, j]) for j, emb in enumerate(self.item_cats)]
        deep = self.mlp(torch.cat(parts, dim=1)).squeeze(-1)  # (batch,)
        if self.dot:
            k = q.shape[1]
            deep = deep + (user_part[:, :k] * q).sum(-1)  # p_u·q_i: user_part starts with p_u
        return deep + user_bias + self.item_bias(items).squeeze(-1) + self.global_bias

    def raw(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.raw_from(self.user_side(users), self.user_bias(users).squeeze(-1), items)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.low + self.span * torch.sigmoid(self.raw(users, items))

    def penalty(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """L2 on the embedding rows this batch touched."""
        if not self.reg:
            return self.global_bias.new_zeros(())
        p, q = self.user_factors(users), self.item_factors(items)  # (batch, k) each
        wu, wi = self.user_reg_weight[users], self.item_reg_weight[items]  # (batch,) each
        return self.reg * ((p * p).sum(-1) * wu + (q * q).sum(-1) * wi).mean()

    def shard_tables(self) -> list[str]:
        """The tables worth splitting over processes (models/sharded.py); side-feature tables are tiny."""
        return ["user_factors", "item_factors", "user_bias", "item_bias"]

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Weight decay on the MLP weights; embeddings are regularised by `penalty`."""
        mlp_weights = [m.weight for m in self.mlp if isinstance(m, nn.Linear)]
        ids = {id(p) for p in mlp_weights}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": mlp_weights, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


class NeuralCF(SigmoidFactorModel):
    """Embeddings concatenated with side features, then an MLP (see the module docstring's formula).

    Side features come from the data's user_meta / item_meta when `side_features=True` and are saved
    with the model. Fitted: the torch module `net_`, plus `user_factors_`, `item_factors_`, `user_bias_`,
    `item_bias_` and `global_bias_` as numpy arrays (the embeddings, for similarity queries).
    Defaults were tuned on ML-100K's u1–u5 folds with its side features: mean test RMSE 0.902.
    A new user is folded in by gradient steps on their vector and bias alone. Like DotBias it takes
    `device`, `compile` and `mixed_precision`, and trains over several processes in `data_parallel()`.
    """

    linear = False  # the score goes through the MLP: no approximate dot-product search
    _array_names = ()

    def __init__(
        self,
        n_factors: int = 32,
        *,
        hidden: tuple[int, ...] = (64,),
        dropout: float = 0.3,
        side_features: bool = True,
        dot: bool = True,
        epochs: int = 10,
        lr: float = 0.005,
        batch_size: int = 1024,
        weight_decay: float = 0.01,
        reg: float = 0.3,
        reg_exponent: float = 0.5,
        y_margin: float = 0.1,
        schedule: str = "cosine",
        patience: int | None = None,
        seed: int = 0,
        device: str = "cpu",
        compile: bool = False,
        mixed_precision: bool = False,
        verbose: bool = True,
    ) -> None:
        self.n_factors = n_factors
        self.hidden = hidden
        self.dropout = dropout
        self.side_features = side_features
        self.dot = dot
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.reg = reg
        self.reg_exponent = reg_exponent
        self.y_margin = y_margin
        self.schedule = schedule
        self.patience = patience
        self.seed = seed
        self.device = device
        self.compile = compile
        self.mixed_precision = mixed_precision
        self.verbose = verbose

    def _validate(self) -> None:
        super()._validate()
        check_positive("n_factors", self.n_factors, integer=True)
        if not isinstance(self.hidden, list | tuple):
            raise ParameterError(f"hidden must be a tuple of layer widths, got {self.hidden!r}")
        for width in self.hidden:
            check_positive("hidden layer width", width, integer=True)
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        for name in ("weight_decay", "reg", "reg_exponent"):
            check_non_negative(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        self._config()

    def _config(self) -> TrainConfig:
        return TrainConfig.from_model(self, f"NeuralCF k={self.n_factors}")

    def _fit_bytes(self, n_users: int, n_items: int, n_ratings: int, n_factors: int) -> float:
        """Embeddings and MLP weights with gradients and AdamW moments (6 floats per parameter), a
        batch's MLP inputs and activations, a scoring chunk and the training arrays; side features are
        counted as 64 columns. Measured on ML-100K at 512 factors: 181-230 MiB peak for an estimate of
        264 MiB."""
        width = 2 * n_factors + 64
        layers = [width, *map(int, self.hidden), 1]
        mlp = sum(a * b + b for a, b in zip(layers[:-1], layers[1:], strict=False))
        params = (n_users + n_items) * (n_factors + 1) + mlp
        batch = min(int(self.batch_size), n_ratings)
        activations = 8 * batch * sum(layers)
        return 4.0 * (6 * params + activations + 3 * max(SCORE_CHUNK, n_items * width)) + 40.0 * n_ratings

    def _build(
        self, users: SideFeatures, items: SideFeatures, n_users: int, n_items: int, low: float, high: float
    ) -> NeuralNet:
        net = NeuralNet(
            self.n_factors, tuple(self.hidden), self.dropout, users, items, n_users, n_items, (low, high)
        )
        net.reg, net.dot = self.reg, self.dot
        self.user_spec_, self.item_spec_ = users.spec, items.spec
        return net

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        """Learn embeddings, side-feature embeddings and the MLP with the shared training loop."""
        users = encode_side_features(train.user_meta, train.n_users, self.side_features)
        items = encode_side_features(train.item_meta, train.n_items, self.side_features)
        low, high = self._y_range(train.scale.low, train.scale.high)
        net = self._build(users, items, train.n_users, train.n_items, low, high)
        net.init_global = self.initial_logit(train.ratings, low, high)
        net.user_reg_weight = frequency_weights(train.users, train.n_users, self.reg_exponent)
        net.item_reg_weight = frequency_weights(train.items, train.n_items, self.reg_exponent)
        val = None if valid is None else (valid.users, valid.items, valid.ratings)
        self.history_: TrainHistory = train_module(
            net, (train.users, train.items, train.ratings), self._config(), val
        )
        self._adopt(net.cpu().eval())

    def _adopt(self, net: NeuralNet) -> None:
        """Keep the fitted module and numpy copies of its embeddings and biases."""
        self.net_ = net
        with torch.no_grad():
            self.user_factors_ = net.user_factors.weight.numpy().copy()
            self.item_factors_ = net.item_factors.weight.numpy().copy()
            self.user_bias_ = net.user_bias.weight.numpy()[:, 0].copy()
            self.item_bias_ = net.item_bias.weight.numpy()[:, 0].copy()
            self.global_bias_ = float(net.global_bias)

    @property
    def feature_names_(self) -> dict[str, list[str]]:
        """Which metadata columns the model uses, per side, with how each is encoded."""
        self._check_fitted()
        return {
            side: [f"{s['column']} ({s['kind']})" for s in spec]
            for side, spec in (("user", self.user_spec_), ("item", self.item_spec_))
        }

    # -- scoring -------------------------------------------------------------------------------
    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        with torch_threads(1):
            return predict_module(self.net_, torch.from_numpy(users), torch.from_numpy(items))

    @torch.inference_mode()
    def raw_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Raw (pre-link) scores of index pairs."""
        u, i = torch.as_tensor(np.asarray(users, np.int64)), torch.as_tensor(np.asarray(items, np.int64))
        with torch_threads(1):
            return self.net_.raw(u, i).numpy()

    @torch.inference_mode()
    def _score_user_parts(self, part: torch.Tensor, bias: torch.Tensor) -> np.ndarray:
        """Raw scores of every item for prepared user halves (b, d_user) and biases (b,)."""
        n_items, b = self.n_items, part.shape[0]
        items = torch.arange(n_items)
        out = np.empty((b, n_items), dtype=np.float32)
        width = self.net_.mlp[0].in_features  # (b * n_items, width) inputs per chunk: about 64 MB of them
        per = max(1, SCORE_CHUNK // (n_items * width))
        with torch_threads(1):
            self._score_chunks(part, bias, items, out, per)
        return out

    def _score_chunks(
        self, part: torch.Tensor, bias: torch.Tensor, items: torch.Tensor, out: np.ndarray, per: int
    ) -> None:
        n_items, b = len(items), part.shape[0]
        for s in range(0, b, per):
            p, bb = part[s : s + per], bias[s : s + per]
            rows = p.shape[0]
            raw = self.net_.raw_from(
                p.repeat_interleave(n_items, dim=0), bb.repeat_interleave(n_items), items.repeat(rows)
            )  # (rows * n_items,)
            out[s : s + rows] = raw.reshape(rows, n_items).numpy()

    @torch.inference_mode()
    def _score_items(self, users: np.ndarray) -> np.ndarray:
        u = torch.as_tensor(users)
        return self._score_user_parts(self.net_.user_side(u), self.net_.user_bias(u).squeeze(-1))

    def _new_user_part(self, vector: torch.Tensor) -> torch.Tensor:
        """User half for a user known only by a factor vector: side features unknown (0 / code 0)."""
        net = self.net_
        parts = [vector[None, :], net.user_numeric.new_zeros((1, net.user_numeric.shape[1]))]
        parts += [emb.weight[:1] for emb in net.user_cats]
        return torch.cat(parts, dim=1)  # (1, d_user)

    def _score_folded(self, user: FoldedUser) -> np.ndarray:
        with torch.inference_mode():
            part = self._new_user_part(torch.as_tensor(np.asarray(user.vector, dtype=np.float32)))
            return self._score_user_parts(part, torch.tensor([float(user.bias)]))[0]

    def _fold_in(self, items: np.ndarray, values: np.ndarray | None) -> FoldedUser:
        """Gradient steps on the new user's vector and bias; liked items without ratings count as top."""
        target = np.full(len(items), self.scale_.high) if values is None else values
        vector, bias = self.fold_in_vector(items, target)
        return FoldedUser(items, values, vector, bias)

    def _explain(self, user: int | FoldedUser, item: int) -> list[Term]:
        """Global, user and item biases, and what the network adds: they sum to the score exactly."""
        if isinstance(user, FoldedUser):
            score, bias = float(self._score_folded(user)[item]), user.bias
        else:
            score, bias = float(self._score_items(np.array([user]))[0, item]), float(self.user_bias_[user])
        terms = [
            Term("global bias", float(self.global_bias_)),
            Term("user bias", bias),
            Term("item bias", float(self.item_bias_[item])),
        ]
        return [*terms, Term("network", score - sum(t.value for t in terms))]

    def fold_in_vector(
        self, items: np.ndarray, ratings: np.ndarray, *, reg: float = 1.0, steps: int = 100, lr: float = 0.05
    ) -> tuple[np.ndarray, float]:
        """(factor vector, bias) of a new user from item indices and ratings: gradient steps on the
        user's vector and bias only, everything else frozen, shrunk towards the average user by `reg`."""
        self._check_fitted()
        idx = torch.as_tensor(np.asarray(items, dtype=np.int64))
        target = torch.as_tensor(np.asarray(ratings, dtype=np.float32))
        mean_vec = torch.from_numpy(self.user_factors_.mean(axis=0))
        mean_bias = float(self.user_bias_.mean())
        vec = mean_vec.clone().requires_grad_(True)
        bias = torch.tensor(mean_bias, requires_grad=True)
        opt = torch.optim.Adam([vec, bias], lr=lr)
        net = self.net_
        low, span = net.low, net.span
        for p in net.parameters():
            p.requires_grad_(False)
        try:
            with torch_threads(1):
                for _ in range(steps):
                    part = self._new_user_part(vec).expand(len(idx), -1)  # (m, d_user)
                    pred = low + span * torch.sigmoid(net.raw_from(part, bias.expand(len(idx)), idx))
                    shrink = ((vec - mean_vec) ** 2).sum() + (bias - mean_bias) ** 2
                    loss = ((pred - target) ** 2).sum() + reg * shrink
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        finally:
            for p in net.parameters():
                p.requires_grad_(True)
        return vec.detach().numpy().copy(), float(bias.detach())

    # -- persistence ---------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, np.ndarray]:
        net = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {**super()._state_arrays(), **net}

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "user_spec": self.user_spec_, "item_spec": self.item_spec_}

    def _saved_shapes(self, saved: SavedState) -> dict[str, tuple[Any, tuple[int, ...]]]:
        """The network's tensors as a network built from the saved sizes and feature specs has them."""
        sides = []
        for key, n in (("user_spec", saved.n_users), ("item_spec", saved.n_items)):
            spec = _checked_spec(saved, key)
            widths = {"flags": None, "number": 1, "category": 0}
            numeric = [len(s["vocab"]) if widths[s["kind"]] is None else widths[s["kind"]] for s in spec]
            n_codes = sum(s["kind"] == "category" for s in spec)
            zeros = np.zeros((n, sum(numeric)), np.float32), np.zeros((n, n_codes), np.int64)
            sides.append(SideFeatures(*zeros, spec))
        net = NeuralNet(
            self.n_factors, tuple(self.hidden), self.dropout, *sides, saved.n_users, saved.n_items, (0.0, 1.0)
        )
        return {
            f"net.{k}": (torch.empty(0, dtype=v.dtype).numpy().dtype, tuple(v.shape) or (1,))  # 0-d: (1,)
            for k, v in net.state_dict().items()
        }

    def _check_saved(self, saved: SavedState) -> None:
        super()._check_saved(saved)
        for side in ("user", "item"):  # category codes index the category embeddings: 0..len(vocab)
            categories = [s for s in saved.state[f"{side}_spec"] if s["kind"] == "category"]
            codes = saved.arrays[f"net.{side}_codes"]
            for j, spec in enumerate(categories):
                if codes.size and (codes[:, j].min() < 0 or codes[:, j].max() > len(spec["vocab"])):
                    saved.fail(f"net.{side}_codes", f"column {j} holds codes outside 0..{len(spec['vocab'])}")

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        super()._load_state(arrays, state)
        weights = {
            k.removeprefix("net."): torch.from_numpy(v.copy())
            for k, v in arrays.items()
            if k.startswith("net.")
        }
        users = SideFeatures(arrays["net.user_numeric"], arrays["net.user_codes"], state["user_spec"])
        items = SideFeatures(arrays["net.item_numeric"], arrays["net.item_codes"], state["item_spec"])
        low, high = self.y_range
        net = self._build(users, items, len(self.user_ids_), len(self.item_ids_), low, high)
        net.load_state_dict(weights)
        self._adopt(net.eval())


def _checked_spec(saved: SavedState, key: str) -> list[dict[str, Any]]:
    """A saved side-feature spec: a list of {column, kind, vocab | mean and std}."""
    spec = saved.value(key, list)
    for n, entry in enumerate(spec):
        field = f"state.{key}[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("column"), str):
            saved.fail(field, "expected an object with a 'column' name")
        kind = entry.get("kind")
        if kind in ("flags", "category"):
            vocab = entry.get("vocab")
            if not isinstance(vocab, list) or not all(isinstance(v, str) for v in vocab):
                saved.fail(f"{field}.vocab", "expected a list of strings")
        elif kind == "number":
            for name in ("mean", "std"):
                value = entry.get(name)
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    saved.fail(f"{field}.{name}", f"expected a finite number, got {value!r}")
        else:
            saved.fail(f"{field}.kind", f"expected 'flags', 'number' or 'category', got {kind!r}")
    return spec
