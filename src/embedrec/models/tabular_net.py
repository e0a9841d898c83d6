"""The network of a table model: one embedding per categorical column, beside the numeric features, then
an MLP with batch norm and dropout (entity embeddings, Guo & Berkhahn 2016; fastai's TabularModel).

    x = [E_1[c_1], ..., E_m[c_m], numbers]  ->  (Linear -> ReLU -> BatchNorm -> Dropout) × layers -> Linear

With `interaction_size` k > 0 a factorisation machine is added to the output (DeepFM): a bias per
category and Σ_{i<j} v_i·v_j over k-dimensional factors of the row's categories, which is how a
user id and a movie id interact in matrix factorisation. Row 0 of every table is "unknown": codes never
seen in training map there, and during training a share `unknown_rate` of codes is replaced by 0 so
that the row learns what an unseen value should predict.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def embedding_size(n_rows: int, max_size: int = 50) -> int:
    """The default width of a categorical column's embedding: min(max_size, ⌈1.6 · n^0.56⌉)."""
    return int(min(max_size, math.ceil(1.6 * n_rows**0.56)))


class _BatchNorm(nn.BatchNorm1d):
    """BatchNorm1d that uses its running statistics for a training batch of one row (the last batch
    of an epoch can have one), where batch statistics do not exist."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False)
        return super().forward(x)


class TabularNet(nn.Module):
    """Embeddings of the category codes and the numeric features -> MLP (+ FM) -> n_out outputs a row."""

    def __init__(
        self,
        cardinalities: list[int],
        sizes: list[int],
        n_numeric: int,
        hidden: tuple[int, ...],
        n_out: int,
        *,
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        batch_norm: bool = True,
        interaction_size: int = 0,
        embedding_reg: float = 0.0,
        unknown_rate: float = 0.0,
        y_range: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # reset_parameters re-initialises from a seeded generator
            self.embeddings = nn.ModuleList(
                nn.Embedding(c, d) for c, d in zip(cardinalities, sizes, strict=True)
            )
            self.embedding_dropout = nn.Dropout(embedding_dropout)
            width = sum(sizes) + n_numeric
            layers: list[nn.Module] = []
            for h in hidden:
                layers += [nn.Linear(width, h), nn.ReLU()]
                if batch_norm:
                    layers.append(_BatchNorm(h))
                if dropout:
                    layers.append(nn.Dropout(dropout))
                width = h
            self.mlp = nn.Sequential(*layers)
            self.head = nn.Linear(width, n_out)
            fm = cardinalities if interaction_size else []
            self.factors = nn.ModuleList(nn.Embedding(c, n_out * interaction_size) for c in fm)
            self.biases = nn.ModuleList(nn.Embedding(c, n_out) for c in fm)
        self.n_out = n_out
        self.embedding_reg = embedding_reg
        self.unknown_rate = unknown_rate
        self.y_range = y_range
        # Penalty weight of each row of each column (set by the model from the category counts).
        self.reg_weights: list[torch.Tensor] = [torch.ones(c) for c in cardinalities]

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Seeded initialisation: embeddings and factors N(0, 0.01²) like fastai, Kaiming for layers."""
        with torch.no_grad():
            for emb in [*self.embeddings, *self.factors]:
                nn.init.normal_(emb.weight, 0.0, 0.01, generator=generator)
            for bias in self.biases:
                nn.init.zeros_(bias.weight)
            for layer in [*self.mlp, self.head]:
                if isinstance(layer, nn.Linear):
                    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu", generator=generator)
                    nn.init.zeros_(layer.bias)
                elif isinstance(layer, nn.BatchNorm1d):
                    layer.reset_parameters()

    def forward(self, codes: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """(batch,) for one output (a prediction or a logit), else (batch, n_out) logits."""
        if self.training and self.unknown_rate and codes.numel():
            drop = torch.rand(codes.shape, device=codes.device) < self.unknown_rate
            codes = codes.masked_fill(drop, 0)
        parts = [emb(codes[:, j]) for j, emb in enumerate(self.embeddings)]  # (batch, d_j) each
        embedded = self.embedding_dropout(torch.cat(parts, dim=1)) if parts else numbers[:, :0]
        out = self.head(self.mlp(torch.cat([embedded, numbers], dim=1)))  # (batch, n_out)
        if len(self.factors):
            out = out + self._wide(codes)
        if self.n_out == 1:
            out = out.squeeze(-1)
        if self.y_range is not None:
            low, high = self.y_range
            out = low + (high - low) * torch.sigmoid(out)
        return out

    def _wide(self, codes: torch.Tensor) -> torch.Tensor:
        """Biases plus pairwise dot products Σ_{i<j} v_i·v_j of the columns' factors: (batch, n_out)."""
        batch, n_out = codes.shape[0], self.n_out
        v = torch.stack([f(codes[:, j]) for j, f in enumerate(self.factors)], dim=1)  # (batch, m, n_out·k)
        v = v.reshape(batch, v.shape[1], n_out, -1)  # (batch, m, n_out, k)
        pairs = 0.5 * (v.sum(1) ** 2 - (v**2).sum(1)).sum(-1)  # (batch, n_out): all pairs in O(m·k)
        return pairs + sum(b(codes[:, j]) for j, b in enumerate(self.biases))

    def penalty(self, codes: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """embedding_reg × the mean weighted squared norm of the embedding and factor rows a batch uses."""
        if not self.embedding_reg or not codes.shape[1]:
            return numbers.new_zeros(())
        total = numbers.new_zeros(codes.shape[0])  # (batch,)
        for table in (self.embeddings, self.factors):
            for j, emb in enumerate(table):
                w = self.reg_weights[j].to(codes.device)[codes[:, j]]  # (batch,)
                total = total + (emb(codes[:, j]) ** 2).sum(-1) * w
        return self.embedding_reg * total.mean()

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Weight decay on the layer weights, and on the embeddings unless the penalty covers them."""
        decay = [m.weight for m in [*self.mlp, self.head] if isinstance(m, nn.Linear)]
        if not self.embedding_reg:
            decay += [e.weight for e in [*self.embeddings, *self.factors, *self.biases]]
        ids = {id(p) for p in decay}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
