"""What hardening costs and how close its guards are: save/load times of a durable, validated model folder,
and each model's memory estimate (`_fit_bytes`, checked before a fit allocates) against the peak RSS the
fit really reaches, on MovieLens 100K u1.

    .venv/bin/python benchmarks/bench_hardening.py          # writes its section of BENCHMARKS.md

Each fit runs in its own process, which resets its peak-RSS counter (Linux: /proc/self/clear_refs) after
the data is loaded and a tiny warm-up fit has loaded torch and compiled numba, so the peak is the fit's own.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import git_revision, machine, write_section  # noqa: E402

import embedrec  # noqa: E402

ML100K = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
RUNS = [("DotBias", 256), ("DotBias", 1024), ("BayesianDotBias", 128), ("BayesianDotBias", 256),
        ("NeuralCF", 64), ("NeuralCF", 512)]  # fmt: skip
CHILD = r"""
import json, re, sys
import embedrec
name, k, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def kib(key):
    return int(re.search(rf"{key}:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
train, _ = embedrec.predefined_split(data, "u1")
make = {"DotBias": lambda k: embedrec.DotBias(n_factors=k, epochs=1, verbose=False),
        "BayesianDotBias": lambda k: embedrec.BayesianDotBias(n_factors=k, sweeps=3, verbose=False),
        "NeuralCF": lambda k: embedrec.NeuralCF(n_factors=k, epochs=1, verbose=False)}[name]
make(2).fit(train)  # imports, numba compilation
model = make(k)
open("/proc/self/clear_refs", "w").write("5")
base = kib("VmRSS")
model.fit(train)
if name == "NeuralCF":
    model.score_items(list(range(50)))
peak = kib("VmHWM") - base
print(json.dumps({"peak": peak, "estimate": model._fit_bytes(train.n_users, train.n_items, len(train), k)}))
"""


def memory_rows() -> list[str]:
    rows = []
    for name, k in RUNS:
        out = subprocess.run([sys.executable, "-c", CHILD, name, str(k), str(ML100K)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        got = json.loads(out.stdout.strip().splitlines()[-1])
        peak, estimate = got["peak"] / 2**20, got["estimate"] / 2**20
        rows.append(f"| {name} | {k} | {peak:,.0f} MiB | {estimate:,.0f} MiB | {estimate / peak:.2f} |")
        print(rows[-1], flush=True)
    return rows


def save_load_row() -> str:
    data = embedrec.load_dataset("movielens-small")
    model = embedrec.DotBias(n_factors=32, epochs=1, verbose=False).fit(data)
    saves, loads = [], []
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model"
        for _ in range(11):
            model.item_bias_ = model.item_bias_.copy()
            model.item_bias_[0] += 1e-3  # new weights every time: each save writes and commits them
            start = time.perf_counter()
            model.save(target)
            saves.append(time.perf_counter() - start)
            start = time.perf_counter()
            embedrec.load_model(target)
            loads.append(time.perf_counter() - start)
    return (
        f"| DotBias, 32 factors, movielens-small ({data.n_users:,} users × {data.n_items:,} items) | "
        f"{statistics.median(saves) * 1e3:.0f} ms | {statistics.median(loads) * 1e3:.0f} ms |"
    )


def main() -> None:
    save_load = save_load_row()
    print(save_load, flush=True)
    memory = memory_rows()
    markdown = "\n".join([
        "## Saved models and memory estimates",
        "",
        "A save writes and fsyncs the weights beside the old ones and commits with one rename of model.json;",
        "a load checks every field before trusting it (docs/architecture.md, Saved models). Median of 11:",
        "",
        "| model | save (commit, fsyncs) | load (validated) |",
        "|---|---:|---:|",
        save_load,
        "",
        "Before a fit allocates, its memory estimate is checked against the budget (`EMBEDREC_MAX_MEMORY`,",
        "default 80% of the free memory). The estimate against the fit's measured peak RSS, ML-100K u1 (one",
        "epoch, three sweeps; NeuralCF also scores 50 users):",
        "",
        "| model | factors | peak RSS | estimate | estimate / peak |",
        "|---|---:|---:|---:|---:|",
        *memory,
        "",
        f"`benchmarks/bench_hardening.py`, commit {git_revision()}; {machine()}.",
    ])  # fmt: skip
    write_section("hardening", markdown)


if __name__ == "__main__":
    main()
