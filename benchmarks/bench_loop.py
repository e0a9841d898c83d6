"""The CPU training loop before and after the device-resident changes, and on 1 against 2 processes.

    .venv/bin/python benchmarks/bench_loop.py --before ff76c95      # writes BENCHMARKS.md's "loop" section

`--before REV` is the commit whose loop is compared (its `src/` is extracted with `git archive` into a
temporary folder). Every run is DotBias (32 factors) fitting a synthetic table of `_synthetic.py` for a few
epochs in a fresh process, on the same data; each setting runs `--repeats` times, before and after in
turn, and the best run counts (the machine is shared). "2 processes" is `data_parallel` over 2 gloo
processes started by `spawn`, with the tables replicated or sharded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
EPOCHS = 3


def data_file(n: int) -> Path:
    """The synthetic table of n ratings, cached as .npy arrays (the same data for every run)."""
    path = OUT / f"synthetic-{n}.npz"
    if not path.exists():
        from _synthetic import synthetic_arrays

        OUT.mkdir(exist_ok=True)
        users, items, ratings = synthetic_arrays(n)
        np.savez(path, users=users, items=items, ratings=ratings)
    return path


def _fit(path: str, settings: dict[str, Any], shard: bool) -> dict[str, float]:
    """One process's fit (in a spawned rank too): wall and CPU seconds."""
    import embedrec
    from embedrec.models import training

    arrays = np.load(path)
    data = embedrec.Interactions.from_arrays(arrays["users"], arrays["items"], arrays["ratings"])
    model = embedrec.DotBias(epochs=EPOCHS, verbose=False, **settings)
    context = None
    if hasattr(training, "LoopHook"):  # the loop after the changes: data_parallel exists
        from embedrec.models.distributed import data_parallel

        context = data_parallel(shard_tables=shard)
    cpu, start = time.process_time(), time.perf_counter()
    if context is None:
        model.fit(data)
    else:
        with context:
            model.fit(data)
    return {"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu, "ratings": len(data)}


def worker(path: str, settings: dict[str, Any], nproc: int, shard: bool) -> dict[str, float]:
    if nproc == 1:
        out = _fit(path, settings, shard)
    else:
        from embedrec.models.distributed import spawn

        ranks = spawn(nproc, _fit, path, settings, shard)
        out = {**ranks[0], "wall": max(r["wall"] for r in ranks), "cpu": sum(r["cpu"] for r in ranks)}
    out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def measure(src: Path, path: Path, settings: dict[str, Any], nproc: int = 1, shard: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{HERE}"}
    job = json.dumps({"path": str(path), "settings": settings, "nproc": nproc, "shard": shard})
    done = subprocess.run(
        [sys.executable, __file__, "--worker", job], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def extract(rev: str, into: Path) -> Path:
    """`src/` of a commit, in a folder of its own."""
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


RUNS: list[tuple[str, dict[str, Any], int, bool, bool]] = [
    # label, settings, processes, sharded, also before?
    ("batch 1,024 (default)", {}, 1, False, True),
    ("batch 8,192", {"batch_size": 8192}, 1, False, True),
    ("batch 1,024, 2 processes", {}, 2, False, False),
    ("batch 8,192, 2 processes", {"batch_size": 8192}, 2, False, False),
    ("batch 8,192, 2 processes, sharded tables", {"batch_size": 8192}, 2, True, False),
]


def run(before: str, n: int, repeats: int) -> dict[str, Any]:
    path = data_file(n)
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        old = extract(before, Path(tmp))
        for label, settings, nproc, shard, compare in RUNS:
            for _ in range(repeats):
                sides = [("after", ROOT / "src")] + ([("before", old)] if compare else [])
                for side, src in sides:
                    r = measure(src, path, settings, nproc, shard)
                    best = results.setdefault(label, {}).get(side)
                    if best is None or r["wall"] < best["wall"]:
                        results[label][side] = r
                    print(
                        f"{label} {side}: {r['ratings'] * EPOCHS / r['wall']:,.0f} ratings/s", file=sys.stderr
                    )
    return results


def markdown(results: dict[str, Any], before: str, n: int, where: str) -> str:
    lines = [
        "## The CPU loop: before and after, 1 and 2 processes",
        "",
        f"DotBias (32 factors, {EPOCHS} epochs) on the synthetic table of `benchmarks/_synthetic.py` with "
        f"{n:,} ratings, each run in a fresh process, best of the repeats. *Before* is the loop of commit "
        f"{before} (a gather per batch, the permutation drawn on the host and copied); *after* shuffles and "
        "gathers once per epoch on the training device. Ratings/s is ratings × epochs / the fit's wall "
        "time; per CPU-s divides by the CPU time of all processes instead, which a shared machine's load "
        f"disturbs far less. {where}",
        "",
        "| setting | ratings/s before | ratings/s after | after / before | per CPU-s before "
        "| per CPU-s after | after / before |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def rates(r: dict[str, float]) -> tuple[float, float]:
        return r["ratings"] * EPOCHS / r["wall"], r["ratings"] * EPOCHS / r["cpu"]

    for label, sides in results.items():
        wall, cpu = rates(sides["after"])
        if "before" in sides:
            old_wall, old_cpu = rates(sides["before"])
            cells = [f"{old_wall:,.0f}", f"{wall:,.0f}", f"{wall / old_wall:.2f}×"]
            cells += [f"{old_cpu:,.0f}", f"{cpu:,.0f}", f"{cpu / old_cpu:.2f}×"]
        else:
            cells = ["–", f"{wall:,.0f}", "–", "–", f"{cpu:,.0f}", "–"]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    one, two = results["batch 8,192"]["after"], results["batch 8,192, 2 processes"]["after"]
    lines += [
        "",
        f"At batch 8,192, two processes take {two['wall'] / one['wall']:.2f}× the wall time of one and "
        f"{two['cpu'] / one['cpu']:.2f}× its CPU time. Each step of replicated tables averages the "
        "gradients of both processes with one all-reduce of every dense gradient, the whole tables "
        "included; sharded tables instead exchange the ids of a batch once and the rows each table looks "
        "up, forth and back.",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_loop.py --before {before}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="ff76c95", help="the commit to compare against")
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--raw", type=Path, default=OUT / "loop.json", help="results as JSON")
    parser.add_argument("--publish", action="store_true", help="only write the table from --raw")
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(worker(job["path"], job["settings"], job["nproc"], job["shard"])))
        return
    sys.path.insert(0, str(HERE))
    from _report import machine, write_section

    if args.publish:
        raw = json.loads(args.raw.read_text())
    else:
        where = machine()
        raw = {"results": run(args.before, args.ratings, args.repeats), "ratings": args.ratings}
        raw["where"] = f"{where}, {os.getloadavg()[0]:.1f} at the end."
        args.raw.parent.mkdir(exist_ok=True)
        args.raw.write_text(json.dumps(raw, indent=1))
    text = markdown(raw["results"], args.before, raw["ratings"], raw["where"])
    print(text)
    if not args.no_write:
        write_section("loop", text)


if __name__ == "__main__":
    main()
