"""How good are word vectors? Word-similarity correlation, analogy accuracy and nearest neighbours.

Both test files are the usual ones: WordSim-353 style `w1 w2 score` lines (tab or space separated, `#`
comments) and the word2vec `questions-words.txt` format (`: section` headers, then `A B C D` meaning "A is
to B as C is to D"). Words are looked up as written, else lower-cased (`case_insensitive`), and pairs or
questions with a word the vectors lack are left out and counted, so every score comes with its coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from embedrec.checks import check_n
from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.text import check_text_file
from embedrec.data.vectors import load_vectors
from embedrec.errors import DataError, UnknownIdError
from embedrec.models.base import Estimator
from embedrec.models.persist import load_model
from embedrec.query.recommender import Recommender

SEMANTIC_PREFIX = "gram"  # questions-words sections named gram* are syntactic, the rest semantic


@dataclass(frozen=True)
class WordSimResult:
    """Spearman (and Pearson) correlation of cosine similarities with human scores, on the covered pairs."""

    spearman: float
    pearson: float
    n_pairs: int  # pairs with both words known
    n_total: int
    missing: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def coverage(self) -> float:
        return self.n_pairs / self.n_total if self.n_total else 0.0


@dataclass(frozen=True)
class AnalogyResult:
    """3CosAdd accuracy over the questions whose four words are known, overall and per section."""

    correct: int
    n_evaluated: int
    n_total: int
    sections: dict[str, tuple[int, int]]  # name -> (correct, evaluated)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n_evaluated if self.n_evaluated else 0.0

    @property
    def coverage(self) -> float:
        return self.n_evaluated / self.n_total if self.n_total else 0.0

    def part(self, semantic: bool) -> tuple[int, int]:
        """(correct, evaluated) over the semantic or the syntactic (gram*) sections."""
        rows = [v for k, v in self.sections.items() if k.startswith(SEMANTIC_PREFIX) != semantic]
        return sum(c for c, _ in rows), sum(n for _, n in rows)


def _lines(path: str | Path) -> list[tuple[int, str]]:
    path = Path(path)
    check_text_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)]


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """(w1, w2, human score) from a `w1 w2 score` file; a malformed line raises DataError naming it."""
    out = []
    for lineno, line in _lines(path):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 3:
            raise DataError(f"expected 'word1 word2 score', got {line[:60]!r}", path=str(path), line=lineno)
        try:
            score = float(parts[2])
        except ValueError:
            raise DataError(f"score {parts[2]!r} is not a number", path=str(path), line=lineno) from None
        out.append((parts[0].strip(), parts[1].strip(), score))
    if not out:
        raise DataError("no word pairs in the file (expected 'word1 word2 score' lines)", path=str(path))
    return out


def read_analogies(path: str | Path) -> list[tuple[str, str, str, str, str]]:
    """(section, a, b, c, d) from a questions-words file; a malformed line raises DataError naming it."""
    out, section = [], ""
    for lineno, line in _lines(path):
        if not line:
            continue
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.split()
        if len(parts) != 4:
            raise DataError(f"expected four words 'A B C D', got {line[:60]!r}", path=str(path), line=lineno)
        out.append((section, *parts))
    if not out:
        raise DataError("no analogy questions in the file (expected 'A B C D' lines)", path=str(path))
    return out


def _lookup(table: EmbeddingTable, word: str, case_insensitive: bool) -> int:
    """Row of `word` (as written, else lower-cased), or -1."""
    if word in table.ids:
        return table.index(word)
    if case_insensitive and word.lower() in table.ids:
        return table.index(word.lower())
    return -1


def word_similarity(
    table: EmbeddingTable, pairs: str | Path | list[tuple[str, str, float]], *, case_insensitive: bool = True
) -> WordSimResult:
    """Correlation between the vectors' cosine similarities and human similarity scores."""
    if isinstance(pairs, str | Path):
        pairs = read_word_pairs(pairs)
    unit = _unit(table.vectors)
    model, human, missing = [], [], []
    for w1, w2, score in pairs:
        r1, r2 = _lookup(table, w1, case_insensitive), _lookup(table, w2, case_insensitive)
        if r1 < 0 or r2 < 0:
            missing.append((w1, w2))
            continue
        model.append(float(unit[r1] @ unit[r2]))
        human.append(score)
    if len(model) < 3:
        return WordSimResult(float("nan"), float("nan"), len(model), len(pairs), missing)
    return WordSimResult(
        spearman=float(stats.spearmanr(model, human).statistic),
        pearson=float(stats.pearsonr(model, human).statistic),
        n_pairs=len(model),
        n_total=len(pairs),
        missing=missing,
    )


