"""The errors embedrec raises: each says where, what was received and what was expected."""

from __future__ import annotations


class EmbedrecError(Exception):
    """Base class of every error embedrec raises on purpose; the CLI prints it as one line."""


class DataError(EmbedrecError, ValueError):
    """Input data is malformed: names the file, line and field when they are known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.line, self.field = path, line, field
        where = ""
        if path is not None:
            where = str(path) + (f":{line}" if line is not None else "") + ": "
        if field is not None:
            where += f"field '{field}': "
        super().__init__(where + message)


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
