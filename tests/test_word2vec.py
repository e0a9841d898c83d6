"""Word2Vec: the compiled kernels against a slow reference, planted clusters on both backends,
saving, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedrec
from embedrec import Word2Vec
from embedrec.data.text import EncodedCorpus, encode_corpus
from embedrec.errors import (
    DataError,
    ModelFormatError,
    NotFittedError,
    ParameterError,
    UnknownIdError,
)
from embedrec.models import word2vec_kernels as kern
from embedrec.models.skipgram import SkipGramConfig, job_alphas, job_bounds, train_skipgram

MASK = (1 << 48) - 1


def lcg(x: int) -> int:
    return (x * 25214903917 + 11) & MASK


def reference_job(
    syn0, syn1, words, starts, alpha, seed, sample_int, cum, window, reduced, negative, sg, cbow_mean
):  # noqa: ANN001, E501
    """One job, step by step in plain Python: subsample the whole job, then for each position take its
    reduced window and train skip-gram pairs or one CBOW step, skipping dot products outside (-6, 6)."""
    table = kern.sigmoid_table()
    rng, kept, bounds = seed, [], [0]
    for s in range(len(starts) - 1):
        for w in words[starts[s] : starts[s + 1]]:
            r = rng >> 16
            rng = lcg(rng)
            if sample_int[w] >= r:
                kept.append(int(w))
        bounds.append(len(kept))

    def negatives(positive: int, rng: int) -> tuple[list[int], int]:
        out = [positive]
        for _ in range(negative):
            target = int(np.searchsorted(cum, (rng >> 16) % int(cum[-1]), side="left"))
            rng = lcg(rng)
            if target != positive:
                out.append(target)
        return out, rng

    def step(hidden: np.ndarray, targets: list[int]) -> np.ndarray:
        grad = np.zeros_like(hidden)
        for t, row in enumerate(targets):
            f = float(hidden @ syn1[row])
            if not -6.0 < f < 6.0:
                continue
            # word2vec.c's index: 1000 / 6 / 2 in integer arithmetic is 83
            g = np.float32(((1.0 if t == 0 else 0.0) - table[int((f + 6.0) * 83)]) * alpha)
            grad += g * syn1[row]
            syn1[row] += g * hidden
        return grad

    for lo_s, hi_s in zip(bounds[:-1], bounds[1:], strict=True):
        for i in range(lo_s, hi_s):
            b = reduced[i]
            ctx = [kept[c] for c in range(max(lo_s, i - window + b), min(hi_s, i + window + 1 - b)) if c != i]
            if sg:
                for c in ctx:
                    targets, rng = negatives(kept[i], rng)
                    syn0[c] += step(syn0[c].copy(), targets)
            else:
                targets, rng = negatives(kept[i], rng)
                if not ctx:
                    continue
                hidden = syn0[ctx].sum(axis=0)
                if cbow_mean:
                    hidden /= len(ctx)
                grad = step(hidden, targets)
                if not cbow_mean:
                    grad /= len(ctx)
                for c in ctx:
                    syn0[c] += grad


@pytest.mark.parametrize(("sg", "cbow_mean"), [(1, 1), (0, 1), (0, 0)])
def test_the_compiled_job_equals_the_slow_reference(sg: int, cbow_mean: int) -> None:
    rng = np.random.default_rng(3)
    n_words, size = 12, 8
    counts = rng.integers(1, 50, n_words)
    words = rng.integers(0, n_words, 60).astype(np.int32)
    starts = np.array([0, 7, 7, 30, 31, 60], dtype=np.int64)
    syn0 = rng.uniform(-0.5, 0.5, (n_words, size)).astype(np.float32)
    syn1 = rng.uniform(-0.5, 0.5, (n_words, size)).astype(np.float32)
    sample_int, cum = kern.sample_ints(counts, 0.05), kern.cum_table(counts)
    seed = 123456789012
    ref0, ref1 = syn0.copy(), syn1.copy()
    reduced = rng.integers(0, 3, len(words)).astype(np.int32)
    reference_job(ref0, ref1, words, starts, 0.05, seed, sample_int, cum, 3, reduced, 4, sg, cbow_mean)
    kern.train_jobs(
        syn0, syn1, words, starts, np.array([0, 5]), np.array([0.05], np.float32),
        np.array([seed], np.uint64), sample_int, cum, 3, 4, sg, cbow_mean, reduced, 1, kern.sigmoid_table(),
        1,
    )  # fmt: skip
    np.testing.assert_allclose(syn0, ref0, atol=2e-6)
    np.testing.assert_allclose(syn1, ref1, atol=2e-6)
    assert not np.allclose(syn1, 0)


@pytest.mark.parametrize("lanes", [1, 2, 5])
def test_rounds_of_jobs_train_every_job_once_in_order(lanes: int) -> None:
    """Jobs run in rounds of `lanes` (one per thread): on one numba thread that is jobs 0, 1, 2 in
    order, each with its own learning rate and seed, whatever the number of lanes (5 > 3 jobs)."""
    import numba

    rng = np.random.default_rng(5)
    n_words, size = 10, 6
    counts = rng.integers(1, 50, n_words)
    words = rng.integers(0, n_words, 40).astype(np.int32)
    starts = np.array([0, 6, 15, 22, 31, 40], dtype=np.int64)
    jobs = np.array([0, 2, 4, 5])
    alpha = np.array([0.05, 0.04, 0.03], np.float32)
    seeds = np.array([11, 222, 3333], np.uint64)
    syn0 = rng.uniform(-0.5, 0.5, (n_words, size)).astype(np.float32)
    syn1 = rng.uniform(-0.5, 0.5, (n_words, size)).astype(np.float32)
    sample_int, cum = kern.sample_ints(counts, 0.05), kern.cum_table(counts)
    reduced = rng.integers(0, 3, len(words)).astype(np.int32)
    ref0, ref1 = syn0.copy(), syn1.copy()
    for j in range(3):
        lo, hi = starts[jobs[j]], starts[jobs[j + 1]]
        sub = starts[jobs[j] : jobs[j + 1] + 1] - lo
        args = (alpha[j], int(seeds[j]), sample_int, cum, 3, reduced[lo:hi], 4, 1, 1)
        reference_job(ref0, ref1, words[lo:hi], sub, *args)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        kept = kern.train_jobs(
            syn0, syn1, words, starts, jobs, alpha, seeds, sample_int, cum, 3, 4, 1, 1, reduced, 1,
            kern.sigmoid_table(), lanes,
        )  # fmt: skip
    finally:
        numba.set_num_threads(before)
    np.testing.assert_allclose(syn0, ref0, atol=2e-6)
    np.testing.assert_allclose(syn1, ref1, atol=2e-6)
    assert (kept > 0).all() and kept.sum() <= len(words)


@pytest.mark.parametrize(
    ("sg", "cbow_mean", "sample"), [(1, 1, 1e-2), (0, 1, 1e-2), (0, 0, 1e-2), (0, 1, 0.0)]
)
def test_one_job_equals_gensims_given_its_random_seed(sg: int, cbow_mean: int, sample: float) -> None:
    """gensim's own compiled job and ours, from the same vectors, the same 48-bit seed and the same
    reduced windows (gensim draws both from model.random), end with the same vectors: same subsampling,
    windows, negatives and sigmoid lookup."""
    gensim = pytest.importorskip("gensim.models", reason="gensim is a test-only dependency")
    inner = pytest.importorskip("gensim.models.word2vec_inner")
    sentences = planted_sentences(n=60, seed=4)
    model = gensim.Word2Vec(
        vector_size=16, window=3, negative=4, min_count=1, sample=sample, sg=sg, cbow_mean=cbow_mean,
        seed=1, workers=1,
    )  # fmt: skip
    model.build_vocab(sentences)
    syn0 = model.wv.vectors.copy()
    syn1 = np.random.default_rng(0).uniform(-0.3, 0.3, syn0.shape).astype(np.float32)
    model.syn1neg[:] = syn1
    model.random = np.random.RandomState(7)
    draws = np.random.RandomState(7)
    seed = (1 << 24) * draws.randint(0, 1 << 24) + draws.randint(0, 1 << 24)  # gensim's job seed
    work, neu1 = np.zeros(16, np.float32), np.zeros(16, np.float32)
    if sg:
        effective = inner.train_batch_sg(model, sentences, 0.025, work, False)
    else:
        effective = inner.train_batch_cbow(model, sentences, 0.025, work, neu1, False)
    index = model.wv.key_to_index
    words = np.array([index[w] for s in sentences for w in s], np.int32)
    starts = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    counts = np.array([model.wv.get_vecattr(i, "count") for i in range(len(index))])
    sample_int = kern.sample_ints(counts, sample)
    if sample:
        np.testing.assert_array_equal(sample_int, model.wv.expandos["sample_int"])
    np.testing.assert_array_equal(kern.cum_table(counts), model.cum_table)
    reduced = np.zeros(len(words), np.int32)
    reduced[:effective] = draws.randint(0, 3, effective)  # gensim's next draw: the job's windows
    kern.train_jobs(
        syn0, syn1, words, starts, np.array([0, len(sentences)]), np.array([0.025], np.float32),
        np.array([seed], np.uint64), sample_int, kern.cum_table(counts), 3, 4, sg, cbow_mean, reduced,
        int(sample > 0), kern.sigmoid_table(), 1,
    )  # fmt: skip
    assert np.abs(model.syn1neg - syn1).max() < 1e-5 < np.abs(model.syn1neg).max()
    np.testing.assert_allclose(syn0, model.wv.vectors, atol=1e-5)


def replay_gensim(sentences: list[list[str]], **settings: object) -> tuple[object, np.ndarray, np.ndarray]:
    """Train gensim's Word2Vec on one worker, noting each job (its sentences, learning rate and the
    state of model.random); then train the same start vectors job by job through our kernel, drawing
    each job's seed and reduced windows from that state as gensim does. Returns (gensim model, our
    input vectors, our output vectors)."""
    gensim = pytest.importorskip("gensim.models", reason="gensim is a test-only dependency")
    model = gensim.Word2Vec(workers=1, **settings)
    model.build_vocab(sentences)
    syn0, syn1 = model.wv.vectors.copy(), np.zeros_like(model.wv.vectors)
    jobs, train_job = [], model._do_train_job

    def noted(batch: list, alpha: float, inits: tuple) -> tuple[int, int]:
        jobs.append((batch, alpha, model.random.get_state()))
        return train_job(batch, alpha, inits)

    model._do_train_job = noted
    model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    index, window = model.wv.key_to_index, model.window
    sample_int, cum = model.wv.expandos["sample_int"], model.cum_table
    for batch, alpha, state in jobs:
        draws = np.random.RandomState()
        draws.set_state(state)
        seed = (1 << 24) * draws.randint(0, 1 << 24) + draws.randint(0, 1 << 24)
        encoded = [[index[w] for w in s if w in index] for s in batch if s]
        words = np.array([w for s in encoded for w in s], np.int32)
        starts = np.concatenate([[0], np.cumsum([len(s) for s in encoded])]).astype(np.int64)
        kept, rng = 0, seed
        for w in words:  # gensim draws the windows after subsampling, one per word kept
            kept += int(sample_int[w] >= rng >> 16)
            rng = lcg(rng)
        reduced = np.zeros(len(words), np.int32)
        reduced[:kept] = draws.randint(0, window, kept)
        kern.train_jobs(
            syn0, syn1, words, starts, np.array([0, len(encoded)]), np.array([alpha], np.float32),
            np.array([seed], np.uint64), sample_int, cum, window, model.negative, model.sg,
            model.cbow_mean, reduced, 1, kern.sigmoid_table(), 1,
        )  # fmt: skip
    assert len(jobs) > 1
    return model, syn0, syn1


def test_jobs_and_learning_rates_are_gensims() -> None:
    """Sentences of very different lengths (long ones first) with rare words in them: gensim packs them
    into the same jobs (counting the rare words too) and gives each job the same learning rate, falling
    with the sentences trained, not the words."""
    gensim = pytest.importorskip("gensim.models", reason="gensim is a test-only dependency")
    rng = np.random.default_rng(5)
    sentences = [[f"w{w}" for w in rng.zipf(1.3, 40 if i < 60 else 5)] for i in range(300)]
    sentences.append([f"w{w}" for w in rng.integers(0, 30, 700)])  # longer than a job: alone
    model = gensim.Word2Vec(vector_size=4, min_count=3, epochs=3, batch_words=300, workers=1)
    model.build_vocab(sentences)
    noted, train_job = [], model._do_train_job

    def note(batch: list, alpha: float, inits: tuple) -> tuple[int, int]:
        noted.append((len(batch), alpha))
        return train_job(batch, alpha, inits)

    model._do_train_job = note
    model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    corpus = encode_corpus(sentences, min_count=3)
    assert len(corpus.words) < corpus.raw_words  # some words are too rare to keep
    config = SkipGramConfig(epochs=3, batch_words=300)
    bounds = job_bounds(corpus, config.batch_words)
    ours = [
        (int(n), float(a))
        for e in range(3)
        for n, a in zip(np.diff(bounds), job_alphas(bounds, e, config), strict=True)
    ]
    assert [n for n, _ in ours] == [n for n, _ in noted]
    np.testing.assert_allclose([a for _, a in ours], [a for _, a in noted], rtol=1e-6)


@pytest.mark.parametrize("sg", [1, 0])
def test_a_whole_gensim_run_replays_through_our_kernel(sg: int) -> None:
    """Many jobs over several epochs, each with its own learning rate and random draws: fed gensim's
    draws, our kernel ends where gensim's run ends (float rounding apart)."""
    model, syn0, syn1 = replay_gensim(
        planted_sentences(n=300, seed=2), vector_size=16, window=3, negative=4, min_count=1,
        sample=1e-2, sg=sg, epochs=3, batch_words=500, seed=3,
    )  # fmt: skip
    np.testing.assert_allclose(syn0, model.wv.vectors, atol=5e-5)  # float sums in another order
    np.testing.assert_allclose(syn1, model.syn1neg, atol=5e-5)
    assert np.abs(model.wv.vectors).max() > 0.1


