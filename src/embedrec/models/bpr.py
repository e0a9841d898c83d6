"""`BPR`: user and item vectors trained to rank liked items above sampled others, in PyTorch (CPU or GPU).

    score(u, i) = p_u·q_i + b_i

Each step takes a batch of (user, liked item) pairs, samples `n_negatives` items per pair (uniformly,
or in proportion to popularity^0.75) and minimises one of three ranking losses, picked by name:

    bpr       mean_j softplus(s_uj - s_ui)                      (Rendle et al. 2009)
    warp      log(1 + rank̂) · max_j (1 - s_ui + s_uj)₊        rank̂ from the share of violating samples
                                                                (Weston et al. 2011, LightFM's WARP)
    softmax   -log softmax(s_ui, s_uj...)                       sampled softmax, log-Q corrected

plus L2 on the rows each batch touches. It shares the training loop of every PyTorch model
(`models.training`) and the fold-in and explanations of `models.latent`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn

from embedrec.checks import check_choice, check_non_negative, check_positive, pick
from embedrec.data.implicit import WEIGHTS
from embedrec.data.interactions import Interactions
from embedrec.errors import ParameterError
from embedrec.models.latent import LatentRanker
from embedrec.models.training import SCHEDULES, TrainConfig, TrainHistory, train_module

POPULARITY_EXPONENT = 0.75  # popularity sampling: P(j) ∝ likes_j^0.75, word2vec's damping


# -- losses: (positive scores (b,), negative scores (b, n), log Q of the negatives (b, n) or None,
#    log Q of the positives (b,) or None, catalogue size) -> per-pair loss (b,) -------------------------
def bpr_loss(
    pos: torch.Tensor, neg: torch.Tensor, neg_logq: torch.Tensor | None, pos_logq: torch.Tensor | None, n: int
) -> torch.Tensor:
    """Bayesian personalised ranking: -log σ(s_pos - s_neg), averaged over the sampled negatives."""
    return F.softplus(neg - pos[:, None]).mean(dim=1)


def warp_loss(
    pos: torch.Tensor, neg: torch.Tensor, neg_logq: torch.Tensor | None, pos_logq: torch.Tensor | None, n: int
) -> torch.Tensor:
    """WARP-style: the hardest sampled margin violation, weighted by log(1 + the rank it implies)."""
    violation = 1.0 - pos[:, None] + neg  # (b, n_negatives)
    share = (violation > 0).float().mean(dim=1)
    weight = torch.log1p(share * (n - 1)).detach()  # rank̂ = share of violators × catalogue
    return weight * violation.max(dim=1).values.clamp(min=0.0)


def softmax_loss(
    pos: torch.Tensor, neg: torch.Tensor, neg_logq: torch.Tensor | None, pos_logq: torch.Tensor | None, n: int
) -> torch.Tensor:
    """Sampled softmax: -log of the positive's share among itself and the negatives (log-Q corrected)."""
    logits = torch.cat([pos[:, None], neg], dim=1)  # (b, 1 + n_negatives)
    if neg_logq is not None and pos_logq is not None:
        logits = logits - torch.cat([pos_logq[:, None], neg_logq], dim=1)
    return -F.log_softmax(logits, dim=1)[:, 0]


LOSSES: dict[str, Callable[..., torch.Tensor]] = {"bpr": bpr_loss, "warp": warp_loss, "softmax": softmax_loss}
NEGATIVES = ("uniform", "popularity")


