"""Argument checks shared by every layer: each raises ParameterError naming the argument and what it takes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from embedrec.errors import ParameterError


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
