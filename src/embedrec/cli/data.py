"""CLI verbs about data: `datasets` and `info`."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    """Add the data verbs to the CLI."""
