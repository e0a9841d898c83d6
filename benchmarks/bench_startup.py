"""Start-up time of the command line and the package: what a user waits for before anything happens.

    .venv/bin/python benchmarks/bench_startup.py             # 20 runs each, rewrites BENCHMARKS.md's section
    .venv/bin/python benchmarks/bench_startup.py --no-write  # print only

Each command runs in a fresh process; the table gives the median and the 90th percentile of the wall
time, and the median CPU time of the process (user + system: what the command costs, whatever else the
machine runs), beside a bare `python -c pass` measured in the same run (the interpreter's own start-up).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section  # noqa: E402

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass (the interpreter alone)": [sys.executable, "-c", "pass"],
    "python -c 'import embedrec'": [sys.executable, "-c", "import embedrec"],
    "embedrec --version": [str(BIN / "embedrec"), "--version"],
    "embedrec --help": [str(BIN / "embedrec"), "--help"],
    "python -c 'import embedrec; embedrec.Recommender' (query layer, no torch)": [
        sys.executable,
        "-c",
        "import embedrec; embedrec.Recommender",
    ],
    "python -c 'import torch' (for comparison)": [sys.executable, "-c", "import torch"],
}
TARGET = {"embedrec --version": 0.5, "embedrec --help": 0.5}


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `runs` fresh runs of a command."""
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    wall, cpu = [], []
    for _ in range(runs):
        cpu_before, start = children_cpu(), time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        wall.append(time.perf_counter() - start)
        cpu.append(children_cpu() - cpu_before)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = ["| command | median s | p90 s | CPU s (median) | target |", "|---|---:|---:|---:|---|"]
    for name, cmd in COMMANDS.items():
        wall, cpu = timed(cmd, args.runs)
        p90 = sorted(wall)[int(0.9 * (len(wall) - 1))]
        target = f"≤ {TARGET[name]} s" if name in TARGET else ""
        median, cpu_median = statistics.median(wall), statistics.median(cpu)
        rows.append(f"| `{name}` | {median:.3f} | {p90:.3f} | {cpu_median:.3f} | {target} |")
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            "## Start-up",
            "",
            f"Measured on {machine()}; {args.runs} fresh processes per command. The CLI lists its verbs",
            "without importing them, and `import embedrec` loads names on first use, so neither imports",
            "PyTorch, pandas or the web server until a verb or a model needs them; `embedrec --version`",
            "answers before the command tree (typer, rich) is loaded. Wall times grow with the machine's",
            "load (see the load average); CPU time does not.",
            "",
            *rows,
            "",
            "Command: `.venv/bin/python benchmarks/bench_startup.py`",
        ]
    )
    if not args.no_write:
        write_section("startup", text)


if __name__ == "__main__":
    main()
