"""One contract suite, run against every estimator through every query of the Recommender.

Each model either answers a query consistently (batch == single, save -> load -> the same answers,
explanations that add up) or, where its `capabilities` say it cannot, raises UnsupportedQueryError.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sklearn.base

import embedrec
from embedrec import (
    ALS,
    BPR,
    EASE,
    BayesianDotBias,
    BiasBaseline,
    DotBias,
    Estimator,
    GenreProfile,
    GlobalMean,
    Interactions,
    Item2Vec,
    MostPopular,
    NeuralCF,
    NotFittedError,
    Recommender,
    UnknownIdError,
    UnsupportedQueryError,
)
from embedrec.models.base import CAPABILITIES

FACTORIES: dict[str, Callable[[], Estimator]] = {
    "BayesianDotBias": lambda: BayesianDotBias(sweeps=12, verbose=False),
    "DotBias": lambda: DotBias(n_factors=8, epochs=3, verbose=False),
    "DotBias-implicit": lambda: DotBias(n_factors=8, epochs=2, implicit=True, verbose=False),
    "NeuralCF": lambda: NeuralCF(n_factors=8, epochs=3, verbose=False),
    "NeuralCF-plain-mlp-only": lambda: NeuralCF(
        n_factors=8, epochs=3, side_features=False, dot=False, verbose=False
    ),
    "BiasBaseline": lambda: BiasBaseline(),
    "GlobalMean": lambda: GlobalMean(),
    "MostPopular": lambda: MostPopular(),
    "GenreProfile": lambda: GenreProfile(),
    "ALS": lambda: ALS(n_factors=16, iterations=5, alpha=2.0, min_rating=4, verbose=False),
    "ALS-bm25-scaled": lambda: ALS(
        n_factors=8, iterations=3, alpha=1.0, weighting="bm25", weights="scaled", verbose=False
    ),
    "BPR": lambda: BPR(n_factors=8, epochs=2, min_rating=4, verbose=False),
    "BPR-warp-popularity": lambda: BPR(
        n_factors=8, epochs=2, loss="warp", negatives="popularity", verbose=False
    ),
    "BPR-softmax": lambda: BPR(n_factors=8, epochs=2, loss="softmax", weights="scaled", verbose=False),
    "EASE": lambda: EASE(min_rating=4),
    "EASE-scaled-pruned": lambda: EASE(100.0, weights="scaled", min_count=3),
    "Item2Vec": lambda: Item2Vec(vector_size=8, epochs=2, workers=1, verbose=False),
}
TOY_STORY, STAR_WARS = 1, 50  # ML-100K ids


@pytest.fixture(scope="module")
def u1_part(ml100k_dir: Path) -> tuple[Interactions, Interactions]:
    """The first 20,000 ratings of ML-100K's u1 fold (users and items keep their metadata)."""
    train, test = embedrec.predefined_split(ml100k_dir, "u1")
    return train.subset(np.arange(20_000)), test.subset(np.arange(2_000))


@pytest.fixture(scope="module", params=list(FACTORIES))
def fitted(request: pytest.FixtureRequest, u1_part) -> Estimator:
    return FACTORIES[request.param]().fit(u1_part[0])


@pytest.fixture(scope="module")
def rec(fitted: Estimator) -> Recommender:
    return Recommender(fitted, popularity=0.0, min_ratings=0)


def can(model: Estimator, capability: str) -> bool:
    assert capability in CAPABILITIES
    return capability in model.capabilities


def test_parameters_follow_scikit_learn(fitted: Estimator) -> None:
    twin = sklearn.base.clone(fitted)
    assert type(twin) is type(fitted) and twin.get_params() == fitted.get_params()
    assert not twin.is_fitted and fitted.is_fitted
    with pytest.raises(NotFittedError):
        twin.item_vectors() if can(fitted, "similar") else twin.score_items(0)
    assert twin.set_params(**twin.get_params(deep=False)) is twin


