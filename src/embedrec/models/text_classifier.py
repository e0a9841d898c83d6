"""TextClassifier: fastText's supervised model in PyTorch — a weighted sum of a text's word (and word
bigram) embeddings, then a linear layer and softmax — trained end to end, so the embedding layer is
learned as one more hidden layer.

p(label | text) = softmax(W · Σ_t a_t E[t] + b), a = the text's sublinear TF-IDF vector, L2-normalised
(by default), or 1/n each (fastText's mean)

It can start its word rows from pre-trained vectors (an EmbeddingTable, or a word2vec/GloVe file), frozen
or fine-tuned, and gives back the learned word vectors as an EmbeddingTable.
"""

from __future__ import annotations

import copy
import math
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from embedrec.checks import check_choice, check_non_negative, check_positive
from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.idmap import IdMap
from embedrec.data.text import LETTERS, Tokenizer
from embedrec.data.vectors import init_matrix, load_vectors
from embedrec.errors import DataError, DivergenceError, ParameterError
from embedrec.models.base import Saveable
from embedrec.models.progress import progress
from embedrec.models.training import resolve_device, torch_threads

_MIX = 116_049_371  # fastText's multiplier combining two word hashes into a bigram's


class _FullBatch:
    """L-BFGS on the whole training set at once: mean cross-entropy + weight_decay/2 · the squared norm of
    the output weights and of the word and bigram rows the training texts use. The bigram rows in use are
    gathered into one small dense table (the hashed table is mostly unused) and written back each step."""

    def __init__(
        self,
        module: _BagModel,
        clf: TextClassifier,
        encoded: tuple[np.ndarray, ...],
        y: np.ndarray,
        rows: np.ndarray,
        dev: torch.device,
    ) -> None:
        self.module, self.decay = module, clf.weight_decay
        self.w_ids, self.w_off, self.w_wt, b_ids, self.b_off, self.b_wt, self.norms = next(
            clf._batches(encoded, rows, dev, size=max(len(rows), 1))
        )
        self.used, self.b_local = torch.unique(b_ids, return_inverse=True)
        self.bigrams = nn.Parameter(module.bigrams.weight.detach()[self.used].clone())  # (n_used, dim)
        self.target = torch.from_numpy(y[rows].astype(np.int64)).to(dev)
        params = [p for p in (module.words.weight, self.bigrams) if p.requires_grad]
        self.params = params + list(module.out.parameters())
        self.opt = torch.optim.LBFGS(
            self.params, lr=1.0, max_iter=10, history_size=10, line_search_fn="strong_wolfe"
        )

    def _loss(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        module = self.module
        total = nn.functional.embedding_bag(
            self.w_ids, module.words.weight, self.w_off, mode="sum", per_sample_weights=self.w_wt
        ) + nn.functional.embedding_bag(
            self.b_local, self.bigrams, self.b_off, mode="sum", per_sample_weights=self.b_wt
        )  # (n_texts, dim)
        logits = module.out(total / self.norms.clamp(min=1e-6)[:, None])  # (n_texts, n_classes)
        loss = nn.functional.cross_entropy(logits, self.target)
        if self.decay > 0:
            loss = loss + 0.5 * self.decay * sum((p * p).sum() for p in self.params if p.dim() == 2)
        loss.backward()
        return loss.detach()

    def step(self) -> float:
        """Ten L-BFGS iterations; the loss before them."""
        loss = float(self.opt.step(self._loss))
        with torch.no_grad():
            self.module.bigrams.weight[self.used] = self.bigrams
        return loss


# name -> (optimizer of the dense output layer, optimizer of the sparse embedding rows)
_OPTIMIZERS: dict[str, tuple[Any, Any]] = {
    "adam": (torch.optim.Adam, torch.optim.SparseAdam),
    "sgd": (torch.optim.SGD, torch.optim.SGD),
    "lbfgs": (None, None),  # full batch: _FullBatch
}


def _word_hash(word: str) -> int:
    """A stable 32-bit hash of a word (Python's hash() changes between runs)."""
    return zlib.crc32(word.encode("utf-8"))


def _bigram_keys(doc: list[str]) -> list[int]:
    """The 64-bit keys of a text's word bigrams; a bigram's bucket is its key modulo the buckets."""
    h = [_word_hash(w) for w in doc]
    return [h[i] * _MIX + h[i + 1] for i in range(len(doc) - 1)]


class _BagModel(nn.Module):
    """Mean of the word rows and of the bigram rows of each text, then a linear layer (logits)."""

    def __init__(self, n_words: int, n_buckets: int, dim: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.words = nn.EmbeddingBag(n_words, dim, mode="sum", sparse=True)
        self.bigrams = nn.EmbeddingBag(max(n_buckets, 1), dim, mode="sum", sparse=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, n_classes)

    def reset_parameters(self, gen: torch.Generator) -> None:
        dim = self.words.embedding_dim
        for bag in (self.words, self.bigrams):  # fastText's uniform(-1/dim, 1/dim) start
            bag.weight.data.uniform_(-1.0 / dim, 1.0 / dim, generator=gen)
        self.out.weight.data.zero_()
        self.out.bias.data.zero_()

    def forward(
        self,
        words: torch.Tensor,
        word_offsets: torch.Tensor,
        word_weights: torch.Tensor,
        bigrams: torch.Tensor,
        bigram_offsets: torch.Tensor,
        bigram_weights: torch.Tensor,
        norms: torch.Tensor,
    ) -> torch.Tensor:
        total = self.words(words, word_offsets, per_sample_weights=word_weights) + self.bigrams(
            bigrams, bigram_offsets, per_sample_weights=bigram_weights
        )  # (B, dim)
        hidden = total / norms.clamp(min=1e-6)[:, None]  # (B, dim) the (weighted) mean
        return self.out(self.dropout(hidden))  # (B, n_classes)


class TextClassifier(Saveable):
    """Labels for short texts from the mean of their word (and word-bigram) embeddings, as fastText.

    `fit(texts, labels)` then `predict(texts)` / `predict_proba(texts)` (columns in `classes_` order).
    `pretrained` (an EmbeddingTable or a word2vec/GloVe path) starts the word rows; `freeze=True` keeps
    them. `weighting` pools the rows: "mean" (fastText's), "idf" (a mean weighted by each token's
    inverse document frequency) or "tfidf": idf · (1 + log tf) per distinct token, divided by the L2
    norm of those weights — scikit-learn's sublinear TF-IDF vector times the embedding matrix, with one
    row per training bigram, up to `max_bigrams` rows for the bigrams in the most texts (bigrams and words no
    training text has are left out). With two classes
    the model is then TF-IDF + logistic regression whose per-token weights are w · E[t], learned.

    `optimizer="lbfgs"` minimises mean cross-entropy + weight_decay/2 · ‖rows, output weights‖² over the
    whole training set, ten L-BFGS iterations an epoch. "adam" and "sgd" take minibatch steps (`lr`,
    `batch_size`, sparse for the embeddings), drop `word_dropout` of each text's tokens and `dropout` of
    the pooled vector, apply weight_decay to the rows each batch uses, and with `average=True` keep the
    weights averaged over the epochs so far. Training holds out `valid_fraction` of the texts and stops
    after `patience` epochs without a better validation accuracy (0: no hold-out, all `epochs`).
    Defaults chosen on five seeded 90/10 splits of the training part of rt_polarity's 90/10 split.
    """

    _fitted_attribute = "classes_"

    def __init__(
        self,
        dim: int = 100,
        ngrams: int = 2,
        buckets: int = 1 << 19,
        max_bigrams: int = 1 << 17,
        min_count: int = 1,
        epochs: int = 10,
        lr: float = 0.01,
        batch_size: int = 32,
        dropout: float = 0.0,
        word_dropout: float = 0.5,
        weighting: str = "tfidf",
        average: bool = True,
        optimizer: str = "lbfgs",
        weight_decay: float = 1e-4,
        valid_fraction: float = 0.0,
        patience: int = 5,
        pretrained: Any = None,
        freeze: bool = False,
        lowercase: bool = True,
        token_pattern: str = LETTERS,
        seed: int = 0,
        device: str = "cpu",
        threads: int | None = 1,
        verbose: bool = True,
    ) -> None:
        self.dim = dim
        self.ngrams = ngrams
        self.buckets = buckets
        self.max_bigrams = max_bigrams
        self.min_count = min_count
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.weighting = weighting
        self.average = average
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.valid_fraction = valid_fraction
        self.patience = patience
        self.pretrained = pretrained
        self.freeze = freeze
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.seed = seed
        self.device = device
        self.threads = threads
        self.verbose = verbose

    # -- parameters --------------------------------------------------------------------------------
    def _validate(self) -> None:
        for name in ("dim", "min_count", "epochs", "batch_size", "patience"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)
        check_choice("optimizer", self.optimizer, tuple(_OPTIMIZERS))
        check_choice("weighting", self.weighting, ("mean", "idf", "tfidf"))
        if self.ngrams not in (1, 2):
            raise ParameterError(
                f"ngrams must be 1 (words) or 2 (words and word bigrams), got {self.ngrams!r}"
            )
        if self.ngrams == 2:
            check_positive("buckets", self.buckets, integer=True)
            check_positive("max_bigrams", self.max_bigrams, integer=True)
        if not 0 <= self.dropout < 1:
            raise ParameterError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0 <= self.valid_fraction < 1:
            raise ParameterError(f"valid_fraction must be in [0, 1), got {self.valid_fraction!r}")
        if self.freeze and self.pretrained is None:
            raise ParameterError("freeze=True needs pretrained vectors (an EmbeddingTable or a vectors file)")
        if self.pretrained is not None and not isinstance(self.pretrained, str | EmbeddingTable):
            raise ParameterError(
                "pretrained must be an EmbeddingTable or a vectors file path, "
                f"got {type(self.pretrained).__name__}"
            )

    def _tokenizer(self) -> Tokenizer:
        return Tokenizer(lowercase=self.lowercase, pattern=self.token_pattern)

    # -- encoding ----------------------------------------------------------------------------------
    def _tokens(self, texts: Any) -> list[list[str]]:
        if isinstance(texts, str):
            raise ParameterError("texts must be a list of texts, got one str; wrap it in a list")
        tok = self._tokenizer()
        out = []
        for t in texts:
            if isinstance(t, str):
                out.append(tok(t))
            elif isinstance(t, list | tuple):
                out.append([str(w) for w in t])
            else:
                raise ParameterError(f"each text must be a str or a list of tokens, got {type(t).__name__}")
        return out

    def _encode(self, docs: list[list[str]]) -> tuple[np.ndarray, ...]:
        """(word ids, word offsets, word tf, bigram bucket ids, bigram offsets, bigram tf): the bags of
        every text. With weighting="tfidf" each distinct token appears once with its count (tf), and
        bigrams no training text has are left out (as unknown words are); otherwise every occurrence
        appears, with tf 1."""
        index = self._word_index
        merge = self.weighting == "tfidf"
        rows = self._bigram_rows if merge else None
        words, w_off, w_tf, bigrams, b_off, b_tf = [], [], [], [], [], []
        for doc in docs:
            ids = [index[w] for w in doc if w in index]
            pairs = []
            if self.ngrams == 2 and len(doc) > 1:
                keys = _bigram_keys(doc)
                if rows is None:
                    pairs = [k % self.buckets for k in keys]
                else:
                    pairs = [rows[k] for k in keys if k in rows]
            for flat, off, tf, tokens in ((words, w_off, w_tf, ids), (bigrams, b_off, b_tf, pairs)):
                off.append(len(flat))
                counted = Counter(tokens).items() if merge else [(t, 1) for t in tokens]
                flat.extend(t for t, _ in counted)
                tf.extend(c for _, c in counted)
        as64 = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
        tf32 = lambda x: np.asarray(x, dtype=np.float32)  # noqa: E731
        return as64(words), as64(w_off), tf32(w_tf), as64(bigrams), as64(b_off), tf32(b_tf)

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, texts: Sequence[Any], labels: Sequence[Any]) -> TextClassifier:
        """Learn from texts (strings, tokenized here, or token lists) and their labels; returns self."""
        self._validate()
        docs = self._tokens(texts)
        labels = np.asarray(list(labels), dtype=object)
        if len(docs) != len(labels):
            raise DataError(f"{len(docs)} texts but {len(labels)} labels")
        if len(docs) == 0:
            raise DataError("no texts to learn from")
        classes = sorted({str(x) for x in labels})
        if len(classes) < 2:
            raise DataError(f"need at least two labels to tell apart, got only {classes!r}")
        y = np.searchsorted(np.array(classes, dtype=object), np.array([str(x) for x in labels], dtype=object))
        rng = np.random.default_rng(self.seed)
        valid_rows = self._valid_rows(y, rng)
        train_rows = np.setdiff1d(np.arange(len(docs)), valid_rows)
        counts = Counter(w for r in train_rows for w in docs[r])
        vocab = sorted((w for w, c in counts.items() if c >= self.min_count), key=lambda w: (-counts[w], w))
        if not vocab:
            raise DataError(f"no word occurs min_count={self.min_count} times in the training texts")
        self._word_index = {w: i for i, w in enumerate(vocab)}
        self.classes_ = np.array(classes, dtype=object)
        self.vocab_counts_ = np.array([counts[w] for w in vocab], dtype=np.int64)
        self._vocab = vocab
        keys: list[int] = []  # tfidf: the training texts' bigrams, one row each, as TF-IDF's vocabulary
        if self.weighting == "tfidf" and self.ngrams == 2:
            df = Counter(k for r in train_rows for k in set(_bigram_keys(docs[r])))
            # the bigrams in the most texts: time and memory stay bounded on long or many texts (rt_polarity
            # has 105k bigrams; 450 Brown documents 442k, which took 6.8 GB and 155 s uncapped)
            keys = [k for k, _ in sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_bigrams]]
        self._bigram_rows = {k: i for i, k in enumerate(sorted(keys))}
        module = _BagModel(len(vocab), self._n_buckets(), self._dim(), len(classes), self.dropout)
        gen = torch.Generator().manual_seed(self.seed)
        module.reset_parameters(gen)
        self._use_pretrained(module)
        encoded = self._encode(docs)
        self._set_weights(encoded, train_rows)
        start = time.perf_counter()
        with torch_threads(self.threads):
            self.history_ = self._train(module, encoded, y, train_rows, valid_rows, gen)
        self.train_seconds_ = time.perf_counter() - start
        self._module = module.eval()
        return self

    def _set_weights(self, encoded: tuple[np.ndarray, ...], train_rows: np.ndarray) -> None:
        """Each word's and bigram bucket's weight in a bag: 1 for a plain mean, or its smoothed inverse
        document frequency over the training texts, log((1 + n) / (1 + df)) + 1, as scikit-learn's;
        with "tfidf", a bucket no training text has weighs 0 (as a bigram outside TF-IDF's vocabulary)."""
        n_buckets = max(self._n_buckets(), 1)
        self.word_weights_ = np.ones(len(self._vocab), dtype=np.float32)
        self.bucket_weights_ = np.ones(n_buckets, dtype=np.float32)
        if self.weighting == "mean":
            return
        words, w_off, _, bigrams, b_off, _ = encoded
        for ids, off, size, out in ((words, w_off, len(self._vocab), "word_weights_"),
                                    (bigrams, b_off, n_buckets, "bucket_weights_")):  # fmt: skip
            ends = np.append(off[1:], len(ids))
            doc = np.repeat(np.arange(len(off)), ends - off)
            mine = np.isin(doc, train_rows)
            pairs = np.unique(np.stack([doc[mine], ids[mine]]), axis=1)  # (2, distinct doc-token pairs)
            df = np.bincount(pairs[1], minlength=size)
            idf = np.log((1.0 + len(train_rows)) / (1.0 + df)) + 1.0
            if self.weighting == "tfidf":
                idf[df == 0] = 0.0
            setattr(self, out, idf.astype(np.float32))

    def _n_buckets(self) -> int:
        """Rows of the bigram table: one per training bigram (tfidf), else the hash buckets."""
        if self.ngrams == 1:
            return 0
        return len(self._bigram_rows) if self.weighting == "tfidf" else self.buckets

    def _dim(self) -> int:
        if self.pretrained is None:
            return self.dim
        table = self._pretrained_table()
        if table.dim != self.dim:
            raise ParameterError(f"dim={self.dim} but the pretrained vectors have {table.dim} dimensions")
        return self.dim

    def _pretrained_table(self) -> EmbeddingTable:
        if isinstance(self.pretrained, EmbeddingTable):
            return self.pretrained
        if not hasattr(self, "_loaded_pretrained"):
            self._loaded_pretrained = load_vectors(self.pretrained)
        return self._loaded_pretrained

    def _use_pretrained(self, module: _BagModel) -> None:
        if self.pretrained is None:
            self.pretrained_found_ = 0
            return
        table = self._pretrained_table()
        rows, mask = init_matrix(table, IdMap(np.array(self._vocab, dtype=object), kind="word"), dim=self.dim)
        module.words.weight.data[torch.from_numpy(mask)] = torch.from_numpy(rows[mask])
        if self.freeze:
            module.words.weight.requires_grad_(False)
        self.pretrained_found_ = int(mask.sum())

    def _valid_rows(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A stratified, seeded `valid_fraction` of the rows (none when 0 or too few texts)."""
        if self.valid_fraction == 0:
            return np.empty(0, dtype=np.int64)
        out = []
        for c in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == c))
            out.append(rows[: int(round(len(rows) * self.valid_fraction))])
        valid = np.sort(np.concatenate(out))
        return valid if 0 < len(valid) < len(y) else np.empty(0, dtype=np.int64)

    def _batches(
        self,
        encoded: tuple[np.ndarray, ...],
        rows: np.ndarray,
        dev: torch.device,
        drop: float = 0.0,
        rng: np.random.Generator | None = None,
        size: int | None = None,
    ) -> Any:
        """Bags of `rows` in batches, with each token's weight and each bag's norm: weight 1 (or the
        token's idf) per occurrence and the sum of the weights, or with "tfidf" idf · (1 + log tf) per
        distinct token and the L2 norm of those (scikit-learn's sublinear, L2-normalised TF-IDF). `drop`
        leaves out that share of the tokens (word dropout)."""
        words, w_off, w_tf, bigrams, b_off, b_tf = encoded
        w_end = np.append(w_off[1:], len(words))
        b_end = np.append(b_off[1:], len(bigrams))
        tfidf, size = self.weighting == "tfidf", size or self.batch_size
        for s in range(0, len(rows), size):
            r = rows[s : s + size]
            w_idx, w_len = _gather(w_off[r], w_end[r], drop, rng)
            b_idx, b_len = _gather(b_off[r], b_end[r], drop, rng)
            w_ids, b_ids = words[w_idx], bigrams[b_idx]
            w_wt, b_wt = self.word_weights_[w_ids], self.bucket_weights_[b_ids]
            if tfidf:
                w_wt = w_wt * (1.0 + np.log(w_tf[w_idx]))
                b_wt = b_wt * (1.0 + np.log(b_tf[b_idx]))
            bag = np.concatenate([np.repeat(np.arange(len(r)), w_len), np.repeat(np.arange(len(r)), b_len)])
            wt = np.concatenate([w_wt, b_wt])
            norms = (
                np.sqrt(np.bincount(bag, wt * wt, minlength=len(r)))
                if tfidf
                else np.bincount(bag, wt, minlength=len(r))
            )
            arrays = (w_ids, _offsets(w_len), w_wt, b_ids, _offsets(b_len), b_wt, norms.astype(np.float32))
            yield tuple(torch.from_numpy(np.ascontiguousarray(a)).to(dev) for a in arrays)

    def _train(
        self,
        module: _BagModel,
        encoded: tuple[np.ndarray, ...],
        y: np.ndarray,
        train_rows: np.ndarray,
        valid_rows: np.ndarray,
        gen: torch.Generator,
    ) -> dict[str, Any]:
        dev = resolve_device(self.device)
        module.to(dev).train()
        full = _FullBatch(module, self, encoded, y, train_rows, dev) if self.optimizer == "lbfgs" else None
        opts = self._optimizers(module) if full is None else []
        target = torch.from_numpy(y.astype(np.int64)).to(dev)
        history: dict[str, Any] = {"train_loss": [], "valid_loss": [], "valid_accuracy": [], "best_epoch": 0}
        best, best_state, stale = (-math.inf, -math.inf), None, 0
        average = self.average and full is None
        shadow = copy.deepcopy(module) if average else module  # holds the averaged weights
        averaged: dict[str, torch.Tensor] = {}
        order_rng = np.random.default_rng(self.seed)
        bar_ctx = progress("text classifier", self.epochs, valid="valid accuracy", verbose=self.verbose)
        with torch.random.fork_rng(devices=[]), bar_ctx as bar:
            torch.manual_seed(self.seed)  # dropout draws from the global generator: seed it, then restore
            for epoch in range(self.epochs):
                if full is not None:
                    loss_value = full.step()
                else:
                    loss_value = self._epoch(module, opts, encoded, order_rng.permutation(train_rows),
                                             target, dev, order_rng)  # fmt: skip
                if not math.isfinite(loss_value):
                    raise DivergenceError(
                        f"training diverged in epoch {epoch + 1} with lr={self.lr:g}; try lr={self.lr / 10:g}"
                    )
                history["train_loss"].append(loss_value)
                if average:  # running mean of the weights after each epoch (Polyak averaging)
                    with torch.no_grad():
                        for name, value in module.state_dict().items():
                            if name not in averaged:
                                averaged[name] = value.detach().clone()
                            else:
                                averaged[name] += (value - averaged[name]) / (epoch + 1)
                    shadow.load_state_dict(averaged)
                acc = math.nan
                if len(valid_rows):  # best: highest validation accuracy, ties broken by lower loss
                    logits = self._logits(shadow, encoded, valid_rows, dev)
                    acc = float(np.mean(logits.argmax(axis=1) == y[valid_rows]))
                    valid_loss = _cross_entropy(logits, y[valid_rows])
                    history["valid_accuracy"].append(acc)
                    history["valid_loss"].append(valid_loss)
                    if (acc, -valid_loss) > best:
                        best, stale, history["best_epoch"] = (acc, -valid_loss), 0, epoch
                        best_state = copy.deepcopy(shadow.state_dict())
                    else:
                        stale += 1
                else:
                    history["best_epoch"] = epoch
                    best_state = copy.deepcopy(shadow.state_dict()) if average else None
                if bar is not None:
                    bar.update(epoch, loss_value, acc)
                if len(valid_rows) and stale >= self.patience:
                    break
        if best_state is not None:
            module.load_state_dict(best_state)
        return history

    def _optimizers(self, module: _BagModel) -> list[torch.optim.Optimizer]:
        """The minibatch optimisers: a dense one for the output layer, a sparse one for the rows."""
        sparse = [p for p in (module.words.weight, module.bigrams.weight) if p.requires_grad]
        dense_opt, sparse_opt = _OPTIMIZERS[self.optimizer]
        opts = [dense_opt(module.out.parameters(), lr=self.lr, weight_decay=self.weight_decay)]
        if sparse:
            opts.append(sparse_opt(sparse, lr=self.lr))
        return opts

    def _epoch(
        self,
        module: _BagModel,
        opts: list[torch.optim.Optimizer],
        encoded: tuple[np.ndarray, ...],
        rows: np.ndarray,
        target: torch.Tensor,
        dev: torch.device,
        rng: np.random.Generator,
    ) -> float:
        """One pass of minibatch steps over `rows` (in that order); the mean training loss."""
        total, seen = 0.0, 0
        batches = self._batches(encoded, rows, dev, self.word_dropout, rng)
        for s, batch in zip(range(0, len(rows), self.batch_size), batches, strict=True):
            logits = module(*batch)
            loss = nn.functional.cross_entropy(logits, target[rows[s : s + self.batch_size]])
            if self.weight_decay > 0:  # L2 on the rows this batch uses (lazy, keeps grads sparse)
                loss = loss + 0.5 * self.weight_decay * _rows_l2(module, batch)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in opts:
                opt.step()
            total += float(loss.detach()) * len(batch[-1])
            seen += len(batch[-1])
        return total / max(seen, 1)

    @torch.inference_mode()
    def _logits(
        self, module: _BagModel, encoded: tuple[np.ndarray, ...], rows: np.ndarray, dev: torch.device
    ) -> np.ndarray:
        was = module.training
        module.eval()
        try:
            out = [module(*batch) for batch in self._batches(encoded, rows, dev)]
        finally:
            module.train(was)
        return torch.cat(out).float().cpu().numpy() if out else np.empty((0, len(self.classes_)), np.float32)

    # -- predicting --------------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[Any]) -> np.ndarray:
        """Class probabilities (n_texts, n_classes), columns in `classes_` order."""
        self._check_fitted()
        docs = self._tokens(texts)
        dev = next(self._module.parameters()).device
        with torch_threads(self.threads):
            logits = self._logits(self._module, self._encode(docs), np.arange(len(docs)), dev)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, texts: Sequence[Any]) -> np.ndarray:
        """The most probable label of each text."""
        return self.classes_[self.predict_proba(texts).argmax(axis=1)]

    def score(self, texts: Sequence[Any], labels: Sequence[Any]) -> float:
        """Accuracy on labelled texts (scikit-learn's classifier score)."""
        return float(np.mean(self.predict(texts) == np.array([str(x) for x in labels], dtype=object)))

    @property
    def embeddings_(self) -> EmbeddingTable:
        """The learned word vectors (the embedding layer's word rows) as an EmbeddingTable."""
        self._check_fitted()
        return EmbeddingTable(
            self._module.words.weight.detach().cpu().numpy(),
            IdMap(np.array(self._vocab, dtype=object), kind="word"),
            counts=self.vocab_counts_,
            name="TextClassifier word vectors",
        )

    # -- persistence -------------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {k: v.detach().cpu().numpy() for k, v in self._module.state_dict().items()}
        return {
            **arrays,
            "token_weights.words": self.word_weights_,
            "token_weights.buckets": self.bucket_weights_,
            "bigram_keys": np.array(list(self._bigram_rows), dtype=np.int64),  # in row order
        }

    def _state_json(self) -> dict[str, Any]:
        return {
            "vocab": self._vocab,
            "vocab_counts": self.vocab_counts_.tolist(),
            "classes": [str(c) for c in self.classes_],
            "history": self.history_,
            "train_seconds": self.train_seconds_,
            "pretrained_found": self.pretrained_found_,
        }

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self._vocab = list(state["vocab"])
        self._word_index = {w: i for i, w in enumerate(self._vocab)}
        self.vocab_counts_ = np.asarray(state["vocab_counts"], dtype=np.int64)
        self.classes_ = np.array(state["classes"], dtype=object)
        arrays = dict(arrays)
        self.word_weights_ = arrays.pop("token_weights.words")
        self.bucket_weights_ = arrays.pop("token_weights.buckets")
        keys = arrays.pop("bigram_keys", np.empty(0, np.int64)).tolist()
        self._bigram_rows = {k: i for i, k in enumerate(keys)}
        n_buckets = self._n_buckets()
        if self.word_weights_.shape != (len(self._vocab),) or self.bucket_weights_.shape != (
            max(n_buckets, 1),
        ):
            raise ValueError("token weights do not match the vocabulary and the buckets")
        module = _BagModel(len(self._vocab), n_buckets, self.dim, len(self.classes_), self.dropout)
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in arrays.items()}
        if expected != got:
            raise ValueError(f"weights {got} do not match the parameters' shapes {expected}")
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self._module = module.eval()
        self.history_ = state["history"]
        self.train_seconds_ = float(state["train_seconds"])
        self.pretrained_found_ = int(state["pretrained_found"])


def _gather(
    starts: np.ndarray,
    ends: np.ndarray,
    drop: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the concatenated segments starts[i]:ends[i] (each kept with probability
    1 - drop) and the segments' lengths."""
    lengths = ends - starts
    offsets = _offsets(lengths)
    idx = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    if drop > 0 and rng is not None and len(idx):
        keep = rng.random(len(idx)) >= drop
        lengths = np.bincount(np.repeat(np.arange(len(lengths)), lengths)[keep], minlength=len(lengths))
        idx = idx[keep]
    return idx, lengths.astype(np.int64)


def _rows_l2(module: _BagModel, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The summed squares of the distinct word and bigram rows a batch uses (sparse gradient)."""
    total = torch.zeros((), device=module.out.weight.device)
    for bag, ids in ((module.words, batch[0]), (module.bigrams, batch[3])):
        if bag.weight.requires_grad and len(ids):
            rows = nn.functional.embedding(torch.unique(ids), bag.weight, sparse=True)  # (n, dim)
            total = total + (rows * rows).sum()
    return total


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())
