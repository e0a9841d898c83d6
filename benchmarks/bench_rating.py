"""Rating prediction on MovieLens 100K u1–u5: embedrec's models beside the peer libraries, in one run.

    bash benchmarks/setup_peers.sh                          # once: the benchmark venv with the peers
    .bench-venv/bin/python benchmarks/bench_rating.py       # writes its section of BENCHMARKS.md

Protocol: train on uN.base, test on uN.test (test rows whose user or item never appears in uN.base are
dropped for every model alike), N = 1..5; mean RMSE / MAE / fit seconds over the folds. Also the
embedding-size trade-off (DotBias n_factors 4..256 with Adam, 4..32 sampled; table +
docs/embedding_size.png) and training throughput on the synthetic 25M-rating file of
benchmarks/bench_loading.py (one Adam epoch or two Gibbs sweeps, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import git_revision, machine, write_section  # noqa: E402

import embedrec  # noqa: E402
from embedrec.metrics import mae, rmse  # noqa: E402

REPO = HERE.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "ml-100k"  # beside the repository, as the tests use it
OUT = HERE / "out"
PLOT = REPO / "docs" / "embedding_size.png"
COMMAND = ".bench-venv/bin/python benchmarks/bench_rating.py"
FOLDS = ("u1", "u2", "u3", "u4", "u5")
# Embedding sizes per estimator: the sampler's cost grows with k³ per row, so it stops at 32 (about 6 s).
SIZES = {"DotBias": (4, 8, 16, 32, 64, 128, 256), "BayesianDotBias": (4, 8, 16, 32)}
FLAGSHIP = "embedrec BayesianDotBias (defaults, 8 factors)"
ADAM = "embedrec DotBias (the training loop, 32 factors)"

EMBEDREC: dict[str, Callable[[], Any]] = {
    FLAGSHIP: lambda: embedrec.BayesianDotBias(verbose=False),
    ADAM: lambda: embedrec.DotBias(verbose=False),
    "embedrec DotBias (implicit=True)": lambda: embedrec.DotBias(implicit=True, verbose=False),
    "embedrec NeuralCF (side features)": lambda: embedrec.NeuralCF(verbose=False),
    "embedrec BiasBaseline": lambda: embedrec.BiasBaseline(),
    "embedrec GlobalMean": lambda: embedrec.GlobalMean(),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_embedrec(make: Callable[[], Any], train: Any, test: Any) -> tuple[np.ndarray, float]:
    model = make()
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    return model.predict(test.users, test.items, raw=False).astype(np.float64), fit_s


def warm_up(data: str, fold: str) -> None:
    """One untimed fit of each model kind: the first fit in a process pays torch's start-up costs and
    loads (or, on a fresh install, compiles) the sampler's numba kernels."""
    train, _ = embedrec.predefined_split(data, fold)
    start = time.perf_counter()
    for make in (
        lambda: embedrec.BayesianDotBias(sweeps=2, verbose=False),
        lambda: embedrec.DotBias(epochs=1, verbose=False),
        lambda: embedrec.NeuralCF(epochs=1, verbose=False),
    ):
        make().fit(train)
    log(f"warm-up fits: {time.perf_counter() - start:.1f} s")


def rating_runs(data: str, folds: tuple[str, ...], names: list[str] | None, peers_on: bool) -> dict:
    """{model: {fold: {rmse, mae, fit_s}}} plus {model: error} for peers that could not run."""
    import peers

    runners: dict[str, Callable] = {
        name: (lambda tr, te, _dfs, make=make: run_embedrec(make, tr, te)) for name, make in EMBEDREC.items()
    }
    if peers_on:
        for name, fn in peers.RATING_PEERS.items():
            runners[name] = lambda _tr, _te, dfs, fn=fn: tuple(fn(*dfs))
    if names:
        runners = {k: v for k, v in runners.items() if any(n.lower() in k.lower() for n in names)}
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in runners}
    failed: dict[str, str] = {}
    warm_up(data, folds[0])
    for fold in folds:
        train, test = embedrec.predefined_split(data, fold)
        dfs = (train.to_dataframe(), test.to_dataframe())
        truth = test.ratings.astype(np.float64)
        for name, run in runners.items():
            if name in failed:
                continue
            try:
                preds, fit_s = run(train, test, dfs)
            except ImportError as exc:  # a peer missing from this venv: say so in the table
                failed[name] = str(exc).split(" (")[0]
                log(f"{name}: {failed[name]}")
                continue
            r = {"rmse": float(rmse(truth, preds)), "mae": float(mae(truth, preds)), "fit_s": fit_s}
            results[name][fold] = r
            log(f"{fold} {name}: RMSE {r['rmse']:.4f} MAE {r['mae']:.4f} fit {fit_s:.2f} s")
    return {"results": {k: v for k, v in results.items() if v}, "failed": failed}


