"""Peer libraries as small runners, so the benchmarks can put embedrec beside them in the same run.

Every runner takes pandas DataFrames with columns `user`, `item`, `rating` (raw ids) and returns what it
learned plus its fit time. Rating runners predict the test rows; ranking runners return a top-k list per
user that excludes the user's training items. The peers live in the benchmark venv only
(`bash benchmarks/setup_peers.sh`); a missing one raises ImportError naming that script.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

SCALE = (1.0, 5.0)  # MovieLens 100K; runners that clip take it as an argument


class RatingResult(NamedTuple):
    """Predicted ratings for the test rows, in order, and the seconds spent in fit."""

    predictions: np.ndarray  # (n_test,) float64
    fit_seconds: float


class RankingResult(NamedTuple):
    """Top-k raw item ids for each requested user (training items excluded) and the fit seconds."""

    users: np.ndarray  # (n_users,) raw user ids, in the order asked
    items: np.ndarray  # (n_users, k) raw item ids, best first
    fit_seconds: float


def _need(module: str, pip_name: str) -> object:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"{pip_name} is not installed here: run `bash benchmarks/setup_peers.sh` and use "
            f".bench-venv/bin/python ({exc})"
        ) from exc


# -- rating peers ----------------------------------------------------------------------------------


def surprise_svd(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    algo: str = "SVD",
    scale: tuple[float, float] = SCALE,
    **params,
) -> RatingResult:
    """scikit-surprise SVD / SVDpp with the given hyper-parameters (defaults: the library's)."""
    _need("surprise", "scikit-surprise")
    import surprise

    reader = surprise.Reader(rating_scale=scale)
    data = surprise.Dataset.load_from_df(train[["user", "item", "rating"]], reader)
    trainset = data.build_full_trainset()
    model = getattr(surprise, algo)(random_state=0, **params)
    start = time.perf_counter()
    model.fit(trainset)
    fit_s = time.perf_counter() - start
    preds = np.array(
        [
            model.predict(u, i).est
            for u, i in zip(test["user"].to_numpy(), test["item"].to_numpy(), strict=True)
        ]
    )
    return RatingResult(preds, fit_s)


def cornac_mf(
    train: pd.DataFrame, test: pd.DataFrame, *, scale: tuple[float, float] = SCALE, **params
) -> RatingResult:
    """cornac's MF (biased SGD matrix factorisation, compiled) with its defaults unless overridden."""
    _need("cornac", "cornac")
    import cornac

    triples = list(
        zip(train["user"].astype(str), train["item"].astype(str), train["rating"].astype(float), strict=True)
    )
    dataset = cornac.data.Dataset.from_uir(triples, seed=0)
    model = cornac.models.MF(seed=0, verbose=False, **params)
    start = time.perf_counter()
    model.fit(dataset)
    fit_s = time.perf_counter() - start
    u = np.array([dataset.uid_map[str(x)] for x in test["user"]])
    i = np.array([dataset.iid_map[str(x)] for x in test["item"]])
    # r̂ = μ + b_u + b_i + p_u·q_i, clipped to the scale as cornac's own rating evaluation does
    preds = (model.u_factors[u] * model.i_factors[i]).sum(axis=1)
    if getattr(model, "use_bias", True):
        preds = preds + model.global_mean + model.u_biases[u] + model.i_biases[i]
    return RatingResult(np.clip(preds, *scale), fit_s)


def fastai_collab(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    use_nn: bool = False,
    n_factors: int = 50,
    layers: tuple[int, ...] = (100, 50),
    epochs: int = 5,
    lr: float = 5e-3,
    wd: float = 0.1,
    bs: int = 64,
) -> RatingResult:
    """fastai collab_learner, the fastai book's settings: y_range=(0, 5.5), fit_one_cycle 5 × 5e-3, wd 0.1.

    It trains on all of `train`; the test rows are its validation set, used only to report (no early
    stopping), so predictions come out in test order.
    """
    _need("fastai", "fastai")
    from fastai.collab import TabularCollab, collab_learner
    from fastai.data.block import TransformBlock
    from fastai.tabular.core import Categorify
    from fastai.torch_core import set_seed

    set_seed(0, reproducible=True)  # python, numpy and torch generators: the same numbers twice
    df = pd.concat([train[["user", "item", "rating"]], test[["user", "item", "rating"]]], ignore_index=True)
    df["user"], df["item"] = df["user"].astype(str), df["item"].astype(str)
    splits = (list(range(len(train))), list(range(len(train), len(df))))
    to = TabularCollab(
        df,
        [Categorify],
        cat_names=["user", "item"],
        y_names=["rating"],
        y_block=TransformBlock(),
        splits=splits,
    )
    dls = to.dataloaders(path=".", bs=bs)
    kwargs = {"use_nn": True, "layers": list(layers)} if use_nn else {"n_factors": n_factors}
    learn = collab_learner(dls, y_range=(0, 5.5), **kwargs)
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr, wd=wd)
    fit_s = time.perf_counter() - start
    with learn.no_bar():
        preds, _ = learn.get_preds(ds_idx=1)
    return RatingResult(preds.numpy().reshape(-1).astype(np.float64), fit_s)


