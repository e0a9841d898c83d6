"""Argument checks shared by every layer: each raises ParameterError naming the argument and what it takes,
or ResourceError when a size would need more memory than is allowed."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedrec.errors import ParameterError, ResourceError


def pick(table: Mapping[str, Any], name: str, what: str) -> Any:
    """Look a function up by name; an unknown name raises an error listing the valid ones."""
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown {what} {name!r}; choose one of {', '.join(sorted(table))}") from None


def check_choice(name: str, value: object, choices: Mapping[str, Any] | tuple[str, ...]) -> None:
    """Raise a ParameterError listing the valid choices unless `value` is one of them."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value
        ok = False
    if not ok:
        raise ParameterError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")


def check_n(n: Any, name: str = "n") -> int:
    """A count of results asked for, as a positive int."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ParameterError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def check_positive(name: str, value: object, *, integer: bool = False) -> None:
    """Raise a ParameterError naming the argument unless it is a positive (integer) number."""
    ok = (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
    if integer:
        ok = ok and isinstance(value, int | np.integer)
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise ParameterError(f"{name} must be {kind}, got {value!r}")


def check_non_negative(name: str, value: object) -> float:
    """A finite number >= 0 (not a bool), as a float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ParameterError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


# -- memory: every size argument is checked against an estimate before anything is allocated ----------
MEMORY_ENV = "EMBEDREC_MAX_MEMORY"  # a cap in bytes ("4GiB", "512MiB" and "2e9" work too)
_UNITS = {"": 1, "b": 1, "k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mib": 2**20, "mb": 10**6,
          "g": 2**30, "gib": 2**30, "gb": 10**9, "t": 2**40, "tib": 2**40, "tb": 10**12}  # fmt: skip
MEMORY_SHARE = 0.8  # of the memory available now: the rest is left to the process's other needs


def format_bytes(n: float) -> str:
    """Human-readable byte count in binary units (`4.0 MiB`), for messages and tables."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TiB" if size < 10**4 else f"{size:.3g} TiB"


def parse_bytes(text: str) -> int:
    """'4GiB', '512 MiB', '2e9' -> bytes; a ParameterError names the text otherwise."""
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if match is None or match.group(2) not in _UNITS:
        raise ParameterError(f"{text!r} is not a memory size (write it like 4GiB, 512MiB or 2e9)")
    try:
        return int(float(match.group(1)) * _UNITS[match.group(2)])
    except (ValueError, OverflowError):
        raise ParameterError(f"{text!r} is not a memory size (write it like 4GiB, 512MiB or 2e9)") from None


def available_memory() -> int | None:
    """Memory this process can still take in bytes: MemAvailable, lowered to a cgroup's limit; None if
    neither can be read (not Linux)."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:  # a container's memory limit (cgroup v2), minus what it already uses
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            found.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def memory_budget() -> int:
    """Bytes one request may allocate: $EMBEDREC_MAX_MEMORY if set, else 80% of the available memory."""
    cap = os.environ.get(MEMORY_ENV)
    if cap:
        return parse_bytes(cap)
    available = available_memory()
    return int(MEMORY_SHARE * available) if available is not None else 1 << 40


def check_memory(
    name: str,
    value: int,
    bytes_for: Callable[[int], float],
    what: str,
    *,
    budget: int | None = None,
    budget_name: str = "budget",
) -> None:
    """Raise a one-line ResourceError unless `bytes_for(value)` fits the memory budget (`memory_budget()`
    unless given); the message says how much it would take and the largest value of `name` that fits
    (`bytes_for` grows with its argument)."""
    limit = memory_budget() if budget is None else budget
    allowed = f"allowed ({MEMORY_ENV} or 80% of the free memory)" if budget is None else budget_name
    need = bytes_for(value)
    if need <= limit:
        return
    low, high = 0, value  # bytes_for(low) fits (or low is 0), bytes_for(high) does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if bytes_for(mid) <= limit else (low, mid)
    fits = f"the largest {name} that fits is {low:,}" if low else f"not even {name}=1 fits"
    raise ResourceError(
        f"{name}={value:,} would need {format_bytes(need)} for {what}, more than the {format_bytes(limit)} "
        f"{allowed}; {fits}"
    )
