"""BPR training throughput on a GPU: liked pairs per second in one epoch on the synthetic 25M-rating file.

    .bench-venv/bin/python benchmarks/bench_bpr_gpu.py                     # CUDA, writes BENCHMARKS.md
    .bench-venv/bin/python benchmarks/bench_bpr_gpu.py --device cpu --max-ratings 1000000   # a dry run

The file is bench_loading.py's (generated once into benchmarks/out/); every rating is a like. One
epoch of `BPR(n_factors=64, n_negatives=8)` at a few batch sizes; the first epoch of a size is a warm-up
(CUDA context, kernels) and is not timed. Short by design: it fits a few minutes of device time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402
from bench_loading import CSV, generate  # noqa: E402

import embedrec  # noqa: E402

COMMAND = ".bench-venv/bin/python benchmarks/bench_bpr_gpu.py"


def epoch_rate(data: embedrec.Interactions, device: str, batch_size: int) -> float:
    """Liked pairs per second of one timed BPR epoch (after an untimed one)."""
    import torch

    settings = {"n_factors": 64, "epochs": 1, "batch_size": batch_size, "device": device, "verbose": False}
    embedrec.BPR(**settings).fit(data)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    model = embedrec.BPR(**settings).fit(data)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    assert np.isfinite(model.item_factors_).all()
    return len(data) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--max-ratings", type=int, default=None, help="train on a seeded sample this size")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8192, 65536])
    args = parser.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device here: run this on a machine with a GPU, or pass --device cpu")
    if not CSV.exists():
        generate(CSV)
    data = embedrec.read_ratings(CSV)
    if args.max_ratings is not None and args.max_ratings < len(data):
        rows = np.sort(np.random.default_rng(0).choice(len(data), size=args.max_ratings, replace=False))
        data = data.subset(rows)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    lines = [
        "## BPR throughput on a GPU",
        "",
        f"`{COMMAND}` — {name}; {machine()}.",
        "",
        f"{len(data):,} liked pairs ({data.n_users:,} users × {data.n_items:,} items), 64 factors, "
        "8 uniform negatives per pair, one timed epoch after a warm-up one.",
        "",
        "| batch size | liked pairs / s |",
        "| --- | --- |",
    ]
    for size in args.batch_sizes:
        rate = epoch_rate(data, args.device, size)
        print(f"batch {size}: {rate:,.0f} pairs/s", flush=True)
        lines.append(f"| {size:,} | {rate:,.0f} |")
    text = "\n".join(lines)
    print(text)
    if args.device.startswith("cuda") and args.max_ratings is None:
        write_section("bpr-gpu", text)


if __name__ == "__main__":
    main()
