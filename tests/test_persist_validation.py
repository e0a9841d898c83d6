"""A saved model stays untrusted after its checksum matches: every field, tampered in turn with the
checksum recomputed, is refused on load with a ModelFormatError naming it — never an IndexError later,
never a wrong answer."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load

import embedrec
from embedrec import (
    BayesianDotBias,
    BiasBaseline,
    DotBias,
    Estimator,
    GenreProfile,
    GlobalMean,
    Interactions,
    ModelFormatError,
    MostPopular,
    NeuralCF,
    load_model,
)

MODELS: dict[str, Callable[[], Estimator]] = {
    "BayesianDotBias": lambda: BayesianDotBias(n_factors=3, sweeps=4, verbose=False),
    "DotBias": lambda: DotBias(n_factors=3, epochs=1, verbose=False),
    "NeuralCF": lambda: NeuralCF(n_factors=3, epochs=1, verbose=False),
    "BiasBaseline": BiasBaseline,
    "GlobalMean": GlobalMean,
    "MostPopular": MostPopular,
    "GenreProfile": GenreProfile,
}


def toy_data() -> Interactions:
    """40 users × 30 items with item metadata (title, year, genres) and user metadata (age, gender)."""
    rng = np.random.default_rng(0)
    users, items = np.repeat(np.arange(40), 8), rng.integers(0, 30, 320)
    ratings = rng.integers(1, 6, 320).astype(np.float32)
    genres = ["Action|Comedy", "Drama", "Comedy", "Action|Drama|Horror", ""]
    item_meta = pd.DataFrame(
        {"title": [f"Movie {i}" for i in range(30)], "year": 1990.0 + np.arange(30),
         "genres": [genres[i % 5] for i in range(30)]},
        index=np.arange(30),
    )  # fmt: skip
    user_meta = pd.DataFrame({"age": 20.0 + np.arange(40), "gender": ["F", "M"] * 20}, index=np.arange(40))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random pairs repeat: the duplicate warning is expected
        return Interactions.from_arrays(users, items, ratings, item_meta=item_meta, user_meta=user_meta)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    data = toy_data()
    root = tmp_path_factory.mktemp("saved")
    return {name: make().fit(data).save(root / name) for name, make in MODELS.items()}


def array_tampers(name: str, a: np.ndarray) -> list[tuple[str, Callable[[dict], None]]]:
    """Ways to break one array: drop it, change its dtype or shape, put NaN or a bad index in it."""
    out: list[tuple[str, Callable[[dict], None]]] = [
        ("missing", lambda d: d.pop(name)),
        ("dtype", lambda d: d.__setitem__(name, d[name].astype(np.int8 if a.dtype.kind == "f" else "f4"))),
        ("wider dtype", lambda d: d.__setitem__(name, d[name].astype(np.float64))),
        ("shorter", lambda d: d.__setitem__(name, d[name][:-1] if d[name].ndim else d[name][None])),
        ("one more dimension", lambda d: d.__setitem__(name, d[name][..., None])),
    ]  # fmt: skip
    if a.dtype.kind == "f" and a.size:
        out.append(("NaN", lambda d: d.__setitem__(name, np.where(np.arange(d[name].size) == 0, np.nan,
                                                                   d[name].ravel()).reshape(d[name].shape)
                                                  .astype(a.dtype))))  # fmt: skip
        out.append(("infinity", lambda d: d.__setitem__(name, np.full_like(d[name], np.inf))))
    if a.dtype.kind == "i" and a.size:
        out.append(("too large", lambda d: d.__setitem__(name, np.full_like(d[name], 10**6))))
        out.append(("negative", lambda d: d.__setitem__(name, np.full_like(d[name], -1))))
    return out


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(meta: dict) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value(node[last]) if callable(value) else value

    return change


_DELETE = object()


def expect_refused(folder: Path, field: str) -> str | None:
    """None when loading raises a one-line ModelFormatError that names `field` (a regular expression);
    else what went wrong."""
    try:
        load_model(folder)
    except ModelFormatError as exc:
        message = str(exc)
        if "\n" in message:
            return f"{field}: a multi-line message"
        return None if re.search(field, message) else f"{field}: the message does not name it: {message}"
    except Exception as exc:
        return f"{field}: {type(exc).__name__} instead of ModelFormatError: {exc}"
    return f"{field}: the tampered model loaded"


@pytest.mark.parametrize("name", list(MODELS))
def test_every_array_tampered_with_is_refused_naming_it(
    name: str, saved: dict[str, Path], tmp_path: Path, tamper: Callable
) -> None:
    original = saved[name]
    meta = json.loads((original / "model.json").read_text())
    arrays = load((original / meta["weights_file"]).read_bytes())
    problems = []
    optional = {"user_prior_var_"}  # BayesianDotBias saved before it kept its prior: still loads
    cases = [
        (a, how, fn)
        for a, arr in arrays.items()
        for how, fn in array_tampers(a, arr)
        if not (a in optional and how == "missing")
    ]
    cases.append(("junk", "an extra array", lambda d: d.__setitem__("junk", np.zeros(3, np.float32))))
    for n, (array, how, fn) in enumerate(cases):
        folder = Path(shutil.copytree(original, tmp_path / str(n)))
        tamper(folder, arrays_fn=fn)
        if (problem := expect_refused(folder, array)) is not None:
            problems.append(f"{how}: {problem}")
    assert not problems, "\n".join(problems)
    assert len(cases) > 10


STATE_TAMPERS: list[tuple[str, Any, str]] = [
    # (path in model.json, new value (a function of the old one, or _DELETE), the field the error names)
    ("format_version", -1, "format_version"),
    ("format_version", "3", "format_version"),
    ("format_version", 2, "model.safetensors"),  # an older layout: its weights file is not there
    ("model_type", 7, "model_type"),
    ("params", [], "params"),
    ("weights_file", "../../etc/passwd", "weights_file"),
    ("weights_sha256", "00", "weights_sha256"),
    ("state.user_ids.ids", lambda ids: ids[:-1], "seen.indptr|state.user_meta"),
    ("state.user_ids.ids", lambda ids: [*ids[:-1], ids[0]], "state.user_ids.ids"),
    ("state.user_ids.ids", lambda ids: [*ids[:-1], "x"], "state.user_ids.ids"),
    ("state.user_ids.ids", lambda ids: [*ids[:-1], 2**70], "state.user_ids.ids"),
    ("state.user_ids.kind", "item", "state.user_ids.kind"),
    ("state.item_ids.ids", lambda ids: [*ids, 10**6], "seen.indices|state.item_meta"),
    ("state.item_ids", _DELETE, "state.item_ids"),
    ("state.scale.low", "one", "state.scale.low"),
    ("state.scale.high", lambda high: -high, "state.scale"),
    ("state.scale.step", -0.5, "state.scale.step"),
    ("state.item_meta.data.title", lambda titles: titles[:-1], "state.item_meta.data.title"),
    ("state.item_meta.data.year", lambda years: ["x", *years[1:]], "state.item_meta.data.year"),
    ("state.item_meta.dtypes.year", "int-ish", "state.item_meta.dtypes.year"),
    ("state.user_meta", [[]], "state.user_meta"),
    ("state.data_fingerprint", 7, "state.data_fingerprint"),
]
EXTRA_STATE = {  # what each model adds to the state, and a value of the wrong type for it
    "BayesianDotBias": ["global_bias"],
    "DotBias": ["global_bias"],
    "BiasBaseline": ["global_bias"],
    "NeuralCF": ["global_bias", "user_spec", "item_spec"],
    "GlobalMean": ["global_mean"],
    "GenreProfile": ["genres"],
    "MostPopular": [],
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_json_field_tampered_with_is_refused_naming_it(
    name: str, saved: dict[str, Path], tmp_path: Path, tamper: Callable
) -> None:
    cases = list(STATE_TAMPERS)
    for key in EXTRA_STATE[name]:
        cases += [(f"state.{key}", _DELETE, f"state.{key}"), (f"state.{key}", [[]], f"state.{key}")]
    if name == "NeuralCF":
        cases += [
            ("state.item_spec", lambda spec: [{**spec[0], "kind": "picture"}, *spec[1:]],
             r"state.item_spec\[0\].kind"),
            ("state.user_spec", lambda spec: [{**s, "mean": "x"} if s["kind"] == "number" else s
                                              for s in spec], r"state.user_spec\[0\].mean"),
            ("state.user_spec", lambda spec: [{**s, "vocab": s["vocab"][:1]} if s["kind"] == "category"
                                              else s for s in spec], "net.user_(codes|cats)"),
            ("state.item_spec", lambda spec: spec[1:], "net.item_numeric"),
        ]  # fmt: skip
    if name in ("DotBias", "NeuralCF"):
        cases.append(("params.n_factors", 4, "factors"))
    problems = []
    for n, (path, value, field) in enumerate(cases):
        folder = Path(shutil.copytree(saved[name], tmp_path / str(n)))
        tamper(folder, meta_fn=_set(path, value))
        if (problem := expect_refused(folder, field)) is not None:
            problems.append(f"{path}: {problem}")
    assert not problems, "\n".join(problems)


def test_untampered_models_load_and_answer_as_saved(saved: dict[str, Path]) -> None:
    data = toy_data()
    for name, folder in saved.items():
        model = load_model(folder)
        if "predict" in model.capabilities:
            again = MODELS[name]().fit(data)
            np.testing.assert_allclose(
                model.predict(data.users[:20], data.items[:20], raw=False),
                again.predict(data.users[:20], data.items[:20], raw=False),
                rtol=1e-6,
                err_msg=name,
            )


def test_int8_factors_are_refused_not_predicted_from(
    saved: dict[str, Path], tmp_path: Path, tamper: Callable
) -> None:
    """The issue's case: int8 factors with a recomputed checksum predicted 2.81 stars instead of 4.60."""
    folder = Path(shutil.copytree(saved["DotBias"], tmp_path / "m"))
    tamper(
        folder, arrays_fn=lambda d: d.__setitem__("item_factors_", (d["item_factors_"] * 100).astype(np.int8))
    )
    with pytest.raises(ModelFormatError, match="item_factors_.*dtype int8, expected float32"):
        embedrec.Recommender.load(folder)
