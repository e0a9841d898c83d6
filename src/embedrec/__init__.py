"""embedrec: learn dense embeddings for discrete things and put them to work."""

from importlib.metadata import PackageNotFoundError, version

from embedrec.errors import (
    DataError,
    DatasetError,
    DivergenceError,
    EmbedrecError,
    ModelFormatError,
    NotFittedError,
    UnknownIdError,
)
from embedrec.idmap import IdMap
from embedrec.interactions import Interactions, RatingScale

try:
    __version__ = version("embedrec")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "DataError",
    "DatasetError",
    "DivergenceError",
    "EmbedrecError",
    "IdMap",
    "Interactions",
    "ModelFormatError",
    "NotFittedError",
    "RatingScale",
    "UnknownIdError",
    "__version__",
]