class BPRNet(nn.Module):
    """p_u·q_i + b_i as a torch module, with a sampled ranking loss as its `batch_loss`."""

    def __init__(self, n_users: int, n_items: int, n_factors: int, loss: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.item_factors = nn.Embedding(n_items, n_factors)
        self.item_bias = nn.Embedding(n_items, 1)
        self.loss = loss
        self.n_negatives = 1
        self.reg = 0.0
        self.init_std = 0.1
        self.cdf: torch.Tensor | None = None  # popularity sampling's cumulative distribution, else uniform
        self.logq: torch.Tensor | None = None  # log sampling probability per item (popularity sampling)
        self.weight_scale: torch.Tensor | None = None

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for table in (self.user_factors, self.item_factors):
                table.weight.normal_(0.0, self.init_std, generator=generator)
            self.item_bias.weight.zero_()

    def use_popularity(self, likes: np.ndarray) -> None:
        """Sample negatives in proportion to likes^0.75 instead of uniformly."""
        p = np.power(np.maximum(likes, 0).astype(np.float64), POPULARITY_EXPONENT)
        p = p / p.sum()
        self.cdf = torch.from_numpy(np.cumsum(p)).float()
        self.logq = torch.from_numpy(np.log(np.maximum(p, 1e-12))).float()

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dots = (self.user_factors(users) * self.item_factors(items)).sum(dim=-1)  # (batch,)
        return dots + self.item_bias(items).squeeze(-1)

    def _negatives(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        n_items = self.item_factors.num_embeddings
        shape = (batch, self.n_negatives)
        if self.cdf is None:
            return torch.randint(n_items, shape, generator=generator)
        draws = torch.rand(shape, generator=generator)
        return torch.searchsorted(self.cdf, draws).clamp_(max=n_items - 1)

    def batch_loss(
        self, users: torch.Tensor, items: torch.Tensor, weights: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """The ranking loss of a batch of liked (user, item) pairs, each weighted by its like-weight."""
        dev = users.device
        negatives = self._negatives(len(users), generator).to(dev)  # (b, n_negatives)
        p = self.user_factors(users)  # (b, k)
        q_pos, q_neg = self.item_factors(items), self.item_factors(negatives)  # (b, k), (b, n, k)
        pos = (p * q_pos).sum(dim=-1) + self.item_bias(items).squeeze(-1)  # (b,)
        neg = torch.einsum("bk,bnk->bn", p, q_neg) + self.item_bias(negatives).squeeze(-1)  # (b, n)
        logq = None if self.logq is None else self.logq.to(dev)
        per_pair = self.loss(
            pos,
            neg,
            None if logq is None else logq[negatives],
            None if logq is None else logq[items],
            self.item_factors.num_embeddings,
        )
        scale = weights if self.weight_scale is None else weights * self.weight_scale.to(dev)
        l2 = p.square().sum(-1) + q_pos.square().sum(-1) + q_neg.square().sum(-1).mean(-1)
        return torch.mean(scale * per_pair) + self.reg * torch.mean(l2)


class BPR(LatentRanker):
    """User and item vectors (and item biases) trained by a sampled ranking loss: `loss` is "bpr",
    "warp" or "softmax" (`LOSSES`), `negatives` "uniform" or "popularity"; `n_negatives` per liked pair.

    What counts as a like: `min_rating` and `weights` (`data.implicit`); like-weights weigh each pair's
    loss. Runs on a GPU with `device="cuda"`. A new user is folded in by least squares against the item
    vectors (`fold_in_alpha`, `fold_in_reg`), which also splits every score over the user's liked items.
    """

    def __init__(
        self,
        n_factors: int = 64,
        *,
        loss: str = "bpr",
        negatives: str = "uniform",
        n_negatives: int = 8,
        epochs: int = 30,
        lr: float = 0.02,
        batch_size: int = 1024,
        reg: float = 0.01,
        init_std: float = 0.1,
        schedule: str = "onecycle",
        min_rating: float | None = None,
        weights: str = "binary",
        fold_in_alpha: float = 100.0,
        fold_in_reg: float = 1.0,
        threads: int | None = 1,
        device: str = "cpu",
        seed: int = 0,
        verbose: bool = True,
    ) -> None:
        self.n_factors = n_factors
        self.loss = loss
        self.negatives = negatives
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.reg = reg
        self.init_std = init_std
        self.schedule = schedule
        self.min_rating = min_rating
        self.weights = weights
        self.fold_in_alpha = fold_in_alpha
        self.fold_in_reg = fold_in_reg
        self.threads = threads
        self.device = device
        self.seed = seed
        self.verbose = verbose

    def _validate(self) -> None:
        check_positive("n_factors", self.n_factors, integer=True)
        pick(LOSSES, self.loss, "loss")
        check_choice("negatives", self.negatives, NEGATIVES)
        check_positive("n_negatives", self.n_negatives, integer=True)
        for name in ("reg", "init_std", "fold_in_alpha"):
            check_non_negative(name, getattr(self, name))
        check_positive("fold_in_reg", self.fold_in_reg)
        pick(WEIGHTS, self.weights, "weights")
        pick(SCHEDULES, self.schedule, "schedule")
        if self.min_rating is not None:
            check_non_negative("min_rating", self.min_rating)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        self._config()  # validates epochs, lr, batch_size, threads, device

    def _config(self) -> TrainConfig:
        """The shared loop's settings (not its `loss`: BPR brings its own, `BPRNet.batch_loss`)."""
        names = ("epochs", "lr", "batch_size", "schedule", "threads", "device", "seed", "verbose")
        return TrainConfig(
            **{n: getattr(self, n) for n in names}, description=f"BPR ({self.loss}) k={self.n_factors}"
        )

    def _fold_in_settings(self) -> tuple[float, float]:
        return float(self.fold_in_alpha), float(self.fold_in_reg)

    def _fit_bytes(self, n_users: int, n_items: int, n_ratings: int, n_factors: int) -> float:
        """Tables, gradients and two AdamW moments (and the copies made at the end): 6 floats per parameter;
        a batch's sampled negatives with their gradients; the liked pairs as tensors (about 50 bytes each)."""
        rows, batch = n_users + n_items, min(int(self.batch_size), n_ratings)
        return 4.0 * (6 * rows * (n_factors + 1) + 4 * batch * (int(self.n_negatives) + 2) * n_factors) + (
            50.0 * n_ratings
        )

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        """Learn the vectors with the shared loop over the liked pairs (`valid` is not used)."""
        liked = self._liked(train).tocoo()
        net = BPRNet(train.n_users, train.n_items, self.n_factors, LOSSES[self.loss])
        net.n_negatives, net.reg, net.init_std = self.n_negatives, self.reg, self.init_std
        if self.negatives == "popularity":
            net.use_popularity(np.bincount(liked.col, minlength=train.n_items))
        weights = liked.data.astype(np.float32)
        net.weight_scale = torch.tensor(1.0 / float(weights.mean()))  # like-weights average 1 per pair
        self.history_: TrainHistory = train_module(net, (liked.row, liked.col, weights), self._config())
        net.cpu()
        with torch.no_grad():
            self.user_factors_ = net.user_factors.weight.numpy().astype(np.float32)
            self.item_factors_ = net.item_factors.weight.numpy().astype(np.float32)
            self.item_bias_ = net.item_bias.weight.numpy()[:, 0].astype(np.float32)
