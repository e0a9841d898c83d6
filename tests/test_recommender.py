"""Recommendations, fold-in and similarity against dense, slow, obvious references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

import embedrec.query.recommender as recommend_module
from embedrec import DataError, IdMap, Interactions, ParameterError, UnknownIdError
from embedrec.models.dotbias import DotBias
from embedrec.models.factor import FactorModel
from embedrec.query.recommender import Recommender


def factor_model(n_users: int, n_items: int, k: int = 8, seed: int = 0, density: float = 0.1) -> FactorModel:
    """A FactorModel with random factors (identity link) and random seen items, ids offset from indices."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    keep = rng.random(users.size) < density
    meta = pd.DataFrame(
        {"title": [f"Movie {i} ({1950 + i % 50})" for i in range(n_items)]}, index=np.arange(n_items) + 100
    )
    data = Interactions.from_arrays(
        users[keep] + 1000,
        items[keep] + 100,
        rng.integers(1, 6, keep.sum()).astype(np.float32),
        user_ids=IdMap(np.arange(n_users) + 1000, "user"),
        item_ids=IdMap(np.arange(n_items) + 100, "item"),
        item_meta=meta,
    )
    m = FactorModel()
    m._set_data_state(data)
    m.user_factors_ = rng.standard_normal((n_users, k)).astype(np.float32)
    m.item_factors_ = rng.standard_normal((n_items, k)).astype(np.float32)
    m.user_bias_ = rng.standard_normal(n_users).astype(np.float32)
    m.item_bias_ = rng.standard_normal(n_items).astype(np.float32)
    m.global_bias_ = 0.5
    return m


def R(m: FactorModel) -> Recommender:  # noqa: N802
    """The model's recommender without the popularity prior or a rating floor: the dense references' terms."""
    return Recommender(m, popularity=0.0, min_ratings=0)


def dense_top(
    m: FactorModel, users: np.ndarray, n: int, exclude_seen: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    scores = m.user_factors_ @ m.item_factors_.T + m.item_bias_ + m.user_bias_[:, None] + m.global_bias_
    scores = scores[users].astype(np.float64)
    if exclude_seen:
        scores[m.seen_[users].toarray() != 0] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.fixture(scope="module")
def model() -> FactorModel:
    return factor_model(300, 500)


def test_batch_equals_dense_argsort(model: FactorModel) -> None:
    raw_users = model.user_ids_.raw_ids
    ids, scores = R(model).recommend(raw_users, n=7)
    order, expected = dense_top(model, np.arange(model.n_users), 7)
    assert ids.shape == (300, 7) and scores.shape == (300, 7)
    np.testing.assert_array_equal(ids, model.item_ids_.raw_ids[order])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)


def test_chunked_and_torch_paths_agree(model: FactorModel, monkeypatch: pytest.MonkeyPatch) -> None:
    big = factor_model(700, 1600, seed=3)  # 700 × 1600 > 2**20: the multi-threaded selection path
    users = big.user_ids_.raw_ids
    whole = R(big).recommend(users, n=5)
    monkeypatch.setattr(recommend_module, "CHUNK_ELEMENTS", 1600 * 13)  # 13 users per block
    chunked = R(big).recommend(users, n=5)
    np.testing.assert_array_equal(whole[0], chunked[0])
    order, _ = dense_top(big, np.arange(700), 5)
    np.testing.assert_array_equal(whole[0], big.item_ids_.raw_ids[order])


def test_single_user_is_one_row_of_the_batch(model: FactorModel) -> None:
    u = model.user_ids_.raw_ids[4]
    ids, scores = R(model).recommend(u, n=10)
    batch_ids, batch_scores = R(model).recommend([u], n=10)
    assert ids.ndim == 1 and len(ids) == 10
    np.testing.assert_array_equal(ids, batch_ids[0])
    np.testing.assert_allclose(scores, batch_scores[0])
    assert not set(ids) & set(model.item_ids_.raw_ids[model.seen_[4].indices])
    # exclude_seen=False may return seen items and matches the unmasked reference
    order, _ = dense_top(model, np.array([4]), 10, exclude_seen=False)
    np.testing.assert_array_equal(
        R(model).recommend(u, n=10, exclude_seen=False)[0], model.item_ids_.raw_ids[order[0]]
    )


