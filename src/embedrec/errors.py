"""The errors embedrec raises: each says where, what was received and what was expected.

A message that tells the caller what to pass names the argument with an `Arg`, so that it speaks the
caller's language: `str(error)` spells it as Python (`columns={'rating': 4}`), and the command line
renders the same error with its own flags (`--columns rating=4`) through `error.render(spell)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NO_VALUE = object()


@dataclass(frozen=True)
class Arg:
    """An argument named in an error message, with the value to pass when the message suggests one."""

    name: str
    value: Any = _NO_VALUE

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE

    def python(self) -> str:
        """The Python spelling: `name=value`, or the name alone when no value is suggested."""
        return f"{self.name}={self.value!r}" if self.has_value else self.name


Spelling = Callable[[Arg], str]


class EmbedrecError(Exception):
    """Base class of every error embedrec raises on purpose; the CLI prints it as one line.

    `message` may hold `{}` placeholders, one per `Arg` in `hints` (literal braces doubled then).
    """

    def __init__(self, message: str = "", *hints: Arg) -> None:
        self.template, self.hints = str(message), hints
        super().__init__(_fill(self.template, [h.python() for h in hints]) if hints else self.template)

    def render(self, spell: Spelling | None = None) -> str:
        """The message with each argument spelled by `spell` (default: as Python, as `str` gives it)."""
        if not self.hints or spell is None:
            return str(self)
        return _fill(self.template, [spell(h) for h in self.hints])


def _fill(template: str, parts: list[str]) -> str:
    """The template's `{}` filled in order; where received text put stray braces into it, each `{}` is
    replaced as it stands, so that building an error never raises an error of its own."""
    try:
        return template.format(*parts)
    except (ValueError, IndexError, KeyError):
        for part in parts:
            template = template.replace("{}", part, 1)
        return template


class DataError(EmbedrecError, ValueError):
    """Input data is malformed: names the file, line and field when they are known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hints: tuple[Arg, ...] = (),
    ) -> None:
        self.path, self.line, self.field = path, line, field
        where = ""
        if path is not None:
            where = str(path) + (f":{line}" if line is not None else "") + ": "
        if field is not None:
            where += f"field '{field}': "
        if hints:  # the location is literal text in a template
            where = where.replace("{", "{{").replace("}", "}}")
        super().__init__(where + message, *hints)


class ParameterError(EmbedrecError, ValueError):
    """A hyper-parameter or argument has a value the function cannot use: names it and what was expected."""


class UnsupportedQueryError(EmbedrecError, TypeError):
    """A model was asked for something it cannot answer (a popularity model has no vectors for `similar`)."""


class ResourceError(EmbedrecError, MemoryError):
    """A request would need more memory or time than allowed: says how much, and the largest that fits."""


class UnknownIdError(EmbedrecError, KeyError):
    """A raw user or item id (or title) that the id map does not know."""

    def __init__(self, kind: str, raw_id: object, hint: str = "") -> None:
        self.kind, self.raw_id = kind, raw_id
        super().__init__(f"unknown {kind} id {raw_id!r}" + (f" ({hint})" if hint else ""))

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class DatasetError(EmbedrecError):
    """A named dataset cannot be found, downloaded or verified."""


class NotFittedError(EmbedrecError, AttributeError):
    """A model was asked to predict before `fit` was called."""


class DivergenceError(EmbedrecError, ArithmeticError):
    """Training produced NaN or infinite values."""


class ModelFormatError(EmbedrecError, ValueError):
    """A saved model directory is missing, corrupt, truncated or from a future format."""
