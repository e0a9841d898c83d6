"""Top-N quality of embedrec's ranking models beside popularity, the rating models and implicit/LightFM.

    .bench-venv/bin/python benchmarks/bench_ranking.py                 # everything, rewrites BENCHMARKS.md
    .bench-venv/bin/python benchmarks/bench_ranking.py --folds u1      # one ML-100K fold, prints only
    .bench-venv/bin/python benchmarks/bench_ranking.py --speed         # ALS fit time on 25M ratings only
    .bench-venv/bin/python benchmarks/bench_ranking.py --new-user      # the new-user section only

Protocol (issue 11's): relevant = held-out ratings ≥ 4; candidates = every training item the user has not
rated; users without a relevant test item are skipped. Two kinds of input, every model given the same:
"likes" = only the training ratings ≥ 4, as implicit positives (the issue's protocol); "ratings as
weights" = every training rating, weighted by (r - lowest) / (highest - lowest) (`weights="scaled"`).
Datasets: ML-100K u1–u5 (mean over folds) and ml-latest-small (a seeded 80/20 split of each user's
ratings). Then a new user from a few liked items (5 user folds of ML-100K, benchmarks/new_user.py) and
the ALS speed on the synthetic 25M-rating file of bench_loading.py against implicit's ALS with the same
settings and threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402
from new_user import new_user_lines  # noqa: E402

import embedrec  # noqa: E402
from embedrec import ALS, BPR, EASE, DotBias, GenreProfile, Item2Vec, MostPopular, predefined_split  # noqa: E402
from embedrec.query.ranking import (  # noqa: E402
    metric_curve,
    ranked_lists,
    relevant_matrix,
    report_from_lists,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CURVE_PNG = ROOT / "docs" / "ranking_ndcg_curve.png"
COMMAND = ".bench-venv/bin/python benchmarks/bench_ranking.py"
K, CURVE_K, THRESHOLD = 10, 50, 4.0
REFERENCE = {"MostPopular": 0.205, "implicit ALS": 0.390, "LightFM WARP": 0.382}  # issue 11, NDCG@10
SPEED = {"factors": 64, "iterations": 15, "threads": 2}

# (name, input, factory) per dataset; the regularisation of EASE grows with the number of users
LIKES, WEIGHTED = "likes", "ratings as weights"
OURS = ("ALS", "BPR", "EASE", "Item2Vec")  # embedrec's ranking models, by the start of their row names


def our_models(dataset: str) -> list[tuple[str, str, Callable[[], Any]]]:
    lam = {"ml-100k": 300.0, "ml-latest-small": 100.0}[dataset]
    lam_w = {"ml-100k": 250.0, "ml-latest-small": 100.0}[dataset]
    models = [
        ("ALS", LIKES, lambda: ALS(min_rating=THRESHOLD, verbose=False)),
        ("BPR", LIKES, lambda: BPR(min_rating=THRESHOLD, verbose=False)),
        ("EASE", LIKES, lambda: EASE(lam, min_rating=THRESHOLD)),
        ("EASE", WEIGHTED, lambda: EASE(lam_w, weights="scaled")),
    ]
    if dataset == "ml-100k":  # γ and λ from benchmarks/tune_ease.py (u1.base only)
        models.append(
            ("EASE, item-normalised", WEIGHTED, lambda: EASE(90.0, weights="scaled", normalize=0.2))
        )
    if dataset == "ml-latest-small":  # what `embedrec demo` trains (cli/train.py DEMO_RANKER)
        models.append(("EASE, demo settings", WEIGHTED, lambda: EASE(100.0, weights="scaled", min_count=5)))
    return models


def split(dataset: str, fold: str) -> tuple[Any, Any]:
    if dataset == "ml-100k":
        return predefined_split(DATA / "ml-100k", fold)
    return embedrec.user_split(embedrec.load_dataset(DATA / "ml-latest-small"), 0.2, seed=0)


def peer_lists(runner: Callable[..., Any], train: Any, test: Any) -> tuple[Any, np.ndarray, Any, float]:
    """A peer's top-CURVE_K lists, in item indices, for the protocol's users, and its fit seconds."""
    rel = relevant_matrix(train, test, THRESHOLD)
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    df = train.to_dataframe()
    result = runner(
        df[["user", "item", "rating"]], train.user_ids.raw_ids[users], CURVE_K, threshold=THRESHOLD
    )
    ranked = train.item_ids.indices(np.asarray(result.items).ravel()).reshape(len(users), CURVE_K)
    return users, ranked.astype(np.int64), rel, result.fit_seconds


def row(users: np.ndarray, ranked: np.ndarray, rel: Any, train: Any, fit_s: float) -> dict[str, Any]:
    report = report_from_lists(users, ranked[:, :K], rel, train, THRESHOLD)
    return {**report.as_dict(), "fit_s": fit_s, "curve": metric_curve(users, ranked, rel).tolist()}


def run_split(dataset: str, fold: str, peers: dict[str, Callable[..., Any]]) -> dict[str, dict[str, Any]]:
    """Every model on one train/test split: metrics at K, the NDCG curve to CURVE_K, fit seconds."""
    train, test = split(dataset, fold)
    rows: dict[str, dict[str, Any]] = {}

    def ours(name: str, make: Callable[[], Any], popularity: float = 0.0) -> None:
        start = time.perf_counter()
        model = make().fit(train)
        fit_s = time.perf_counter() - start
        rows[name] = row(
            *ranked_lists(model, train, test, CURVE_K, THRESHOLD, popularity=popularity), train, fit_s
        )
        print(f"  {dataset} {fold} {name}: NDCG@{K} {rows[name]['ndcg']:.4f} ({fit_s:.1f} s)", flush=True)

    for name, data_input, make in our_models(dataset):
        ours(f"{name} ({data_input})", make)
    # Item2Vec: word2vec on each user's items in time order, every rating an interaction (its own input)
    ours("Item2Vec (every rating, in time order)", lambda: Item2Vec(workers=2, verbose=False))
    ours("MostPopular", lambda: MostPopular(THRESHOLD))
    ours("GenreProfile", GenreProfile)
    ours("DotBias + popularity prior (rating model)", lambda: DotBias(verbose=False), popularity=1.0)
    for name, runner in peers.items():
        users, ranked, rel, fit_s = peer_lists(runner, train, test)
        rows[name] = row(users, ranked, rel, train, fit_s)
        print(f"  {dataset} {fold} {name}: NDCG@{K} {rows[name]['ndcg']:.4f} ({fit_s:.1f} s)", flush=True)
    return rows


def load_peers() -> tuple[dict[str, Callable[..., Any]], str]:
    try:
        import peers

        for module in ("implicit", "lightfm"):
            __import__(module)
    except ImportError as exc:
        return {}, f"Peers left out: {exc}. Run `bash benchmarks/setup_peers.sh` and use `{COMMAND}`."
    return {
        f"implicit ALS ({LIKES})": peers.implicit_als,
        f"implicit ALS ({WEIGHTED})": partial(peers.implicit_als, weights="scaled"),
        f"LightFM WARP ({LIKES})": peers.lightfm_warp,
        f"LightFM WARP ({WEIGHTED})": partial(peers.lightfm_warp, weights="scaled"),
    }, ""


# -- tables ----------------------------------------------------------------------------------------------
def mean_rows(runs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    folds = list(runs)
    out = {}
    for name in runs[folds[0]]:
        per = [runs[f][name] for f in folds]
        out[name] = {key: float(np.mean([p[key] for p in per])) for key in per[0] if key != "curve"}
        out[name]["curve"] = np.mean([p["curve"] for p in per], axis=0)
        out[name]["folds"] = [p["ndcg"] for p in per]
    return out


def best_of(mean: dict[str, dict[str, Any]], prefix: str) -> tuple[str, float]:
    """The best NDCG@K among the rows whose name starts with `prefix`."""
    name = max((n for n in mean if n.startswith(prefix)), key=lambda n: mean[n]["ndcg"])
    return name, mean[name]["ndcg"]


def table(mean: dict[str, dict[str, Any]], folds: list[str]) -> list[str]:
    pop = mean["MostPopular"]["ndcg"]
    peer = max((r["ndcg"] for n, r in mean.items() if n.startswith(("implicit", "LightFM"))), default=None)
    per_fold = f" per fold ({', '.join(folds)})" if len(folds) > 1 else ""
    fold_column = f" NDCG{per_fold} |" if per_fold else ""
    lines = [
        f"| model (input) | P@{K} | R@{K} | NDCG@{K} |{fold_column} MAP@{K} | "
        f"coverage | mean popularity | vs MostPopular | vs best peer | fit s |",
        "| --- " * (10 + bool(per_fold)) + "|",
    ]
    for name, r in sorted(mean.items(), key=lambda kv: -kv[1]["ndcg"]):
        cells = [name, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"**{r['ndcg']:.3f}**"]
        if per_fold:
            cells.append(" / ".join(f"{v:.3f}" for v in r["folds"]))
        cells += [
            f"{r['map']:.3f}",
            f"{r['coverage']:.3f}",
            f"{r['popularity']:.3f}",
            f"×{r['ndcg'] / pop:.2f}",
            f"×{r['ndcg'] / peer:.2f}" if peer else "–",
            f"{r['fit_s']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verdict(mean: dict[str, dict[str, Any]], target: float | None) -> str:
    ours, ours_best = best_of(mean, OURS)
    strict, strict_best = best_of(mean, tuple(f"{m} ({LIKES})" for m in ("ALS", "BPR", "EASE")))
    pop = mean["MostPopular"]["ndcg"]
    ranking = [n for n in mean if n.startswith(OURS)]
    worst = min(ranking, key=lambda n: mean[n]["ndcg"])
    text = (
        f"Best embedrec model: {ours}, NDCG@{K} {ours_best:.3f}; on likes alone (the issue's input) "
        f"{strict}, {strict_best:.3f}. Every embedrec ranking model beats MostPopular ({pop:.3f}; the "
        f"weakest, {worst}, by ×{mean[worst]['ndcg'] / pop:.2f})."
        if mean[worst]["ndcg"] > pop
        else f"Best embedrec model: {ours}, NDCG@{K} {ours_best:.3f}; {worst} does not beat MostPopular."
    )
    peers = {n: r["ndcg"] for n, r in mean.items() if n.startswith(("implicit", "LightFM"))}
    if peers:
        best_peer = max(peers, key=peers.get)
        text += (
            f" Best peer: {best_peer}, {peers[best_peer]:.3f} (embedrec ×{ours_best / peers[best_peer]:.2f})."
        )
    if target is not None:
        met = "met" if ours_best >= target else "NOT met"
        text += f" Target ≥ {target:.2f}: {met}."
    return text


def plot_curves(curves: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """NDCG@k for k = 1 … CURVE_K, one panel per dataset, one colour per model across panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({n for by_model in curves.values() for n in by_model if not n.startswith("GenreProfile")})
    colours = dict(zip(names, plt.get_cmap("tab20").colors, strict=False))
    fig, axes = plt.subplots(1, len(curves), figsize=(6.5 * len(curves), 5.2), squeeze=False)
    ks = np.arange(1, CURVE_K + 1)
    for ax, (dataset, by_model) in zip(axes[0], curves.items(), strict=True):
        for name in names:
            if name in by_model:
                ours = name.startswith(OURS)
                style = {"lw": 2.2 if ours else 1.3, "ls": "-" if ours else "--", "color": colours[name]}
                ax.plot(ks, by_model[name], label=name, **style)
        ax.set_title(dataset)
        ax.set_xlabel("k")
        ax.set_ylabel("NDCG@k")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- ALS speed on 25M ratings -------------------------------------------------------------------------------
