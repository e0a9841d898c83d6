"""Save and load fitted models: weights in model.safetensors, everything else in model.json. No pickle.

The directory is written under a temporary name and renamed into place, so a crash never leaves half
a model; model.json holds the sha256 of the weights, so a truncated or altered file is caught on load.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embedrec.data.idmap import IdMap
from embedrec.data.interactions import RatingScale
from embedrec.errors import ModelFormatError

FORMAT = "embedrec-model"
FORMAT_VERSION = 1
WEIGHTS, META = "model.safetensors", "model.json"
_SEEN = ("seen.indptr", "seen.indices", "seen.data")


def save_model(model: Any, path: str | Path) -> Path:
    """Write a fitted model to directory `path` (replacing a previous model there); returns the path."""
    from safetensors.numpy import save_file

    from embedrec import __version__

    model._check_fitted()
    target = Path(path)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / META).exists())):
        raise ValueError(f"{target} exists and is not an embedrec model directory; choose another path")
    arrays = {name: np.ascontiguousarray(a) for name, a in model._get_arrays().items()}
    seen = model.seen_
    arrays.update(
        zip(_SEEN, (seen.indptr.astype(np.int64), seen.indices.astype(np.int32), seen.data), strict=True)
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / WEIGHTS))
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "embedrec_version": __version__,
            "model_type": type(model).__name__,
            "params": _jsonable(model.get_params()),
            "state": _jsonable(model._extra_state()),
            "scale": model.scale_.to_json(),
            "n_users": len(model.user_ids_),
            "n_items": len(model.item_ids_),
            "user_ids": model.user_ids_.to_json(),
            "item_ids": model.item_ids_.to_json(),
            "user_meta": _frame_to_json(model.user_meta_),
            "item_meta": _frame_to_json(model.item_meta_),
            "data_fingerprint": model.fingerprint_,
            "weights_sha256": _sha256(tmp / WEIGHTS),
        }
        (tmp / META).write_text(json.dumps(meta, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        for file in (tmp / WEIGHTS, tmp / META):  # mkdtemp and safetensors create private files
            os.chmod(file, 0o666 & ~umask)
        os.chmod(tmp, 0o777 & ~umask)
        old = None
        if target.exists():  # a directory cannot be os.replace'd onto a non-empty one: move it aside
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_model(path: str | Path) -> Any:
    """Load a model saved with `model.save(dir)`; any problem raises a one-line ModelFormatError."""
    import embedrec.models  # noqa: F401  (registers every model class)
    from embedrec.models.base import MODEL_TYPES

    root = Path(path)
    meta = read_meta(root)
    cls = MODEL_TYPES.get(meta["model_type"])
    if cls is None:
        raise ModelFormatError(
            f"{root / META}: unknown model type {meta['model_type']!r}; "
            f"known: {', '.join(sorted(MODEL_TYPES))}"
        )
    arrays = _read_weights(root, meta)
    try:
        model = cls(**meta["params"])
        model.user_ids_ = IdMap.from_json(meta["user_ids"])
        model.item_ids_ = IdMap.from_json(meta["item_ids"])
        model.scale_ = RatingScale(**meta["scale"])
        model.user_meta_ = _frame_from_json(meta["user_meta"])
        model.item_meta_ = _frame_from_json(meta["item_meta"])
        model.fingerprint_ = str(meta["data_fingerprint"])
        shape = (len(model.user_ids_), len(model.item_ids_))
        model.seen_ = sp.csr_matrix(tuple(arrays.pop(k) for k in _SEEN[::-1]), shape=shape)
        model._set_arrays(arrays, meta["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{root}: saved model is inconsistent ({type(exc).__name__}: {exc})") from None
    return model


def read_meta(root: Path) -> dict[str, Any]:
    """model.json of a saved model, checked for format and version."""
    file = root / META
    if not file.is_file():
        raise ModelFormatError(f"{root}: not a saved model (no {META}); save one with model.save(dir)")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{file}: corrupt or truncated ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(f"{file}: not an embedrec model file (format is not {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise ModelFormatError(f"{file}: format_version is missing or not an integer")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{file}: format version {version} was written by a newer embedrec "
            f"({meta.get('embedrec_version', '?')}); this one reads up to {FORMAT_VERSION} — upgrade embedrec"
        )
    missing = [
        k
        for k in ("model_type", "params", "state", "user_ids", "item_ids", "weights_sha256")
        if k not in meta
    ]
    if missing:
        raise ModelFormatError(f"{file}: missing field {missing[0]!r}")
    return meta


def _read_weights(root: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    file = root / WEIGHTS
    if not file.is_file():
        raise ModelFormatError(f"{root}: {WEIGHTS} is missing")
    blob = file.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta["weights_sha256"]:
        raise ModelFormatError(f"{file}: corrupt or truncated (sha256 does not match {META})")
    try:
        arrays = load(blob)
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise ModelFormatError(f"{file}: unreadable ({exc})") from None
    missing = [k for k in _SEEN if k not in arrays]
    if missing:
        raise ModelFormatError(f"{file}: array {missing[0]!r} is missing")
    return arrays


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _jsonable(value: Any) -> Any:
    """Hyper-parameters and small state as plain JSON values (tuples become lists, numpy scalars floats)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot save the non-finite value {value!r}")
    return value


def _frame_to_json(df: pd.DataFrame | None) -> dict[str, Any] | None:
    """Display metadata column by column; NaN becomes null and comes back as NaN."""
    if df is None:
        return None
    data = {}
    for col in df.columns:
        values = df[col].to_numpy(dtype=object)
        data[str(col)] = [
            None if _missing(v) else (v.item() if isinstance(v, np.generic) else v) for v in values
        ]
    return {"dtypes": {str(c): str(t) for c, t in df.dtypes.items()}, "data": data}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _frame_from_json(data: dict[str, Any] | None) -> pd.DataFrame | None:
    if data is None:
        return None
    out = {}
    for col, values in data["data"].items():
        dtype = data["dtypes"].get(col, "object")
        if dtype.startswith(("float", "int")):
            out[col] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            if dtype.startswith("int") and not np.isnan(out[col]).any():
                out[col] = out[col].astype(dtype)
        else:
            out[col] = np.array([np.nan if v is None else v for v in values], dtype=object)
    return pd.DataFrame(out)