Sizes = dict[str, dict[int, dict[str, dict[str, float]]]]  # {estimator: {n_factors: {fold: metrics}}}


def size_runs(data: str, folds: tuple[str, ...]) -> Sizes:
    """DotBias and BayesianDotBias at each n_factors (other settings default) on every fold."""
    out: Sizes = {solver: {k: {} for k in ks} for solver, ks in SIZES.items()}
    for fold in folds:
        train, test = embedrec.predefined_split(data, fold)
        truth = test.ratings.astype(np.float64)
        for solver, ks in SIZES.items():
            for k in ks:
                cls = getattr(embedrec, solver)
                make = lambda k=k, cls=cls: cls(n_factors=k, verbose=False)  # noqa: E731
                preds, fit_s = run_embedrec(make, train, test)
                out[solver][k][fold] = {"rmse": float(rmse(truth, preds)), "fit_s": fit_s}
                log(f"{fold} {solver} n_factors={k}: RMSE {rmse(truth, preds):.4f} fit {fit_s:.2f} s")
    return out


# (label, DotBias settings, ratings to train on; None = all 25M). Adam's default small batches make each
# step update the whole 7M-parameter tables, so they get a 1M subsample; the others get the full file.
THROUGHPUT_RUNS: tuple[tuple[str, dict[str, Any], int | None], ...] = (
    ("BayesianDotBias (defaults, 8 factors), 2 sweeps", {"sweeps": 2}, None),
    ("DotBias defaults (32 factors), 1 epoch", {"epochs": 1}, 1_000_000),
    ("DotBias sparse=True, 1 epoch", {"epochs": 1, "sparse": True}, 1_000_000),
    ("DotBias batch_size=8192, 1 epoch", {"epochs": 1, "batch_size": 8192}, None),
)


def throughput_worker(csv: Path, settings: dict[str, Any], max_ratings: int | None) -> dict[str, float]:
    """In a fresh process: load the synthetic file, fit DotBias with `settings`, report rate and peak RSS."""
    from bench_loading import peak_rss_bytes

    start = time.perf_counter()
    data = embedrec.read_ratings(csv)
    load_s = time.perf_counter() - start
    n_total = len(data)
    if max_ratings is not None and max_ratings < n_total:
        rows = np.random.default_rng(0).choice(n_total, size=max_ratings, replace=False)
        data = data.subset(np.sort(rows))
    cls = embedrec.BayesianDotBias if "sweeps" in settings else embedrec.DotBias
    model = cls(verbose=False, **settings)
    start = time.perf_counter()
    model.fit(data)
    fit_s = time.perf_counter() - start
    passes = len(model.history_.train_loss)  # epochs or sweeps
    return {
        "ratings": len(data),
        "total_ratings": n_total,
        "users": data.n_users,
        "items": data.n_items,
        "load_s": load_s,
        "pass_s": fit_s / passes,
        "ratings_per_s": len(data) * passes / fit_s,
        "peak_rss": peak_rss_bytes(),
        "n_factors": model.n_factors_,
    }


