"""Word-similarity correlation, analogy accuracy and neighbours, on toy tables with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from embedrec import EmbeddingTable
from embedrec.errors import DataError, UnknownIdError
from embedrec.query.wordeval import (
    analogy_accuracy,
    load_embeddings,
    nearest_neighbours,
    read_analogies,
    read_word_pairs,
    word_key,
    word_similarity,
)

# king - man + woman = queen exactly; paris - france + italy = rome; "apple" is far from everything
WORDS = ["king", "queen", "man", "woman", "paris", "france", "rome", "italy", "apple"]
VECTORS = np.array(
    [
        [1, 1, 0, 0],  # king = royal + male
        [1, 0, 1, 0],  # queen = royal + female
        [0, 1, 0, 0.1],  # man
        [0, 0, 1, 0.1],  # woman
        [0, 0, 0, 1],  # paris
        [0.2, 0, 0, 1],
        [0, 0.5, 0.5, 1],
        [0.2, 0.5, 0.5, 1],
        [-1, -1, -1, -1],
    ],
    dtype=np.float32,
)


@pytest.fixture
def table() -> EmbeddingTable:
    return EmbeddingTable(VECTORS, WORDS, kind="word", counts=np.arange(9, 0, -1))


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_analogy_is_3cosadd_on_unit_vectors(table: EmbeddingTable) -> None:
    keys, sims = table.analogy("king", "man", "woman", n=3)
    assert keys[0] == "queen"
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    target = unit[0] - unit[2] + unit[3]
    expected = sorted(
        ((cos(target, VECTORS[i]), w) for i, w in enumerate(WORDS) if w not in ("king", "man", "woman")),
        reverse=True,
    )[:3]
    assert keys.tolist() == [w for _, w in expected]
    np.testing.assert_allclose(sims, [s for s, _ in expected], rtol=1e-5)


def test_analogy_names_an_unknown_word(table: EmbeddingTable) -> None:
    with pytest.raises(UnknownIdError, match="'prince'"):
        table.analogy("king", "man", "prince")


def test_word_similarity_is_spearman_over_the_covered_pairs(table: EmbeddingTable, tmp_path: Path) -> None:
    f = tmp_path / "pairs.tsv"
    f.write_text(
        "# comment\nking\tqueen\t8\nKING\tman\t6\nparis\trome\t5\napple\tking\t1\nunicorn\tking\t3\n"
    )
    res = word_similarity(table, f)
    model = [cos(VECTORS[0], VECTORS[1]), cos(VECTORS[0], VECTORS[2]), cos(VECTORS[4], VECTORS[6]),
             cos(VECTORS[8], VECTORS[0])]  # fmt: skip
    assert res.spearman == pytest.approx(stats.spearmanr(model, [8, 6, 5, 1]).statistic)
    assert (res.n_pairs, res.n_total, res.coverage) == (4, 5, 0.8)
    assert res.missing == [("unicorn", "king")]


def test_analogy_accuracy_counts_sections_and_coverage(table: EmbeddingTable, tmp_path: Path) -> None:
    f = tmp_path / "questions.txt"
    f.write_text(
        ": family\nman woman king queen\nMan Woman King Queen\nman woman king unicorn\n"
        ": capital\nfrance paris italy rome\n: gram-plural\nking queen man woman\n"
    )
    res = analogy_accuracy(table, f)
    assert res.n_total == 5 and res.n_evaluated == 4 and res.coverage == 0.8
    assert res.sections["family"] == (2, 2)
    assert res.part(semantic=True)[1] == 3 and res.part(semantic=False)[1] == 1
    assert read_analogies(f)[0] == ("family", "man", "woman", "king", "queen")
    assert analogy_accuracy(table, f, restrict=4).n_evaluated == 3  # "queen man woman king" rows only


def test_malformed_test_files_name_the_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text("a\tb\t1\nc\td\n")
    with pytest.raises(DataError, match=r"bad\.tsv:2: expected 'word1 word2 score'"):
        read_word_pairs(f)
    f.write_text("a\tb\tlots\n")
    with pytest.raises(DataError, match="not a number"):
        read_word_pairs(f)
    g = tmp_path / "q.txt"
    g.write_text(": s\na b c\n")
    with pytest.raises(DataError, match=r"q\.txt:2: expected four words"):
        read_analogies(g)


def test_nearest_neighbours_and_word_keys(table: EmbeddingTable) -> None:
    found = nearest_neighbours(table, ["Paris", "nowhere"], n=2)
    assert list(found) == ["Paris"] and found["Paris"][0][0] == "france"
    assert word_key(table, "QUEEN") == "queen"
    with pytest.raises(UnknownIdError, match="unicorn"):
        word_key(table, "unicorn")


def test_load_embeddings_reads_vectors_files_and_refuses_other_paths(
    table: EmbeddingTable, tmp_path: Path
) -> None:
    f = tmp_path / "v.txt"
    f.write_text("2 2\nhotel 1 0\nmotel 0.9 0.1\n")
    assert load_embeddings(f).keys == ["hotel", "motel"]
    with pytest.raises(DataError, match="no such model directory or vectors file"):
        load_embeddings(tmp_path / "nothing")
