"""Item2Vec on MovieLens 100K beside DotBias: genre coherence of "more like this", and NDCG@10.

    PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_item2vec.py             # u1–u5, BENCHMARKS.md
    PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_item2vec.py --folds u1  # prints only

Genre coherence: for every movie with at least 50 training ratings, the mean Jaccard similarity between its
genre set and those of its 10 nearest movies by cosine among the same movies, averaged over movies.
NDCG@10 follows benchmarks/bench_ranking.py (relevant = test ratings ≥ 4, candidates = unrated training
items). Item2Vec learns from who rated what in time order (ratings ignored); DotBias from the ratings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import git_revision, machine, write_section  # noqa: E402

from embedrec import DotBias, EmbeddingTable, Item2Vec, Recommender, predefined_split  # noqa: E402
from embedrec.query.ranking import ranking_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ml-100k"
COMMAND = "PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_item2vec.py"
MIN_RATINGS, NEIGHBOURS = 50, 10


def genre_coherence(table: EmbeddingTable) -> float:
    """Mean genre Jaccard of each item (≥ MIN_RATINGS ratings) with its NEIGHBOURS cosine neighbours."""
    genres = [set(str(g).split("|")) for g in table.meta["genres"]]
    rows = np.flatnonzero(table.counts >= MIN_RATINGS)
    v = table.vectors[rows]
    unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    scores = []
    for a, row in zip(rows, sims, strict=True):
        near = rows[np.argsort(-row)[:NEIGHBOURS]]
        scores.append(np.mean([len(genres[a] & genres[b]) / len(genres[a] | genres[b]) for b in near]))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", nargs="+", default=["u1", "u2", "u3", "u4", "u5"])
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float]]] = {}
    for fold in args.folds:
        train, test = predefined_split(DATA, fold)
        for name, make in (
            ("Item2Vec", lambda: Item2Vec(workers=2, verbose=False)),
            ("DotBias", lambda: DotBias(verbose=False)),
        ):
            start = time.perf_counter()
            model = make().fit(train)
            fit_s = time.perf_counter() - start
            table = Recommender(model).embeddings("item")
            r = {
                "coherence": genre_coherence(table),
                "ndcg": ranking_report(model, train, test, 10, 4.0, popularity=0.0).as_dict()["ndcg"],
                "ndcg_prior": ranking_report(model, train, test, 10, 4.0, popularity=1.0).as_dict()["ndcg"],
                "fit_s": fit_s,
            }
            if name == "DotBias":
                shuffled = EmbeddingTable(
                    np.random.default_rng(0).permutation(table.vectors), table.ids, meta=table.meta,
                    counts=table.counts,
                )  # fmt: skip
                rows.setdefault("random neighbours", []).append({"coherence": genre_coherence(shuffled)})
            rows.setdefault(name, []).append(r)
            print(fold, name, {k: round(v, 4) for k, v in r.items()}, flush=True)
    lines = [
        f"## Item2Vec on MovieLens 100K ({', '.join(args.folds)})",
        "",
        f"`{COMMAND}` — {machine()}; git {git_revision()}.",
        "",
        f'Genre coherence of "more like this": mean genre Jaccard between each movie with ≥ {MIN_RATINGS} '
        f"training ratings and its {NEIGHBOURS} cosine nearest such movies. NDCG@10 as in the ranking "
        'benchmark (relevant = test ratings ≥ 4); "+ prior" adds the log-popularity prior. Item2Vec at its '
        "defaults (64 dimensions, each user's movies in time order, window 5, 20 epochs) learns only who "
        "rated what; DotBias (defaults) learns the ratings. Mean over the folds.",
        "",
        "| model | genre coherence | NDCG@10 | NDCG@10 + prior | fit s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, runs in rows.items():
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        if "ndcg" not in mean:
            lines.append(f"| {name} (DotBias vectors shuffled) | {mean['coherence']:.3f} | – | – | – |")
            continue
        lines.append(
            f"| {name} | **{mean['coherence']:.3f}** | {mean['ndcg']:.3f} | {mean['ndcg_prior']:.3f} | "
            f"{mean['fit_s']:.1f} |"
        )
    text = "\n".join(lines)
    print(text)
    if len(args.folds) == 5:
        write_section("item2vec", text)


if __name__ == "__main__":
    main()
