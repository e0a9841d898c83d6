"""EASE's item normalisation γ and λ for bench_ranking.py, chosen without touching a test fold.

    .bench-venv/bin/python benchmarks/tune_ease.py

Four seeded validation splits carved from ML-100K u1.base only (a random 20% of its ratings held out,
as u1.test is of u.data), the ranking protocol of bench_ranking.py on each, ratings as weights; prints
the mean NDCG@10 per setting, best last. Nothing is written: the choice is copied into bench_ranking.py,
with λ scaled to the 25% larger u1.base (the normalised Gram's diagonal grows as n^(1 - 2γ)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedrec import EASE, predefined_split
from embedrec.query.ranking import ranked_lists, report_from_lists

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
GRID = {0.0: (150, 200, 250, 300), 0.1: (80, 130, 200), 0.2: (50, 80, 100, 130), 0.3: (25, 35, 50)}


def main() -> None:
    base, _ = predefined_split(DATA, "u1")  # u1.test is never read
    splits = []
    for seed in range(4):
        held = np.random.default_rng(seed).random(len(base.users)) < 0.2
        splits.append((base.subset(~held), base.subset(held)))
    results = {}
    for gamma, lams in GRID.items():
        for lam in lams:
            scores = []
            for train, valid in splits:
                model = EASE(float(lam), weights="scaled", normalize=gamma).fit(train)
                users, ranked, rel = ranked_lists(model, train, valid, 10, 4.0)
                scores.append(report_from_lists(users, ranked, rel, train).ndcg)
            results[gamma, lam] = float(np.mean(scores))
            print(
                f"normalize={gamma} λ={lam}: NDCG@10 {results[gamma, lam]:.4f} {np.round(scores, 4)}",
                flush=True,
            )
    (gamma, lam), best = max(results.items(), key=lambda kv: kv[1])
    plain = max(v for (g, _), v in results.items() if g == 0.0)
    scaled = lam * 1.25 ** (1 - 2 * gamma)  # u1.base has 1/0.8 the ratings of a validation split's train
    print(f"best: normalize={gamma} λ={lam}, {best:.4f} (γ = 0, plain EASE, at best {plain:.4f})")
    print(f"for the whole u1.base…u5.base: normalize={gamma}, λ ≈ {scaled:.0f}")


if __name__ == "__main__":
    main()
