"""Saving a table model: the network's tensors in model.safetensors, everything else in model.json.

model.json holds the format version, the hyper-parameters, the column schema, the category vocabularies
(with counts), the numeric scalers, the classes or the target's scale, and the sha256 of the tensors.
The directory is written under a temporary name and renamed into place; nothing is pickled. The model
hands over two things, `arrays` and `state`, so this can fold into a shared persistence base later.
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
import torch

from embedrec.data.table_encoding import TableEncoder
from embedrec.errors import ModelFormatError
from embedrec.models.training import TrainHistory

FORMAT = "embedrec-model"
FORMAT_VERSION = 1
WEIGHTS, META = "model.safetensors", "model.json"
MODEL_TYPE = "TabularModel"


def is_table_model(path: str | Path) -> bool:
    """Whether a directory holds a saved table model (so the CLI knows which loader to use)."""
    file = Path(path) / META
    try:
        return json.loads(file.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, ValueError, AttributeError):
        return False


def _arrays(model: Any) -> dict[str, np.ndarray]:
    return {
        f"net.{k}": np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in model.net_.state_dict().items()
    }


def _state(model: Any) -> dict[str, Any]:
    history = model.history_
    state: dict[str, Any] = {
        "task": model.task_,
        "target_name": model.target_name_,
        "encoder": model.encoder_.to_json(),
        "sizes": list(model.sizes_),
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": None
        if not hasattr(model, "feature_names_in_")
        else list(model.feature_names_in_),
        "history": {
            "train_loss": history.train_loss,
            "valid_rmse": history.valid_rmse,
            "valid_loss": history.valid_loss,
            "best_epoch": history.best_epoch,
            "seconds": history.seconds,
        },
    }
    if model.task_ == "regression":
        state["target"] = {"mean": model.target_mean_, "std": model.target_std_}
    else:
        state["classes"] = model.classes_.tolist()
    return state


def _params(model: Any) -> dict[str, Any]:
    params = model.get_params(deep=False)
    if isinstance(params.get("class_weight"), dict):  # class labels may not be strings: keep them as pairs
        params["class_weight"] = {"pairs": [[k, v] for k, v in params["class_weight"].items()]}
    return _jsonable(params)


def save_table_model(model: Any, path: str | Path) -> Path:
    """Write a fitted table model to directory `path` (replacing a previous model there)."""
    from safetensors.numpy import save_file

    from embedrec import __version__

    target = Path(path)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / META).exists())):
        raise ValueError(f"{target} exists and is not an embedrec model directory; choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file(_arrays(model), str(tmp / WEIGHTS))
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "embedrec_version": __version__,
            "model_type": MODEL_TYPE,
            "params": _params(model),
            "state": _jsonable(_state(model)),
            "weights_sha256": hashlib.sha256((tmp / WEIGHTS).read_bytes()).hexdigest(),
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


def load_table_model(cls: type, path: str | Path) -> Any:
    """Rebuild a table model saved by `save_table_model`, checking every tensor against the metadata."""
    from safetensors.numpy import load

    root = Path(path)
    meta = _read_meta(root)
    blob = _read(root / WEIGHTS)
    if hashlib.sha256(blob).hexdigest() != meta["weights_sha256"]:
        raise ModelFormatError(f"{root / WEIGHTS}: corrupt or truncated (sha256 does not match {META})")
    try:
        arrays = load(blob)
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise ModelFormatError(f"{root / WEIGHTS}: unreadable ({exc})") from None
    try:
        params = dict(meta["params"])
        if isinstance(params.get("class_weight"), dict) and "pairs" in params["class_weight"]:
            params["class_weight"] = {k: v for k, v in params["class_weight"]["pairs"]}
        if isinstance(params.get("hidden"), list):
            params["hidden"] = tuple(params["hidden"])
        if isinstance(params.get("y_range"), list):
            params["y_range"] = tuple(params["y_range"])
        model = cls(**params)
        _set_state(model, meta["state"])
        net = model._build()
        if list(model.sizes_) != [int(s) for s in meta["state"]["sizes"]]:
            raise ValueError("embedding sizes differ from the saved ones")
        for name, array in arrays.items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise ValueError(f"tensor {name!r} holds non-finite values")
        net.load_state_dict({k.removeprefix("net."): torch.from_numpy(v.copy()) for k, v in arrays.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFormatError(
            f"{root}: saved model is inconsistent ({type(exc).__name__}: {message})"
        ) from None
    model.net_ = net.eval()
    model._set_embeddings()
    return model


def _set_state(model: Any, state: dict[str, Any]) -> None:
    model.task_ = str(state["task"])
    if model.task_ not in ("regression", "binary", "multiclass"):
        raise ValueError(f"unknown task {model.task_!r}")
    model.target_name_ = None if state["target_name"] is None else str(state["target_name"])
    model.encoder_ = TableEncoder.from_json(state["encoder"])
    model.schema_ = model.encoder_.schema
    model.sizes_ = [int(s) for s in state["sizes"]]
    model.n_features_in_ = int(state["n_features_in"])
    if state["feature_names_in"] is not None:
        model.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
    if model.task_ == "regression":
        model.target_mean_, model.target_std_ = float(state["target"]["mean"]), float(state["target"]["std"])
    else:
        classes = state["classes"]
        model.classes_ = np.asarray(
            classes, dtype=object if any(isinstance(c, str) for c in classes) else None
        )
    h = state["history"]
    model.history_ = TrainHistory(
        list(h["train_loss"]),
        list(h["valid_rmse"]),
        int(h["best_epoch"]),
        float(h["seconds"]),
        list(h["valid_loss"]),
    )


def _read(file: Path) -> bytes:
    if not file.is_file():
        raise ModelFormatError(f"{file.parent}: {file.name} is missing")
    return file.read_bytes()


def _read_meta(root: Path) -> dict[str, Any]:
    file = root / META
    if not file.is_file():
        raise ModelFormatError(
            f"{root}: not a saved model (no {META}); train one with `embedrec table train`"
        )
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{file}: corrupt or truncated ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(f"{file}: not an embedrec model file (format is not {FORMAT!r})")
    if meta.get("model_type") != MODEL_TYPE:
        raise ModelFormatError(f"{file}: a {meta.get('model_type')!r} model, not a table model")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{file}: format version {version!r} is not one this embedrec reads (up to {FORMAT_VERSION}); "
            "upgrade embedrec"
        )
    missing = [k for k in ("params", "state", "weights_sha256") if k not in meta]
    if missing:
        raise ModelFormatError(f"{file}: missing field {missing[0]!r}")
    return meta


def _jsonable(value: Any) -> Any:
    """Plain JSON values: tuples become lists, numpy scalars Python ones; NaN or infinity is refused."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot save the non-finite value {value!r}")
    return value
