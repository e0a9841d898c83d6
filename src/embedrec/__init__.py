"""embedrec: learn dense embeddings for discrete things and put them to work."""

from importlib.metadata import PackageNotFoundError, version

from embedrec.data.datasets import list_datasets, load_dataset
from embedrec.data.idmap import IdMap
from embedrec.data.interactions import Interactions, RatingScale
from embedrec.data.readers import read_ratings
from embedrec.data.splits import predefined_split, random_split, temporal_split, user_split
from embedrec.data.titles import TitleError, TitleIndex
from embedrec.data.vectors import Vectors, init_matrix, load_vectors
from embedrec.errors import (
    DataError,
    DatasetError,
    DivergenceError,
    EmbedrecError,
    ModelFormatError,
    NotFittedError,
    UnknownIdError,
)
from embedrec.metrics import mae, rmse
from embedrec.models import BiasBaseline, DotBias, FactorModel, GlobalMean, NeuralCF, Recommender
from embedrec.models.onehot import compare_onehot_lookup, lookup, one_hot
from embedrec.models.persist import load_model
from embedrec.query.ann import AnnIndex
from embedrec.query.ranking import (
    GenreProfile,
    MostPopular,
    RankingReport,
    ranking_comparison,
    ranking_report,
)
from embedrec.query.recommend import Explanation
from embedrec.show.export import export
from embedrec.show.mapview import write_html
from embedrec.show.plots import plot_map
from embedrec.show.projection import EmbeddingTable, project

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
