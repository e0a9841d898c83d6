"""What a column's first values look like: ids, a rating scale, epoch times, dates, or text.

`Profile` looks at a sample of one column's values (as written in the file) and answers the questions
the column chooser asks: could this be a rating (a plausible scale, not an id), is it a time (epoch
seconds or milliseconds, or dates in one format), and how to say what it holds in one short phrase.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

INT = re.compile(r"^[+-]?\d+$")
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
# epoch seconds from 1980 to 2050; milliseconds the same times a thousand
EPOCH_SECONDS = (315_532_800, 2_524_608_000)
EPOCH_MS = (EPOCH_SECONDS[0] * 1000, EPOCH_SECONDS[1] * 1000)
# date formats tried on text columns (ISO 8601 is recognised first, by its shape)
DATE_FORMATS = (
    "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%Y %H:%M:%S", "%m %d, %Y", "%b %d, %Y",
    "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%a %b %d %H:%M:%S %z %Y", "%a, %d %b %Y %H:%M:%S %z",
)  # fmt: skip
SCALE_MAX_DISTINCT = 21  # a rating scale has at most this many values (0..10 in halves); more is an id
DAY_MONTH = ("%m/%d/%Y", "%d/%m/%Y")


class Profile:
    """One column's sample: its kind (integer, number, text, empty) and what it could be."""

    def __init__(self, position: int, name: str, values: list[str]) -> None:
        self.position, self.name = position, name
        cleaned = [v.strip().strip('"').strip() for v in values]
        self.values = [v for v in cleaned if v != ""]
        self.empty = len(cleaned) - len(self.values)

    @cached_property
    def kind(self) -> str:
        if not self.values:
            return "empty"
        if all(INT.match(v) for v in self.values):
            return "integer"
        if all(NUMBER.match(v) for v in self.values):
            return "number"
        return "text"

    @cached_property
    def numbers(self) -> np.ndarray:
        if self.kind not in ("integer", "number"):
            return np.empty(0)
        return np.array([float(v) for v in self.values])

    @property
    def low(self) -> float:
        return float(self.numbers.min())

    @property
    def high(self) -> float:
        return float(self.numbers.max())

    @cached_property
    def distinct(self) -> int:
        return len(set(self.values))

    @cached_property
    def counter(self) -> bool:
        """A running counter (row numbers): consecutive integers, one per row."""
        x = self.numbers
        return self.kind == "integer" and len(x) >= 3 and bool(np.all(np.diff(x) == 1))

    @cached_property
    def leading_zeros(self) -> bool:
        """Some value is an integer written with a leading zero (IMDb's 0120338): kept as text."""
        return any(len(v) > 1 and v[0] == "0" and v.isdigit() for v in self.values)

    @cached_property
    def time_format(self) -> str | None:
        """'epoch-s', 'epoch-ms', 'ISO8601' or a strptime format when every value is such a time."""
        if self.kind in ("integer", "number") and not self.counter:
            low, high = self.low, self.high
            if EPOCH_SECONDS[0] <= low and high <= EPOCH_SECONDS[1]:
                return "epoch-s"
            if EPOCH_MS[0] <= low and high <= EPOCH_MS[1] and self.kind == "integer":
                return "epoch-ms"
            return None
        if self.kind != "text":
            return None
        sample = self.values[:200]
        if all(ISO_DATE.match(v) for v in sample):
            return "ISO8601"
        fitting = [f for f in DATE_FORMATS if _all_parse(sample, f)]
        if set(DAY_MONTH) <= set(fitting):
            return "ambiguous day/month"
        return fitting[0] if fitting else None

    def rating_like(self) -> str:
        """'yes' for a plausible rating scale, 'maybe' for a 0..100 column of many integers, else 'no'."""
        if self.kind not in ("integer", "number"):
            return "no"
        low, high = self.low, self.high
        if -10 <= low and high <= 10:
            return "yes"
        if self.counter or self.leading_zeros or low < 0 or high > 100 or high < 50:
            return "no"  # 11..49 is no rating scale people use; over 100 are ids, counts or times
        return "yes" if self.distinct <= SCALE_MAX_DISTINCT else "maybe"

    def summary(self) -> str:
        """What the sampled values are, in a few words: 'values 1..5', 'epoch seconds 2001-02-03..'."""
        fmt = self.time_format
        if fmt in ("epoch-s", "epoch-ms"):
            scale = 1000 if fmt == "epoch-ms" else 1
            first, last = (_day(v / scale) for v in (self.low, self.high))
            return f"epoch {'milliseconds' if scale > 1 else 'seconds'} {first}..{last}"
        if fmt is not None:
            return f"dates like {self.values[0]!r}"
        if self.kind in ("integer", "number"):
            what = "integers" if self.kind == "integer" else "values"
            return f"{what} {self.low:g}..{self.high:g}" + (
                f", {self.distinct:,} distinct" if self.distinct > SCALE_MAX_DISTINCT else ""
            )
        if self.kind == "empty":
            return "empty"
        return f"text like {self.values[0][:24]!r}"

    def why_not(self) -> str:
        """Why this column is not the rating or the time, for the list of ignored columns."""
        if self.kind == "text" and self.time_format is None:
            return self.summary()
        if self.counter:
            return f"a running counter ({self.summary()})"
        if self.kind == "integer" and self.distinct > SCALE_MAX_DISTINCT:
            return f"an id ({self.summary()})"
        if self.time_format == "ambiguous day/month":
            return f"{self.summary()}: day/month or month/day cannot be told apart"
        if self.time_format is not None:
            return self.summary()
        if self.kind in ("integer", "number") and self.rating_like() == "no":
            return f"{self.summary()}: not a rating scale"
        return self.summary()

    def describe(self) -> str:
        return f"column {self.position + 1}" + (
            "" if self.name == f"column {self.position + 1}" else f" {self.name!r}"
        )


def _all_parse(values: list[str], fmt: str) -> bool:
    try:
        for v in values:
            datetime.strptime(v, fmt)
    except ValueError:
        return False
    return True


def _day(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%d}"


def profiles_of(names: list[str], rows: list[list[str]]) -> list[Profile]:
    """A profile per column from sampled rows (lists of field strings)."""
    return [Profile(j, name, [row[j] for row in rows if j < len(row)]) for j, name in enumerate(names)]
