"""Embedding tables split row-wise over processes: each owns a block of rows, and lookups travel.

A table of n rows over W processes: process r owns rows [r·m, (r+1)·m), m = ⌈n / W⌉, and keeps only
those, with their gradient and optimiser state. A lookup sends each distinct row id of the batch to its
owner and gets the rows back (an all-to-all of the counts, then of the ids, then of the rows); the
backward pass sends each row's gradient back to its owner the same way, where they add up. While it
trains, a process holds 1/W of each sharded table's weights, gradient and two Adam moments (the four
copies dense training keeps). The model still builds and initialises the whole table in every process
before it is split, and `to_embedding` assembles it again after training, so the peak is one whole
copy of the weights at the start and at the end.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from embedrec.errors import ParameterError


def _all_to_all(x: torch.Tensor, out_splits: list[int], in_splits: list[int], group: Any) -> torch.Tensor:
    """Send in_splits[j] leading rows of what is left of `x` to process j; receive out_splits[j] from j."""
    out = x.new_empty((sum(out_splits), *x.shape[1:]))
    dist.all_to_all_single(out, x.contiguous(), out_splits, in_splits, group=group)
    return out


@dataclass
class _Plan:
    """Who asks whom for which rows, for one batch of ids: shared by the tables of the same length."""

    ids: weakref.ref  # the ids tensor it was made for (a new batch is a new tensor)
    version: int  # and its version counter, so an in-place change is noticed
    inverse: torch.Tensor  # (len(ids),): position of each id among the distinct ones
    requested: torch.Tensor  # local row numbers other processes asked this one for
    asked: list[int]  # how many distinct ids this process asks of each process
    asked_of_me: list[int]  # how many each process asks of this one


class _Exchange(torch.autograd.Function):
    """Rows of the owners' local tables for the ids every process asked for; gradients go back to owners."""

    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor, plan: _Plan, group: Any, sparse: bool) -> torch.Tensor:
        ctx.plan, ctx.group, ctx.shape, ctx.sparse = plan, group, weight.shape, sparse
        return _all_to_all(weight[plan.requested], plan.asked, plan.asked_of_me, group)  # (n_asked, dim)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        plan = ctx.plan
        back = _all_to_all(grad, plan.asked_of_me, plan.asked, ctx.group)  # (n_requested, dim): my rows'
        if ctx.sparse:
            out = torch.sparse_coo_tensor(plan.requested[None], back, ctx.shape, check_invariants=False)
        else:
            out = back.new_zeros(ctx.shape).index_add_(0, plan.requested, back)
        return out, None, None, None


class ShardedEmbedding(nn.Module):
    """An embedding table of `num_embeddings` rows of which this process holds its block (`weight`).

    Called with global row ids, like nn.Embedding, in every process at the same time: each call is a
    collective exchange, so all processes must look up the same tables in the same order.
    """

    def __init__(
        self,
        local: torch.Tensor,
        num_embeddings: int,
        group: Any = None,
        *,
        sparse: bool = False,
        plans: dict[int, _Plan] | None = None,
    ) -> None:
        super().__init__()
        self.group = group
        self.rank, self.world_size = dist.get_rank(group), dist.get_world_size(group)
        self.num_embeddings, self.embedding_dim, self.sparse = num_embeddings, local.shape[1], sparse
        self.rows_per_rank = math.ceil(num_embeddings / self.world_size)
        self.start = min(num_embeddings, self.rank * self.rows_per_rank)
        if len(local) != min(num_embeddings, self.start + self.rows_per_rank) - self.start:
            raise ParameterError(
                f"this process owns rows {self.start}..{self.start + self.rows_per_rank - 1} of a "
                f"{num_embeddings}-row table, but was given {len(local)} rows"
            )
        self.weight = nn.Parameter(local)
        self.plans = {} if plans is None else plans  # tables sharing it skip the exchange of ids

    @classmethod
    def split(
        cls, table: nn.Embedding, group: Any = None, plans: dict[int, _Plan] | None = None
    ) -> ShardedEmbedding:
        """This process's block of an initialised nn.Embedding (every process holds the same table);
        tables given the same `plans` dict share the exchange of ids for a batch they both look up."""
        if table.padding_idx is not None or table.max_norm is not None:
            raise ParameterError("an embedding table with padding_idx or max_norm cannot be sharded")
        world, rank = dist.get_world_size(group), dist.get_rank(group)
        per = math.ceil(table.num_embeddings / world)
        start = min(table.num_embeddings, rank * per)
        local = table.weight.detach()[start : start + per].clone()
        return cls(local, table.num_embeddings, group, sparse=table.sparse, plans=plans)

    def _plan(self, ids: torch.Tensor) -> _Plan:
        """Send each distinct id to its owner (after the counts); reused for the same ids and table length."""
        cached = self.plans.get(self.num_embeddings)
        if cached is not None and cached.ids() is ids and cached.version == ids._version:
            return cached
        unique, inverse = torch.unique(ids.reshape(-1), sorted=True, return_inverse=True)  # grouped by owner
        owner = torch.div(unique, self.rows_per_rank, rounding_mode="floor")
        counts = torch.bincount(owner, minlength=self.world_size)
        counts_of_me = torch.empty_like(counts)
        dist.all_to_all_single(counts_of_me, counts, group=self.group)
        asked, asked_of_me = counts.tolist(), counts_of_me.tolist()  # the sizes of the exchange, on the host
        requested = _all_to_all(unique, asked_of_me, asked, self.group) - self.start  # local row numbers
        plan = _Plan(weakref.ref(ids), ids._version, inverse, requested, asked, asked_of_me)
        self.plans[self.num_embeddings] = plan
        return plan

    @torch.compiler.disable  # the exchange's sizes are data: it runs eagerly inside a compiled step
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        plan = self._plan(ids)
        rows = _Exchange.apply(self.weight, plan, self.group, self.sparse)  # (n distinct ids, dim)
        return rows[plan.inverse].view(*ids.shape, self.embedding_dim)  # (*ids.shape, dim)

    def gather(self) -> torch.Tensor:
        """The whole table, assembled in every process  # (num_embeddings, dim)."""
        local = self.weight.detach()
        padded = local.new_zeros((self.rows_per_rank, self.embedding_dim))
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded, group=self.group)
        return torch.cat(parts)[: self.num_embeddings]

    def to_embedding(self) -> nn.Embedding:
        """A plain nn.Embedding holding the whole table (the same in every process)."""
        full = self.gather()
        return nn.Embedding.from_pretrained(full.clone(), freeze=False, sparse=self.sparse)

    def extra_repr(self) -> str:
        return (
            f"{self.num_embeddings}, {self.embedding_dim}, rows {self.start}.."
            f"{self.start + len(self.weight) - 1} of {self.world_size} processes"
        )
