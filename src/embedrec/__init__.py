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
from embedrec.export import export
from embedrec.idmap import IdMap
from embedrec.interactions import Interactions, RatingScale
from embedrec.mapview import write_html
from embedrec.metrics import mae, rmse
from embedrec.models import BiasBaseline, DotBias, FactorModel, GlobalMean, NeuralCF, Recommender
from embedrec.onehot import compare_onehot_lookup, lookup, one_hot
from embedrec.persist import load_model
from embedrec.plots import plot_map
from embedrec.projection import EmbeddingTable, project
from embedrec.ranking import GenreProfile, MostPopular, RankingReport, ranking_comparison, ranking_report
from embedrec.readers import read_ratings
from embedrec.recommend import Explanation
from embedrec.splits import predefined_split, random_split, temporal_split, user_split
from embedrec.titles import TitleError, TitleIndex
from embedrec.vectors import Vectors, init_matrix, load_vectors

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
    "EmbeddingTable",
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
    "Vectors",
    "__version__",
    "compare_onehot_lookup",
    "export",
    "init_matrix",
    "list_datasets",
    "load_dataset",
    "load_model",
    "load_vectors",
    "lookup",
    "mae",
    "one_hot",
    "plot_map",
    "predefined_split",
    "project",
    "random_split",
    "ranking_comparison",
    "ranking_report",
    "read_ratings",
    "rmse",
    "temporal_split",
    "user_split",
    "write_html",
]
