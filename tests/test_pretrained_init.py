"""Pre-trained vectors initialise DotBias's item table: frozen rows stay put, fine-tuned rows move."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedrec
from embedrec import DataError, DotBias, Interactions, ParameterError

K = 8


@pytest.fixture(scope="module")
def data(ml_small_dir: Path) -> Interactions:
    full = embedrec.load_dataset("movielens-small", progress=False)
    return full.subset(np.arange(20_000))


def _write_vectors(path: Path, ids: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """A word2vec text file with one random vector per raw id."""
    vectors = np.random.default_rng(seed).normal(0, 0.3, size=(len(ids), dim)).astype(np.float32)
    lines = [f"{len(ids)} {dim}"] + [
        f"{raw} " + " ".join(f"{v:.9g}" for v in row) for raw, row in zip(ids, vectors, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return vectors


def test_frozen_rows_keep_their_vectors_and_the_rest_learn(data: Interactions, tmp_path: Path) -> None:
    raw = data.item_ids.raw_ids[::3]  # a third of the items have pre-trained vectors
    given = _write_vectors(tmp_path / "items.txt", raw, K)
    model = DotBias(
        n_factors=K, epochs=2, pretrained_items=tmp_path / "items.txt", freeze_items=True, verbose=False
    )
    model.fit(data)
    rows = data.item_ids.indices(raw)
    np.testing.assert_array_equal(model.item_factors_[rows], given)
    others = np.setdiff1d(np.arange(data.n_items), rows)
    plain = DotBias(n_factors=K, epochs=2, verbose=False).fit(data)
    assert not np.allclose(model.item_factors_[others], plain.item_factors_[others])
    assert np.isfinite(model.predict(data.users[:10], data.items[:10], raw=False)).all()


def test_fine_tuned_rows_start_at_the_vectors_and_move(data: Interactions, tmp_path: Path) -> None:
    raw = data.item_ids.raw_ids[:50]
    given = _write_vectors(tmp_path / "items.txt", raw, K)
    model = DotBias(n_factors=K, epochs=2, pretrained_items=str(tmp_path / "items.txt"), verbose=False).fit(
        data
    )
    moved = model.item_factors_[data.item_ids.indices(raw)]
    assert not np.array_equal(moved, given)
    # Started from the given vectors, not from the N(0, 0.01) init: still close to them after two epochs.
    assert np.corrcoef(moved.ravel(), given.ravel())[0, 1] > 0.9


def test_vector_size_must_match_n_factors(data: Interactions, tmp_path: Path) -> None:
    _write_vectors(tmp_path / "items.txt", data.item_ids.raw_ids[:5], K + 1)
    with pytest.raises(DataError, match="dimensions"):
        DotBias(n_factors=K, epochs=1, pretrained_items=str(tmp_path / "items.txt"), verbose=False).fit(data)


def test_freeze_without_vectors_is_rejected() -> None:
    with pytest.raises(ParameterError, match="needs pretrained_items"):
        DotBias(freeze_items=True).fit(
            Interactions.from_arrays(np.array([0]), np.array([0]), np.array([3.0]))
        )


def test_a_model_started_from_a_table_saves_and_loads(data: Interactions, tmp_path: Path) -> None:
    table = embedrec.EmbeddingTable(np.ones((5, K), np.float32), data.item_ids.raw_ids[:5], name="mine")
    model = DotBias(n_factors=K, epochs=1, pretrained_items=table, freeze_items=True, verbose=False).fit(data)
    loaded = embedrec.load_model(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.item_factors_, model.item_factors_)
    assert loaded.pretrained_items == "<EmbeddingTable mine>"  # where the start came from, as JSON can say it