def throughput(max_ratings: int | None) -> list[dict[str, Any]]:
    """Each THROUGHPUT_RUNS entry in its own process, so its peak RSS is its own."""
    from bench_loading import CSV, generate

    if not CSV.exists():
        log(f"generating {CSV} (once) ...")
        generate(CSV)
    out = []
    for label, settings, limit in THROUGHPUT_RUNS:
        limit = limit if max_ratings is None else min(max_ratings, limit or max_ratings)
        cmd = [sys.executable, __file__, "--throughput-worker", str(CSV), "--settings", json.dumps(settings)]
        cmd += ["--torch-threads", str(torch.get_num_threads())]
        if limit is not None:
            cmd += ["--max-ratings", str(limit)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        result = {"label": label, **json.loads(done.stdout.strip().splitlines()[-1])}
        log(f"throughput {label}: {result['ratings_per_s']:,.0f} ratings/s, {result['peak_rss'] >> 20} MiB")
        out.append(result)
    return out


# -- tables ----------------------------------------------------------------------------------------


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def rating_table(runs: dict, folds: tuple[str, ...]) -> list[str]:
    results, failed = runs["results"], runs["failed"]
    lines = [
        "| model | RMSE (mean) | MAE (mean) | fit s (mean) | "
        + " | ".join(f"RMSE {f}" for f in folds)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(folds),
    ]
    for name, per_fold in sorted(results.items(), key=lambda kv: mean([r["rmse"] for r in kv[1].values()])):
        cells = [f"{per_fold[f]['rmse']:.4f}" if f in per_fold else "—" for f in folds]
        bold = "**" if name == FLAGSHIP else ""
        lines.append(
            f"| {bold}{name}{bold} | {bold}{mean([r['rmse'] for r in per_fold.values()]):.4f}{bold} | "
            f"{mean([r['mae'] for r in per_fold.values()]):.4f} | "
            f"{mean([r['fit_s'] for r in per_fold.values()]):.2f} | " + " | ".join(cells) + " |"
        )
    for name, why in failed.items():
        lines.append(f"| {name} | not run: {why} | | | " + " | ".join("—" for _ in folds) + " |")
    ours = results.get(FLAGSHIP)
    peers = [n for n in results if not n.startswith("embedrec")]
    if ours and peers:
        lines += [
            "",
            f"Fit-time ratio {FLAGSHIP.removeprefix('embedrec ')} / peer, per split "
            "(below 1: embedrec is faster):",
            "",
            "| peer | " + " | ".join(folds) + " | mean |",
            "|---|" + "---:|" * (len(folds) + 1),
        ]
        for name in peers:
            ratios = [
                ours[f]["fit_s"] / results[name][f]["fit_s"]
                for f in folds
                if f in ours and f in results[name]
            ]
            cells = [
                f"{ours[f]['fit_s'] / results[name][f]['fit_s']:.2f}"
                if f in ours and f in results[name]
                else "—"
                for f in folds
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean(ratios):.2f} |")
    return lines


def size_table(sizes: Sizes) -> list[str]:
    lines = [
        "| estimator | n_factors | RMSE (mean) | RMSE (min–max over folds) | fit s (mean) |",
        "|---|---:|---:|---:|---:|",
    ]
    for solver, per_k in sizes.items():
        for k, per_fold in per_k.items():
            rm = [r["rmse"] for r in per_fold.values()]
            lines.append(
                f"| {solver} | {k} | {mean(rm):.4f} | {min(rm):.4f}–{max(rm):.4f} | "
                f"{mean([r['fit_s'] for r in per_fold.values()]):.2f} |"
            )
    return lines


def size_summary(sizes: Sizes) -> str:
    parts = []
    for solver, per_k in sizes.items():
        rm = {k: mean([r["rmse"] for r in v.values()]) for k, v in per_k.items()}
        fit = {k: mean([r["fit_s"] for r in v.values()]) for k, v in per_k.items()}
        best, smallest, largest = min(rm, key=rm.get), min(rm), max(rm)  # sizes (dict keys)
        ends = [f"{k} factors give up {rm[k] - rm[best]:+.4f}" for k in (smallest, largest) if k != best]
        parts.append(
            f"{solver}: the best mean RMSE comes at n_factors={best} ({rm[best]:.4f}); {' and '.join(ends)}, "
            f"while the fit grows from {fit[smallest]:.2f} s to {fit[largest]:.2f} s per split."
        )
    return (
        " ".join(parts) + " A bigger embedding is more descriptive, but costs time and needs more data to "
        "pay off; the sampler, which averages over its uncertainty instead of trusting one fit, gets more "
        "out of few factors."
    )


def headline(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One sentence against the targets: DotBias ≤ 0.900 in ≤ 1 s, NeuralCF ≤ 0.905, fit time vs cornac's."""

    def avg(name: str, key: str) -> float:
        return mean([r[key] for r in results.get(name, {}).values()])

    parts = []
    dot, dot_s = avg(FLAGSHIP, "rmse"), avg(FLAGSHIP, "fit_s")
    if not math.isnan(dot):
        parts.append(
            f"BayesianDotBias at its defaults: mean RMSE {dot:.4f} (target ≤ 0.900) in {dot_s:.2f} s "
            "per split (target ≤ 1 s)"
        )
    adam, adam_s = avg(ADAM, "rmse"), avg(ADAM, "fit_s")
    if not math.isnan(adam):
        parts.append(f"DotBias (the training loop) {adam:.4f} in {adam_s:.2f} s")
    ncf = avg("embedrec NeuralCF (side features)", "rmse")
    if not math.isnan(ncf):
        parts.append(f"NeuralCF {ncf:.4f} (target ≤ 0.905)")
    cornac_s = avg("cornac MF", "fit_s")
    if not (math.isnan(dot_s) or math.isnan(cornac_s)):
        parts.append(
            f"DotBias is {dot_s / cornac_s:.0f}× slower than cornac MF's {cornac_s:.2f} s (compiled SGD, "
            "10 factors, one point estimate)"
        )
    return "Against the targets: " + "; ".join(parts) + "." if parts else ""


def plot_sizes(sizes: Sizes, path: Path) -> None:
    """RMSE and fit time against the embedding size, one line per solver, one PNG for the README."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.8, 3.6), dpi=120)
    for (solver, per_k), colour in zip(sizes.items(), ("tab:blue", "tab:green"), strict=False):
        ks = list(per_k)
        ax.plot(
            ks, [mean([r["rmse"] for r in per_k[k].values()]) for k in ks], "o-", color=colour, label=solver
        )
        ax2.plot(
            ks, [mean([r["fit_s"] for r in per_k[k].values()]) for k in ks], "s--", color=colour, label=solver
        )
    all_k = sorted({k for per_k in sizes.values() for k in per_k})
    for axis in (ax, ax2):
        axis.set_xscale("log", base=2)
        axis.set_xticks(all_k, [str(k) for k in all_k])
        axis.set_xlabel("embedding size (n_factors)")
        axis.grid(alpha=0.3)
        axis.legend(title="estimator", fontsize=8)
    ax.set_ylabel("test RMSE (mean of u1–u5)")
    ax2.set_ylabel("fit seconds per split")
    ax2.set_ylim(bottom=0)
    fig.suptitle("DotBias on MovieLens 100K: bigger embeddings cost time, not always accuracy", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def throughput_lines(runs: list[dict[str, Any]]) -> list[str]:
    mib = 1 / 2**20
    first = runs[0]
    lines = [
        f"DotBias on the synthetic ML-25M-shaped file of `bench_loading.py` ({first['total_ratings']:,} "
        f"ratings, {first['users']:,} users × {first['items']:,} items), each run in a fresh process; where "
        "a run trains on fewer ratings, they are a random subsample (the tables still hold every user and "
        "item, so Adam's per-step cost is the same). A pass is one Adam epoch or one Gibbs sweep; the "
        "defaults take 90 sweeps or 6 epochs.",
        "",
        "| settings | ratings trained | ratings/s per pass | s per pass | load s | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in runs:
        lines.append(
            f"| {t['label']} | {t['ratings']:,} | {t['ratings_per_s']:,.0f} | {t['pass_s']:.1f} | "
            f"{t['load_s']:.1f} | {t['peak_rss'] * mib:,.0f} |"
        )
    return lines


def markdown(
    runs: dict | None, sizes: dict | None, tput: list | None, folds: tuple[str, ...], where: dict[str, str]
) -> str:
    lines = [
        "## Rating prediction: MovieLens 100K, u1–u5",
        "",
        f"Train on uN.base, test on uN.test, folds {', '.join(folds)}; every model sees the same rows "
        f"(test ratings of users or items absent from uN.base are dropped). {where['machine']}; "
        f"revision {where['revision']}. Peers run in the same process from the benchmark venv; fit seconds "
        "are wall time of `fit` alone, after one untimed warm-up fit of each embedrec model kind (torch's "
        "first-call costs, the sampler's compiled kernels), on a machine shared with other work: treat "
        "small differences as noise.",
        "",
    ]
    if runs:
        lines += rating_table(runs, folds)
        lines += ["", headline(runs["results"])]
        lines += [
            "",
            "Peer settings: Surprise SVD / SVD++ defaults (`random_state=0`), SVD tuned as n_factors=200, "
            "n_epochs=80, reg_all=0.1 (the default 0.02 overfits at that size: 0.961 on u1); cornac MF "
            "defaults; fastai `collab_learner` as in the "
            "fastai book (n_factors=50 or `use_nn=True, layers=[100, 50]`, y_range=(0, 5.5), "
            "`fit_one_cycle(5, 5e-3, wd=0.1)`, batch 64), trained on all of uN.base.",
        ]
    if sizes:
        lines += ["", "### Embedding size trade-off (other settings default, per estimator)", ""]
        lines += size_table(sizes)
        lines += ["", size_summary(sizes)]
        lines += ["", f"![RMSE and fit time against embedding size](docs/{PLOT.name})"]
    if tput:
        lines += ["", "### Training throughput", ""] + throughput_lines(tput)
    lines += ["", f"Command: `{COMMAND}`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="ML-100K folder (u.data, u1.base ...)"
    )
    parser.add_argument("--folds", nargs="+", default=list(FOLDS), choices=FOLDS)
    parser.add_argument("--only", nargs="+", help="run only models whose name contains one of these")
    parser.add_argument("--no-peers", action="store_true", help="embedrec's models only")
    parser.add_argument("--no-sizes", action="store_true", help="skip the embedding-size sweep")
    parser.add_argument("--no-throughput", action="store_true", help="skip the 25M-rating epoch")
    parser.add_argument("--max-ratings", type=int, help="cap the ratings of every throughput run (subsample)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads for every torch model, embedrec's and fastai's (default 1: on a shared 2-core "
        "machine a second thread mostly waits, and fastai's small steps slow down several-fold)",
    )
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md and docs/ alone")
    parser.add_argument(
        "--from-json", action="store_true", help="re-render the last run's benchmarks/out/bench_rating.json"
    )
    parser.add_argument("--throughput-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    if args.throughput_worker:
        settings = json.loads(args.settings)
        print(json.dumps(throughput_worker(args.throughput_worker, settings, args.max_ratings)))
        return
    if args.from_json:
        raw = json.loads((OUT / "bench_rating.json").read_text())
        sizes = raw["sizes"] and {
            solver: {int(k): v for k, v in per_k.items()} for solver, per_k in raw["sizes"].items()
        }
        publish(raw, sizes, write=not args.no_write)
        return
    folds = tuple(args.folds)
    data = str(args.data) if args.data.exists() else "ml-100k"  # else the cached/downloaded dataset
    OUT.mkdir(parents=True, exist_ok=True)
    where = {"machine": machine(), "revision": git_revision()}  # before the load of the run itself
    runs = rating_runs(data, folds, args.only, not args.no_peers)
    sizes = None if args.no_sizes else size_runs(data, folds)
    tput = None if args.no_throughput else throughput(args.max_ratings)
    raw = {"runs": runs, "sizes": sizes, "throughput": tput, "folds": folds, **where}
    (OUT / "bench_rating.json").write_text(json.dumps(raw, indent=1))
    publish(raw, sizes, write=not args.no_write)


def publish(raw: dict, sizes: dict | None, write: bool) -> None:
    where = {"machine": raw["machine"], "revision": raw["revision"]}
    text = markdown(raw["runs"], sizes, raw["throughput"], tuple(raw["folds"]), where)
    print(text)
    if write:
        if sizes:
            plot_sizes(sizes, PLOT)
        write_section("rating", text)


if __name__ == "__main__":
    main()