def analogy_accuracy(
    table: EmbeddingTable,
    questions: str | Path | list[tuple[str, str, str, str, str]],
    *,
    restrict: int | None = 300_000,
    case_insensitive: bool = True,
    batch: int = 512,
) -> AnalogyResult:
    """Share of questions "a : b :: c : d" whose 3CosAdd answer, the nearest word to b − a + c (unit
    vectors, a b c excluded), is d. Only the first `restrict` rows (the most frequent words) count as
    known and as answers, as gensim's evaluate_word_analogies does."""
    if isinstance(questions, str | Path):
        questions = read_analogies(questions)
    limit = len(table) if restrict is None else min(int(restrict), len(table))
    unit = _unit(table.vectors[:limit])  # (limit, k)
    rows, names = [], []
    sections: dict[str, list[int]] = {}
    for section, *words in questions:
        idx = [_lookup(table, w, case_insensitive) for w in words]
        sections.setdefault(section, [0, 0])
        if min(idx) < 0 or max(idx) >= limit:
            continue
        rows.append(idx)
        names.append(section)
    correct = np.zeros(len(rows), dtype=bool)
    q = np.asarray(rows, dtype=np.int64).reshape(-1, 4)  # (n, 4) a b c d
    for s in range(0, len(q), batch):
        a, b, c, d = q[s : s + batch].T
        target = unit[b] - unit[a] + unit[c]  # (batch, k)
        sims = target @ unit.T  # (batch, limit)
        r = np.arange(len(a))
        sims[r, a] = sims[r, b] = sims[r, c] = -np.inf
        correct[s : s + batch] = sims.argmax(axis=1) == d
    for name, ok in zip(names, correct, strict=True):
        sections[name][0] += int(ok)
        sections[name][1] += 1
    return AnalogyResult(
        correct=int(correct.sum()),
        n_evaluated=len(rows),
        n_total=len(questions),
        sections={k: (v[0], v[1]) for k, v in sections.items()},
    )


def nearest_neighbours(
    table: EmbeddingTable, words: list[Any], n: int = 10, *, case_insensitive: bool = True
) -> dict[Any, list[tuple[Any, float]]]:
    """The `n` cosine neighbours of each known word (unknown words are left out of the result)."""
    n = check_n(n)
    out: dict[Any, list[tuple[Any, float]]] = {}
    for word in words:
        row = _lookup(table, word, case_insensitive) if isinstance(word, str) else -1
        if row < 0 and word in table.ids:
            row = table.index(word)
        if row < 0:
            continue
        keys, sims = table.similar(table.ids.raw_id(row), n)
        out[word] = [(k, float(s)) for k, s in zip(keys.tolist(), sims.tolist(), strict=True)]
    return out


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def load_embeddings(path: str | Path, kind: str = "item") -> EmbeddingTable:
    """The vectors behind a path: a vectors file (word2vec/GloVe), a saved Word2Vec or TextClassifier
    (its word vectors), or a saved user–item model (its `kind` vectors, with the item metadata)."""
    path = Path(path)
    if path.is_file():
        return load_vectors(path)
    if not path.is_dir():
        raise DataError("no such model directory or vectors file", path=str(path))
    model = load_model(path)
    if isinstance(model, Estimator):
        return Recommender(model).embeddings(kind)
    table = getattr(model, "embeddings_", None)
    if not isinstance(table, EmbeddingTable):
        raise DataError(f"a {type(model).__name__} model holds no vectors", path=str(path))
    return table


def word_key(table: EmbeddingTable, query: str) -> Any:
    """The key of `query` in the table: as written, else lower-cased, else an int for an integer key;
    unknown raises UnknownIdError with a hint."""
    if query in table.ids:
        return query
    if query.lower() in table.ids:
        return query.lower()
    if query.lstrip("-").isdigit() and int(query) in table.ids:
        return int(query)
    raise UnknownIdError(table.kind, query, table.unknown_hint(query))