def test_items_restrict_and_exclude_remove(model: FactorModel) -> None:
    u = model.user_ids_.raw_ids[0]
    allowed = model.item_ids_.raw_ids[:50]
    ids, _ = R(model).recommend(u, n=10, items=allowed)
    assert set(ids) <= set(allowed)
    top, _ = R(model).recommend(u, n=3)
    again, _ = R(model).recommend(u, n=3, exclude=[top[0]])
    assert top[0] not in again and again[0] == top[1]
    # titles work wherever items are asked for
    title = model.item_meta_["title"][model.item_ids_.index(top[0])]
    assert top[0] not in R(model).recommend(u, n=3, exclude=[title])[0]


def test_fewer_candidates_than_n(model: FactorModel) -> None:
    u = model.user_ids_.raw_ids[0]
    ids, scores = R(model).recommend(u, n=10, items=model.item_ids_.raw_ids[:4])
    assert len(ids) == len(
        set(model.item_ids_.raw_ids[:4]) - set(model.item_ids_.raw_ids[model.seen_[0].indices])
    )
    ids2, scores2 = R(model).recommend([u], n=10, items=model.item_ids_.raw_ids[:4])
    assert ids2.shape == (1, 4) and np.isfinite(scores2).sum() == len(ids)


def test_scores_go_through_the_link() -> None:
    m = factor_model(20, 40)
    m.link = lambda raw: np.float32(1.0) + np.float32(4.0) / (1 + np.exp(-raw))  # a sigmoid link, as DotBias
    ids, scores = R(m).recommend(m.user_ids_.raw_ids[0], n=5)
    np.testing.assert_allclose(scores, m.predict(np.full(5, m.user_ids_.raw_ids[0]), ids), rtol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_similar_items_equal_cdist(model: FactorModel, metric: str) -> None:
    q = 17
    ids, sims = R(model).similar_items(model.item_ids_.raw_ids[q], n=8, metric=metric)
    v = model.item_factors_.astype(np.float64)
    ref = {"cosine": 1 - cdist(v[[q]], v, "cosine")[0], "euclidean": -cdist(v[[q]], v)[0], "dot": v @ v[q]}[
        metric
    ]
    ref[q] = -np.inf
    order = np.argsort(-ref, kind="stable")[:8]
    np.testing.assert_array_equal(ids, model.item_ids_.raw_ids[order])
    np.testing.assert_allclose(sims, ref[order], rtol=1e-4, atol=1e-4)
    assert model.item_ids_.raw_ids[q] not in ids


def test_similar_users_exclude_the_query(model: FactorModel) -> None:
    u = model.user_ids_.raw_ids[3]
    ids, sims = R(model).similar_users(u, n=5)
    v = model.user_factors_.astype(np.float64)
    ref = 1 - cdist(v[[3]], v, "cosine")[0]
    ref[3] = -np.inf
    np.testing.assert_array_equal(ids, model.user_ids_.raw_ids[np.argsort(-ref)[:5]])
    assert u not in ids and np.all(np.diff(sims) <= 1e-7)


def test_zero_vectors_and_refit_invalidate_cached_norms() -> None:
    m = factor_model(10, 30, seed=1)
    first = R(m).similar_items(m.item_ids_.raw_ids[0], n=5)
    m.item_factors_ = m.item_factors_.copy()
    m.item_factors_[0] = 0  # a zero vector: similar to nothing, never NaN
    ids, sims = R(m).similar_items(m.item_ids_.raw_ids[0], n=5)
    assert np.all(sims == 0) and np.all(np.isfinite(sims))
    m.item_factors_ = np.random.default_rng(9).standard_normal(m.item_factors_.shape).astype(np.float32)
    after = R(m).similar_items(m.item_ids_.raw_ids[0], n=5)
    assert not np.array_equal(first[0], after[0]) or not np.allclose(first[1], after[1])
    v = m.item_factors_.astype(np.float64)
    ref = 1 - cdist(v[[0]], v, "cosine")[0]
    np.testing.assert_allclose(after[1], np.sort(ref[1:])[::-1][:5], rtol=1e-4)


def test_fold_in_equals_lstsq_reference(model: FactorModel) -> None:
    ratings = {model.item_ids_.raw_ids[i]: r for i, r in [(3, 5.0), (10, 1.0), (42, 4.0), (99, 2.0)]}
    folded = R(model).fold_in(ratings)
    vector, bias = folded.vector, folded.bias
    mean, var, sigma2 = model._fold_in_prior()
    idx = np.array([3, 10, 42, 99])
    x = np.hstack([model.item_factors_[idx], np.ones((4, 1))]).astype(np.float64)
    y = np.array([5.0, 1.0, 4.0, 2.0]) - model.global_bias_ - model.item_bias_[idx]
    root = np.sqrt(model.fold_in_reg * sigma2 / var)
    # ridge towards the prior mean as one least-squares system: [X; √Λ] w ≈ [y; √Λ μ]
    w, *_ = np.linalg.lstsq(np.vstack([x, np.diag(root)]), np.concatenate([y, root * mean]), rcond=None)
    np.testing.assert_allclose(vector, w[:-1], rtol=1e-4, atol=1e-5)
    assert bias == pytest.approx(w[-1], rel=1e-4, abs=1e-5)
    # the recommendations are the dense top-n of that vector, rated items excluded
    ids, scores = R(model).recommend_for_ratings(ratings, n=6)
    dense = model.item_factors_ @ w[:-1] + model.item_bias_ + w[-1] + model.global_bias_
    dense[idx] = -np.inf
    np.testing.assert_array_equal(ids, model.item_ids_.raw_ids[np.argsort(-dense)[:6]])


def test_fold_in_accepts_pairs_and_titles(model: FactorModel) -> None:
    titles = model.item_meta_["title"]
    as_dict = R(model).recommend_for_ratings({titles[3]: 5, titles[10]: 2}, n=5)
    as_pairs = R(model).recommend_for_ratings([(model.item_ids_.raw_ids[3], 5), (titles[10].lower(), 2)], n=5)
    np.testing.assert_array_equal(as_dict[0], as_pairs[0])
    liked = R(model).recommend_from_items([titles[3], titles[10]], n=5)
    assert len(liked[0]) == 5 and not {model.item_ids_.raw_ids[3], model.item_ids_.raw_ids[10]} & set(
        liked[0]
    )


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m: R(m).recommend(424242), UnknownIdError),
        (lambda m: R(m).recommend(m.user_ids_.raw_ids[0], n=0), ParameterError),
        (lambda m: R(m).recommend(m.user_ids_.raw_ids[0], n=-3), ParameterError),
        (lambda m: R(m).recommend(m.user_ids_.raw_ids[0], items=["no such movie at all xq"]), UnknownIdError),
        (lambda m: R(m).recommend_for_ratings({}), DataError),
        (lambda m: R(m).recommend_for_ratings([]), DataError),
        (lambda m: R(m).recommend_for_ratings({m.item_ids_.raw_ids[0]: 7}), DataError),
        (lambda m: R(m).recommend_for_ratings({m.item_ids_.raw_ids[0]: "abc"}), DataError),
        (lambda m: R(m).recommend_for_ratings({"zzzz qqqq": 4}), UnknownIdError),
        (lambda m: R(m).recommend_from_items([]), DataError),
        (lambda m: R(m).similar_items(m.item_ids_.raw_ids[0], metric="manhattan"), ParameterError),
        (lambda m: R(m).similar_items(99999999), UnknownIdError),
        (lambda m: R(m).similar_users("nobody"), UnknownIdError),
        (lambda m: R(m).explain(m.user_ids_.raw_ids[0], 99999999), UnknownIdError),
    ],
)
def test_bad_inputs_raise_our_errors(model: FactorModel, call, error) -> None:  # noqa: ANN001
    with pytest.raises(error):
        call(model)