RATING_PEERS: dict[str, Callable[[pd.DataFrame, pd.DataFrame], RatingResult]] = {
    "Surprise SVD (default)": surprise_svd,
    # "tuned": 200 factors and 80 epochs need more regularisation than the default 0.02 (u1: 0.961 -> 0.922)
    "Surprise SVD (200 factors, 80 epochs, reg 0.1)": partial(
        surprise_svd, n_factors=200, n_epochs=80, reg_all=0.1
    ),
    "Surprise SVD++": partial(surprise_svd, algo="SVDpp", cache_ratings=True),
    "cornac MF": cornac_mf,
    "fastai collab dot (book)": fastai_collab,
    "fastai collab neural (book)": partial(fastai_collab, use_nn=True),
}


# -- ranking peers ---------------------------------------------------------------------------------


class _Indexed(NamedTuple):
    user_index: pd.Index
    item_index: pd.Index
    positives: sp.csr_matrix  # (n_users, n_items) 1.0 where rating >= threshold
    rated: sp.csr_matrix  # (n_users, n_items) 1.0 wherever the user rated in train


def _index(train: pd.DataFrame, threshold: float, weights: str = "binary") -> _Indexed:
    """Positives: 1 where rating >= threshold ("binary"), or every rating as a weight in [0, 1], the scale's
    lowest 0 ("scaled": ratings as confidence weights, as embedrec's weights="scaled")."""
    users, items = pd.Index(train["user"].unique()), pd.Index(train["item"].unique())
    u, i = users.get_indexer(train["user"]), items.get_indexer(train["item"])
    shape = (len(users), len(items))
    rated = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=shape)
    r = train["rating"].to_numpy(np.float64)
    if weights == "binary":
        w = (r >= threshold).astype(np.float32)
    elif weights == "scaled":
        w = ((r - r.min()) / (r.max() - r.min())).astype(np.float32)
    else:
        raise ValueError(f"unknown weights {weights!r}; choose binary or scaled")
    good = w > 0
    positives = sp.csr_matrix((w[good], (u[good], i[good])), shape=shape)
    return _Indexed(users, items, positives, rated)


def _top_k(scores: np.ndarray, rated: sp.csr_matrix, rows: np.ndarray, k: int) -> np.ndarray:
    """Best k columns of `scores` (len(rows), n_items) per row, masking items the user rated."""
    scores = scores.copy()
    for r, u in enumerate(rows):
        scores[r, rated.indices[rated.indptr[u] : rated.indptr[u + 1]]] = -np.inf
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (n, k) unordered
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def _users_rows(idx: _Indexed, users: np.ndarray) -> np.ndarray:
    rows = idx.user_index.get_indexer(users)
    if (rows < 0).any():
        raise ValueError(f"user {users[rows < 0][0]!r} has no training ratings")
    return rows


