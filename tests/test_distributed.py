"""Data-parallel training: shards, sharded tables against a whole one, 2 gloo processes against 1.

Processes are started with `spawn` (what `embedrec train --nproc` uses); each start costs seconds, so
all but one quick smoke test are marked slow.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
from torch import nn

import embedrec
from embedrec import DotBias, EmbedrecError, NeuralCF, ParameterError
from embedrec.models.distributed import DataParallel, data_parallel, shard_rows, spawn
from embedrec.models.sharded import ShardedEmbedding
from embedrec.models.tabular import TabularModel
from embedrec.models.training import current_hook

N_ROWS, WIDE, DIM, STEPS = 11, 101, 3, 4


@pytest.mark.parametrize("n", [1, 2, 7, 10, 101])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_partition_the_rows_and_have_one_length(n: int, world: int) -> None:
    shards = [shard_rows(n, rank, world) for rank in range(world)]
    assert {len(rows) for rows, _ in shards} == {math.ceil(n / world)}  # as many steps everywhere
    own = np.concatenate([rows[:k] for rows, k in shards])
    assert sorted(own.tolist()) == list(range(n))  # every row trained once per epoch, by one process
    assert all(((rows >= 0) & (rows < n)).all() for rows, _ in shards)


@pytest.fixture
def one_process_group():
    """A real gloo process group of one process, inside the test process."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_one_process_group_trains_exactly_like_no_group(one_process_group) -> None:
    data = _toy_data()
    plain = DotBias(n_factors=4, epochs=3, verbose=False).fit(data)
    for shard in (False, True):
        with data_parallel(shard_tables=shard) as hook:
            assert isinstance(hook, DataParallel) and current_hook() is hook
            model = DotBias(n_factors=4, epochs=3, verbose=False).fit(data)
        np.testing.assert_allclose(model.user_factors_, plain.user_factors_, atol=1e-6)
        np.testing.assert_allclose(model.item_bias_, plain.item_bias_, atol=1e-6)
    assert not isinstance(current_hook(), DataParallel)  # the block's hook is gone after it


def test_models_that_read_whole_tables_refuse_sharding(one_process_group) -> None:
    with data_parallel(shard_tables=True), pytest.raises(ParameterError, match="implicit=True"):
        DotBias(n_factors=4, epochs=1, implicit=True, verbose=False).fit(_toy_data())


def test_outside_a_job_data_parallel_changes_nothing(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with data_parallel(shard_tables=True) as hook:
        assert hook.world_size == 1 and not dist.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ParameterError, match="torchrun"), data_parallel():
        pass


def _toy_data() -> embedrec.Interactions:
    rng = np.random.default_rng(0)
    cells = rng.choice(40 * 30, 600, replace=False)
    users, items = cells // 30, cells % 30
    ratings = np.clip(np.round(3 + np.sin(users) + np.cos(items) + rng.normal(0, 0.3, 600)), 1, 5)
    return embedrec.Interactions.from_arrays(users, items, ratings)


def _batch(n_rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A whole table, a batch of ids with repeats and targets: the same in every process."""
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(n_rows, DIM, generator=gen)
    ids = torch.tensor([3, 0, 10, 3, 7, 5, 10, 1])
    return table, ids, torch.randn(len(ids), DIM, generator=gen)


class _Lookup(nn.Module):
    """One embedding table as a module, the way the loop's models hold theirs."""

    def __init__(self, table: torch.Tensor, sparse: bool) -> None:
        super().__init__()
        self.table = nn.Embedding.from_pretrained(table.clone(), freeze=False, sparse=sparse)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids)


