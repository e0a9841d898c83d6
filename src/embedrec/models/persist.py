"""Save and load fitted models: arrays in model.safetensors, everything else in model.json. No pickle.

The directory is written under a temporary name and renamed into place, so a crash never leaves half
a model; model.json holds the sha256 of the weights, so a truncated or altered file is caught on load.
Model classes register themselves here (`register`, called by `Params.__init_subclass__`); loading
imports the module a class was saved from, so a model that needs no PyTorch loads without it.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embedrec import __version__
from embedrec.errors import ModelFormatError, ParameterError

FORMAT = "embedrec-model"
FORMAT_VERSION = 2
WEIGHTS, META = "model.safetensors", "model.json"
MODEL_TYPES: dict[str, type] = {}  # class name -> class, filled as model modules are imported


def register(cls: type) -> None:
    """Make a model class loadable by its name."""
    MODEL_TYPES[cls.__name__] = cls


def save_model(model: Any, path: str | Path) -> Path:
    """Write a fitted model to directory `path` (replacing a previous model there); returns the path."""
    from safetensors.numpy import save_file

    target = Path(path)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / META).exists())):
        raise ParameterError(f"{target} exists and is not an embedrec model directory; choose another path")
    arrays = {name: np.ascontiguousarray(a) for name, a in model._state_arrays().items()}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "embedrec_version": __version__,
        "model_type": type(model).__name__,
        "model_module": type(model).__module__,
        "params": jsonable(model.get_params(deep=False)),
        "state": jsonable(model._state_json()),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file(arrays, str(tmp / WEIGHTS))
        meta["weights_sha256"] = _sha256(tmp / WEIGHTS)
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
    root = Path(path)
    meta = read_meta(root)
    cls = _model_class(root, meta)
    arrays = _read_weights(root, meta)
    try:
        model = cls(**_params(cls, meta["params"]))
        if hasattr(model, "_validate"):
            model._validate()  # the saved hyper-parameters must be ones fit would accept
        model._load_state(arrays, meta["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{root}: saved model is inconsistent ({type(exc).__name__}: {exc})") from None
    return model


def _model_class(root: Path, meta: dict[str, Any]) -> type:
    name, module = meta["model_type"], meta.get("model_module", "")
    if name not in MODEL_TYPES and isinstance(module, str) and module.startswith("embedrec.models."):
        try:  # only embedrec's own model modules are ever imported from a file's say-so
            importlib.import_module(module)
        except ImportError:
            pass
    cls = MODEL_TYPES.get(name)
    if cls is None:
        raise ModelFormatError(
            f"{root / META}: unknown model type {name!r}; known: {', '.join(sorted(MODEL_TYPES))}"
        )
    return cls


def _params(cls: type, saved: dict[str, Any]) -> dict[str, Any]:
    """Saved hyper-parameters as `__init__` takes them: JSON lists back to tuples where the default is one."""
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
    return {
        k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
        for k, v in saved.items()
    }


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
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFormatError(f"{file}: format_version is missing or not an integer")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{file}: format version {version} was written by a newer embedrec "
            f"({meta.get('embedrec_version', '?')}); this one reads up to {FORMAT_VERSION} — upgrade embedrec"
        )
    if version < FORMAT_VERSION:
        raise ModelFormatError(
            f"{file}: format version {version} was written by an older embedrec "
            f"({meta.get('embedrec_version', '?')}); this one reads version {FORMAT_VERSION} — train it again"
        )
    for key in ("model_type", "params", "state", "weights_sha256"):
        if key not in meta:
            raise ModelFormatError(f"{file}: missing field {key!r}")
    if not isinstance(meta["params"], dict) or not isinstance(meta["state"], dict):
        raise ModelFormatError(f"{file}: fields 'params' and 'state' must be objects")
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
        return load(blob)
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise ModelFormatError(f"{file}: unreadable ({exc})") from None


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def jsonable(value: Any) -> Any:
    """Hyper-parameters and small state as plain JSON values (tuples become lists, numpy scalars floats)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(f"cannot save the non-finite value {value!r}")
    return value


def frame_to_json(df: pd.DataFrame | None) -> dict[str, Any] | None:
    """Metadata column by column; NaN becomes null and comes back as NaN."""
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


def frame_from_json(data: dict[str, Any] | None) -> pd.DataFrame | None:
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
