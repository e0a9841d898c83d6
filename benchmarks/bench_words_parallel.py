"""Word2Vec on 1 and 2 processes: training time, words/s and word-similarity on Brown.

    .venv/bin/python benchmarks/bench_words_parallel.py     # writes BENCHMARKS.md's "words-parallel" section

Skip-gram with the defaults on the shared Brown corpus (`workers=1` in each process, so the two rows
compare one core with two), the second row as two gloo processes started by `spawn` (what
`embedrec word2vec --nproc 2` does): each trains its half of every block of jobs, then both add up
their changes. Quality is the Spearman correlation on WordSim-353, as in the words benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "text"


def fit(corpus: str, pairs: str) -> dict[str, Any]:
    """One process of the job (or the only one): fit, then score the vectors it ends with."""
    from embedrec import Word2Vec, data_parallel
    from embedrec.query.wordeval import word_similarity

    with data_parallel() as hook:
        model = Word2Vec(workers=1, verbose=False).fit(corpus)
    sim = word_similarity(model.embeddings_, pairs)
    return {
        "processes": hook.world_size,
        "seconds": model.train_seconds_,
        "words_per_s": model.words_per_second_,
        "spearman": sim.spearman,
        "pairs": f"{sim.n_pairs}/{sim.n_total}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _report import machine, write_section

    from embedrec.models.distributed import spawn

    corpus, pairs = str(args.data / "brown.txt"), str(args.data / "wordsim353.tsv")
    where = machine()  # load average at the start
    rows = [fit(corpus, pairs), spawn(2, fit, corpus, pairs)[0]]
    lines = [
        "## Word2Vec on 1 and 2 processes",
        "",
        "Skip-gram with the defaults (5 epochs, 100 dimensions) on Brown, one thread per process; the "
        "2-process row is data-parallel (each process trains half of every block of jobs, then both add "
        "up their changes). Words/s counts the corpus words of all processes. "
        f"{where}, {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| processes | train s | words/s | WordSim-353 Spearman (pairs) |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        rate, quality = f"{r['words_per_s']:,.0f}", f"{r['spearman']:.3f} ({r['pairs']})"
        lines.append(f"| {r['processes']} | {r['seconds']:.1f} | {rate} | {quality} |")
    lines += ["", "Command: `.venv/bin/python benchmarks/bench_words_parallel.py`"]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("words-parallel", text)


if __name__ == "__main__":
    main()