def _train(
    table: torch.Tensor, ids: torch.Tensor, target: torch.Tensor, sparse: bool, hook: DataParallel | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """STEPS Adam steps on the squared error of the looked-up rows, through the hook's prepare,
    reduce_gradients and finish as the loop calls them: (first lookup, final table, rows held)."""
    module = _Lookup(table, sparse)
    if hook is not None:
        hook.prepare(module)
    assert isinstance(module.table, ShardedEmbedding) == (hook is not None and hook.shard_tables)
    held = len(module.table.weight)
    opt = (torch.optim.SparseAdam if sparse else torch.optim.Adam)([module.table.weight], lr=0.1)
    first = None
    for _ in range(STEPS):
        rows = module(ids)  # (batch, DIM)
        first = rows.detach().clone() if first is None else first
        opt.zero_grad()
        ((rows - target) ** 2).sum(-1).mean().backward()
        if hook is not None:
            hook.reduce_gradients(module)
        opt.step()
    if hook is not None:
        hook.finish(module)
    return first.numpy(), module.table.weight.detach().numpy(), held


def _half_batch_worker() -> dict[tuple[int, bool, bool], tuple[np.ndarray, np.ndarray, int]]:
    """In each of 2 processes: its half of the batch, with the table split over both or replicated,
    with dense or sparse gradients; a replicated table of WIDE rows sends only the rows it touched."""
    out = {}
    with data_parallel():
        for n_rows in (N_ROWS, WIDE):
            table, ids, target = _batch(n_rows)
            for shard in (False, True):
                hook = DataParallel(shard_tables=shard)
                half = len(ids) // hook.world_size
                mine = slice(hook.rank * half, (hook.rank + 1) * half)
                for sparse in (False, True):
                    out[n_rows, shard, sparse] = _train(table, ids[mine], target[mine], sparse, hook)
    return out


def test_a_table_split_over_two_processes_learns_what_one_process_learns() -> None:
    """The smoke test of the default run: 2 real gloo processes, about ten seconds."""
    ranks = spawn(2, _half_batch_worker)
    for n_rows in (N_ROWS, WIDE):
        table, ids, target = _batch(n_rows)
        for sparse in (False, True):
            first, whole, _ = _train(table, ids, target, sparse, None)
            for shard in (False, True):
                key = (n_rows, shard, sparse)
                np.testing.assert_allclose(np.concatenate([r[key][0] for r in ranks]), first, atol=1e-6)
                half = math.ceil(n_rows / 2)  # the first process owns ⌈n / 2⌉ rows, the second the rest
                assert [r[key][2] for r in ranks] == ([half, n_rows - half] if shard else [n_rows, n_rows])
                for r in ranks:  # every process ends with the whole table, as one process trained it
                    np.testing.assert_allclose(r[key][1], whole, atol=1e-5)


def _fail_in_rank_one() -> None:
    with data_parallel() as hook:
        if hook.rank == 1:
            raise ParameterError("rank 1 was given a bad setting")
        dist.barrier()  # rank 0 waits for the other: the failure must stop it, not hang


@pytest.mark.slow
def test_an_error_in_one_process_stops_the_job_and_comes_back_as_itself() -> None:
    with pytest.raises(ParameterError, match="rank 1 was given a bad setting"):
        spawn(2, _fail_in_rank_one)


def _fit_u1(ml100k_dir: Path, model: str, shard: bool) -> tuple[float, int]:
    train, test = embedrec.predefined_split(ml100k_dir, "u1")
    estimator = DotBias(verbose=False) if model == "dotbias" else NeuralCF(verbose=False)
    with data_parallel(shard_tables=shard) as hook:
        estimator.fit(train)
    return embedrec.rmse(test.ratings, estimator.predict(test.users, test.items, raw=False)), hook.world_size


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dotbias", "neural"])
def test_two_gloo_processes_match_one_on_ml100k_u1(ml100k_dir: Path, model: str) -> None:
    one, world = _fit_u1(ml100k_dir, model, False)
    assert world == 1
    replicated = spawn(2, _fit_u1, ml100k_dir, model, False)
    sharded = spawn(2, _fit_u1, ml100k_dir, model, True)
    assert [w for _, w in replicated + sharded] == [2, 2, 2, 2]
    assert replicated[0][0] == replicated[1][0]  # every process ends with the same model
    # Each step averages the gradients of the two shards' halves of `batch_size`: the same optimisation
    # as one process up to which ratings share a step, so the test RMSE moves by noise only.
    assert abs(replicated[0][0] - one) < 0.005, (replicated, one)
    # Sharded tables exchange rows instead of averaging whole gradients: the same sums, another order.
    assert abs(sharded[0][0] - replicated[0][0]) < 1e-4, (sharded, replicated)


def test_spawn_checks_its_argument() -> None:
    with pytest.raises(EmbedrecError, match="nproc"):
        spawn(0, _fail_in_rank_one)


EFFECT = {"red": 2.0, "green": -2.0, "blue": 0.0, "cyan": 1.0}  # what each colour adds to y


def _fit_table(shard: bool) -> tuple[np.ndarray, int]:
    """TabularModel (the shared loop with its own net, early stopping on held-out rows) on a planted
    table: the prediction for each colour, in every process of the job."""
    rng = np.random.default_rng(0)
    colour = rng.choice(list(EFFECT), 3000)
    y = np.array([EFFECT[c] for c in colour]) + rng.normal(0, 0.1, 3000)
    frame = pd.DataFrame({"colour": colour, "size": rng.normal(0, 1, 3000)})
    with data_parallel(shard_tables=shard) as hook:
        model = TabularModel(hidden=(32,), epochs=10).fit(frame, y)
    return model.predict(pd.DataFrame({"colour": list(EFFECT), "size": 0.0})), hook.world_size


@pytest.mark.slow
def test_a_table_model_trains_on_two_processes_too() -> None:
    one, _ = _fit_table(False)
    for shard in (False, True):
        ranks = spawn(2, _fit_table, shard)
        assert [w for _, w in ranks] == [2, 2]
        np.testing.assert_allclose(ranks[0][0], ranks[1][0], atol=1e-6)  # one model in every process
        np.testing.assert_allclose(ranks[0][0], list(EFFECT.values()), atol=0.25)  # noise sd 0.1
        np.testing.assert_allclose(ranks[0][0], one, atol=0.15)


def _fit_words(backend: str, sg: int) -> tuple[np.ndarray, list[str], int, int, int]:
    """The Word2Vec trainer (its own loop, not the shared one) on planted clusters, data-parallel:
    (input vectors, vocabulary, words kept, corpus words, processes)."""
    from embedrec.data.text import encode_corpus
    from embedrec.models.skipgram import SkipGramConfig, train_skipgram

    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 5, 400)  # each sentence uses one cluster's six words only
    sentences = [[f"c{c}w{w}" for w in rng.integers(0, 6, 10)] for c in clusters]
    corpus = encode_corpus(sentences, min_count=1)
    config = SkipGramConfig(vector_size=16, window=3, sample=0, sg=sg, epochs=10, alpha=0.05, workers=1,
                            batch_words=300, backend=backend, verbose=False)  # fmt: skip
    with data_parallel() as hook:
        trained = train_skipgram(corpus, config)
    return trained.syn0, list(corpus.vocab), trained.kept_words, int(corpus.raw_words), hook.world_size