def test_unknown_metric_lists_the_valid_names(model: FactorModel) -> None:
    with pytest.raises(ParameterError, match="cosine, dot, euclidean"):
        R(model).similar_items(model.item_ids_.raw_ids[0], metric="manhattan")


def test_ann_path_agrees_with_exact(model: FactorModel, monkeypatch: pytest.MonkeyPatch) -> None:
    big = factor_model(50, 3000, k=16, seed=5, density=0.02)
    users = big.user_ids_.raw_ids
    exact, _ = R(big).recommend(users, n=10, exact=True)
    monkeypatch.setattr(recommend_module, "ANN_THRESHOLD", 1000)
    approx, scores = R(big).recommend(users, n=10)  # auto: catalogue above the threshold
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.95
    for row, u in enumerate(range(50)):
        assert not set(approx[row]) & set(big.item_ids_.raw_ids[big.seen_[u].indices])
    sim_exact = R(big).similar_items(big.item_ids_.raw_ids[7], n=10)[0]
    monkeypatch.setattr(recommend_module, "ANN_THRESHOLD", 1000)
    assert len(set(sim_exact)) == 10


def test_explain_terms_add_up_to_the_score_and_the_prediction(model: FactorModel) -> None:
    u, i = model.user_ids_.raw_ids[2], model.item_ids_.raw_ids[5]
    e = R(model).explain(u, i)
    score = float(model.score_items(2)[0, 5])
    assert e.terms["value"].sum() == pytest.approx(score, abs=1e-5) and e.score == pytest.approx(
        score, abs=1e-5
    )
    assert e.prediction == pytest.approx(float(model.predict(u, i)), abs=1e-5)
    assert e.terms["stars"].sum() == pytest.approx(e.prediction, abs=1e-5)
    rated = e.rated
    assert set(rated["item"]) == set(model.item_ids_.raw_ids[model.seen_[2].indices])
    assert np.all(np.diff(np.abs(rated["stars"].to_numpy())) <= 1e-9)  # largest first
    # a folded-in user: the rest is zero, the rated items and the prior carry the whole dot product
    folded = R(model).fold_in({model.item_ids_.raw_ids[3]: 5.0, model.item_ids_.raw_ids[9]: 1.0})
    e = R(model).explain_folded(folded, i)
    assert e.terms["value"].sum() == pytest.approx(float(model.score_folded(folded)[5]), abs=1e-5)
    assert abs(float(e.terms.loc[e.terms["term"] == "rest", "value"].iloc[0])) < 1e-5
    assert str(e).startswith("a new user × Movie 5") and "★" in str(e)


