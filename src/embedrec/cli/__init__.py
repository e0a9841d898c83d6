"""The `embedrec` command line: a thin layer over the library."""

from __future__ import annotations

import importlib
import sys

from embedrec import __version__


def main() -> None:
    """The `embedrec` executable: `--version` answers before the command tree (typer, rich) is loaded."""
    if sys.argv[1:] == ["--version"]:
        print(f"embedrec {__version__}")
        return
    importlib.import_module("embedrec.cli.main").app()