def _assert_clusters(vectors: np.ndarray, vocab: list[str]) -> None:
    table = embedrec.EmbeddingTable(vectors, vocab)
    for word in vocab:
        neighbours, _ = table.similar(word, n=5)
        assert {w.split("w")[0] for w in neighbours} == {word.split("w")[0]}, (word, neighbours)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "sg"), [("torch", 1), ("numba", 0)])
def test_word2vec_trains_on_two_processes_and_finds_what_one_finds(backend: str, sg: int) -> None:
    one = _fit_words(backend, sg)
    assert one[4] == 1
    _assert_clusters(one[0], one[1])
    ranks = spawn(2, _fit_words, backend, sg)
    assert [r[4] for r in ranks] == [2, 2]
    np.testing.assert_array_equal(ranks[0][0], ranks[1][0])  # every process ends with the same vectors
    _assert_clusters(ranks[0][0], ranks[0][1])
    # the two processes split each block's jobs: together they train every word once per epoch
    assert ranks[0][2] == ranks[1][2] == one[2] == one[3] * 10


def _fit_bpr(ml100k_dir: Path, shard: bool) -> tuple[float, np.ndarray, int]:
    """BPR (the shared loop with a loss of its own, `batch_loss`, drawing negatives) on ML-100K u1:
    (test NDCG@10, item vectors, processes)."""
    from embedrec import BPR
    from embedrec.query.ranking import ranking_report

    train, test = embedrec.predefined_split(ml100k_dir, "u1")
    with data_parallel(shard_tables=shard) as hook:
        model = BPR(min_rating=4, verbose=False).fit(train)
    return ranking_report(model, train, test).ndcg, model.item_factors_, hook.world_size


@pytest.mark.slow
def test_bpr_trains_on_two_processes_as_on_one(ml100k_dir: Path) -> None:
    one, _, world = _fit_bpr(ml100k_dir, False)
    assert world == 1
    replicated = spawn(2, _fit_bpr, ml100k_dir, False)
    sharded = spawn(2, _fit_bpr, ml100k_dir, True)
    assert [r[2] for r in replicated + sharded] == [2, 2, 2, 2]
    np.testing.assert_array_equal(replicated[0][1], replicated[1][1])  # one model in every process
    np.testing.assert_allclose(sharded[0][1], replicated[0][1], atol=1e-3)  # the same sums, another order
    assert abs(replicated[0][0] - one) < 0.02, (replicated[0][0], one)  # NDCG@10 measured 0.45 on one
