"""embedrec: learn dense embeddings for discrete things and put them to work.

The public names load on first use (PEP 562), so `import embedrec` and `embedrec --version` stay fast
and PyTorch is imported only when a model that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"  # the package's version: pyproject.toml reads it from here

# public name -> the module that defines it, layer by layer
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "DataError",
            "DatasetError",
            "DivergenceError",
            "EmbedrecError",
            "ModelFormatError",
            "NotFittedError",
            "ParameterError",
            "ResourceError",
            "UnknownIdError",
            "UnsupportedQueryError",
        ],
        "embedrec.errors",
    ),
    "mae": "embedrec.metrics",
    "rmse": "embedrec.metrics",
    # data
    "IdMap": "embedrec.data.idmap",
    "Interactions": "embedrec.data.interactions",
    "RatingScale": "embedrec.data.interactions",
    "read_ratings": "embedrec.data.readers",
    "implicit": "embedrec.data.implicit",
    "read_table": "embedrec.data.tables",
    "list_datasets": "embedrec.data.datasets",
    "load_dataset": "embedrec.data.datasets",
    "predefined_split": "embedrec.data.splits",
    "random_split": "embedrec.data.splits",
    "temporal_split": "embedrec.data.splits",
    "user_split": "embedrec.data.splits",
    "Catalogue": "embedrec.data.catalogue",
    "EmbeddingTable": "embedrec.data.embeddings",
    "load_vectors": "embedrec.data.vectors",
    "init_matrix": "embedrec.data.vectors",
    "TitleError": "embedrec.data.titles",
    "TitleIndex": "embedrec.data.titles",
    "LineCorpus": "embedrec.data.text",
    "Tokenizer": "embedrec.data.text",
    # models
    "Estimator": "embedrec.models.base",
    "ALS": "embedrec.models.als",
    "BPR": "embedrec.models.bpr",
    "EASE": "embedrec.models.ease",
    "FoldedUser": "embedrec.models.base",
    "BayesianDotBias": "embedrec.models.bayes",
    "BiasBaseline": "embedrec.models.baselines",
    "GenreProfile": "embedrec.models.baselines",
    "GlobalMean": "embedrec.models.baselines",
    "MostPopular": "embedrec.models.baselines",
    "DotBias": "embedrec.models.dotbias",
    "FactorModel": "embedrec.models.factor",
    "NeuralCF": "embedrec.models.neural",
    "TabularModel": "embedrec.models.tabular",
    "EmbeddingEncoder": "embedrec.models.tabular_encoder",
    "data_parallel": "embedrec.models.distributed",
    "Item2Vec": "embedrec.models.item2vec",
    "TextClassifier": "embedrec.models.text_classifier",
    "Word2Vec": "embedrec.models.word2vec",
    "load_model": "embedrec.models.persist",
    "compare_onehot_lookup": "embedrec.models.onehot",
    "lookup": "embedrec.models.onehot",
    "one_hot": "embedrec.models.onehot",
    # queries
    "AnnIndex": "embedrec.query.ann",
    "Explanation": "embedrec.query.explain",
    "Recommender": "embedrec.query.recommender",
    "RankingReport": "embedrec.query.ranking",
    "ranking_comparison": "embedrec.query.ranking",
    "ranking_report": "embedrec.query.ranking",
    "new_user_report": "embedrec.query.ranking",
    "analogy_accuracy": "embedrec.query.wordeval",
    "word_similarity": "embedrec.query.wordeval",
    # showing
    "export": "embedrec.show.export",
    "plot_map": "embedrec.show.plots",
    "project": "embedrec.show.projection",
    "write_html": "embedrec.show.mapview",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'embedrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