def speed_worker(which: str, csv: str) -> dict[str, float]:
    """In a fresh process: load the 25M file, fit one ALS with SPEED's settings, report seconds."""
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    data = embedrec.read_ratings(csv)
    factors, iterations, threads = SPEED["factors"], SPEED["iterations"], SPEED["threads"]
    if which == "embedrec":
        model = ALS(
            factors, iterations=iterations, num_threads=threads, alpha=1.0, regularization=0.1, verbose=False
        )
        model.fit(data.subset(np.arange(100_000)))  # loads the compiled kernels (cached on disk)
        start = time.perf_counter()
        model.fit(data)
        seconds = time.perf_counter() - start
    else:
        from implicit.als import AlternatingLeastSquares

        m = sp.csr_matrix(
            (np.full(len(data), 2.0, np.float32), (data.users, data.items)),
            shape=(data.n_users, data.n_items),
        )
        # implicit reads the matrix as the confidence c itself: 2 = 1 + alpha·1 with alpha = 1, as above
        model = AlternatingLeastSquares(
            factors=factors,
            iterations=iterations,
            regularization=0.1,
            alpha=1.0,
            num_threads=threads,
            random_state=0,
        )
        with threadpool_limits(1, "blas"):
            start = time.perf_counter()
            model.fit(m, show_progress=False)
            seconds = time.perf_counter() - start
    return {"seconds": seconds, "ratings": len(data), "users": data.n_users, "items": data.n_items}


