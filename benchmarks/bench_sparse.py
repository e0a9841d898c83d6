"""Sparse data: rating models on long-tailed copies of MovieLens, beside BiasBaseline and Surprise.

    PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_sparse.py   # writes BENCHMARKS.md

Real rating files from shops and social sites are far sparser than MovieLens, where every user has 20
ratings or more. The data sets here are MovieLens made sparse, reproducibly (seed 0):

- ml-100k long tail: each user keeps a heavy-tailed number of their ratings (median 4), so many users
  have one or two and a fifth of the kept items are seen once;
- ml-latest-small split users: each user's history is cut into "users" of heavy-tailed size (median 2),
  as if most visitors rated a film or two; a third of the items are seen once;
- the same two rescaled to a 0–10 scale (ratings mapped linearly and rounded to whole points).

Protocol: a seeded 80/20 random split (test rows of users or items without a training rating dropped);
RMSE of each model. "Personal": three new users folded in from ratings, fans of action, children's films
and horror (5 stars for the ten most-rated films of their genre, the lowest rating for five of each of the
other two), get top-10 lists; the table gives the most titles any two of them share, with the default
popularity prior and without it. Also the fit time of the default model on a 100k-rating table with
27k users + items.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import git_revision, machine, write_section  # noqa: E402

import embedrec  # noqa: E402
from embedrec.data.interactions import Interactions, RatingScale  # noqa: E402
from embedrec.metrics import rmse  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "data"
COMMAND = "PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_sparse.py"
FANS = ("Action", "Children", "Horror")  # the three users: opposite tastes


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rebuild(data: Interactions, users: np.ndarray, rows: np.ndarray, ratings: np.ndarray) -> Interactions:
    """New Interactions from raw user ids and rows of `data` (its items and their metadata)."""
    meta = None if data.item_meta is None else data.item_meta.set_axis(data.item_ids.raw_ids)
    items = data.item_ids.raw_ids[data.items[rows]]
    return Interactions.from_arrays(users, items, ratings, item_meta=meta, source=data.source)


def user_long_tail(data: Interactions, seed: int = 0) -> Interactions:
    """Each user keeps 1 + ⌊4·Lomax(1.1)⌋ of their ratings (at most all): median 4, a long tail."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(data.users, minlength=data.n_users)
    keep_n = np.minimum(counts, 1 + np.floor(4 * rng.pareto(1.1, data.n_users)).astype(np.int64))
    order = np.lexsort((rng.random(len(data)), data.users))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(data)) - starts[data.users[order]]
    rows = np.sort(order[rank < keep_n[data.users[order]]])
    return _rebuild(data, data.user_ids.raw_ids[data.users[rows]], rows, data.ratings[rows])