def test_explain_split_equals_the_fold_in_weights(model: FactorModel) -> None:
    """Each rated item's term is (q_i·A⁻¹x_j)·y_j of the fold-in solve: check against a dense inverse."""
    folded = R(model).fold_in({model.item_ids_.raw_ids[j]: r for j, r in [(3, 5.0), (10, 2.0), (42, 4.0)]})
    terms = model.explain_indices(folded, 7)
    a, x, y, _ = model._rating_system(folded.items, folded.values)
    z = np.append(model.item_factors_[7], 0.0) @ np.linalg.inv(a)
    expected = {j: float(z @ x[k] * y[k]) for k, j in enumerate(folded.items)}
    got = {t.item: t.value for t in terms if t.kind == "rated item"}
    assert got == pytest.approx(expected, abs=1e-6)


def test_reasons_are_the_positive_head_of_the_explanation(model: FactorModel) -> None:
    """`reasons` (no frame) equals the largest positive rated-item terms of `explain(...).rated`."""
    rec = R(model)
    items = model.item_ids_.raw_ids[[5, 17, 30, 41]]
    rated = {model.item_ids_.raw_ids[j]: r for j, r in [(3, 5.0), (10, 2.0), (42, 4.0), (8, 3.5)]}
    users = [
        (model.user_ids_.raw_ids[2], lambda i: rec.explain(model.user_ids_.raw_ids[2], i)),
        (rec.fold_in(rated), None),
        (rec.fold_in(list(rated), liked=True), None),
    ]
    for user, explain in users:
        explain = explain or (lambda i, user=user: rec.explain_folded(user, i))
        for item, reasons in zip(items, rec.reasons(user, items, k=2), strict=True):
            frame = explain(item).rated
            column = "stars" if "stars" in frame else "value"
            want = frame[frame[column] > 0].head(2)
            assert [r.item for r in reasons] == want["item"].tolist()
            assert [r.weight for r in reasons] == pytest.approx(want[column].tolist(), rel=1e-6)
            assert all(r.title == rec.catalogue.titles[model.item_ids_.index(r.item)] for r in reasons)
    assert any(rec.reasons(users[0][0], items, k=3))  # not vacuous: some item has reasons


