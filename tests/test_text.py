"""The tokenizer, the streaming line corpus and the encoded corpus the word trainers read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedrec.data.text as text
from embedrec.data.text import LineCorpus, Tokenizer, as_sentences, encode_corpus
from embedrec.errors import DataError, ParameterError


def test_tokenizer_lower_cases_and_keeps_runs_of_letters() -> None:
    assert Tokenizer()("Hotel's 3 rooms, DON'T café_bar") == [
        "hotel",
        "s",
        "rooms",
        "don",
        "t",
        "café",
        "bar",
    ]
    assert Tokenizer(lowercase=False)("New York") == ["New", "York"]
    assert Tokenizer(pattern=r"\S+")("it's 3 stars !") == ["it's", "3", "stars", "!"]
    assert Tokenizer.from_json(Tokenizer(False, r"\w+").to_json()) == Tokenizer(False, r"\w+")


def test_a_bad_token_pattern_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="regular expression"):
        Tokenizer(pattern="[unclosed")


def test_line_corpus_streams_every_line_again_for_each_pass(tmp_path: Path) -> None:
    f = tmp_path / "c.txt"
    f.write_text("The cat sat.\n\nA dog ran!\n", encoding="utf-8")
    corpus = LineCorpus(f)
    first, second = list(corpus), list(corpus)
    assert first == second == [["the", "cat", "sat"], [], ["a", "dog", "ran"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"\x00\x01\x02binary\x00", "binary"),
    ],
)
def test_empty_and_binary_files_are_one_line_data_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        LineCorpus(f)
    assert str(f) in str(err.value) and "\n" not in str(err.value)


def test_a_line_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    f = tmp_path / "latin.txt"
    f.write_bytes(b"fine line\ncaf\xe9 au lait\n")
    with pytest.raises(DataError, match=r"latin\.txt:2: not UTF-8"):
        list(LineCorpus(f))


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        LineCorpus(tmp_path / "nope.txt")


def naive_encode(sentences: list[list[str]], min_count: int) -> tuple[list[str], list[list[int]]]:
    """The obvious reference: count, keep, sort by count (ties by first appearance), map."""
    counts: dict[str, int] = {}
    for s in sentences:
        for w in s:
            counts[w] = counts.get(w, 0) + 1
    first = {w: i for i, w in enumerate(dict.fromkeys(w for s in sentences for w in s))}
    vocab = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], first[w]))
    index = {w: i for i, w in enumerate(vocab)}
    return vocab, [[index[w] for w in s if w in index] for s in sentences if s]


def test_encoding_matches_a_naive_count_sort_and_map() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    sentences = [list(rng.choice(words, size=rng.integers(0, 12), p=None)) for _ in range(200)]
    enc = encode_corpus(sentences, min_count=6)
    vocab, encoded = naive_encode(sentences, 6)
    assert enc.vocab == vocab
    assert enc.counts.tolist() == [sum(s.count(w) for s in sentences) for w in vocab]
    got = [enc.words[enc.starts[i] : enc.starts[i + 1]].tolist() for i in range(enc.n_sentences)]
    assert got == encoded
    assert enc.raw_words == sum(map(len, sentences))


def test_ids_spilled_to_a_temporary_file_encode_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    sentences = [[f"w{x}" for x in rng.integers(0, 50, size=30)] for _ in range(300)]
    in_memory = encode_corpus(sentences, min_count=3)
    monkeypatch.setattr(text, "_SPILL_TOKENS", 100)
    spilled = encode_corpus(sentences, min_count=3)
    assert isinstance(spilled.words, np.memmap)
    assert np.array_equal(spilled.words, in_memory.words) and np.array_equal(spilled.starts, in_memory.starts)


def test_long_lines_are_cut_into_sentences_of_the_maximum_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "MAX_SENTENCE_LEN", 4)
    enc = encode_corpus([["a"] * 10, ["a"] * 3], min_count=1)
    assert np.diff(enc.starts).tolist() == [4, 4, 2, 3]


def test_no_word_reaching_min_count_names_the_file_and_the_commonest_word(tmp_path: Path) -> None:
    f = tmp_path / "small.txt"
    f.write_text("one two two\nthree\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"small\.txt: no word occurs min_count=5 .*'two', occurs 2 times"):
        encode_corpus(f, min_count=5)


def test_a_file_of_punctuation_only_holds_no_words(tmp_path: Path) -> None:
    f = tmp_path / "punct.txt"
    f.write_text("... !!! ,,,\n", encoding="utf-8")
    with pytest.raises(DataError, match="no words"):
        encode_corpus(f, min_count=1)


def test_one_shot_iterators_and_plain_strings_are_refused() -> None:
    with pytest.raises(ParameterError, match="one-shot"):
        as_sentences(iter([["a"]]))
    with pytest.raises(ParameterError, match="list of tokens"):
        encode_corpus(["a sentence as a string"], min_count=1)
    with pytest.raises(ParameterError, match="text file path or an iterable"):
        as_sentences(42)