@pytest.mark.slow
@pytest.mark.parametrize("sg", [1, 0])
def test_gensims_brown_run_replays_through_our_kernel(sg: int, shared_data: Path) -> None:
    """The issue's settings on the Brown corpus (5 epochs, ~500 jobs): our kernel, fed gensim's random
    draws, scores what gensim's own run scores on WordSim-353: the same algorithm, step for step."""
    from embedrec.data.text import LineCorpus
    from embedrec.query.wordeval import read_word_pairs, word_similarity

    text = shared_data / "text"
    sentences = [s for s in LineCorpus(text / "brown.txt") if s]
    model, syn0, _ = replay_gensim(
        sentences, vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, sg=sg, epochs=5, seed=0
    )
    words, pairs = list(model.wv.index_to_key), read_word_pairs(text / "wordsim353.tsv")
    theirs = word_similarity(embedrec.EmbeddingTable(model.wv.vectors, words), pairs).spearman
    mine = word_similarity(embedrec.EmbeddingTable(syn0, words), pairs).spearman
    assert abs(mine - theirs) < 2e-3, (mine, theirs)
    assert np.abs(syn0 - model.wv.vectors).mean() < 1e-3 * np.abs(model.wv.vectors).mean()


def test_tables_follow_gensims_formulas() -> None:
    counts = np.array([100, 10, 1])
    cum = kern.cum_table(counts)
    weights = counts**0.75
    np.testing.assert_allclose(
        np.diff(np.concatenate([[0], cum])) / cum[-1], weights / weights.sum(), atol=1e-8
    )
    keep = kern.sample_ints(counts, 0.01) / (2**32 - 1)
    threshold = 0.01 * counts.sum()
    np.testing.assert_allclose(
        keep, np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1), 1e-6
    )
    assert (kern.sample_ints(counts, 0) == 2**32 - 1).all()


