"""The options every verb that reads a ratings file shares, and the CLI spelling of library arguments.

`@reads_data` adds `--columns`, `--sep`, `--header/--no-header`, `--scale`, `--encoding`, `--items` and
`--item-columns` to a verb and hands it one `ReadSpec`, whose `kwargs()` are `read_ratings`' arguments.
`cli_spelling` renders an `Arg` named in a library error as the flag that sets it here
(`columns={'rating': 4}` becomes `--columns rating=4`), so that CLI errors name CLI flags.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from embedrec.errors import Arg, ParameterError

SEPARATORS = {
    "tab": "\t",
    "\\t": "\t",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "space": " ",
    "colons": "::",
}
SEP_NAMES = {"\t": "tab", " ": "space"}
ROLE_FLAGS = {"timestamp": "time"}
# library argument -> CLI flag, where the two names differ
FLAGS = {"n_factors": "--factors", "header": "--header", "data_dir": "--data-dir"}


@dataclass(frozen=True)
class ReadSpec:
    """How to read a ratings file, as the command line gave it (None: sniff it)."""

    columns: dict[str, str | int | None] | None = None
    sep: str | None = None
    header: bool | None = None
    scale: tuple[float, float] | None = None
    encoding: str = "utf-8"
    items: Path | None = None
    item_columns: dict[str, str | int | None] | None = None

    def kwargs(self) -> dict[str, Any]:
        """`read_ratings` keyword arguments; only those the command line set."""
        out = {k: getattr(self, k) for k in ("columns", "sep", "header", "scale", "items", "item_columns")}
        out = {k: v for k, v in out.items() if v is not None}
        if self.encoding != "utf-8":
            out["encoding"] = self.encoding
        return out


def parse_columns(text: str | None, flag: str = "--columns") -> dict[str, str | int | None] | None:
    """'user=0,item=1,rating=4,time=5' -> {'user': 0, ...}: positions from 0, header names, or none."""
    if text is None:
        return None
    out: dict[str, str | int | None] = {}
    for part in text.split(","):
        role, eq, column = part.partition("=")
        if not eq or not role.strip():
            raise ParameterError(
                f"{flag} takes ROLE=COLUMN pairs such as user=0,item=1,rating=4; got {text!r}"
            )
        value = column.strip()
        out[role.strip()] = (
            None if value.lower() in ("none", "") else int(value) if value.isdigit() else value
        )
    return out


def parse_sep(text: str | None) -> str | None:
    if text is None:
        return None
    return SEPARATORS.get(text.lower(), text)


def parse_scale(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ParameterError(f"--scale takes LOW,HIGH such as 1,5 or 0,10; got {text!r}") from None
    if not low < high:
        raise ParameterError(f"--scale needs LOW < HIGH; got {text!r}")
    return low, high


_READ_PARAMS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, annotation, default in (
        ("columns", Annotated[str | None, typer.Option(
            "--columns", help="Which column is what: user=0,item=1,rating=4,time=5 (positions from 0, "
            "or header names; rating=none: no ratings, every row counts once; count=N: a count column). "
            "Default: by names, then by values.", rich_help_panel="Reading the data")], None),
        ("sep", Annotated[str | None, typer.Option(
            "--sep", help="Field separator: ',', ';', '|', '::', tab or space (default: sniffed).",
            rich_help_panel="Reading the data")], None),
        ("header", Annotated[bool | None, typer.Option(
            "--header/--no-header", help="Whether the first line names the columns (default: sniffed).",
            rich_help_panel="Reading the data", show_default=False)], None),
        ("scale", Annotated[str | None, typer.Option(
            "--scale", help="The rating scale LOW,HIGH, e.g. 0,10; ratings outside it are errors (default: "
            "the data's range).", rich_help_panel="Reading the data")], None),
        ("encoding", Annotated[str, typer.Option(
            "--encoding", help="Text encoding of the files, e.g. latin-1.",
            rich_help_panel="Reading the data")],
         "utf-8"),
        ("items", Annotated[Path | None, typer.Option(
            "--items", help="Item metadata file (titles, years, genres): CSV, TSV, '::' or JSON lines.",
            rich_help_panel="Reading the data")], None),
        ("item_columns", Annotated[str | None, typer.Option(
            "--item-columns", help="Which column of --items is what: id=0,title=1,year=2,genres=3 (default: "
            "by names, then by values).", rich_help_panel="Reading the data")], None),
    )
]  # fmt: skip
READ_NAMES = [p.name for p in _READ_PARAMS]


def reads_data(verb: Callable[..., Any]) -> Callable[..., Any]:
    """Give a verb the shared reading options; it receives them as `read: ReadSpec`."""
    signature = inspect.signature(verb, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "read"]

    @functools.wraps(verb)
    def run(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in READ_NAMES}
        spec = ReadSpec(
            columns=parse_columns(given["columns"]),
            sep=parse_sep(given["sep"]),
            header=given["header"],
            scale=parse_scale(given["scale"]),
            encoding=given["encoding"],
            items=given["items"],
            item_columns=parse_columns(given["item_columns"], "--item-columns"),
        )
        return verb(*args, read=spec, **kwargs)

    run.__signature__ = signature.replace(parameters=[*own, *_READ_PARAMS])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in run.__signature__.parameters.values()}  # type: ignore[attr-defined]
    del run.__wrapped__  # typer must see the new signature, not the verb's
    return run


def cli_spelling(arg: Arg) -> str:
    """An argument named in a library error, as the command-line flag (and value) that sets it."""
    name = arg.name
    if name in ("columns", "item_columns"):
        flag = "--columns" if name == "columns" else "--item-columns"
        if not arg.has_value:
            return flag
        pairs = [f"{ROLE_FLAGS.get(k, k)}={'none' if v is None else v}" for k, v in dict(arg.value).items()]
        return f"{flag} {','.join(pairs)}"
    if name == "header":
        return "--no-header" if arg.has_value and arg.value is False else "--header/--no-header"
    if name == "scale":
        if not arg.has_value:
            return "--scale"
        low, high = arg.value[:2]
        return f"--scale {low:g},{high:g}"
    if name == "sep" and arg.has_value:
        return f"--sep {SEP_NAMES.get(arg.value, repr(arg.value))}"
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    return flag if not arg.has_value or arg.value is True else f"{flag} {arg.value}"