# -- a known answer: a checkerboard where even users like even items -----------------------------------
@pytest.fixture(scope="module")
def checkerboard() -> DotBias:
    rng = np.random.default_rng(0)
    users, items = np.meshgrid(np.arange(40), np.arange(60), indexing="ij")
    users, items = users.ravel(), items.ravel()
    keep = rng.random(users.size) < 0.5
    ratings = np.where(users % 2 == items % 2, 5.0, 1.0).astype(np.float32)
    data = Interactions.from_arrays(users[keep], items[keep], ratings[keep])
    return DotBias(n_factors=4, epochs=40, lr=0.05, reg=0.0, verbose=False, seed=0).fit(data)


def test_checkerboard_top1_has_the_users_parity(checkerboard: DotBias) -> None:
    users = checkerboard.user_ids_.raw_ids
    ids, _ = R(checkerboard).recommend(users, n=1)
    assert np.all(ids[:, 0] % 2 == users % 2)


def test_checkerboard_fold_in_finds_the_new_users_parity(checkerboard: DotBias) -> None:
    ids, _ = R(checkerboard).recommend_for_ratings({0: 5, 2: 5, 4: 5, 1: 1, 3: 1}, n=5)
    assert np.all(ids % 2 == 0)
    ids, _ = R(checkerboard).recommend_for_ratings({0: 1, 2: 1, 1: 5, 3: 5}, n=5)
    assert np.all(ids % 2 == 1)
    ids, _ = R(checkerboard).recommend_from_items([1, 3, 5], n=5)
    assert np.all(ids % 2 == 1)
    ids, _ = R(checkerboard).similar_items(0, n=5)
    assert np.all(ids % 2 == 0)


def test_popularity_prior_equals_dense_reference(model: FactorModel) -> None:
    users = model.user_ids_.raw_ids[:30]
    ids, scores = R(model).recommend(users, n=6, popularity=0.7)
    counts = np.bincount(model.seen_.indices, minlength=model.n_items)
    raw = (
        model.user_factors_ @ model.item_factors_.T
        + model.item_bias_
        + model.user_bias_[:, None]
        + model.global_bias_
    )
    ranked = (raw + 0.7 * np.log1p(counts))[:30]
    ranked[model.seen_[:30].toarray() != 0] = -np.inf
    order = np.argsort(-ranked, axis=1)[:, :6]
    np.testing.assert_array_equal(ids, model.item_ids_.raw_ids[order])
    np.testing.assert_allclose(scores, np.take_along_axis(raw[:30], order, axis=1), rtol=1e-4, atol=1e-4)
    with pytest.raises(ParameterError):
        R(model).recommend(users[0], popularity=-1)