def split_users(data: Interactions, seed: int = 0, scale: float = 1.0) -> Interactions:
    """Each user's history (in random order) cut into new users of 1 + ⌊scale·Lomax(1)⌋ ratings."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(data)), data.users))
    counts = np.bincount(data.users, minlength=data.n_users)
    new = np.empty(len(data), np.int64)
    next_id, start = 0, 0
    for c in counts:
        sizes = 1 + np.floor(scale * rng.pareto(1.0, c)).astype(np.int64)  # more than enough pieces
        ends = np.minimum(np.cumsum(sizes), c)
        pieces = np.searchsorted(ends, np.arange(c), side="right")
        new[start : start + c] = next_id + pieces
        next_id += int(pieces[-1]) + 1 if c else 0
        start += c
    return _rebuild(data, new, order, data.ratings[order])


def zero_to_ten(data: Interactions) -> Interactions:
    """The same ratings mapped linearly onto 0..10 and rounded to whole points."""
    low, high = data.scale.low, data.scale.high
    ratings = np.round((data.ratings - low) / (high - low) * 10).astype(np.float32)
    return Interactions.from_arrays(
        data.user_ids.raw_ids[data.users], data.item_ids.raw_ids[data.items], ratings,
        item_meta=None if data.item_meta is None else data.item_meta.set_axis(data.item_ids.raw_ids),
        scale=RatingScale(0.0, 10.0, 1.0), source=data.source,
    )  # fmt: skip


def datasets() -> dict[str, Interactions]:
    ml100k = embedrec.read_ratings(SHARED / "ml-100k")
    small = embedrec.read_ratings(SHARED / "ml-latest-small")
    tail, split = user_long_tail(ml100k), split_users(small, scale=1.0)
    return {
        "ml-100k long tail": tail,
        "ml-100k long tail, 0–10": zero_to_ten(tail),
        "ml-latest-small split users": split,
        "ml-latest-small split users, 0–10": zero_to_ten(split),
    }


def shape(data: Interactions) -> dict[str, float]:
    per_user = np.bincount(data.users, minlength=data.n_users)
    per_item = np.bincount(data.items, minlength=data.n_items)
    return {
        "ratings": len(data), "users": data.n_users, "items": data.n_items,
        "median_user": float(np.median(per_user)), "users_once": float(np.mean(per_user == 1)),
        "items_once": float(np.mean(per_item == 1)),
    }  # fmt: skip


def fans(model: Any, rec: embedrec.Recommender) -> list[dict[Any, float]]:
    """The ratings of an action fan, a children's-film fan and a horror fan (new users, by raw item id)."""
    counts = np.bincount(model.seen_.indices, minlength=model.n_items)
    genres = rec.catalogue.genres
    has = [[any(g.startswith(f) for g in gs) for f in FANS] for gs in genres]
    popular = np.argsort(-counts, kind="stable")
    only = {f: [i for i in popular if has[i][k] and sum(has[i]) == 1] for k, f in enumerate(FANS)}
    low, high = model.scale_.low, model.scale_.high
    out = []
    for f in FANS:
        ratings = {model.item_ids_.raw_id(i): high for i in only[f][:10]}
        for other in FANS:
            if other != f:
                ratings.update({model.item_ids_.raw_id(i): low for i in only[other][:5]})
        out.append(ratings)
    return out


def most_shared(model: Any, popularity: float | None) -> int:
    """The most top-10 titles any two of the three fans share."""
    rec = embedrec.Recommender(model)
    lists = [
        set(rec.recommend_for_ratings(r, n=10, popularity=popularity)[0].tolist()) for r in fans(model, rec)
    ]
    return max(len(lists[a] & lists[b]) for a in range(3) for b in range(a + 1, 3))


def top_axis_share(model: Any) -> float:
    """The share of the item factors' variance on their first principal axis (1.0: one axis only)."""
    q = np.asarray(model.item_factors_, np.float64)
    s = np.linalg.svd(q - q.mean(0), compute_uv=False) ** 2
    return float(s[0] / s.sum()) if s.sum() > 0 else 1.0


MODELS = {
    "BayesianDotBias() (default)": lambda: embedrec.BayesianDotBias(verbose=False),
    "BayesianDotBias(factor_floor=0) (no floor)": lambda: embedrec.BayesianDotBias(
        factor_floor=0.0, verbose=False
    ),
    "BiasBaseline()": lambda: embedrec.BiasBaseline(),
    "DotBias() (the training loop)": lambda: embedrec.DotBias(verbose=False),
}


def run_dataset(name: str, data: Interactions, peers_on: bool) -> dict[str, Any]:
    import peers

    train, test = embedrec.random_split(data, test_fraction=0.2, seed=0)
    truth = test.ratings.astype(np.float64)
    out: dict[str, Any] = {"shape": shape(data), "n_test": len(test), "models": {}}
    for label, make in MODELS.items():
        model = make()
        start = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - start
        row = {"rmse": float(rmse(truth, model.predict(test.users, test.items, raw=False))), "fit_s": fit_s}
        if hasattr(model, "item_factors_") and model.item_factors_.shape[1]:
            row.update(shared=most_shared(model, None), shared_no_prior=most_shared(model, 0.0),
                       axis=top_axis_share(model))  # fmt: skip
        out["models"][label] = row
        log(f"{name} {label}: {row}")
    if peers_on:
        dfs = (train.to_dataframe(), test.to_dataframe())
        scale = (data.scale.low, data.scale.high)
        for label, params in (("Surprise SVD (default)", {}),
                              ("Surprise SVD (200 factors, 80 epochs, reg 0.1)",
                               {"n_factors": 200, "n_epochs": 80, "reg_all": 0.1})):  # fmt: skip
            try:
                preds, fit_s = peers.surprise_svd(*dfs, scale=scale, **params)
            except ImportError as exc:
                log(f"{label}: {exc}")
                continue
            out["models"][label] = {"rmse": float(rmse(truth, preds)), "fit_s": fit_s}
            log(f"{name} {label}: {out['models'][label]}")
    return out


