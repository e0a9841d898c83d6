"""The GPU loop at the hardware's pace: DotBias ratings/s per epoch on a 25M-rating table, on one GPU.

On a machine with a GPU (about 5 minutes; it needs only numpy, pandas, scipy, torch and embedrec's source):

    PYTHONPATH=src python3 benchmarks/bench_gpu.py --ml100k benchmarks/out/ml-100k --out OUT_DIR

then here, with the JSON it wrote:

    .venv/bin/python benchmarks/bench_gpu.py --publish OUT_DIR/gpu.json      # writes BENCHMARKS.md's section

It fits DotBias (32 factors) on the synthetic 25M-rating table of `_synthetic.py` with each setting of
SETTINGS for a few epochs, and reports the best epoch after the first (which pays torch.compile and the
warm-up); counts the host synchronisations of one epoch with CUDA's sync debug mode; and fits ML-100K's
u1 split (u1.base / u1.test copied from the shared data folder) on the CPU loop and on the GPU, for the
test RMSE. `--device cpu --ratings 200000 --quick` runs the same script here as a dry run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _synthetic import synthetic  # noqa: E402

import embedrec  # noqa: E402
from embedrec.data.interactions import Interactions  # noqa: E402

TARGET = 100e6  # ratings/s per epoch on one H200 (issue 14)
RMSE_TOLERANCE = 0.003
SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("eager, batch 8,192", {"batch_size": 8192}),
    ("eager, batch 65,536", {"batch_size": 65536}),
    ("sparse gradients, batch 65,536", {"batch_size": 65536, "sparse": True}),
    ("compiled, batch 65,536", {"batch_size": 65536, "compile": True}),
    ("compiled + bf16, batch 65,536", {"batch_size": 65536, "compile": True, "mixed_precision": True}),
    ("compiled, batch 262,144", {"batch_size": 262144, "compile": True}),
]
QUICK = {"eager, batch 8,192", "eager, batch 65,536", "sparse gradients, batch 65,536"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def throughput(data: Interactions, device: str, settings: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Fit DotBias for `epochs` epochs; the best epoch after the first gives the rate."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model = embedrec.DotBias(epochs=epochs, device=device, verbose=False, **settings)
    start = time.perf_counter()
    model.fit(data)
    fit_s = time.perf_counter() - start
    times = model.history_.epoch_seconds
    best = min(times[1:]) if len(times) > 1 else times[0]
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0
    return {
        "epoch_s": times,
        "best_epoch_s": best,
        "ratings_per_s": len(data) / best,
        "fit_s": fit_s,
        "peak_gpu_bytes": peak,
        "final_train_mse": model.history_.train_loss[-1],
    }


def count_syncs(data: Interactions, device: str, settings: dict[str, Any]) -> dict[str, int]:
    """Host synchronisations CUDA reports during a one-epoch fit, against the number of steps."""
    if not device.startswith("cuda"):
        return {}
    model = embedrec.DotBias(epochs=1, device=device, verbose=False, **settings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            model.fit(data)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    steps = -(-len(data) // settings.get("batch_size", 1024))
    return {"syncs": len(syncs), "steps": steps}


def read_u1(folder: Path) -> tuple[Interactions, Interactions]:
    """ML-100K's u1.base and u1.test (tab-separated user, item, rating, time) sharing one pair of id maps."""
    base, test = (np.loadtxt(folder / name, dtype=np.int64) for name in ("u1.base", "u1.test"))
    train = Interactions.from_arrays(base[:, 0], base[:, 1], base[:, 2].astype(np.float32))
    known = np.isin(test[:, 0], train.user_ids.raw_ids) & np.isin(test[:, 1], train.item_ids.raw_ids)
    test = test[known]
    ids = {"user_ids": train.user_ids, "item_ids": train.item_ids, "scale": train.scale}
    return train, Interactions.from_arrays(test[:, 0], test[:, 1], test[:, 2].astype(np.float32), **ids)


