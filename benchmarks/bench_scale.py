"""How fit time and memory grow with the data: each model on 1M, 5M and 25M ratings, 1 and 2 processes.

    .venv/bin/python benchmarks/bench_scale.py     # writes BENCHMARKS.md's "scale" section (about an hour)

The tables come from `_synthetic.py` (users grow with the ratings, the catalogue with their square root;
at 25M the shape is ML-25M's). Each run is one fresh process (two for the data-parallel runs, started
by `spawn`) that loads the cached arrays, builds `Interactions` and fits for a fixed number of passes:
one epoch of DotBias and NeuralCF at batch_size=8192 (the default 1,024 makes 25M ratings 24,000 steps),
two sweeps of BayesianDotBias. The sampler is not data-parallel: its second column is 2 threads.
Peak memory is each process's peak RSS, imports included (PyTorch alone is about 300 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (1_000_000, 5_000_000, 25_000_000)
BATCH = 8192
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "DotBias": ("DotBias", {"epochs": 1, "batch_size": BATCH}),
    "NeuralCF": ("NeuralCF", {"epochs": 1, "batch_size": BATCH}),
    "BayesianDotBias": ("BayesianDotBias", {"sweeps": 2}),
}
# label, processes, sharded tables, sampler threads
LAYOUTS = (("1 process", 1, False, 1), ("2 processes", 2, False, 2), ("2 processes, sharded", 2, True, 2))


def _fit(path: str, model: str, settings: dict[str, Any], shard: bool, threads: int) -> dict[str, float]:
    """One process: load, build, fit; seconds of each and the peak RSS."""
    import embedrec

    start = time.perf_counter()
    arrays = np.load(path)
    data = embedrec.Interactions.from_arrays(arrays["users"], arrays["items"], arrays["ratings"])
    load_s = time.perf_counter() - start
    cls = getattr(embedrec, MODELS[model][0])
    extra = {"threads": threads} if model == "BayesianDotBias" else {}
    estimator = cls(verbose=False, **settings, **extra)
    start = time.perf_counter()
    if model == "BayesianDotBias":
        estimator.fit(data)
    else:
        with embedrec.data_parallel(shard_tables=shard):
            estimator.fit(data)
    return {
        "fit_s": time.perf_counter() - start,
        "load_s": load_s,
        "ratings": len(data),
        "users": data.n_users,
        "items": data.n_items,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def worker(job: dict[str, Any]) -> dict[str, Any]:
    args = (job["path"], job["model"], job["settings"], job["shard"], job["threads"])
    if job["nproc"] == 1:
        return {"ranks": [_fit(*args)]}
    from embedrec.models.distributed import spawn

    return {"ranks": spawn(job["nproc"], _fit, *args)}


def run_one(path: Path, model: str, nproc: int, shard: bool, threads: int) -> dict[str, Any]:
    job = {"path": str(path), "model": model, "settings": MODELS[model][1], "nproc": nproc}
    job |= {"shard": shard, "threads": threads}
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{HERE}"}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True, env=env
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict[str, Any], where: str) -> str:
    lines = [
        "## Scale: fit time and memory against the size of the table",
        "",
        "Synthetic ratings (`benchmarks/_synthetic.py`); DotBias and NeuralCF one epoch at batch_size=8192, "
        "BayesianDotBias two sweeps (its 2-process columns are 2 threads: the sampler is not data-parallel). "
        "Fit s is the wall time of `fit` (the slowest process); peak RSS is per process, imports included; "
        f"each run is a fresh process. {where}",
        "",
        "| model | ratings | users × items | layout | fit s | ratings/s | peak RSS per process (MiB) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for key, r in results.items():
        model, size, layout = key.split("|")
        if "error" in r:
            lines.append(f"| {model} | {int(size):,} | | {layout} | failed: {r['error']} | | |")
            continue
        ranks = r["ranks"]
        fit = max(x["fit_s"] for x in ranks)
        passes = MODELS[model][1].get("epochs", MODELS[model][1].get("sweeps", 1))
        shape = f"{ranks[0]['users']:,} × {ranks[0]['items']:,}"
        rss = " / ".join(f"{x['peak_rss'] / 2**20:,.0f}" for x in ranks)
        rate = ranks[0]["ratings"] * passes / fit
        lines.append(
            f"| {model} | {ranks[0]['ratings']:,} | {shape} | {layout} | {fit:.1f} | {rate:,.0f} | {rss} |"
        )
    lines += ["", "Command: `.venv/bin/python benchmarks/bench_scale.py`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, default=HERE / "out" / "scale.json", help="results as JSON")
    parser.add_argument("--publish", action="store_true", help="only write the table from --raw")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    sys.path.insert(0, str(HERE))
    from _report import machine, write_section
    from bench_loop import data_file

    results = json.loads(args.raw.read_text()) if args.raw.exists() else {}
    load = os.getloadavg()[0]
    if not args.publish:
        for size in args.sizes:
            path = data_file(size)
            for model in args.models:
                for layout, nproc, shard, threads in LAYOUTS:
                    if model == "BayesianDotBias" and shard:
                        continue
                    r = run_one(path, model, nproc, shard, threads)
                    results[f"{model}|{size}|{layout}"] = r
                    args.raw.write_text(json.dumps(results, indent=1))  # keep what is done
                    print(f"{model} {size:,} {layout}: {r}", file=sys.stderr, flush=True)
    order = {m: i for i, m in enumerate(MODELS)}
    ranked = dict(
        sorted(results.items(), key=lambda kv: (order[kv[0].split("|")[0]], int(kv[0].split("|")[1])))
    )
    where = f"{machine()}; load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at the end."
    text = table(ranked, where)
    print(text)
    write_section("scale", text)


if __name__ == "__main__":
    main()