def test_predict_batch_equals_single_or_is_refused(fitted: Estimator, u1_part) -> None:
    test = u1_part[1]
    if not can(fitted, "predict"):
        with pytest.raises(UnsupportedQueryError, match="cannot predict"):
            fitted.predict(test.users[:5], test.items[:5], raw=False)
        return
    batch = fitted.predict(test.users[:50], test.items[:50], raw=False)
    single = [
        float(fitted.predict(int(u), int(i), raw=False))
        for u, i in zip(test.users[:50], test.items[:50], strict=True)
    ]
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-5)
    assert batch.dtype == np.float32
    pred = fitted.predict(test.users, test.items, raw=False)
    assert np.isfinite(pred).all() and embedrec.rmse(test.ratings, pred) < 1.25  # the global mean: about 1.15


def test_recommend_single_equals_batch_row_or_is_refused(fitted: Estimator, rec: Recommender) -> None:
    users = fitted.user_ids_.raw_ids[:6]
    if not can(fitted, "recommend"):
        with pytest.raises(UnsupportedQueryError, match="cannot rank"):
            rec.recommend(users[0])
        return
    ids, scores = rec.recommend(users, n=5)
    assert ids.shape == scores.shape == (6, 5)
    for row, u in enumerate(users):
        one_ids, one_scores = rec.recommend(u, n=5)
        np.testing.assert_array_equal(one_ids, ids[row])
        np.testing.assert_allclose(one_scores, scores[row], rtol=1e-5)
        seen = set(fitted.item_ids_.raw_ids[fitted.seen_[row].indices].tolist())
        assert not seen & set(one_ids.tolist())
        assert np.all(np.diff(one_scores) <= 1e-5) or fitted.objective == "rating"  # ranked by score


def test_fold_in_or_refusal(fitted: Estimator, rec: Recommender) -> None:
    ratings = {TOY_STORY: 5.0, STAR_WARS: 4.0, 100: 1.0}
    if not can(fitted, "fold_in"):
        with pytest.raises(UnsupportedQueryError, match="cannot fold in"):
            rec.recommend_for_ratings(ratings)
        return
    ids, scores = rec.recommend_for_ratings(ratings, n=7)
    assert len(ids) == 7 and np.isfinite(scores).all() and not set(ratings) & set(ids.tolist())
    liked, _ = rec.recommend_from_items([TOY_STORY, STAR_WARS], n=7)
    assert len(liked) == 7 and not {TOY_STORY, STAR_WARS} & set(liked.tolist())
    # the same user folded in twice is the same user
    again, _ = rec.recommend_for_ratings(ratings, n=7)
    np.testing.assert_array_equal(ids, again)


def test_similar_or_refusal(fitted: Estimator, rec: Recommender) -> None:
    if not can(fitted, "similar"):
        for call in (lambda: rec.similar_items(TOY_STORY), lambda: rec.embeddings("item")):
            with pytest.raises(UnsupportedQueryError, match="cannot compare"):
                call()
        return
    ids, sims = rec.similar_items(TOY_STORY, n=6)
    assert len(ids) == 6 and TOY_STORY not in ids and np.all(np.diff(sims) <= 1e-6)
    table = rec.embeddings("item")
    assert len(table) == fitted.n_items and table.vectors.shape[1] > 0
    users, _ = rec.similar_users(fitted.user_ids_.raw_ids[0], n=3)
    assert len(users) == 3


