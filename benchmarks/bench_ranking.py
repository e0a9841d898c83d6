"""Ranking quality on MovieLens 100K u1–u5: embedrec's models vs popularity, genres, implicit ALS, LightFM.

    .bench-venv/bin/python benchmarks/bench_ranking.py             # all five folds, rewrites BENCHMARKS.md
    .bench-venv/bin/python benchmarks/bench_ranking.py --folds u1  # one fold, prints only

Protocol (the issue's): relevant = test ratings ≥ 4; candidates = every training item the user has not
rated; users without a relevant test item are skipped. The peers (benchmarks/peers.py) train on ratings
≥ 4 as positives; they are run in the same process when the benchmark venv has them, else left out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

from embedrec import DotBias, GenreProfile, Item2Vec, MostPopular, NeuralCF, predefined_split  # noqa: E402
from embedrec.metrics import RANKING_METRICS as METRICS  # noqa: E402
from embedrec.query.ranking import hit_matrix, ranking_report, relevant_matrix  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ml-100k"
COMMAND = ".bench-venv/bin/python benchmarks/bench_ranking.py"
K, THRESHOLD = 10, 4.0
REFERENCE = {"MostPopular": 0.205, "implicit ALS": 0.393, "LightFM WARP": 0.385}  # NDCG@10, the issue's


def peer_report(runner, train, test) -> tuple[dict[str, float], float]:  # noqa: ANN001
    """Run a peer on raw-id frames and score its top-k with our metrics on the same relevant sets."""
    rel = relevant_matrix(train, test, THRESHOLD)
    n_rel = np.diff(rel.indptr)
    users = np.flatnonzero(n_rel > 0)
    df = train.to_dataframe()
    result = runner(df[["user", "item", "rating"]], train.user_ids.raw_ids[users], K, threshold=THRESHOLD)
    ranked = train.item_ids.indices(np.asarray(result.items).ravel()).reshape(len(users), K)
    hits = hit_matrix(ranked.astype(np.int64), rel, users)
    return {name: float(fn(hits, n_rel[users]).mean()) for name, fn in METRICS.items()}, result.fit_seconds


def run_fold(fold: str, peers: dict) -> dict[str, dict[str, float]]:
    train, test = predefined_split(DATA, fold)
    rows: dict[str, dict[str, float]] = {}

    def ours(name: str, model, popularity: float = 0.0, fit_s: float = 0.0) -> None:  # noqa: ANN001
        report = ranking_report(model, train, test, K, THRESHOLD, popularity=popularity)
        rows[name] = {**report.as_dict(), "fit_s": fit_s}

    for name, make in (
        ("DotBias", lambda: DotBias(verbose=False)),
        ("NeuralCF", lambda: NeuralCF(verbose=False)),
    ):
        start = time.perf_counter()
        model = make().fit(train)
        fit_s = time.perf_counter() - start
        ours(name, model, 0.0, fit_s)
        ours(f"{name} + popularity prior", model, 1.0, fit_s)
    start = time.perf_counter()
    item2vec = Item2Vec(workers=2, verbose=False).fit(train)
    ours("Item2Vec (who rated what, in time order)", item2vec, 0.0, time.perf_counter() - start)
    for name, model in (("MostPopular", MostPopular(THRESHOLD)), ("GenreProfile", GenreProfile())):
        start = time.perf_counter()
        model.fit(train)
        ours(name, model, 0.0, time.perf_counter() - start)
    for name, runner in peers.items():
        metrics, fit_s = peer_report(runner, train, test)
        rows[name] = {**metrics, "fit_s": fit_s}
    return rows


def load_peers() -> tuple[dict, str]:
    try:
        import peers

        for module in ("implicit", "lightfm"):
            __import__(module)
        return dict(peers.RANKING_PEERS), ""
    except ImportError as exc:
        return {}, f"Peers left out: {exc}. Run `bash benchmarks/setup_peers.sh` and use `{COMMAND}`."


def table(runs: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    folds = list(runs)
    names = list(runs[folds[0]])
    mean = {n: {m: float(np.mean([runs[f][n][m] for f in folds])) for m in runs[folds[0]][n]} for n in names}
    best = mean.get("implicit ALS", {}).get("ndcg")
    lines = [
        f"| model | precision@{K} | NDCG@{K} | NDCG@{K} per fold ({', '.join(folds)}) | recall@{K} | "
        f"MAP@{K} | hit rate | coverage | NDCG vs MostPopular | NDCG vs implicit ALS | fit s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    pop = mean["MostPopular"]["ndcg"]
    for n in names:
        r = mean[n]
        per = " / ".join(f"{runs[f][n]['ndcg']:.3f}" for f in folds)
        coverage = f"{r['coverage']:.3f}" if "coverage" in r else "–"
        vs_als = f"×{r['ndcg'] / best:.2f}" if best else "–"
        lines.append(
            f"| {n} | {r['precision']:.3f} | **{r['ndcg']:.3f}** | {per} | {r['recall']:.3f} | "
            f"{r['map']:.3f} | {r['hit_rate']:.3f} | {coverage} | ×{r['ndcg'] / pop:.2f} | {vs_als} | "
            f"{r['fit_s']:.1f} |"
        )
    return lines


def summary(runs: dict[str, dict[str, dict[str, float]]]) -> str:
    """The table in words: how the rating models compare with popularity and the ranking-trained peers."""

    def ndcg(name: str) -> float:
        return (
            float(np.mean([runs[f][name]["ndcg"] for f in runs])) if name in runs[next(iter(runs))] else 0.0
        )

    pop, alone, prior = ndcg("MostPopular"), ndcg("DotBias"), ndcg("DotBias + popularity prior")
    text = (
        f"Ranked by predicted rating alone, DotBias reaches {alone / pop:.0%} of popularity's NDCG@{K}: "
        "a rating model says how much a user would like an item *if* they watched it, so it surfaces "
        "obscure, "
        "well-rated films (several times popularity's coverage) that few test users had watched. Adding "
        f"the log-popularity prior (how likely they are to watch it) puts it {prior / pop - 1:+.0%} over "
        "popularity."
    )
    peer = ndcg("implicit ALS")
    if peer:
        text += (
            f" It still trails the ranking-trained peers by {1 - prior / peer:.0%} (implicit ALS) and "
            f"{1 - prior / ndcg('LightFM WARP'):.0%} (LightFM WARP): they learn which films users watch, "
            "which a rating loss never sees; a ranking-trained model is the next step."
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", nargs="+", default=["u1", "u2", "u3", "u4", "u5"])
    args = parser.parse_args()
    peers, note = load_peers()
    runs = {}
    for fold in args.folds:
        runs[fold] = run_fold(fold, peers)
        print(fold, {n: round(r["ndcg"], 4) for n, r in runs[fold].items()}, flush=True)
    lines = [
        f"## Ranking on MovieLens 100K ({', '.join(args.folds)})",
        "",
        f"`{COMMAND}` — {machine()}.",
        "",
        f"Relevant = test ratings ≥ {THRESHOLD:g}; candidates = training items the user has not rated; users "
        "with no relevant test item skipped; mean over the folds. embedrec's models are trained on ratings "
        '(RMSE) with default settings; "+ popularity prior" ranks by the raw score + log(1 + item\'s '
        "training ratings) (`recommend(..., popularity=1.0)`). The peers train on ratings ≥ 4 as implicit "
        "positives with settings tuned on u1 (see benchmarks/peers.py). Reference NDCG@10 from the issue "
        f"(u1–u5 mean): popularity {REFERENCE['MostPopular']}, implicit ALS {REFERENCE['implicit ALS']}, "
        f"LightFM WARP {REFERENCE['LightFM WARP']}.",
        "",
        *table(runs),
    ]
    lines += ["", summary(runs)]
    if note:
        lines += ["", note]
    text = "\n".join(lines)
    print(text)
    if len(args.folds) == 5:
        write_section("recommend-ranking", text)


if __name__ == "__main__":
    main()
