"""Save -> load gives the same model; the format is pinned; damaged files give one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embedrec
from embedrec import DotBias, ModelFormatError, NotFittedError, ParameterError, load_model
from embedrec.models.persist import FORMAT_VERSION

GOLDEN = Path(__file__).parent / "golden" / "model_json_v3.json"


@pytest.fixture()
def model_copy(small_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the saved small model, free to damage."""
    return Path(shutil.copytree(small_model_dir, tmp_path / "model"))


def weights_of(folder: Path) -> Path:
    """The weights file a saved model's model.json names."""
    return folder / json.loads((folder / "model.json").read_text())["weights_file"]


def _one_line_error(path: Path, match: str) -> None:
    with pytest.raises(ModelFormatError, match=match) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_save_load_gives_identical_predictions_and_state(small_model: DotBias, small_model_dir: Path) -> None:
    loaded = load_model(small_model_dir)
    assert type(loaded) is DotBias and loaded.get_params() == small_model.get_params()
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, small_model.n_users, 2000), rng.integers(0, small_model.n_items, 2000)
    np.testing.assert_array_equal(loaded.predict(u, i, raw=False), small_model.predict(u, i, raw=False))
    np.testing.assert_array_equal(loaded.score_items([0, 3]), small_model.score_items([0, 3]))
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_model, name))
    assert loaded.global_bias_ == small_model.global_bias_
    assert loaded.user_ids_ == small_model.user_ids_ and loaded.item_ids_ == small_model.item_ids_
    assert loaded.scale_ == small_model.scale_ and loaded.fingerprint_ == small_model.fingerprint_
    assert (loaded.seen_ != small_model.seen_).nnz == 0
    pd.testing.assert_frame_equal(loaded.item_meta_, small_model.item_meta_, check_dtype=False)
    assert loaded.user_meta_ is None


def test_model_json_format_is_pinned(small_model_dir: Path) -> None:
    meta = json.loads((small_model_dir / "model.json").read_text())
    golden = json.loads(GOLDEN.read_text())
    assert sorted(meta) == golden["keys"]
    assert sorted(meta["params"]) == golden["dotbias_params"]
    assert sorted(meta["state"]) == golden["state_keys"]
    assert sorted(meta["state"]["item_ids"]) == golden["id_map_keys"]
    assert meta["format"] == golden["format"] and meta["format_version"] == FORMAT_VERSION == 3
    assert meta["model_type"] == "DotBias" and meta["embedrec_version"] == embedrec.__version__
    assert sorted(p.name for p in small_model_dir.iterdir()) == ["model.json", meta["weights_file"]]
    assert meta["weights_file"] == f"weights-{meta['weights_sha256'][:16]}.safetensors"


def test_saved_meta_frames_round_trip_with_user_metadata(ml100k_dir: Path, tmp_path: Path) -> None:
    train, _ = embedrec.predefined_split(ml100k_dir, "u1")
    small = train.subset(np.arange(3000))
    model = DotBias(n_factors=4, epochs=1, verbose=False).fit(small)
    loaded = load_model(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.user_meta_, model.user_meta_, check_dtype=False)
    assert loaded.user_ids_.raw_id(0) == model.user_ids_.raw_id(0)


def test_save_overwrites_a_model_and_leaves_no_temporaries(small_model: DotBias, tmp_path: Path) -> None:
    target = tmp_path / "m"
    small_model.save(target)
    small_model.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match="not an embedrec model directory"):
        small_model.save(tmp_path / "other")


def test_save_before_fit_raises(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        DotBias().save(tmp_path / "m")


def test_missing_directory_or_files(tmp_path: Path, model_copy: Path) -> None:
    _one_line_error(tmp_path / "nowhere", "not a saved model")
    weights_of(model_copy).unlink()
    _one_line_error(model_copy, "missing")


def test_truncated_weights(model_copy: Path) -> None:
    weights = weights_of(model_copy)
    weights.write_bytes(weights.read_bytes()[:1000])
    _one_line_error(model_copy, "corrupt or truncated")


def test_corrupt_or_truncated_json(model_copy: Path) -> None:
    meta = model_copy / "model.json"
    meta.write_text(meta.read_text()[:500])
    _one_line_error(model_copy, "corrupt or truncated")
    meta.write_text('{"format": "something-else"}')
    _one_line_error(model_copy, "not an embedrec model")


def test_future_format_version(model_copy: Path) -> None:
    meta_file = model_copy / "model.json"
    meta = json.loads(meta_file.read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    meta_file.write_text(json.dumps(meta))
    _one_line_error(model_copy, "newer embedrec")


def test_unknown_model_type_and_inconsistent_params(model_copy: Path) -> None:
    meta_file = model_copy / "model.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "model_type": "Nope"}))
    _one_line_error(model_copy, "unknown model type 'Nope'")
    meta_file.write_text(json.dumps({**meta, "params": {**meta["params"], "n_factors": -3}}))
    _one_line_error(model_copy, "field .params.: n_factors must be a positive integer")