def test_explanations_add_up_or_are_refused(fitted: Estimator, rec: Recommender) -> None:
    user = fitted.user_ids_.raw_ids[0]
    if not can(fitted, "explain"):
        with pytest.raises(UnsupportedQueryError, match="cannot explain"):
            rec.explain(user, STAR_WARS)
        return
    e = rec.explain(user, STAR_WARS)
    score = float(fitted.score_items(0)[0, fitted.item_ids_.index(STAR_WARS)])
    assert e.terms["value"].sum() == pytest.approx(score, abs=1e-5)
    if e.prediction is not None:
        assert e.prediction == pytest.approx(float(fitted.predict(user, STAR_WARS)), abs=1e-5)
        assert e.terms["stars"].sum() == pytest.approx(e.prediction, abs=1e-5)
    folded = rec.fold_in({TOY_STORY: 5.0, 100: 2.0})
    e = rec.explain_folded(folded, STAR_WARS)
    idx = fitted.item_ids_.index(STAR_WARS)
    assert e.terms["value"].sum() == pytest.approx(float(fitted.score_folded(folded)[idx]), abs=1e-5)
    assert str(e) and e._repr_html_().startswith("<table>")


def test_explain_many_equals_one_at_a_time(fitted: Estimator, rec: Recommender) -> None:
    if not can(fitted, "explain"):
        with pytest.raises(UnsupportedQueryError, match="cannot explain"):
            fitted.explain_many(0, [1, 2])
        return
    items = [fitted.item_ids_.index(STAR_WARS), 0, 7]
    for user in (0, rec.fold_in({TOY_STORY: 5.0, 100: 2.0}), rec.fold_in([TOY_STORY, 100], liked=True)):
        for many, item in zip(fitted.explain_many(user, items), items, strict=True):
            one = fitted.explain_indices(user, item)
            assert [(t.kind, t.item, t.rating) for t in many] == [(t.kind, t.item, t.rating) for t in one]
            assert [t.value for t in many] == pytest.approx([t.value for t in one], rel=1e-6, abs=1e-9)


def test_save_load_gives_the_same_answers(fitted: Estimator, u1_part, tmp_path: Path) -> None:
    loaded = embedrec.load_model(fitted.save(tmp_path / "m"))
    assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
    test = u1_part[1]
    if can(fitted, "predict"):
        np.testing.assert_array_equal(
            loaded.predict(test.users, test.items, raw=False),
            fitted.predict(test.users, test.items, raw=False),
        )
    if can(fitted, "recommend"):
        np.testing.assert_allclose(loaded.score_items([0, 1]), fitted.score_items([0, 1]), rtol=1e-6)
    if can(fitted, "fold_in"):
        a = Recommender(loaded, popularity=0.0).recommend_for_ratings({TOY_STORY: 5.0}, n=5)
        b = Recommender(fitted, popularity=0.0).recommend_for_ratings({TOY_STORY: 5.0}, n=5)
        np.testing.assert_array_equal(a[0], b[0])
    if can(fitted, "similar"):
        np.testing.assert_array_equal(loaded.item_vectors(), fitted.item_vectors())


def test_unknown_ids_and_unfitted(fitted: Estimator, rec: Recommender) -> None:
    query = (lambda: fitted.predict("no-such-user", 1)) if can(fitted, "predict") else None
    if query is None and can(fitted, "recommend"):
        query = lambda: rec.recommend("no-such-user")  # noqa: E731
    if query is not None:
        with pytest.raises(UnknownIdError, match="user"):
            query()
    with pytest.raises(UnknownIdError, match="item"):
        rec.catalogue.index(10**9)
    fresh = type(fitted)(**fitted.get_params())
    with pytest.raises(NotFittedError):
        Recommender(fresh)


def test_score_items_matches_predict_through_the_link(fitted: Estimator) -> None:
    if not (can(fitted, "recommend") and can(fitted, "predict")):
        pytest.skip(f"{type(fitted).__name__} does not both rank and predict")
    scores = fitted.score_items(np.array([3, 10]))
    assert scores.shape == (2, fitted.n_items)
    items = np.arange(0, fitted.n_items, 7)
    expected = fitted.predict(np.full(items.size, 10), items, raw=False)
    tiebreak = 0.011 if isinstance(fitted, GenreProfile) else 1e-5  # GenreProfile adds < 0.01 to break ties
    np.testing.assert_allclose(fitted.to_rating(scores[1, items]), expected, rtol=1e-4, atol=tiebreak)