def fit_time(repeats: int = 3) -> dict[str, Any]:
    """Default fit on a 100k-rating table with about 27k users + items (ml-latest-small, split users)."""
    data = split_users(embedrec.read_ratings(SHARED / "ml-latest-small"), scale=1.0)
    embedrec.BayesianDotBias(sweeps=2, verbose=False).fit(data)  # loads the compiled kernels
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        embedrec.BayesianDotBias(verbose=False).fit(data)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"shape": shape(data), "wall_s": float(np.median(walls)), "cpu_s": float(np.median(cpus))}


def report(results: dict[str, Any], timing: dict[str, Any] | None) -> str:
    lines = [
        "## Sparse data: long-tailed MovieLens",
        "",
        f"`{COMMAND}` — {machine()}; revision {git_revision()}.",
        "",
        "MovieLens made sparse (seed 0): *long tail* keeps a heavy-tailed number of each user's ratings; "
        "*split users* cuts each user's history into new users of heavy-tailed size; the 0–10 copies map the "
        "ratings linearly onto whole points 0..10. Seeded 80/20 split; RMSE on the test rows. *Shared*: the "
        "most top-10 titles that two of three new users (an action fan, a children's-film fan, a horror "
        "fan, folded in from 20 ratings) share, with the default popularity prior / without it (10 = the "
        "same list). *Axis*: the share of the item factors' variance on their first principal axis.",
        "",
        "| data | ratings / users / items | median user | items seen once | model | RMSE | vs BiasBaseline "
        "| fit s | shared @10 | axis |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        s = res["shape"]
        base = res["models"]["BiasBaseline()"]["rmse"]
        for i, (label, m) in enumerate(res["models"].items()):
            head = (
                f"{name} | {s['ratings']:,} / {s['users']:,} / {s['items']:,} | {s['median_user']:g} | "
                f"{s['items_once']:.0%}"
                if i == 0
                else " | | |"
            )
            shared = f"{m['shared']} / {m['shared_no_prior']}" if "shared" in m else ""
            axis = f"{m['axis']:.0%}" if "axis" in m else ""
            lines.append(
                f"| {head} | {label} | {m['rmse']:.4f} | {m['rmse'] / base:.3f} | {m['fit_s']:.2f} | "
                f"{shared} | {axis} |"
            )
    if timing is not None:
        s = timing["shape"]
        lines += [
            "",
            f"Default fit (`BayesianDotBias()`) on ml-latest-small with split users, {s['ratings']:,} "
            f"ratings, {s['users']:,} users + {s['items']:,} items = {s['users'] + s['items']:,} rows: "
            f"{timing['wall_s']:.2f} s wall, {timing['cpu_s']:.2f} s CPU (median of 3; each sweep runs on "
            "every core, so CPU time is about cores × wall time on an idle machine).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-peers", action="store_true", help="Skip Surprise.")
    parser.add_argument("--no-timing", action="store_true", help="Skip the fit-time measurement.")
    parser.add_argument("--no-write", action="store_true", help="Print the table; leave BENCHMARKS.md alone.")
    parser.add_argument("--only", help="Run only the data sets whose name holds this text.")
    args = parser.parse_args()
    embedrec.BayesianDotBias(sweeps=2, verbose=False).fit(embedrec.load_dataset("movielens-small"))  # warm up
    sets = {k: v for k, v in datasets().items() if not args.only or args.only in k}
    results = {name: run_dataset(name, data, not args.no_peers) for name, data in sets.items()}
    timing = None if args.no_timing else fit_time()
    text = report(results, timing)
    print(text)
    if not args.no_write:
        write_section("sparse", text)


if __name__ == "__main__":
    main()
