"""Save and load fitted models: arrays in a safetensors file, everything else in model.json. No pickle.

A model folder holds model.json and the weights file it names, `weights-<sha256 prefix>.safetensors`.
Saving works like a database commit: the new weights are written and fsynced under their own name
beside the old ones, then model.json is replaced by one atomic rename (the commit point) and the folder
fsynced; only then are the old weights removed. A kill at any instant leaves the old model or the new
one loadable, and the temporaries or unreferenced weights it leaves are removed by the next save or load
(under a lock on the folder, so a running save is never cleaned away). model.json holds the sha256 of
the weights, and loading validates every field (models/saved.py): a tampered file is a ModelFormatError.
Model classes register themselves here (`register`, called by `Params.__init_subclass__`); loading
imports the module a class was saved from, so a model that needs no PyTorch loads without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedrec import __version__
from embedrec.data.embeddings import EmbeddingTable
from embedrec.errors import EmbedrecError, ModelFormatError, ParameterError
from embedrec.files import TMP_PREFIX, fsync_dir, remove_temporaries, storage_error, write_bytes_atomic
from embedrec.models.saved import SavedState, frame_from_json, frame_to_json

try:  # POSIX: a save holds an exclusive lock on the model folder
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, and loading leaves leftovers alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["frame_from_json", "frame_to_json", "jsonable", "load_model", "register", "save_model"]

FORMAT = "embedrec-model"
FORMAT_VERSION = 3  # 3: weights in the file model.json names; 2: always model.safetensors
READABLE = (2, 3)
META = "model.json"
LEGACY_WEIGHTS = "model.safetensors"
WEIGHTS = re.compile(r"weights-[0-9a-f]{16}\.safetensors")
MODEL_TYPES: dict[str, type] = {}  # class name -> class, filled as model modules are imported


def register(cls: type) -> None:
    """Make a model class loadable by its name."""
    MODEL_TYPES[cls.__name__] = cls


def _as_path(path: Any) -> Path:
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ParameterError(f"a model path must be a non-empty str or os.PathLike, got {path!r}")
    return Path(path)


# -- saving ---------------------------------------------------------------------------------------


def save_model(model: Any, path: str | Path) -> Path:
    """Write a fitted model to folder `path` (replacing a previous model there) as one atomic commit."""
    from safetensors.numpy import save

    target = _as_path(path)
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
    blob = save(arrays)
    digest = hashlib.sha256(blob).hexdigest()
    weights = f"weights-{digest[:16]}.safetensors"
    meta.update(weights_file=weights, weights_sha256=digest)
    text = json.dumps(meta, ensure_ascii=False, allow_nan=False).encode("utf-8")
    try:
        _make_folder(target)
        with _locked(target, wait=True):
            _tidy(target)  # what killed saves left
            _commit(target, weights, blob, digest, text)
            _tidy(target)  # the old weights
            _remove_version_2_leftovers(target)
    except OSError as exc:
        raise storage_error(exc, target) from None
    return target


def _commit(target: Path, weights: str, blob: bytes, digest: str, text: bytes) -> None:
    """The new weights beside the old, then model.json replaced in one step; interrupted before that
    step (an error, Ctrl-C), the new weights file is removed again and the old model stays as it was."""
    created = not _same_file(target / weights, digest)
    if created:
        write_bytes_atomic(target / weights, blob)
    try:
        write_bytes_atomic(target / META, text)  # the commit: readers now see the new model
    except BaseException:
        if created and _current_weights(target) != weights:  # not committed (the rename may have been)
            with contextlib.suppress(OSError):
                os.unlink(target / weights)
        raise


def _make_folder(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ParameterError(f"{target} exists and is not a folder; choose another path for the model")
    if target.is_dir():
        foreign = [p.name for p in target.iterdir() if not _ours(p.name)]
        if foreign and not (target / META).is_file():
            raise ParameterError(
                f"{target} exists and is not an embedrec model directory; choose another path"
            )
        return
    missing = [target]  # create the missing folders one by one, making each new entry durable
    while not missing[-1].parent.exists():
        missing.append(missing[-1].parent)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)
        fsync_dir(folder.parent)


def _ours(name: str) -> bool:
    return name in (META, LEGACY_WEIGHTS) or name.startswith(TMP_PREFIX) or bool(WEIGHTS.fullmatch(name))


def _same_file(path: Path, digest: str) -> bool:
    """The weights are content-addressed: an existing file with the same sha256 is kept as it is."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


@contextlib.contextmanager
def _locked(folder: Path, *, wait: bool) -> Iterator[bool]:
    """An exclusive lock on the model folder, held by a save; yields False when `wait` is off and
    another process holds it (or where folders cannot be locked)."""
    if fcntl is None:
        yield wait
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock; so does the death of the process


def _tidy(folder: Path) -> None:
    """Remove temporaries and the weights files model.json does not name (all of them are kept when
    model.json cannot be read: then nothing says which one is current)."""
    removed = remove_temporaries(folder)
    weights = [e.name for e in os.scandir(folder) if e.name == LEGACY_WEIGHTS or WEIGHTS.fullmatch(e.name)]
    current = _current_weights(folder) if len(weights) > 1 else None  # one file: nothing to choose
    for name in weights:
        if current is not None and name != current:
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
                removed += 1
    if removed:
        fsync_dir(folder)


