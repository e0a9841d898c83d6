"""Word2Vec: word vectors learned from which words appear near which (skip-gram or CBOW, negative sampling).

"Hotel" and "resort" end up close because they are used in similar contexts. The settings and their
meaning are gensim's Word2Vec, so results compare: each word's vector (input) and its output vector are
trained so that σ(input[context] · output[word]) is high for words seen together within `window` and
low for `negative` words drawn from the unigram^0.75 distribution; frequent words are subsampled with
threshold `sample`; the learning rate falls linearly from `alpha` to `min_alpha`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedrec.checks import check_positive
from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.idmap import IdMap
from embedrec.data.text import EncodedCorpus, LineCorpus, Tokenizer, as_sentences, encode_corpus
from embedrec.errors import UnknownIdError
from embedrec.models.base import Saveable
from embedrec.models.skipgram import SkipGramConfig, TrainedVectors, train_skipgram


class Word2Vec(Saveable):
    """Word vectors from a corpus: a text file (one sentence per line) or an iterable of token lists.

    `Word2Vec(vector_size=100, window=5, sg=1).fit("corpus.txt")`; then `embeddings_` is an
    EmbeddingTable of the words (with their counts) for `similar`, `analogy`, maps and export.
    `workers=None` uses every core; `device="cuda"` trains in PyTorch on a GPU; inside
    `embedrec.data_parallel()` (torchrun) the processes share the corpus (models/skipgram.py).
    """

    _fitted_attribute = "embeddings_"

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        negative: int = 5,
        min_count: int = 5,
        sample: float = 1e-3,
        sg: int = 1,
        epochs: int = 5,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        seed: int = 0,
        workers: int | None = None,
        device: str = "cpu",
        verbose: bool = True,
        cbow_mean: bool = True,
        ns_exponent: float = 0.75,
        max_vocab: int | None = None,
        batch_words: int = 10_000,
    ) -> None:
        self.vector_size = vector_size
        self.window = window
        self.negative = negative
        self.min_count = min_count
        self.sample = sample
        self.sg = sg
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.seed = seed
        self.workers = workers
        self.device = device
        self.verbose = verbose
        self.cbow_mean = cbow_mean
        self.ns_exponent = ns_exponent
        self.max_vocab = max_vocab
        self.batch_words = batch_words

    def _validate(self) -> None:
        """Check the hyper-parameters (ParameterError naming the bad one)."""
        self._config()
        check_positive("min_count", self.min_count, integer=True)
        if self.max_vocab is not None:
            check_positive("max_vocab", self.max_vocab, integer=True)

    def _config(self, description: str = "word2vec") -> SkipGramConfig:
        return SkipGramConfig(
            vector_size=self.vector_size,
            window=self.window,
            negative=self.negative,
            sample=self.sample,
            sg=self.sg,
            epochs=self.epochs,
            alpha=self.alpha,
            min_alpha=self.min_alpha,
            seed=self.seed,
            workers=self.workers,
            device=self.device,
            cbow_mean=self.cbow_mean,
            ns_exponent=self.ns_exponent,
            batch_words=self.batch_words,
            verbose=self.verbose,
            description=description,
        )

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, corpus: Any, tokenizer: Tokenizer | None = None) -> Word2Vec:
        """Learn vectors from a text file path (tokenized by `tokenizer`, default: lower-case letters),
        a LineCorpus, or a re-iterable of token lists; starts over; returns self."""
        self._validate()
        config = self._config("word2vec " + ("skip-gram" if self.sg == 1 else "CBOW"))
        sentences = as_sentences(corpus, tokenizer)
        encoded = encode_corpus(sentences, self.min_count, max_vocab=self.max_vocab)
        trained = train_skipgram(encoded, config)
        self._set_fitted(encoded, trained)
        if isinstance(sentences, LineCorpus):
            self.tokenizer_: Tokenizer | None = sentences.tokenizer
        else:
            self.tokenizer_ = None
        return self

    def _set_fitted(self, corpus: EncodedCorpus, trained: TrainedVectors) -> None:
        self.embeddings_ = EmbeddingTable(
            trained.syn0,
            IdMap(np.array(corpus.vocab, dtype=object), kind="word"),
            counts=corpus.counts,
            name="Word2Vec word vectors",
            source=corpus.source if corpus.source != "the corpus" else "",
        )
        self.output_vectors_ = trained.syn1
        self.corpus_words_ = int(corpus.raw_words)
        self.corpus_sentences_ = int(corpus.n_sentences)
        self.train_seconds_ = float(trained.seconds)
        self.words_per_second_ = float(trained.words_per_second)
        self.threads_ = int(trained.threads)
        self.backend_ = trained.backend

    # -- queries -----------------------------------------------------------------------------------
    @property
    def vocab(self) -> list[str]:
        """The words that have a vector, most frequent first."""
        self._check_fitted()
        return self.embeddings_.keys

    def __contains__(self, word: object) -> bool:
        return self.is_fitted and word in self.embeddings_

    def __getitem__(self, word: str) -> np.ndarray:
        self._check_fitted()
        return self.embeddings_[self._known(word)]

    def _known(self, word: Any) -> str:
        if word in self.embeddings_:
            return word
        raise UnknownIdError("word", word, _hint(self.embeddings_, word))

    def similar(self, word: str, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The `n` words with the most similar vectors (cosine) and their similarities, best first."""
        self._check_fitted()
        return self.embeddings_.similar(self._known(word), n)

    def analogy(self, a: str, b: str, c: str, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Words nearest to a − b + c (3CosAdd on unit vectors), the three excluded: king − man + woman."""
        self._check_fitted()
        return self.embeddings_.analogy(a, b, c, n)

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words' vectors."""
        self._check_fitted()
        v1, v2 = self.embeddings_[self._known(w1)], self.embeddings_[self._known(w2)]
        return float(v1 @ v2 / max(float(np.linalg.norm(v1) * np.linalg.norm(v2)), 1e-12))

    # -- persistence -------------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "vectors": self.embeddings_.vectors,
            "output_vectors": self.output_vectors_,
            "counts": np.asarray(self.embeddings_.counts, dtype=np.int64),
        }

    def _state_json(self) -> dict[str, Any]:
        return {
            "vocab": self.embeddings_.keys,
            "source": self.embeddings_.source,
            "tokenizer": None if self.tokenizer_ is None else self.tokenizer_.to_json(),
            "corpus_words": self.corpus_words_,
            "corpus_sentences": self.corpus_sentences_,
            "train_seconds": self.train_seconds_,
            "words_per_second": self.words_per_second_,
            "threads": self.threads_,
            "backend": self.backend_,
        }

    def _load_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        vocab = list(state["vocab"])
        vectors, output, counts = arrays["vectors"], arrays["output_vectors"], arrays["counts"]
        if vectors.shape != (len(vocab), self.vector_size) or output.shape != vectors.shape:
            raise ValueError(
                f"vectors {vectors.shape} and output vectors {output.shape} do not match "
                f"{len(vocab)} words × vector_size {self.vector_size}"
            )
        if counts.shape != (len(vocab),) or (counts < 1).any():
            raise ValueError(f"counts {counts.shape} do not match the {len(vocab)} words")
        self.embeddings_ = EmbeddingTable(
            vectors,
            IdMap(np.array(vocab, dtype=object), kind="word"),
            counts=counts,
            name="Word2Vec word vectors",
            source=str(state.get("source", "")),
        )
        self.output_vectors_ = np.array(output, dtype=np.float32)
        tok = state.get("tokenizer")
        self.tokenizer_ = None if tok is None else Tokenizer.from_json(tok)
        self.corpus_words_ = int(state["corpus_words"])
        self.corpus_sentences_ = int(state["corpus_sentences"])
        self.train_seconds_ = float(state["train_seconds"])
        self.words_per_second_ = float(state["words_per_second"])
        self.threads_ = int(state["threads"])
        self.backend_ = str(state["backend"])


def _hint(table: EmbeddingTable, word: Any) -> str:
    return table.unknown_hint(word)
