"""Tables that fit the terminal: numbers are never cut or wrapped, text wraps, and what cannot fit moves.

rich shrinks every column of a table wider than the terminal, numbers included ("1,000,0…", "+0.…"). Every
verb builds its tables with `FitTable` instead, which picks its layout when it is printed, at the width
it is given: the first of these that fits.

1. Every column at its natural width.
2. Headers of number columns wrap between words (onto two lines); text columns wrap, down to their
   `min_width`.
3. The same with compact spacing: one space between columns and no vertical rules.
4. Optional text columns (`drop=`) left out, the highest `drop` first; the caption says which.
5. For tables with `key` columns (a matrix, a metric per column): the other columns split over stacked
   tables that each repeat the keys; headers fold inside words only if one column still does not fit.
6. One block per row, each value beside its header.

A number column is always at least as wide as its widest cell, so its cells never wrap and are never cut.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich import box as boxes
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

TEXT_MIN = 10  # narrowest a text column wraps to before it is left out
WIDE = 100_000  # "unlimited" width, for measuring


@dataclass(frozen=True)
class Col:
    """One column: its header, whether it holds numbers, and how it may give way."""

    header: str
    numeric: bool = False  # never wrapped, never cut; right-aligned
    justify: str | None = None
    style: str | None = None
    min_width: int = TEXT_MIN  # a text column wraps down to this width, no further
    drop: int = 0  # > 0: a text column that may be left out, the highest first
    key: bool = False  # repeated in every part when the columns are split


@dataclass(frozen=True)
class Plan:
    """A layout: column groups (one unless split) with their widths, the spacing, and what was left out."""

    groups: list[list[int]]
    widths: list[list[int]]
    compact: bool
    dropped: list[str]


def _cell_width(cell: str) -> int:
    """Width on screen of a cell given in rich markup (its longest line)."""
    return max((line.cell_len for line in Text.from_markup(cell).split("\n", allow_blank=True)), default=0)


def _longest_word(header: str) -> int:
    return max((len(word) for word in header.split()), default=0)


def _no_word(header: str) -> int:
    return 0


class FitTable:
    """A table whose layout is chosen when it is printed, to fit the width it is given (see the module).

    Used like `rich.table.Table`: `add_column(header, numeric=..., drop=..., key=...)`, `add_row(*cells)`,
    `console.print(table)`; other keyword arguments (box, padding, pad_edge, ...) go to the rich tables.
    """

    def __init__(self, title: str | None = None, *, caption: str | None = None, **table_kwargs: Any) -> None:
        self.title = title
        self.caption = caption
        self.table_kwargs = {"title_justify": "left", "caption_justify": "left", **table_kwargs}
        self.columns: list[Col] = []
        self.rows: list[list[str]] = []
        self.row_styles: list[str | None] = []
        self._widest: dict[int, int] = {}  # column -> widest cell, measured once

    def add_column(self, header: str, **spec: Any) -> None:
        """A column: `numeric=True` for numbers; text columns may set `min_width`, `drop` and `key`."""
        self.columns.append(Col(header, **spec))

    def add_row(self, *cells: Any, style: str | None = None) -> None:
        """One row of cells in rich markup (other values are turned into strings; None is blank)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(["" if c is None else str(c) for c in cells])
        self.row_styles.append(style)
        self._widest.clear()

    # -- widths ---------------------------------------------------------------------------------------

    def _content(self, j: int) -> int:
        if j not in self._widest:
            self._widest[j] = max((_cell_width(row[j]) for row in self.rows), default=0)
        return self._widest[j]

    def _natural(self, j: int) -> int:
        return max(self._content(j), len(self.columns[j].header), 1)

    def _kwargs(self, compact: bool) -> dict[str, Any]:
        if not compact:
            return self.table_kwargs
        spaced = self.table_kwargs.get("box", boxes.HEAVY_HEAD) is not None
        return {
            **self.table_kwargs,
            "box": boxes.SIMPLE_HEAD if spaced else None,  # the rules under the header stay
            "padding": (0, 1, 0, 0) if not spaced else (0, 0),  # one space between columns
            "pad_edge": False,
            "show_edge": False,
        }

    def _overhead(self, console: Console, n_columns: int, compact: bool) -> int:
        """Rules, separators and padding of a table of `n_columns` (measured on rich, not assumed)."""
        trial = Table(**self._kwargs(compact))
        for _ in range(n_columns):
            trial.add_column(width=1)
        return console.measure(trial, options=console.options.update_width(WIDE)).maximum - n_columns

    def _widths(
        self, cols: Sequence[int], room: int, header_room: Callable[[str], int] = _longest_word
    ) -> list[int] | None:
        """Widths of columns `cols` within `room` characters, or None: number columns as wide as their
        cells (and their headers' longest words), text columns wrapped as evenly as they can be."""
        natural = [self._natural(j) for j in cols]
        if sum(natural) <= room:
            return natural
        widths = list(natural)
        texts = []
        for i, j in enumerate(cols):
            c = self.columns[j]
            if c.numeric:
                widths[i] = max(self._content(j), header_room(c.header), 1)
            else:
                texts.append(i)
        left = room - sum(w for i, w in enumerate(widths) if i not in texts)
        floors = [self.columns[cols[i]].min_width for i in texts]
        fitted = _water_fill([natural[i] for i in texts], floors, left)
        if fitted is None:
            return None
        for i, w in zip(texts, fitted, strict=True):
            widths[i] = w
        return widths

    def _fit(
        self, console: Console, cols: list[int], width: int, compact: bool, header_room: Callable[[str], int]
    ) -> list[int] | None:
        return self._widths(cols, width - self._overhead(console, len(cols), compact), header_room)

    def plan(self, console: Console, width: int) -> Plan | None:
        """The first layout that fits `width` (module docstring), or None: one block per row."""
        kept = list(range(len(self.columns)))
        for compact in (False, True):
            widths = self._fit(console, kept, width, compact, _longest_word)
            if widths is not None:
                return Plan([kept], [widths], compact, [])
        dropped: list[str] = []
        for j in sorted((j for j, c in enumerate(self.columns) if c.drop > 0 and not c.numeric),
                        key=lambda j: -self.columns[j].drop):  # fmt: skip
            kept.remove(j)
            dropped.append(self.columns[j].header)
            widths = self._fit(console, kept, width, True, _longest_word)
            if widths is not None:
                return Plan([kept], [widths], True, dropped)
        keys = [j for j in kept if self.columns[j].key]
        if not keys:
            return None
        for header_room in (_longest_word, _no_word):
            split = self._split(console, keys, [j for j in kept if j not in keys], width, header_room)
            if split is not None:
                return Plan(split[0], split[1], True, dropped)
        return None

    def _split(
        self,
        console: Console,
        keys: list[int],
        rest: list[int],
        width: int,
        header_room: Callable[[str], int],
    ) -> tuple[list[list[int]], list[list[int]]] | None:
        """The fewest parts that fit, each the keys and a run of the other columns, as even in size as
        they can be; None when the keys and one column alone do not fit."""

        def fit(part: list[int]) -> list[int] | None:
            return self._fit(console, [*keys, *part], width, True, header_room)

        n_parts, current = 1, [rest[0]] if rest else []
        if rest and fit(current) is None:
            return None
        for j in rest[1:]:  # greedy: how many parts are needed at all
            if fit([*current, j]) is not None:
                current.append(j)
            elif fit([j]) is None:
                return None
            else:
                n_parts, current = n_parts + 1, [j]
        for parts in (n_parts, len(rest)):  # even runs; one column each always fits
            runs = [list(run) for run in np.array_split(np.array(rest, dtype=int), parts) if len(run)]
            widths = [fit([int(j) for j in run]) for run in runs]
            if all(w is not None for w in widths):
                return [[*keys, *map(int, run)] for run in runs], widths  # type: ignore[misc]
        return None

    # -- rendering ------------------------------------------------------------------------------------

    def _table(
        self, console: Console, cols: list[int], widths: list[int], compact: bool, title: Any, caption: Any
    ) -> RenderableType:
        """One rich table at these widths; a title or caption wider than it goes above or below it, at
        the terminal's width, rather than wrapping within the table's."""
        table_width = sum(widths) + self._overhead(console, len(cols), compact)
        above = below = None
        if title and _cell_width(title) > table_width:
            title, above = None, Text.from_markup(title, style="table.title")
        if caption and _cell_width(caption) > table_width:
            caption, below = None, Text.from_markup(caption, style="table.caption")
        table = Table(title=title, caption=caption, **self._kwargs(compact))
        for j, w in zip(cols, widths, strict=True):
            c = self.columns[j]
            table.add_column(
                c.header,
                justify=c.justify or ("right" if c.numeric else "left"),  # type: ignore[arg-type]
                style=c.style,
                width=w,
                overflow="fold",  # a word longer than its text column folds; a number never has to
            )
        for row, style in zip(self.rows, self.row_styles, strict=True):
            table.add_row(*(row[j] for j in cols), style=style)
        return Group(*(part for part in (above, table, below) if part is not None))

    def _vertical(self, width: int) -> Group:
        """One block per row, each value beside its header, or under it where a number would not fit
        beside the longest header: for terminals too narrow for any table."""
        header_width = max((len(c.header) for c in self.columns), default=0)
        widest_number = max((self._content(j) for j, c in enumerate(self.columns) if c.numeric), default=0)
        beside = header_width + 1 + widest_number <= width
        parts: list[RenderableType] = []
        if self.title:
            parts.append(Text.from_markup(self.title, style="table.title"))
        for row, style in zip(self.rows, self.row_styles, strict=True):
            grid = Table.grid(padding=(0, 1))
            if beside:
                grid.add_column(style="dim", no_wrap=True)
                grid.add_column(overflow="fold", style=style)
                for c, cell in zip(self.columns, row, strict=True):
                    grid.add_row(c.header, cell)
            else:
                grid.add_column(overflow="fold", style=style)
                for c, cell in zip(self.columns, row, strict=True):
                    grid.add_row(Text(c.header, style="dim"))
                    grid.add_row(cell)
            parts += [grid, Text("")]
        if self.caption:
            parts.append(Text.from_markup(self.caption, style="table.caption"))
        return Group(*parts)

    def layout(self, console: Console, width: int) -> RenderableType:
        """What is printed at `width`: one table, stacked parts of it, or one block per row."""
        plan = self.plan(console, width)
        if plan is None:
            return self._vertical(width)
        caption = self.caption
        if plan.dropped:
            note = f"[dim]not shown at this width: {', '.join(plan.dropped)}[/]"
            caption = f"{caption}\n{note}" if caption else note
        last = len(plan.groups) - 1
        parts: list[RenderableType] = []
        for k, (cols, widths) in enumerate(zip(plan.groups, plan.widths, strict=True)):
            title = self.title if k == 0 else None
            parts.append(
                self._table(console, cols, widths, plan.compact, title, caption if k == last else None)
            )
            if plan.compact:  # a compact table has no edges: a blank line keeps it apart from what follows
                parts.append(Text(""))
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        yield self.layout(console, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        n = len(self.columns)
        full = sum(self._natural(j) for j in range(n)) + self._overhead(console, n, False)
        return Measurement(min(full, options.max_width), min(full, options.max_width))


def _water_fill(natural: list[int], floor: list[int], room: int) -> list[int] | None:
    """Widths between min(floor, natural) and natural summing to at most `room`, the widest giving way
    first (so they end as equal as they can be), or None when even the floors do not fit."""
    low = [min(f, n) for f, n in zip(floor, natural, strict=True)]
    if sum(low) > room:
        return None
    level = max(natural, default=0)
    while sum(max(lo, min(n, level)) for lo, n in zip(low, natural, strict=True)) > room:
        level -= 1
    return [max(lo, min(n, level)) for lo, n in zip(low, natural, strict=True)]