def _remove_version_2_leftovers(target: Path) -> None:
    """Version 2 saved through `.NAME.XXXXXXXX` and `.NAME.old-PID` folders beside the model, and a
    killed save left them there; they hold nothing but our two files, and go now."""
    legacy = re.compile(re.escape(f".{target.name}.") + r"([a-z0-9_]{8}|old-\d+)")
    for entry in os.scandir(target.parent):
        if legacy.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            names = {e.name for e in os.scandir(entry.path)}
            if names <= {META, LEGACY_WEIGHTS}:
                shutil.rmtree(entry.path, ignore_errors=True)


def _current_weights(folder: Path) -> str | None:
    try:
        meta = json.loads((folder / META).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    name = meta.get("weights_file", LEGACY_WEIGHTS) if meta.get("format_version") == 3 else LEGACY_WEIGHTS
    return name if isinstance(name, str) else None


# -- loading --------------------------------------------------------------------------------------


def load_model(path: str | Path) -> Any:
    """Load a model saved with `model.save(dir)`; any problem raises a one-line ModelFormatError."""
    root = _as_path(path)
    if root.is_dir():
        with contextlib.suppress(OSError), _locked(root, wait=False) as free:
            if free:  # no save is running: leftovers of killed ones can go
                _tidy(root)
    meta, arrays = _read(root)
    cls = _model_class(root, meta)
    where = str(root / META)
    try:
        model = cls(**_params(cls, meta["params"]))
    except TypeError as exc:
        raise ModelFormatError(f"{where}: field 'params': {exc}") from None
    try:
        if hasattr(model, "_validate"):
            model._validate()  # the saved hyper-parameters must be ones fit would accept
    except EmbedrecError as exc:
        raise ModelFormatError(f"{where}: field 'params': {exc}") from None
    saved = SavedState(arrays, meta["state"], where)
    try:
        model._check_saved(saved)
        model._load_state(arrays, meta["state"])
    except ModelFormatError:
        raise
    except Exception as exc:  # a check the model's list missed: still the file's fault, still one line
        what = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise ModelFormatError(f"{where}: saved model is inconsistent ({what})") from None
    return model


def _read(root: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """model.json and the weights it names; read again when a save replaced both in between (each retry
    means another save committed, so only a stream of saves faster than one read can exhaust them)."""
    for _ in range(100):
        meta = read_meta(root)
        try:
            return meta, _read_weights(root, meta)
        except FileNotFoundError:
            if read_meta(root) == meta:
                break
    raise ModelFormatError(f"{root}: {_weights_name(meta)} is missing")


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
    """model.json of a saved model, checked for format, version and the type of every top-level field."""
    file = root / META
    if not file.is_file():
        raise ModelFormatError(f"{root}: not a saved model (no {META}); save one with model.save(dir)")
    try:
        meta = json.loads(file.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except OSError as exc:
        raise ModelFormatError(f"{file}: cannot be read ({exc.strerror})") from None
    except (ValueError, RecursionError) as exc:  # JSON or UTF-8 errors, absurd nesting
        raise ModelFormatError(f"{file}: corrupt or truncated ({str(exc)[:200]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(f"{file}: not an embedrec model file (format is not {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFormatError(f"{file}: field 'format_version' is missing or not an integer")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{file}: format version {version} was written by a newer embedrec "
            f"({meta.get('embedrec_version', '?')}); this one reads up to {FORMAT_VERSION} — upgrade embedrec"
        )
    if version not in READABLE:
        raise ModelFormatError(
            f"{file}: field 'format_version': {version} is not a version this embedrec reads "
            f"({', '.join(map(str, READABLE))}); train the model again"
        )
    fields = {"model_type": str, "params": dict, "state": dict, "weights_sha256": str}
    if version >= 3:
        fields["weights_file"] = str
    for key, kind in fields.items():
        if not isinstance(meta.get(key), kind):
            what = "missing" if key not in meta else f"not {'an object' if kind is dict else 'a string'}"
            raise ModelFormatError(f"{file}: field {key!r} is {what}")
    if version >= 3 and not WEIGHTS.fullmatch(meta["weights_file"]):
        name = meta["weights_file"]
        raise ModelFormatError(f"{file}: field 'weights_file': {name!r} is not a weights file name")
    if not re.fullmatch(r"[0-9a-f]{64}", meta["weights_sha256"]):
        raise ModelFormatError(f"{file}: field 'weights_sha256' is not a sha256 hex digest")
    return meta


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _weights_name(meta: dict[str, Any]) -> str:
    return meta["weights_file"] if meta["format_version"] >= 3 else LEGACY_WEIGHTS


def _read_weights(root: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    file = root / _weights_name(meta)
    try:
        blob = file.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ModelFormatError(f"{file}: cannot be read ({exc.strerror})") from None
    if hashlib.sha256(blob).hexdigest() != meta["weights_sha256"]:
        raise ModelFormatError(f"{file}: corrupt or truncated (sha256 does not match {META})")
    try:
        return load(blob)
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise ModelFormatError(f"{file}: unreadable ({str(exc)[:200]})") from None


def jsonable(value: Any) -> Any:
    """Hyper-parameters and small state as plain JSON values (tuples become lists, numpy scalars floats)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, EmbeddingTable):  # a model started from these vectors records where they came from
        return value.source or f"<EmbeddingTable {value.name}>"
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(f"cannot save the non-finite value {value!r}")
    if not isinstance(value, str | int | float | bool | type(None)):
        raise ParameterError(f"cannot save {type(value).__name__} {value!r} in model.json")
    return value
