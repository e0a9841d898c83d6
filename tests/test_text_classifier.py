"""TextClassifier: planted sentiment words are learned, probabilities are proper, pre-trained rows are
used (frozen or not), saving keeps the predictions, and bad input is our error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embedrec
from embedrec import EmbeddingTable, TextClassifier
from embedrec.errors import DataError, ParameterError

GOOD, BAD = ["great", "superb", "lovely"], ["awful", "dull", "boring"]
FILLER = [f"filler{a}{b}" for a in "abcde" for b in "xyzuvw"]  # letters only: the tokenizer drops digits


def planted(n: int = 600, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts of filler words with one sentiment word each: the label is which list it came from."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        pos = bool(rng.integers(2))
        words = list(rng.choice(FILLER, 6)) + [str(rng.choice(GOOD if pos else BAD))]
        texts.append(" ".join(rng.permutation(words)))
        labels.append("pos" if pos else "neg")
    return texts, labels


@pytest.fixture(scope="module")
def fitted() -> TextClassifier:
    texts, labels = planted()
    return TextClassifier(dim=8, epochs=15, seed=0, verbose=False).fit(texts, labels)


def test_planted_sentiment_words_are_learned(fitted: TextClassifier) -> None:
    texts, labels = planted(200, seed=1)
    assert fitted.score(texts, labels) > 0.97
    assert fitted.predict(["fillerax great fillerby", "dull fillercz"]).tolist() == ["pos", "neg"]
    assert fitted.classes_.tolist() == ["neg", "pos"]


def test_probabilities_are_proper_and_match_predict(fitted: TextClassifier) -> None:
    texts, _ = planted(50, seed=2)
    proba = fitted.predict_proba(texts)
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-6)
    assert (fitted.classes_[proba.argmax(axis=1)] == fitted.predict(texts)).all()


def test_learned_word_vectors_separate_the_sentiment_words(fitted: TextClassifier) -> None:
    table = fitted.embeddings_
    assert table.kind == "word" and set(GOOD + BAD) <= set(table.keys)
    w = fitted._module.out.weight.detach().numpy()
    direction = w[1] - w[0]  # pos logit minus neg logit
    assert all(table[g] @ direction > 0 for g in GOOD) and all(table[b] @ direction < 0 for b in BAD)


def test_save_and_load_predict_the_same(fitted: TextClassifier, tmp_path: Path) -> None:
    loaded = embedrec.load_model(fitted.save(tmp_path / "clf"))
    texts, _ = planted(40, seed=3)
    assert isinstance(loaded, TextClassifier) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))


def test_a_classifier_saved_before_optimizer_and_max_bigrams_loads_the_same(tmp_path: Path) -> None:
    """Folders written before `optimizer` and `max_bigrams` existed lack them in model.json; they load
    with the defaults (both only matter when training) and predict exactly as saved."""
    texts, labels = planted(300)
    clf = TextClassifier(dim=8, epochs=3, weighting="mean", optimizer="adam", verbose=False)
    clf.fit(texts, labels)
    folder = clf.save(tmp_path / "older")
    meta_file = Path(folder) / "model.json"
    meta = json.loads(meta_file.read_text())
    del meta["params"]["optimizer"], meta["params"]["max_bigrams"]
    meta_file.write_text(json.dumps(meta))
    loaded = embedrec.load_model(folder)
    assert loaded.weighting == "mean" and loaded.optimizer == TextClassifier().optimizer
    probe = planted(40, seed=3)[0] + ["unseen words only"]
    np.testing.assert_array_equal(loaded.predict_proba(probe), clf.predict_proba(probe))


@pytest.mark.parametrize("freeze", [True, False])
def test_pretrained_rows_start_the_embedding_layer(freeze: bool, tmp_path: Path) -> None:
    texts, labels = planted(300)
    vocab = GOOD + BAD + FILLER
    table = EmbeddingTable(np.random.default_rng(0).normal(size=(len(vocab), 8)).astype(np.float32), vocab)
    model = TextClassifier(dim=8, epochs=3, pretrained=table, freeze=freeze, seed=0, verbose=False)
    model.fit(texts, labels)
    assert model.pretrained_found_ == len(vocab)
    learned = model.embeddings_
    same = np.allclose(learned["great"], table["great"])
    assert same == freeze
    loaded = embedrec.load_model(model.save(tmp_path / "m"))  # an in-memory table is saved by name
    assert loaded.pretrained == f"<EmbeddingTable {table.name}>"
    path = tmp_path / "v.txt"
    embedrec.export(table, "word2vec", path)
    from_file = TextClassifier(dim=8, epochs=1, pretrained=str(path), freeze=True, verbose=False).fit(
        texts, labels
    )
    np.testing.assert_allclose(from_file.embeddings_["dull"], table["dull"], rtol=1e-5)


def test_bad_input_is_our_error() -> None:
    texts, labels = planted(20)
    with pytest.raises(DataError, match="two labels"):
        TextClassifier(verbose=False).fit(texts, ["pos"] * 20)
    with pytest.raises(DataError, match="20 texts but 3 labels"):
        TextClassifier(verbose=False).fit(texts, labels[:3])
    with pytest.raises(ParameterError, match="list of texts"):
        TextClassifier(verbose=False).fit("one text", ["pos"])
    with pytest.raises(ParameterError, match="freeze=True needs pretrained"):
        TextClassifier(freeze=True, verbose=False).fit(texts, labels)
    table = EmbeddingTable(np.ones((1, 4), np.float32), ["great"])
    with pytest.raises(ParameterError, match="dim=8 but the pretrained vectors have 4"):
        TextClassifier(dim=8, pretrained=table, verbose=False).fit(texts, labels)
    with pytest.raises(ParameterError, match="weighting"):
        TextClassifier(weighting="bm25", verbose=False).fit(texts, labels)
    with pytest.raises(ParameterError, match="optimizer"):
        TextClassifier(optimizer="rmsprop", verbose=False).fit(texts, labels)


@pytest.mark.parametrize("ngrams", [1, 2])
def test_tfidf_pooling_is_scikit_learns_tfidf_times_the_rows(ngrams: int) -> None:
    # the dense reference: scikit-learn's sublinear, L2-normalised TF-IDF matrix (fitted on the same
    # training texts) times the embedding rows, then the output layer, gives the same probabilities
    from sklearn.feature_extraction.text import TfidfVectorizer

    from embedrec.models.text_classifier import _MIX, _word_hash

    train = ["a great great film", "a dull film", "dull dull dull and long", "great acting, great film"]
    test = ["great great great film", "a long dull unseen film", "unseen", "film film great dull"]
    labels = ["pos", "neg", "neg", "pos"]
    clf = TextClassifier(dim=6, ngrams=ngrams, weighting="tfidf", epochs=3,
                         valid_fraction=0.0, verbose=False).fit(train, labels)  # fmt: skip
    tfidf = TfidfVectorizer(ngram_range=(1, ngrams), sublinear_tf=True, token_pattern=r"[^\W\d_]+")
    x = tfidf.fit(train).transform(test).toarray()  # (n_test, n_terms)
    state = {k: v.detach().numpy() for k, v in clf._module.state_dict().items()}
    rows = np.zeros((x.shape[1], 6), np.float32)  # each term's embedding row: its word's, or its bucket's
    for term, j in tfidf.vocabulary_.items():
        if " " in term:
            first, second = (_word_hash(w) for w in term.split())
            rows[j] = state["bigrams.weight"][clf._bigram_rows[first * _MIX + second]]  # its own row
        else:
            rows[j] = state["words.weight"][clf._word_index[term]]
    logits = x @ rows @ state["out.weight"].T + state["out.bias"]  # (n_test, n_classes)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(test), expected, rtol=1e-4, atol=1e-6)


def test_tfidf_bigram_rows_are_capped_by_the_texts_they_are_in() -> None:
    from embedrec.models.text_classifier import _MIX, _word_hash

    train = ["great film", "a great film", "great film again", "dull film", "so dull film", "odd pair"]
    clf = TextClassifier(dim=4, max_bigrams=2, weighting="tfidf", epochs=1, valid_fraction=0.0,
                         verbose=False).fit(train, ["p", "p", "p", "n", "n", "n"])  # fmt: skip
    key = {b: _word_hash(b.split()[0]) * _MIX + _word_hash(b.split()[1]) for b in ("great film", "dull film")}
    assert set(clf._bigram_rows) == set(key.values())  # in 3 and 2 texts; every other bigram in 1
    assert clf._module.bigrams.weight.shape == (2, 4)


def test_full_batch_lbfgs_with_tfidf_learns_and_saves(tmp_path: Path) -> None:
    texts, labels = planted()
    clf = TextClassifier(dim=8, epochs=5, optimizer="lbfgs", weighting="tfidf", weight_decay=1e-4,
                         valid_fraction=0.0, verbose=False).fit(texts, labels)  # fmt: skip
    test_texts, test_labels = planted(200, seed=1)
    assert clf.score(test_texts, test_labels) > 0.97
    # L-BFGS's line search never raises the full-batch objective: it falls epoch after epoch
    losses = clf.history_["train_loss"]
    assert np.all(np.diff(losses) <= 1e-6) and losses[-1] < 0.2 * losses[0]
    loaded = embedrec.load_model(clf.save(tmp_path / "lbfgs"))
    np.testing.assert_array_equal(loaded.predict_proba(test_texts + ["unseen words"]),
                                  clf.predict_proba(test_texts + ["unseen words"]))  # fmt: skip


@pytest.mark.parametrize(("optimizer", "lr"), [("adam", 0.01), ("sgd", 2.0)])
def test_minibatch_optimizers_learn_the_planted_words(optimizer: str, lr: float) -> None:
    texts, labels = planted()
    clf = TextClassifier(dim=8, epochs=15, optimizer=optimizer, lr=lr, weighting="mean",
                         valid_fraction=0.1, verbose=False).fit(texts, labels)  # fmt: skip
    assert clf.score(*planted(200, seed=1)) > 0.97


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_weight_decay_shrinks_the_embedding_rows(optimizer: str) -> None:
    texts, labels = planted(300)
    norms = []
    for wd in (0.0, 0.1):
        clf = TextClassifier(dim=8, epochs=5, weight_decay=wd, optimizer=optimizer, verbose=False)
        norms.append(np.linalg.norm(clf.fit(texts, labels).embeddings_.vectors))
    assert norms[1] < 0.5 * norms[0]


@pytest.mark.slow
def test_rt_polarity_accuracy_floor(shared_data: Path) -> None:
    df = pd.read_csv(shared_data / "text" / "rt_polarity.tsv", sep="\t", quoting=3)
    order = np.random.default_rng(0).permutation(len(df))
    train, test = df.iloc[order[:9596]], df.iloc[order[9596:]]
    model = TextClassifier(verbose=False).fit(train.text.tolist(), train.label.tolist())
    # measured 0.772 (BENCHMARKS.md); a majority guess gives 0.50, TF-IDF (1-2 grams) + LR at C=1 0.749
    assert model.score(test.text.tolist(), test.label.tolist()) > 0.76
