"""Text in: the documented tokenizer, a streaming one-sentence-per-line corpus, and the encoded corpus.

The tokenizer lower-cases and keeps runs of letters (any script), so "Hotel's 3 rooms" gives
["hotel", "s", "rooms"]; both steps can be changed. `LineCorpus` reads a UTF-8 file line by line and can
be iterated again for every epoch; `encode_corpus` reads any corpus once and turns it into the word-index
array the trainers use, with the vocabulary of words seen at least `min_count` times.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedrec.errors import DataError, ParameterError

LETTERS = r"[^\W\d_]+"  # a run of letters in any script: digits, '_' and punctuation split words
MAX_SENTENCE_LEN = 10_000  # longer lines are cut into pieces of this many words (as gensim's LineSentence)
_SPILL_TOKENS = 1 << 27  # beyond this many tokens (512 MiB of ids) the ids go to a temporary file


@dataclass(frozen=True)
class Tokenizer:
    """Text -> tokens: optionally lower-case, then every match of the regular expression `pattern`.

    The default keeps runs of letters; `pattern=r"\\S+"` splits on whitespace only (pre-tokenized text),
    `pattern=r"\\w+"` keeps digits too.
    """

    lowercase: bool = True
    pattern: str = LETTERS

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_regex", re.compile(self.pattern))
        except (re.error, TypeError) as exc:
            raise ParameterError(
                f"token pattern {self.pattern!r} is not a regular expression ({exc})"
            ) from None

    def __call__(self, text: str) -> list[str]:
        """The tokens of one piece of text."""
        return self._regex.findall(text.lower() if self.lowercase else text)  # type: ignore[attr-defined]

    def to_json(self) -> dict[str, Any]:
        return {"lowercase": self.lowercase, "pattern": self.pattern}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tokenizer:
        return cls(lowercase=bool(data["lowercase"]), pattern=str(data["pattern"]))


class LineCorpus:
    """The sentences of a UTF-8 text file, one per line, tokenized as they are read; iterable many times.

    Nothing is held in memory but the current line. A file that is missing, binary or not UTF-8 raises
    DataError naming it (and the line).
    """

    def __init__(self, path: str | Path, tokenizer: Tokenizer | None = None) -> None:
        self.path = Path(path)
        self.tokenizer = tokenizer or Tokenizer()
        check_text_file(self.path)

    def __repr__(self) -> str:
        return f"<LineCorpus {self.path}>"

    def lines(self) -> Iterator[tuple[int, str]]:
        """(1-based line number, text) of every line."""
        with open(self.path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if b"\0" in raw:
                    raise DataError(_BINARY, path=str(self.path), line=lineno)
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"not UTF-8 text (byte {exc.start + 1} of the line); expected one sentence per line",
                        path=str(self.path),
                        line=lineno,
                    ) from None

    def __iter__(self) -> Iterator[list[str]]:
        for _, text in self.lines():
            yield self.tokenizer(text)


_BINARY = "looks like a binary file (NUL bytes); expected UTF-8 text with one sentence per line"


def check_text_file(path: Path) -> None:
    """Raise DataError unless `path` is a readable, non-empty file whose start looks like text."""
    if not path.exists():
        raise DataError("no such file", path=str(path))
    if not path.is_file():
        raise DataError("is not a file (expected a text file with one sentence per line)", path=str(path))
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not head.strip():
        raise DataError("the file is empty (expected one sentence per line)", path=str(path))
    if b"\0" in head:
        raise DataError(_BINARY, path=str(path))


def as_sentences(corpus: Any, tokenizer: Tokenizer | None = None) -> Iterable[Sequence[Any]]:
    """A re-iterable corpus: a path becomes a LineCorpus; a list of token lists is used as it is.

    A one-shot iterator (a generator) is refused, since training reads the corpus more than once.
    """
    if isinstance(corpus, str | os.PathLike):
        return LineCorpus(corpus, tokenizer)
    if isinstance(corpus, bytes) or not isinstance(corpus, Iterable):
        raise ParameterError(
            f"corpus must be a text file path or an iterable of token lists, got {type(corpus).__name__}"
        )
    if iter(corpus) is corpus:
        raise ParameterError(
            "corpus is a one-shot iterator (a generator); pass a list of token lists or a LineCorpus"
        )
    return corpus


@dataclass(frozen=True, eq=False)
class EncodedCorpus:
    """A corpus as word indices: sentence s is `words[starts[s]:starts[s + 1]]`; rare words removed.

    `vocab` lists the kept words, most frequent first, with their `counts`; `raw_words` counts every
    token read, kept or not (progress and words/s are measured in it, as gensim does), and `raw_starts`,
    when known, places the sentences among them (gensim sizes its jobs in these tokens).
    """

    words: np.ndarray  # (n_tokens,) int32 indices into vocab
    starts: np.ndarray  # (n_sentences + 1,) int64
    vocab: list[Any]
    counts: np.ndarray  # (n_vocab,) int64
    raw_words: int
    source: str = "the corpus"
    raw_starts: np.ndarray | None = None  # (n_sentences + 1,) int64 offsets counting every token read

    @property
    def n_sentences(self) -> int:
        return len(self.starts) - 1

    @property
    def token_starts(self) -> np.ndarray:
        """Where the sentences start among all tokens read: `raw_starts`, or `starts` when unknown."""
        return self.raw_starts if self.raw_starts is not None else self.starts

    def __repr__(self) -> str:
        return (
            f"<EncodedCorpus {self.n_sentences:,} sentences, {len(self.words):,} of {self.raw_words:,} "
            f"tokens kept, {len(self.vocab):,} words>"
        )


class _IdStore:
    """Token ids in blocks; past `_SPILL_TOKENS` they go to a temporary file, read back memory-mapped."""

    def __init__(self, spill: int | None = None) -> None:
        self.blocks: list[np.ndarray] = []
        self.size = 0
        self.spill = _SPILL_TOKENS if spill is None else spill
        self.file: Any = None

    def append(self, ids: list[int]) -> None:
        block = np.asarray(ids, dtype=np.int32)
        self.blocks.append(block)
        self.size += len(block)
        if self.file is not None or sum(len(b) for b in self.blocks) > self.spill:
            if self.file is None:
                self.file = tempfile.TemporaryFile(prefix="embedrec-corpus-")  # noqa: SIM115
            for b in self.blocks:
                b.tofile(self.file)
            self.blocks = []

    def finish(self) -> np.ndarray:
        if self.file is None:
            return np.concatenate(self.blocks) if self.blocks else np.empty(0, dtype=np.int32)
        for b in self.blocks:
            b.tofile(self.file)
        self.file.flush()
        return np.memmap(self.file, dtype=np.int32, mode="r+", shape=(self.size,))


def encode_corpus(
    corpus: Any,
    min_count: int = 5,
    *,
    tokenizer: Tokenizer | None = None,
    max_vocab: int | None = None,
) -> EncodedCorpus:
    """Read a corpus once: count its words, keep those seen `min_count` times or more (the `max_vocab`
    most frequent, if given) and encode every sentence as indices, most frequent word first.

    An empty corpus, or one where no word reaches `min_count`, raises DataError naming the file.
    """
    sentences = as_sentences(corpus, tokenizer)
    source = str(sentences.path) if isinstance(sentences, LineCorpus) else "the corpus"
    first_seen: dict[Any, int] = {}
    store, starts, pending = _IdStore(), [0], []
    n_tokens = 0
    for sentence in sentences:
        if isinstance(sentence, str | bytes):
            raise ParameterError(
                f"each sentence must be a list of tokens, got a {type(sentence).__name__} "
                f"({sentence[:30]!r}); pass a file path to have it tokenized"
            )
        try:
            ids = [first_seen.setdefault(token, len(first_seen)) for token in sentence]
        except TypeError:
            raise ParameterError(
                f"each sentence must be a list of tokens, got {type(sentence).__name__}"
            ) from None
        for piece in range(0, len(ids), MAX_SENTENCE_LEN):
            chunk = ids[piece : piece + MAX_SENTENCE_LEN]
            pending.extend(chunk)
            n_tokens += len(chunk)
            starts.append(n_tokens)
        if len(pending) >= 1 << 20:
            store.append(pending)
            pending = []
    store.append(pending)
    where = None if source == "the corpus" else source
    if n_tokens == 0:
        raise DataError("the corpus holds no words (expected one sentence per line)", path=where)
    provisional = store.finish()
    counts = np.bincount(provisional, minlength=len(first_seen)).astype(np.int64)
    order = np.argsort(-counts, kind="stable")  # most frequent first, ties in order of appearance
    keep = order[counts[order] >= min_count]
    if max_vocab is not None:
        keep = keep[:max_vocab]
    if len(keep) == 0:
        top = int(order[0])
        word = next(w for w, i in first_seen.items() if i == top)
        raise DataError(
            f"no word occurs min_count={min_count} times or more (the most frequent, {word!r}, occurs "
            f"{counts[top]} times); lower min_count or give a larger corpus",
            path=where,
        )
    new_id = np.full(len(first_seen), -1, dtype=np.int32)
    new_id[keep] = np.arange(len(keep), dtype=np.int32)
    raw_starts = np.asarray(starts, dtype=np.int64)
    words, starts_arr = _remap(provisional, raw_starts, new_id)
    by_id = np.empty(len(first_seen), dtype=object)
    by_id[list(first_seen.values())] = list(first_seen.keys())
    return EncodedCorpus(
        words=words,
        starts=starts_arr,
        vocab=by_id[keep].tolist(),
        counts=counts[keep],
        raw_words=n_tokens,
        source=source,
        raw_starts=raw_starts,
    )


def _remap(ids: np.ndarray, starts: np.ndarray, new_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map provisional ids to vocabulary ids in place, dropping the rare words, block by block (the ids
    may be a memory-mapped file), and move the sentence offsets with them."""
    new_starts = np.empty_like(starts)
    out, block = 0, 1 << 22
    for a in range(0, max(len(ids), 1), block):
        mapped = new_id[ids[a : a + block]]
        kept = mapped >= 0
        before = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])  # kept tokens before each position
        lo, hi = np.searchsorted(starts, [a, a + block])
        new_starts[lo:hi] = out + before[starts[lo:hi] - a]
        n = int(before[-1])
        ids[out : out + n] = mapped[kept]  # out <= a: writing behind the block being read
        out += n
    new_starts[starts >= len(ids)] = out
    return ids[:out], new_starts