def implicit_als(
    train: pd.DataFrame,
    users: np.ndarray,
    k: int = 10,
    *,
    threshold: float = 4.0,
    factors: int = 64,
    regularization: float = 10.0,
    alpha: float = 1.0,
    iterations: int = 15,
    weights: str = "binary",
) -> RankingResult:
    """implicit's ALS on ratings >= threshold as positives; top-k excludes every training item of the user.

    Defaults picked by a small grid on ML-100K u1 (factors 32–128, regularization 0.01–100, alpha 0.3–20).
    With weights="scaled" every rating is a positive with confidence 1 + w (w: the rating scaled to [0, 1]).
    """
    _need("implicit", "implicit")
    from implicit.als import AlternatingLeastSquares

    idx = _index(train, threshold, weights)
    if weights != "binary":  # implicit reads the matrix as confidence itself: hand it 1 + w
        idx = idx._replace(positives=idx.positives.copy())
        idx.positives.data += 1.0
    model = AlternatingLeastSquares(
        factors=factors,
        regularization=regularization,
        alpha=alpha,
        iterations=iterations,
        random_state=0,
        num_threads=os.cpu_count() or 1,
    )
    start = time.perf_counter()
    with _single_threaded_blas():  # implicit runs its own threads; a BLAS pool on top oversubscribes
        model.fit(idx.positives, show_progress=False)
    fit_s = time.perf_counter() - start
    rows = _users_rows(idx, np.asarray(users))
    user_f, item_f = _to_numpy(model.user_factors), _to_numpy(model.item_factors)
    scores = user_f[rows] @ item_f.T  # (n_users, n_items)
    top = _top_k(scores, idx.rated, rows, k)
    return RankingResult(np.asarray(users), idx.item_index.to_numpy()[top], fit_s)


def lightfm_warp(
    train: pd.DataFrame,
    users: np.ndarray,
    k: int = 10,
    *,
    threshold: float = 4.0,
    no_components: int = 128,
    learning_rate: float = 0.02,
    epochs: int = 30,
    item_alpha: float = 0.0,
    user_alpha: float = 0.0,
    weights: str = "binary",
) -> RankingResult:
    """LightFM with the WARP loss on ratings >= threshold as positives; top-k excludes training items.

    Defaults picked by a small grid on ML-100K u1 (components 32–128, learning rate 0.01–0.05, epochs 10–60).
    With weights="scaled" every rating is a positive, its scaled rating the sample weight.
    """
    _need("lightfm", "lightfm")
    from lightfm import LightFM

    idx = _index(train, threshold, weights)
    model = LightFM(
        no_components=no_components,
        loss="warp",
        learning_rate=learning_rate,
        item_alpha=item_alpha,
        user_alpha=user_alpha,
        random_state=0,
    )
    start = time.perf_counter()
    interactions = idx.positives.tocoo()
    sample_weight = None if weights == "binary" else interactions.copy()
    model.fit(interactions, sample_weight=sample_weight, epochs=epochs, num_threads=os.cpu_count() or 1)
    fit_s = time.perf_counter() - start
    rows = _users_rows(idx, np.asarray(users))
    item_bias, item_f = model.get_item_representations()  # (n_items,), (n_items, d)
    _, user_f = model.get_user_representations()  # (n_users, d)
    scores = user_f[rows] @ item_f.T + item_bias[None, :]  # (n_users, n_items); user bias cannot reorder
    top = _top_k(scores, idx.rated, rows, k)
    return RankingResult(np.asarray(users), idx.item_index.to_numpy()[top], fit_s)


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


def _to_numpy(x: object) -> np.ndarray:
    return x.to_numpy() if hasattr(x, "to_numpy") else np.asarray(x)


RANKING_PEERS: dict[str, Callable[..., RankingResult]] = {
    "implicit ALS": implicit_als,
    "LightFM WARP": lightfm_warp,
}