@pytest.mark.parametrize("counts", [np.array([100, 10, 1]), 1_000_000 // np.arange(1, 20_001)])
def test_a_guided_draw_is_the_bisection_gensim_does(counts: np.ndarray) -> None:
    """The negatives' draw searches only its bucket of the cumulative table, and finds what
    bisect_left over the whole table finds, for random states and for targets on bucket edges."""
    cum = kern.cum_table(counts)
    guide = kern._guide(cum)
    states = np.random.default_rng(0).integers(0, 1 << 48, 5_000, dtype=np.uint64)
    edges = np.arange(0, int(cum[-1]), 1 << kern.GUIDE_SHIFT, dtype=np.uint64)[:2_000] << np.uint64(16)
    for rng in np.concatenate([states, edges, edges + np.uint64(1 << 16), edges - np.uint64(1 << 16)]):
        target = (int(rng) >> 16) % int(cum[-1])
        assert kern._draw(cum, guide, np.uint64(rng)) == np.searchsorted(cum, target, side="left")


def planted_sentences(n_clusters: int = 5, size: int = 6, n: int = 800, seed: int = 0) -> list[list[str]]:
    """Each sentence uses the words of one cluster only, so a word's neighbours are its cluster."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c = int(rng.integers(n_clusters))
        out.append([f"c{c}w{w}" for w in rng.integers(0, size, 10)])
    return out


def cluster_of(word: str) -> str:
    return word.split("w")[0]


def assert_clusters_found(table: embedrec.EmbeddingTable) -> None:
    for word in table.keys:
        neighbours, _ = table.similar(word, n=5)
        assert {cluster_of(w) for w in neighbours} == {cluster_of(word)}, (word, neighbours)


def test_planted_clusters_are_found_by_the_compiled_kernels() -> None:
    for sg in (1, 0):
        model = Word2Vec(vector_size=16, window=3, min_count=1, sample=0, sg=sg, epochs=10, workers=1,
                         verbose=False, alpha=0.05).fit(planted_sentences())  # fmt: skip
        assert_clusters_found(model.embeddings_)
        assert model.backend_ == "numba" and model.threads_ == 1


@pytest.mark.parametrize("sg", [1, 0])
def test_planted_clusters_are_found_by_the_torch_path(sg: int) -> None:
    # every word is in every batch hundreds of times here: the steps summed per row are capped
    corpus = encode_corpus(planted_sentences(n=400), min_count=1)
    config = SkipGramConfig(vector_size=16, window=3, sample=0, sg=sg, epochs=10, alpha=0.05,
                            backend="torch", verbose=False)  # fmt: skip
    trained = train_skipgram(corpus, config)
    assert trained.backend == "torch"
    table = embedrec.EmbeddingTable(trained.syn0, corpus.vocab, counts=corpus.counts)
    assert_clusters_found(table)


def test_one_worker_and_a_seed_repeat_exactly() -> None:
    def fit() -> Word2Vec:
        return Word2Vec(vector_size=8, min_count=1, epochs=2, workers=1, verbose=False).fit(
            planted_sentences()
        )

    assert np.array_equal(fit().embeddings_.vectors, fit().embeddings_.vectors)


@pytest.fixture(scope="module")
def small_model() -> Word2Vec:
    return Word2Vec(vector_size=16, window=3, min_count=1, sample=0, epochs=5, workers=1, verbose=False).fit(
        planted_sentences(n=300)
    )


def test_save_and_load_give_the_same_model(small_model: Word2Vec, tmp_path: Path) -> None:
    small_model.save(tmp_path / "w2v")
    loaded = embedrec.load_model(tmp_path / "w2v")
    assert isinstance(loaded, Word2Vec) and loaded.get_params() == small_model.get_params()
    assert np.array_equal(loaded.embeddings_.vectors, small_model.embeddings_.vectors)
    assert np.array_equal(loaded.output_vectors_, small_model.output_vectors_)
    assert loaded.vocab == small_model.vocab
    assert np.array_equal(loaded.embeddings_.counts, small_model.embeddings_.counts)
    assert loaded.similar("c0w1", 3)[0].tolist() == small_model.similar("c0w1", 3)[0].tolist()


def test_a_tampered_save_is_refused(small_model: Word2Vec, tmp_path: Path) -> None:
    path = small_model.save(tmp_path / "w2v")
    weights = next(path.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(ModelFormatError, match="corrupt or truncated"):
        embedrec.load_model(path)


def test_queries_name_unknown_words_and_suggest_the_lower_case(small_model: Word2Vec) -> None:
    with pytest.raises(UnknownIdError, match="'nope'.*16|'nope'.*30 words"):
        small_model.similar("nope")
    with pytest.raises(UnknownIdError, match="did you mean 'c0w1'"):
        small_model.analogy("C0W1", "c0w2", "c1w1")
    keys, sims = small_model.analogy("c0w1", "c0w2", "c1w2", n=3)
    assert len(keys) == 3 and not {"c0w1", "c0w2", "c1w2"} & set(keys)
    assert -1 <= small_model.similarity("c0w1", "c0w2") <= 1


def test_before_fit_every_query_says_so() -> None:
    with pytest.raises(NotFittedError):
        Word2Vec().similar("a")


@pytest.mark.parametrize(
    "params",
    [{"vector_size": 0}, {"sg": 2}, {"window": -1}, {"alpha": 0.01, "min_alpha": 0.1}, {"min_count": 0},
     {"device": "tpu"}, {"workers": 0}],
)  # fmt: skip
def test_bad_parameters_are_refused_at_fit(params: dict) -> None:
    with pytest.raises(ParameterError):
        Word2Vec(verbose=False, **params).fit([["a", "b"]])


def test_bad_corpora_are_data_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        Word2Vec(verbose=False).fit(empty)
    with pytest.raises(DataError, match="no word occurs min_count=5"):
        Word2Vec(verbose=False).fit([["rare", "words"]])


def test_sklearn_clone_keeps_the_parameters() -> None:
    import sklearn.base

    model = Word2Vec(vector_size=12, sg=0)
    clone = sklearn.base.clone(model)
    assert clone.get_params() == model.get_params() and clone is not model


def test_words_per_second_is_reported_in_corpus_words(small_model: Word2Vec) -> None:
    assert small_model.corpus_words_ == 3000
    assert small_model.words_per_second_ == pytest.approx(3000 * 5 / small_model.train_seconds_, rel=1e-6)


def test_an_encoded_corpus_trains_without_text() -> None:
    corpus = EncodedCorpus(
        np.array([0, 1, 0, 1], np.int32), np.array([0, 2, 4]), ["a", "b"], np.array([2, 2]), 4
    )
    trained = train_skipgram(corpus, SkipGramConfig(vector_size=4, epochs=1, verbose=False, workers=1))
    assert trained.syn0.shape == (2, 4) and np.isfinite(trained.syn0).all()