def u1_rmse(train: Interactions, test: Interactions, device: str, settings: dict[str, Any]) -> float:
    model = embedrec.DotBias(device=device, verbose=False, **settings).fit(train)
    return embedrec.rmse(test.ratings, model.predict(test.users, test.items, raw=False))


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = args.device
    where = {
        "date": date.today().isoformat(),
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cpu_cores": torch.get_num_threads(),
    }
    log(f"{where}; building the synthetic {args.ratings:,}-rating table ...")
    start = time.perf_counter()
    data = synthetic(args.ratings)
    where["build_s"] = time.perf_counter() - start
    where["table"] = {"ratings": len(data), "users": data.n_users, "items": data.n_items}
    results = {}
    for label, settings in SETTINGS:
        if args.quick and label not in QUICK:
            continue
        log(f"{label} ...")
        results[label] = {"settings": settings, **throughput(data, device, settings, args.epochs)}
        log(f"  {results[label]['ratings_per_s'] / 1e6:.1f} M ratings/s, epochs {results[label]['epoch_s']}")
    syncs = count_syncs(data, device, {"batch_size": 65536})
    accuracy = {}
    if args.ml100k is not None:
        train, test = read_u1(args.ml100k)
        accuracy["cpu loop (defaults)"] = u1_rmse(train, test, "cpu", {})
        accuracy[f"{device} (defaults)"] = u1_rmse(train, test, device, {})
        if not args.quick:  # a dry run skips the compiled settings here too
            fast = {"compile": True, "mixed_precision": True}
            accuracy[f"{device}, compiled + bf16"] = u1_rmse(train, test, device, fast)
        log(f"ML-100K u1 test RMSE: {accuracy}")
    return {"where": where, "throughput": results, "syncs": syncs, "u1_rmse": accuracy}


def markdown(raw: dict[str, Any]) -> str:
    where, table = raw["where"], raw["where"]["table"]
    lines = [
        "## The GPU loop: DotBias ratings/s on one GPU",
        "",
        f"Measured on {where['date']} on {where['device']} (torch {where['torch']}) by "
        f"`benchmarks/bench_gpu.py`: DotBias with 32 factors on the synthetic table of "
        f"`benchmarks/_synthetic.py` ({table['ratings']:,} ratings, {table['users']:,} users × "
        f"{table['items']:,} items), the best epoch after the first.",
        "",
        "| setting | ratings/s per epoch | s per epoch | first epoch s | peak GPU memory | vs 100M/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, r in raw["throughput"].items():
        lines.append(
            f"| {label} | {r['ratings_per_s'] / 1e6:,.1f} M | {r['best_epoch_s']:.3f} | "
            f"{r['epoch_s'][0]:.2f} | {r['peak_gpu_bytes'] / 2**30:.1f} GiB | "
            f"{r['ratings_per_s'] / TARGET:.2f}× |"
        )
    if raw["syncs"]:
        s = raw["syncs"]
        lines += [
            "",
            f"Host synchronisations in one epoch at batch 65,536: {s['syncs']} for {s['steps']} steps.",
        ]
    if raw["u1_rmse"]:
        cpu = raw["u1_rmse"]["cpu loop (defaults)"]
        parts = [f"{k} {v:.4f} ({v - cpu:+.4f})" for k, v in raw["u1_rmse"].items()]
        lines += [
            "",
            f"ML-100K u1 test RMSE (target: the CPU loop's ± {RMSE_TOLERANCE}): " + "; ".join(parts) + ".",
        ]
    lines += [
        "",
        "Command: `PYTHONPATH=src python3 benchmarks/bench_gpu.py --ml100k benchmarks/out/ml-100k --out OUT`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--ml100k", type=Path, help="folder holding u1.base and u1.test")
    parser.add_argument("--quick", action="store_true", help="skip the compiled settings (a dry run)")
    parser.add_argument("--out", type=Path, help="write gpu.json and gpu.md into this folder")
    parser.add_argument("--publish", type=Path, help="write BENCHMARKS.md's section from a gpu.json")
    args = parser.parse_args()
    if args.publish is not None:
        from _report import write_section

        write_section("gpu", markdown(json.loads(args.publish.read_text())))
        return
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run it on a machine with a GPU, or pass --device cpu")
    raw = run(args)
    text = markdown(raw)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu.json").write_text(json.dumps(raw, indent=1))
        (args.out / "gpu.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
