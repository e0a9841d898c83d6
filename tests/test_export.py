"""Export round-trips: word2vec text/binary through gensim, TensorBoard projector files, NumPy + CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from embedrec import EmbeddingTable, export, load_vectors
from embedrec.query.recommender import Recommender


@pytest.fixture(scope="module")
def table(small_model) -> EmbeddingTable:
    return Recommender(small_model).embeddings("item")


@pytest.mark.parametrize(("fmt", "binary"), [("word2vec", False), ("word2vec-binary", True)])
def test_word2vec_round_trip_through_gensim(
    small_model, table, tmp_path: Path, fmt: str, binary: bool
) -> None:
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors", reason="gensim is a test-only dependency")
    [path] = export(table, fmt, tmp_path / "items.w2v")
    kv = gensim_kv.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    keys = [str(r) for r in table.ids.raw_ids]
    assert list(kv.index_to_key) == keys
    np.testing.assert_allclose(kv.vectors, table.vectors, rtol=1e-6, atol=1e-7)

    ours = load_vectors(path)
    assert ours.keys == keys
    np.testing.assert_array_equal(ours.vectors, kv.vectors)
    for raw in table.ids.raw_ids[table.popularity_order()[:3]]:  # well-rated items: distinct neighbours
        model_ids, model_sims = Recommender(small_model, min_ratings=0).similar_items(
            raw, n=10, metric="cosine"
        )
        our_keys, our_sims = ours.similar(str(raw), n=10, metric="cosine")
        gensim_keys = [k for k, _ in kv.most_similar(str(raw), topn=10)]
        assert list(our_keys) == [str(i) for i in model_ids] == gensim_keys
        np.testing.assert_allclose(our_sims, model_sims, rtol=1e-4, atol=1e-5)


def test_projector_files(table, tmp_path: Path) -> None:
    paths = export(table, "projector", tmp_path / "proj")
    assert [p.name for p in paths] == ["vectors.tsv", "metadata.tsv", "projector_config.pbtxt"]
    vectors = np.loadtxt(paths[0], delimiter="\t", dtype=np.float32)
    assert vectors.shape == table.vectors.shape
    np.testing.assert_allclose(vectors, table.vectors, rtol=1e-6)
    lines = paths[1].read_text().splitlines()
    assert lines[0].split("\t") == ["id", "title", "year", "genres", "ratings"]
    assert len(lines) == len(table) + 1  # header + one row per vector
    assert all(line.count("\t") == 4 for line in lines)
    first = lines[1].split("\t")
    assert first[0] == str(table.ids.raw_id(0)) and first[1] == table.meta["title"].iloc[0]
    config = paths[2].read_text()
    assert 'tensor_path: "vectors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config


def test_projector_metadata_always_has_two_columns(table, tmp_path: Path) -> None:
    bare = EmbeddingTable(vectors=table.vectors[:5], ids=type(table.ids)(table.ids.raw_ids[:5], kind="item"))
    [_, meta, _] = export(bare, "projector", tmp_path)
    lines = meta.read_text().splitlines()
    assert lines[0] == "id\tlabel" and len(lines) == 6


def test_npy_round_trip(table, tmp_path: Path) -> None:
    vectors_path, ids_path = export(table, "npy", tmp_path / "npy")
    np.testing.assert_array_equal(np.load(vectors_path, allow_pickle=False), table.vectors)
    ids = pd.read_csv(ids_path)
    assert list(ids.columns) == ["index", "id", "title"]
    assert ids["index"].tolist() == list(range(len(table)))
    assert ids["id"].tolist() == list(table.ids.raw_ids)
    assert not list(tmp_path.glob("npy/.*.tmp"))  # temporary files were moved into place


def test_unknown_format_lists_valid_ones(table, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="projector, word2vec, word2vec-binary, npy"):
        export(table, "parquet", tmp_path)


def test_cli_export_then_similar(small_model, small_model_dir: Path, tmp_path: Path) -> None:
    from embedrec.cli.main import cli

    runner = CliRunner()
    out = tmp_path / "items.txt"
    result = runner.invoke(cli, ["export", str(small_model_dir), "--format", "word2vec", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "items.txt" in result.output
    assert out.read_text().split("\n", 1)[0] == f"{len(small_model.item_ids_)} 32"

    result = runner.invoke(cli, ["export", str(small_model_dir), "--users", "-f", "npy", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "vectors.npy").shape == small_model.user_factors_.shape

    result = runner.invoke(cli, ["export", str(small_model_dir), "--format", "svg", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "word2vec-binary" in result.output

    query = str(small_model.item_ids_.raw_id(0))
    result = runner.invoke(cli, ["similar", str(out), query, "-n", "3"])
    assert result.exit_code == 0, result.output
    expected, _ = Recommender(small_model, min_ratings=0).similar_items(small_model.item_ids_.raw_id(0), n=3)
    assert all(str(i) in result.output for i in expected)