def speed_lines() -> list[str]:
    from bench_loading import CSV, generate

    if not CSV.exists():
        print(f"generating {CSV} (once) ...", flush=True)
        generate(CSV)
    results = {}
    for which in ("implicit", "embedrec") * 3:  # interleaved: the machine's load shifts
        cmd = [sys.executable, __file__, "--speed-worker", which, str(CSV)]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        results.setdefault(which, []).append(out)
        print(f"  speed {which}: {out['seconds']:.1f} s", flush=True)
    ours, theirs = (min(r["seconds"] for r in results[w]) for w in ("embedrec", "implicit"))
    first = results["embedrec"][0]
    return [
        f"### ALS fit time on 25M ratings ({SPEED['threads']} threads)",
        "",
        f"The synthetic ML-25M-shaped file of `bench_loading.py` ({first['ratings']:,} ratings, "
        f"{first['users']:,} users, {first['items']:,} items), every rating a like; {SPEED['factors']} "
        f"factors, {SPEED['iterations']} iterations, 3 conjugate-gradient steps, confidence 1 + 1·w, "
        f"{SPEED['threads']} threads each, BLAS on one thread; each library fitted in fresh processes, "
        "taking turns, three times each, the fastest kept (the machine is shared: its load shifts).",
        "",
        "| library | fit s | ratings × iterations / s |",
        "| --- | --- | --- |",
        f"| embedrec ALS | **{ours:.1f}** | {first['ratings'] * SPEED['iterations'] / ours:,.0f} |",
        f"| implicit ALS 0.7 | {theirs:.1f} | {first['ratings'] * SPEED['iterations'] / theirs:,.0f} |",
        "",
        f"embedrec / implicit fit time: ×{ours / theirs:.2f} (below 1: embedrec is faster).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", nargs="+", default=["u1", "u2", "u3", "u4", "u5"])
    parser.add_argument("--speed", action="store_true", help="only the ALS speed section")
    parser.add_argument("--new-user", action="store_true", help="only the new-user section")
    parser.add_argument("--speed-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed_worker:
        print(json.dumps(speed_worker(*args.speed_worker)))
        return
    if args.speed:
        text = "\n".join([*speed_lines(), "", f"`{COMMAND} --speed` — {machine()}."])
        print(text)
        write_section("ranking-speed", text)
        return
    if args.new_user:
        mean_pop = mean_rows({f: most_popular_row(f) for f in args.folds})["MostPopular"]["ndcg"]
        write_new_user(mean_pop)
        return
    peers, note = load_peers()
    full = len(args.folds) == 5
    runs100 = {f: run_split("ml-100k", f, peers) for f in args.folds}
    mean100 = mean_rows(runs100)
    small = {"seed 0": run_split("ml-latest-small", "seed 0", peers)} if full else {}
    lines = [
        f"## Ranking: top-{K} lists on MovieLens 100K ({', '.join(args.folds)}) and ml-latest-small",
        "",
        f"`{COMMAND}` — {machine()}.",
        "",
        __doc__.split("\n\n")[2].replace("\n", " "),
        "",
        f"Issue 11's reference NDCG@{K} (ML-100K u1–u5 mean): popularity {REFERENCE['MostPopular']}, "
        f"implicit ALS {REFERENCE['implicit ALS']}, LightFM WARP {REFERENCE['LightFM WARP']}. Peers: "
        "settings "
        "tuned on u1 (benchmarks/peers.py), the same on both datasets; ours: defaults but the like rule and "
        "EASE's λ (ML-100K: 300 on likes, 250 on weights, picked on u1; ml-latest-small: 100, picked on this "
        "split, which favours EASE there a little). EASE, item-normalised: the Gram scaled to D^-γ XᵀX D^-γ "
        "(`normalize=0.2`), γ and λ = 90 chosen by benchmarks/tune_ease.py on validation splits carved "
        "from u1.base only (no test fold). Coverage: share of the catalogue recommended to anyone; "
        "mean popularity: share of training users who rated a recommended item.",
        "",
        "### MovieLens 100K",
        "",
        *table(mean100, args.folds),
        "",
        verdict(mean100, 0.42),
    ]
    curves = {"ML-100K (u1–u5 mean)": {n: r["curve"] for n, r in mean100.items()}}
    if small:
        mean_small = mean_rows(small)
        lines += ["", "### ml-latest-small (user split, seed 0)", "", *table(mean_small, ["seed 0"])]
        lines += ["", verdict(mean_small, None)]
        curves["ml-latest-small"] = {n: r["curve"] for n, r in mean_small.items()}
    if full:
        plot_curves(curves, CURVE_PNG)
        lines += [
            "",
            f"![NDCG@k, k = 1…{CURVE_K}](docs/{CURVE_PNG.name})",
        ]
    if note:
        lines += ["", note]
    text = "\n".join(lines)
    print(text)
    if full:
        write_section("recommend-ranking", text)
        write_new_user(mean100["MostPopular"]["ndcg"])


def most_popular_row(fold: str) -> dict[str, dict[str, Any]]:
    """MostPopular alone on one ML-100K fold of the held-out protocol (what the new-user text compares)."""
    train, test = split("ml-100k", fold)
    model = MostPopular(THRESHOLD).fit(train)
    return {"MostPopular": row(*ranked_lists(model, train, test, CURVE_K, THRESHOLD), train, 0.0)}


def write_new_user(mean_pop: float) -> None:
    text = "\n".join([*new_user_lines(mean_pop), "", f"`{COMMAND} --new-user` — {machine()}."])
    print(text)
    write_section("ranking-new-user", text)


if __name__ == "__main__":
    main()
