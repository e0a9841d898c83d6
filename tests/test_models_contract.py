"""One contract suite run against every model: batch == single, save -> load, errors, fresh fits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import embedrec
from embedrec import BiasBaseline, DotBias, GlobalMean, Interactions, NeuralCF, NotFittedError, UnknownIdError

FACTORIES: dict[str, Callable[[], embedrec.Recommender]] = {
    "DotBias": lambda: DotBias(n_factors=8, epochs=3, verbose=False),
    "NeuralCF": lambda: NeuralCF(n_factors=8, epochs=3, verbose=False),
    "NeuralCF-plain-mlp-only": lambda: NeuralCF(
        n_factors=8, epochs=3, side_features=False, dot=False, verbose=False
    ),
    "DotBias-implicit": lambda: DotBias(n_factors=8, epochs=2, implicit=True, verbose=False),
    "DotBias-gibbs": lambda: DotBias(solver="gibbs", sweeps=12, verbose=False),
    "BiasBaseline": lambda: BiasBaseline(),
    "GlobalMean": lambda: GlobalMean(),
}


@pytest.fixture(scope="module")
def u1_part(ml100k_dir: Path) -> tuple[Interactions, Interactions]:
    """The first 20,000 ratings of ML-100K's u1 fold (users and items keep their metadata)."""
    train, test = embedrec.predefined_split(ml100k_dir, "u1")
    return train.subset(np.arange(20_000)), test.subset(np.arange(2_000))


@pytest.fixture(scope="module", params=list(FACTORIES))
def fitted(request: pytest.FixtureRequest, u1_part) -> embedrec.Recommender:
    return FACTORIES[request.param]().fit(u1_part[0])


def test_batch_equals_single(fitted: embedrec.Recommender, u1_part) -> None:
    test = u1_part[1]
    batch = fitted.predict(test.users[:50], test.items[:50], raw=False)
    single = [
        float(fitted.predict(int(u), int(i), raw=False))
        for u, i in zip(test.users[:50], test.items[:50], strict=True)
    ]
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-5)
    assert batch.dtype == np.float32


def test_predictions_are_finite_and_beat_nothing_silly(fitted: embedrec.Recommender, u1_part) -> None:
    test = u1_part[1]
    pred = fitted.predict(test.users, test.items, raw=False)
    assert np.isfinite(pred).all()
    assert embedrec.rmse(test.ratings, pred) < 1.25  # the global mean scores about 1.15 here


def test_save_load_identical(fitted: embedrec.Recommender, u1_part, tmp_path: Path) -> None:
    loaded = embedrec.load_model(fitted.save(tmp_path / "m"))
    test = u1_part[1]
    np.testing.assert_array_equal(
        loaded.predict(test.users, test.items, raw=False), fitted.predict(test.users, test.items, raw=False)
    )
    assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
    if hasattr(fitted, "score_items"):
        np.testing.assert_allclose(loaded.score_items([0, 1]), fitted.score_items([0, 1]), rtol=1e-6)


def test_unknown_ids_and_unfitted(fitted: embedrec.Recommender) -> None:
    with pytest.raises(UnknownIdError, match="user"):
        fitted.predict("no-such-user", 1)
    with pytest.raises(UnknownIdError, match="item"):
        fitted.predict(1, 10**9)
    fresh = type(fitted)(**fitted.get_params())
    with pytest.raises(NotFittedError):
        fresh.predict(1, 1)


def test_score_items_matches_predict_through_the_link(fitted: embedrec.Recommender) -> None:
    if not hasattr(fitted, "score_items"):
        pytest.skip(f"{type(fitted).__name__} has no per-item scores")
    scores = fitted.score_items(np.array([3, 10]))
    assert scores.shape == (2, fitted.n_items)
    items = np.arange(0, fitted.n_items, 7)
    expected = fitted.predict(np.full(items.size, 10), items, raw=False)
    np.testing.assert_allclose(fitted.link(scores[1, items]), expected, rtol=1e-5, atol=1e-5)
