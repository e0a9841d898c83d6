"""Writing one benchmark's section of BENCHMARKS.md between its own markers, atomically."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(name: str, markdown: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the block between `<!-- name:start -->` and `<!-- name:end -->`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_suffix(".md.part")
    tmp.write_text(text)
    os.replace(tmp, path)


def machine() -> str:
    """One line naming the hardware and software the figures come from."""
    import numpy as np
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads, load = torch.get_num_threads(), ""
    try:
        load = f", load average {os.getloadavg()[0]:.1f} at start"
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPU cores ({cpu}){load}; Python {platform.python_version()}, "
        f"torch {torch.__version__} ({threads} thread{'s' if threads != 1 else ''}), numpy {np.__version__}"
    )


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
