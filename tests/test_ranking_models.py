"""ALS, BPR and EASE: fast solvers against slow dense references, known answers, quality on ML-100K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import embedrec
from embedrec import ALS, BPR, EASE, DataError, Interactions, MostPopular, ParameterError, ResourceError
from embedrec.models.als_kernels import cg_half_step, dense_half_step, normal_equations, thread_scratch
from embedrec.models.bpr import LOSSES, bpr_loss, softmax_loss, warp_loss
from embedrec.models.ease import _symmetric
from embedrec.query.ranking import ranking_report


def random_confidence(n_rows: int, n_cols: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sp.random(n_rows, n_cols, density=density, random_state=rng, format="csr", dtype=np.float32)
    m.data = 1.0 + 5.0 * m.data  # confidences c >= 1
    return m


def checkerboard(n: int = 40) -> Interactions:
    """Even users like even items, odd users odd items (each about two thirds of them)."""
    rng = np.random.default_rng(0)
    rows = [(u, i) for u in range(n) for i in range(n) if u % 2 == i % 2 and rng.random() < 0.66]
    users, items = map(np.array, zip(*rows, strict=True))
    return Interactions.from_arrays(users, items)


# -- ALS ------------------------------------------------------------------------------------------------
def test_cg_converges_to_the_dense_solution() -> None:
    conf = random_confidence(30, 25, 0.2, seed=1)
    y = np.random.default_rng(2).standard_normal((25, 6)).astype(np.float32)
    exact = dense_half_step(conf, y, regularization=0.5)
    x = np.zeros((30, 6), np.float32)
    gram = (y.T.astype(np.float64) @ y + 0.5 * np.eye(6)).astype(np.float32)
    # k steps: exact in exact arithmetic
    cg_half_step(conf.indptr, conf.indices, conf.data, x, y, gram, 6, thread_scratch(6))
    np.testing.assert_allclose(x, exact, rtol=1e-3, atol=1e-4)
    assert np.all(x[np.diff(conf.indptr) == 0] == 0)  # a row with no likes solves to zero


def test_few_cg_steps_from_a_warm_start_approach_the_solution() -> None:
    conf = random_confidence(50, 40, 0.15, seed=3)
    y = np.random.default_rng(4).standard_normal((40, 8)).astype(np.float32)
    exact = dense_half_step(conf, y, regularization=1.0)
    gram = (y.T.astype(np.float64) @ y + np.eye(8)).astype(np.float32)
    x = np.zeros((50, 8), np.float32)
    errors = []
    for _ in range(4):  # as ALS calls it: three steps, restarted from the last x
        cg_half_step(conf.indptr, conf.indices, conf.data, x, y, gram, 3, thread_scratch(8))
        errors.append(np.abs(x - exact).max())
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)) and errors[-1] < 1e-3


def test_als_fit_matches_the_dense_reference_iteration() -> None:
    """Two ALS iterations with enough CG steps equal the same iterations solved densely from one start."""
    data = checkerboard(20)
    model = ALS(n_factors=4, iterations=2, cg_steps=8, alpha=3.0, regularization=0.5, verbose=False).fit(data)
    conf = model.confidence_matrix(model._liked(data))
    rng = np.random.default_rng(model.seed)
    x = (rng.standard_normal((data.n_users, 4)) * 0.01).astype(np.float64)
    y = (rng.standard_normal((data.n_items, 4)) * 0.01).astype(np.float64)
    for _ in range(2):
        x = dense_half_step(conf, y, 0.5)
        y = dense_half_step(conf.T.tocsr(), x, 0.5)
    np.testing.assert_allclose(model.user_factors_, x, rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(model.item_factors_, y, rtol=2e-2, atol=2e-3)


def test_als_fold_in_is_the_exact_user_step() -> None:
    data = checkerboard(30)
    model = ALS(n_factors=6, iterations=10, alpha=2.0, regularization=0.3, verbose=False).fit(data)
    items, values = model.user_history(4)
    folded = model.fold_in(items, values)
    conf = model.confidence_matrix(model._liked(data))
    a, b = normal_equations(conf, 4, model.item_factors_, 0.3)
    np.testing.assert_allclose(folded.vector, np.linalg.solve(a, b), rtol=1e-4, atol=1e-5)
    # the trained vector is nearly that solve too (training ends on an item step): a small rest
    terms = model.explain_indices(4, 0)
    score = float(model.score_items(4)[0, 0])
    assert terms[-1].kind == "rest" and abs(terms[-1].value) < 0.05 * abs(score)
    assert sum(t.value for t in terms) == pytest.approx(score, abs=1e-5)


def test_als_fold_in_regularization_changes_only_a_new_users_solve() -> None:
    """A new user's scores == Y (YᵀY + Σ (c_l - 1) y_l y_lᵀ + λ_new I)⁻¹ Σ c_l y_l, densely, with
    λ_new = max(λ, fold_in_regularization / m) for m liked items; training and the explanation of a
    trained user keep the training λ."""
    data = checkerboard(30)
    params = {"n_factors": 6, "iterations": 10, "alpha": 2.0, "regularization": 0.3, "verbose": False}
    plain = ALS(**params).fit(data)
    model = ALS(**params, fold_in_regularization=150.0).fit(data)
    np.testing.assert_array_equal(model.item_factors_, plain.item_factors_)
    given = np.array([0, 2, 4])
    y = model.item_factors_.astype(np.float64)
    c = 1.0 + 2.0 * np.ones(len(given))  # binary likes: c = 1 + α
    a = y.T @ y + (150.0 / 3) * np.eye(6) + (y[given].T * (c - 1.0)) @ y[given]
    expected = y @ np.linalg.solve(a, c @ y[given])
    folded = model.fold_in(given)
    np.testing.assert_allclose(model.score_folded(folded), expected, rtol=1e-4, atol=1e-6)
    assert not np.allclose(plain.score_folded(plain.fold_in(given)), expected, atol=1e-3)
    assert sum(t.value for t in model.explain_indices(folded, 7)) == pytest.approx(expected[7], abs=1e-5)
    for user in (3, 4):
        ours, theirs = model.explain_indices(user, 1), plain.explain_indices(user, 1)
        assert [t.value for t in ours] == pytest.approx([t.value for t in theirs], abs=1e-6)
    # many liked items: 1.5 / m is below the training λ, so the solve is the exact user step again
    items = model.user_history(4)[0]
    assert 1.5 / len(items) < 0.3
    many = ALS(**params, fold_in_regularization=1.5).fit(data)
    np.testing.assert_allclose(many.fold_in(items).vector, plain.fold_in(items).vector, rtol=1e-6)
    with pytest.raises(ParameterError, match="fold_in_regularization must be a number >= 0"):
        ALS(fold_in_regularization=-1.0, verbose=False).fit(data)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ALS(n_factors=4, iterations=8, alpha=5.0, regularization=0.1, verbose=False),
        lambda: BPR(n_factors=4, epochs=30, lr=0.05, reg=0.0, verbose=False),
        lambda: EASE(regularization=1.0),
    ],
    ids=["ALS", "BPR", "EASE"],
)
def test_checkerboard_top_items_have_the_users_parity(make) -> None:
    data = checkerboard()
    model = make().fit(data)
    rec = embedrec.Recommender(model)
    users = data.user_ids.raw_ids
    ids, _ = rec.recommend(users, n=3)
    assert np.all(ids % 2 == (users % 2)[:, None])
    new_even, _ = rec.recommend_from_items([0, 2, 4], n=3)
    assert np.all(new_even % 2 == 0)


def test_history_has_one_entry_per_iteration_or_epoch() -> None:
    data = checkerboard(12)
    quiet = ALS(n_factors=2, iterations=4, verbose=False).fit(data)
    assert len(quiet.history_) == 4 and np.isnan(quiet.history_.train_loss).all()  # no bar: loss not computed
    assert len(BPR(n_factors=2, epochs=3, verbose=False).fit(data).history_) == 3


def test_als_rejects_bad_settings() -> None:
    data = checkerboard()
    for kwargs, message in (
        ({"weighting": "idf"}, "unknown weighting 'idf'; choose one of bm25, none, tfidf"),
        ({"alpha": -1.0}, "alpha must be a number >= 0"),
        ({"num_threads": -2}, "num_threads must be an integer >= 0"),
        ({"weights": "squared"}, "unknown weights 'squared'"),
    ):
        with pytest.raises(ParameterError, match=message):
            ALS(verbose=False, **kwargs).fit(data)


# -- EASE -----------------------------------------------------------------------------------------------
def test_ease_equals_the_closed_form_in_float64() -> None:
    data = checkerboard(24)
    model = EASE(regularization=2.0).fit(data)
    x = embedrec.data.implicit.liked_matrix(data).toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights_, b, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.score_items(np.arange(24)), x @ b, rtol=1e-3, atol=1e-4)


def test_ease_item_normalisation_equals_its_closed_form_in_float64() -> None:
    data = checkerboard(24)
    model = EASE(regularization=0.5, normalize=0.3).fit(data)
    x = embedrec.data.implicit.liked_matrix(data).toarray().astype(np.float64)
    scale = np.diag(x.T @ x) ** -0.3  # D^-γ: popular items' co-occurrences weigh less
    xn = x * scale[None, :]
    p = np.linalg.inv(xn.T @ xn + 0.5 * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    b *= scale[:, None]  # scores x D^-γ B̃
    np.testing.assert_allclose(model.weights_, b, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(model.score_items(np.arange(24)), x @ b, rtol=1e-3, atol=1e-5)
    assert not np.allclose(b, EASE(regularization=0.5).fit(data).weights_, atol=1e-3)


def test_ease_rejects_a_negative_normalisation() -> None:
    with pytest.raises(ParameterError, match=r"normalize must be a number >= 0, got -0.1"):
        EASE(normalize=-0.1).fit(checkerboard())


@pytest.mark.parametrize("upper", [True, False])
def test_one_triangle_is_copied_onto_the_other_block_by_block(upper: bool) -> None:
    rng = np.random.default_rng(0)
    a = rng.random((23, 23))
    full = a + a.T
    valid = np.triu(full) if upper else np.tril(full)
    junk = np.tril(rng.random((23, 23)), -1) if upper else np.triu(rng.random((23, 23)), 1)
    out = _symmetric(valid + junk, upper=upper, block=50)  # blocks of 2 rows: every boundary case
    np.testing.assert_array_equal(out, full)


def test_ease_min_count_leaves_rare_items_out_at_score_zero() -> None:
    data = checkerboard(24)
    counts = np.bincount(data.items, minlength=data.n_items)
    model = EASE(regularization=2.0, min_count=int(np.median(counts)) + 1).fit(data)
    rare = counts < model.min_count
    assert rare.any() and len(model.modelled_) == int((~rare).sum())
    assert np.all(model.score_items(np.arange(24))[:, rare] == 0.0)


def test_ease_too_large_says_how_much_memory_it_needs() -> None:
    with pytest.raises(ResourceError, match=r"dense 40 × 40 item-item matrices: about 0.0 GiB, over the"):
        EASE(memory_limit=1000).fit(checkerboard())


# -- BPR ------------------------------------------------------------------------------------------------
def test_losses_on_hand_computed_cases() -> None:
    pos, neg = torch.tensor([0.0, 2.0]), torch.tensor([[0.0, 0.0], [0.0, 3.5]])
    np.testing.assert_allclose(
        bpr_loss(pos, neg, None, None, 10),
        [np.log(2), (np.log1p(np.exp(-2)) + np.log1p(np.exp(1.5))) / 2],
        rtol=1e-6,
    )
    # warp: row 0 both negatives violate the margin (share 1 -> rank 9), hardest violation 1;
    # row 1 only the second (share 1/2 -> rank 4.5), hardest violation 1 - 2 + 3.5 = 2.5
    np.testing.assert_allclose(
        warp_loss(pos, neg, None, None, 10), [np.log(10), np.log(5.5) * 2.5], rtol=1e-6
    )
    np.testing.assert_allclose(softmax_loss(pos, neg, None, None, 10)[0], np.log(3), rtol=1e-6)
    assert set(LOSSES) == {"bpr", "warp", "softmax"}


def test_bpr_refuses_cuda_without_a_gpu_and_bad_names() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal cannot be checked here")
    with pytest.raises(ParameterError, match="CUDA is not available"):
        BPR(device="cuda", verbose=False).fit(checkerboard())
    with pytest.raises(ParameterError, match="unknown loss 'hinge'; choose one of bpr, softmax, warp"):
        BPR(loss="hinge", verbose=False).fit(checkerboard())
    with pytest.raises(ParameterError, match="unknown negatives 'hard'"):
        BPR(negatives="hard", verbose=False).fit(checkerboard())


def test_bpr_is_seeded() -> None:
    data = checkerboard()
    a = BPR(n_factors=4, epochs=2, verbose=False).fit(data)
    b = BPR(n_factors=4, epochs=2, verbose=False).fit(data)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


# -- every ranking model ----------------------------------------------------------------------------------
def test_a_new_user_with_no_liked_item_is_refused() -> None:
    data = Interactions.from_arrays(
        np.repeat(np.arange(10), 4), np.tile(np.arange(4), 10), np.tile([1.0, 2, 4, 5], 10)
    )
    for model in (ALS(n_factors=2, iterations=2, min_rating=4, verbose=False), EASE(min_rating=4)):
        model.fit(data)
        with pytest.raises(DataError, match="none of the new user's items counts as liked"):
            model.fold_in(np.array([0, 1]), np.array([1.0, 2.0]))


@pytest.fixture(scope="module")
def u1(ml100k_dir: Path) -> tuple[Interactions, Interactions]:
    return embedrec.predefined_split(ml100k_dir, "u1")


@pytest.mark.parametrize(
    ("make", "floor"),
    [
        # measured on u1: ALS 0.461, EASE 0.467 (≥ 4 as likes), 0.487 (ratings scaled) and 0.489 (scaled,
        # item-normalised); MostPopular 0.261
        (lambda: ALS(min_rating=4, verbose=False), 0.44),
        (lambda: EASE(min_rating=4), 0.45),
        (lambda: EASE(200.0, weights="scaled"), 0.47),
        (lambda: EASE(90.0, weights="scaled", normalize=0.2), 0.47),
    ],
    ids=["ALS", "EASE", "EASE-scaled", "EASE-normalised"],
)
def test_quality_on_ml100k_u1(u1, make, floor: float) -> None:
    train, test = u1
    assert ranking_report(make().fit(train), train, test).ndcg > floor


@pytest.mark.slow
def test_bpr_quality_on_ml100k_u1(u1) -> None:
    train, test = u1
    pop = ranking_report(MostPopular().fit(train), train, test).ndcg
    ndcg = ranking_report(BPR(min_rating=4, verbose=False).fit(train), train, test).ndcg
    assert ndcg > max(0.40, 1.5 * pop)  # measured 0.45; popularity 0.26