def test_implicit_fold_in_equals_weighted_least_squares(model: FactorModel) -> None:
    liked = np.array([3, 10, 42])
    ids, scores = R(model).recommend_from_items(model.item_ids_.raw_ids[liked], n=5)
    c, reg = model.like_confidence, model.like_reg
    q = model.item_factors_.astype(np.float64)
    pref = np.zeros(model.n_items)
    pref[liked] = 1
    root_c = np.sqrt(1 + c * pref)
    # min Σ c_i (pref_i − q_i·p)² + reg |p|², written as one stacked least-squares system
    a = np.vstack([root_c[:, None] * q, np.sqrt(reg) * np.eye(q.shape[1])])
    b = np.concatenate([root_c * pref, np.zeros(q.shape[1])])
    p, *_ = np.linalg.lstsq(a, b, rcond=None)
    dense = q @ p
    dense[liked] = -np.inf
    order = np.argsort(-dense)[:5]
    np.testing.assert_array_equal(ids, model.item_ids_.raw_ids[order])
    np.testing.assert_allclose(scores, dense[order], rtol=1e-4, atol=1e-5)


# -- NeuralCF: the same queries through its network --------------------------------------------------------
@pytest.fixture(scope="module")
def neural_checkerboard():  # noqa: ANN201
    from embedrec.models.neural import NeuralCF

    rng = np.random.default_rng(0)
    users, items = np.meshgrid(np.arange(40), np.arange(60), indexing="ij")
    users, items = users.ravel(), items.ravel()
    keep = rng.random(users.size) < 0.5
    ratings = np.where(users % 2 == items % 2, 5.0, 1.0).astype(np.float32)
    data = Interactions.from_arrays(users[keep], items[keep], ratings[keep])
    return NeuralCF(n_factors=8, epochs=30, lr=0.02, side_features=False, verbose=False, seed=0).fit(data)


def test_neural_recommend_equals_dense_scores(neural_checkerboard) -> None:  # noqa: ANN001
    m = neural_checkerboard
    users = m.user_ids_.raw_ids
    ids, scores = R(m).recommend(users, n=3)
    dense = m.score_items(np.arange(m.n_users)).astype(np.float64)
    dense[m.seen_.toarray() != 0] = -np.inf
    order = np.argsort(-dense, axis=1)[:, :3]
    np.testing.assert_array_equal(ids, m.item_ids_.raw_ids[order])
    np.testing.assert_allclose(scores, m.link(np.take_along_axis(dense, order, axis=1)), rtol=1e-5)
    assert np.mean(ids[:, 0] % 2 == users % 2) >= 0.9


def test_neural_fold_in_uses_the_network(neural_checkerboard) -> None:  # noqa: ANN001
    m = neural_checkerboard
    ratings = {0: 5, 2: 5, 4: 5, 1: 1, 3: 1}
    ids, scores = R(m).recommend_for_ratings(ratings, n=5)
    dense = m.score_folded(Recommender(m).fold_in(ratings)).astype(np.float64)
    dense[[0, 1, 2, 3, 4]] = -np.inf
    np.testing.assert_array_equal(ids, m.item_ids_.raw_ids[np.argsort(-dense)[:5]])
    assert np.mean(ids % 2 == 0) >= 0.8
    liked, _ = R(m).recommend_from_items([1, 3, 5], n=5)
    assert np.mean(liked % 2 == 1) >= 0.8


def test_similar_items_can_leave_out_rare_items(model: FactorModel) -> None:
    counts = np.bincount(model.seen_.indices, minlength=model.n_items)
    ids, sims = R(model).similar_items(model.item_ids_.raw_ids[17], n=8, min_ratings=32)
    assert np.all(counts[model.item_ids_.indices(ids)] >= 32)
    v = model.item_factors_.astype(np.float64)
    ref = 1 - cdist(v[[17]], v, "cosine")[0]
    ref[17] = -np.inf
    ref[counts < 32] = -np.inf
    np.testing.assert_array_equal(ids, model.item_ids_.raw_ids[np.argsort(-ref)[:8]])
    with pytest.raises(ParameterError):
        R(model).similar_items(model.item_ids_.raw_ids[17], min_ratings=-1)
