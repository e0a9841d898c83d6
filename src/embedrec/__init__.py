"""embedrec: learn dense embeddings for discrete things and put them to work."""

from importlib.metadata import PackageNotFoundError, version

from embedrec.ann import AnnIndex
from embedrec.datasets import list_datasets, load_dataset
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
from embedrec.metrics import mae, rmse
from embedrec.models import BiasBaseline, DotBias, FactorModel, GlobalMean, NeuralCF, Recommender
from embedrec.onehot import compare_onehot_lookup, lookup, one_hot
from embedrec.persist import load_model
from embedrec.ranking import GenreProfile, MostPopular, RankingReport, ranking_comparison, ranking_report
from embedrec.readers import read_ratings
from embedrec.recommend import Explanation
from embedrec.splits import predefined_split, random_split, temporal_split, user_split
from embedrec.titles import TitleError, TitleIndex

try:
    __version__ = version("embedrec")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "AnnIndex",
    "BiasBaseline",
    "DataError",
    "DatasetError",
    "DivergenceError",
    "DotBias",
    "EmbedrecError",
    "Explanation",
    "FactorModel",
    "GenreProfile",
    "GlobalMean",
    "IdMap",
    "Interactions",
    "ModelFormatError",
    "MostPopular",
    "NeuralCF",
    "NotFittedError",
    "RankingReport",
    "RatingScale",
    "Recommender",
    "TitleError",
    "TitleIndex",
    "UnknownIdError",
    "__version__",
    "compare_onehot_lookup",
    "list_datasets",
    "load_dataset",
    "load_model",
    "lookup",
    "mae",
    "one_hot",
    "predefined_split",
    "random_split",
    "ranking_comparison",
    "ranking_report",
    "read_ratings",
    "rmse",
    "temporal_split",
    "user_split",
]
