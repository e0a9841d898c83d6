"""Pre-trained vectors: word2vec text/binary and GloVe reading, similarity search, table initialisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from typer.testing import CliRunner

from embedrec import (
    DataError,
    EmbeddingTable,
    IdMap,
    ParameterError,
    UnknownIdError,
    init_matrix,
    load_vectors,
)

WORDS = {
    "king": [1.0, 0.5, 0.0],
    "queen": [0.9, 0.6, 0.0],
    "apple": [0.0, 0.0, 1.0],
    "man": [1.0, 0.1, 0.1],
    "pear": [0.1, 0.0, 0.9],
}


def _text(header: bool = True) -> str:
    lines = [f"{len(WORDS)} 3"] if header else []
    lines += [f"{k} " + " ".join(str(x) for x in v) for k, v in WORDS.items()]
    return "\n".join(lines) + "\n"


def _binary(words: dict[str, list[float]]) -> bytes:
    out = f"{len(words)} 3\n".encode()
    for k, v in words.items():
        out += k.encode() + b" " + np.asarray(v, dtype="<f4").tobytes() + b"\n"
    return out


@pytest.fixture
def glove(tmp_path: Path) -> Path:
    path = tmp_path / "glove.txt"
    path.write_text(_text(header=False))
    return path


def test_glove_and_word2vec_text_and_binary_agree(glove: Path, tmp_path: Path) -> None:
    w2v = tmp_path / "w2v.txt"
    w2v.write_text(_text())
    binary = tmp_path / "w2v.bin"
    binary.write_bytes(_binary(WORDS))
    expected = np.array(list(WORDS.values()), dtype=np.float32)
    for path in (glove, w2v, binary):
        v = load_vectors(path)
        assert v.keys == list(WORDS) and v.dim == 3
        np.testing.assert_array_equal(v.vectors, expected)
    assert "king" in v and "nope" not in v
    np.testing.assert_array_equal(v["apple"], expected[2])


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_similar_matches_dense_reference(glove: Path, metric: str) -> None:
    v = load_vectors(glove)
    keys, scores = v.similar("king", n=3, metric=metric)
    m = v.vectors.astype(np.float64)
    if metric == "dot":
        ref = m @ m[0]
    else:
        ref = -cdist(m[:1], m, "cosine" if metric == "cosine" else "euclidean")[0]
        ref = 1 + ref if metric == "cosine" else ref
    ref[0] = -np.inf  # the query is excluded
    order = np.argsort(-ref, kind="stable")[:3]
    assert list(keys) == [v.keys[i] for i in order]
    np.testing.assert_allclose(scores, ref[order], rtol=1e-5, atol=1e-6)
    assert "king" not in keys


def test_similar_errors(glove: Path) -> None:
    v = load_vectors(glove)
    with pytest.raises(UnknownIdError, match="nope"):
        v.similar("nope")
    with pytest.raises(ParameterError, match="choose one of"):
        v.similar("king", metric="manhattan")


@pytest.mark.parametrize(
    ("content", "line", "match"),
    [
        ("5 3\nking 1 2 3\nqueen 1 2\n", 3, "2 values, expected 3"),
        ("3 3\nking 1 2 3\nqueen 1 2 3\n", 1, "header says 3 vectors"),
        ("king 1 2 3\nqueen 1 x 3\n", 2, "'x'"),
        ("king 1 2 3\nqueen 1 2 3 4\n", 2, "4 values, expected 3"),
        ("king 1 2 3\nking 1 2 3\n", 2, "repeats line 1"),
    ],
)
def test_malformed_text_names_the_line(tmp_path: Path, content: str, line: int, match: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        load_vectors(path)
    assert info.value.line == line and f"bad.txt:{line}:" in str(info.value)


def test_truncated_binary_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(_binary(WORDS)[:-7])
    with pytest.raises(DataError, match="truncated") as info:
        load_vectors(path, binary=True)
    assert info.value.line == len(WORDS) + 1  # header is line 1: the last vector is cut
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_vectors(path)


def test_init_matrix(glove: Path) -> None:
    v = load_vectors(glove)
    ids = IdMap(["queen", "zebra", "king"], kind="item")
    matrix, mask = init_matrix(v, ids)
    assert matrix.dtype == np.float32 and matrix.shape == (3, 3)
    np.testing.assert_array_equal(mask, [True, False, True])
    np.testing.assert_array_equal(matrix[0], v["queen"])
    np.testing.assert_array_equal(matrix[1], 0)
    with pytest.raises(DataError, match="3 dimensions but the embedding table has 8"):
        init_matrix(v, ids, dim=8)
    with pytest.raises(DataError, match="no item id has a vector"):
        init_matrix(v, IdMap([1, 2], kind="item"))


def test_vectors_constructor_checks_shape() -> None:
    with pytest.raises(ValueError, match="2 vectors but 1 keys"):
        EmbeddingTable(np.zeros((2, 3)), ["a"])


def test_cli_similar_on_a_vectors_file(glove: Path) -> None:
    from embedrec.cli.main import cli

    result = CliRunner().invoke(cli, ["similar", str(glove), "king", "-n", "2"])
    assert result.exit_code == 0, result.output
    assert "queen" in result.output and "man" in result.output and "apple" not in result.output
    result = CliRunner().invoke(cli, ["similar", str(glove), "nope"])
    assert result.exit_code != 0 and isinstance(result.exception, UnknownIdError)
