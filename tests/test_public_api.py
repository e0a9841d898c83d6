"""The public API is what `embedrec.__all__` lists; changing it is a deliberate act."""

import embedrec

EXPECTED = {
    "ALS",
    "word_similarity",
    "analogy_accuracy",
    "Word2Vec",
    "Tokenizer",
    "TextClassifier",
    "LineCorpus",
    "Item2Vec",
    "AnnIndex",
    "BPR",
    "BayesianDotBias",
    "BiasBaseline",
    "Catalogue",
    "DataError",
    "DatasetError",
    "DivergenceError",
    "DotBias",
    "EASE",
    "EmbeddingEncoder",
    "EmbeddingTable",
    "EmbedrecError",
    "Estimator",
    "Explanation",
    "FactorModel",
    "FoldedUser",
    "GenreProfile",
    "GlobalMean",
    "IdMap",
    "Interactions",
    "ModelFormatError",
    "MostPopular",
    "NeuralCF",
    "NotFittedError",
    "ParameterError",
    "RankingReport",
    "RatingScale",
    "Recommender",
    "ResourceError",
    "TabularModel",
    "TitleError",
    "TitleIndex",
    "UnknownIdError",
    "UnsupportedQueryError",
    "__version__",
    "compare_onehot_lookup",
    "data_parallel",
    "export",
    "implicit",
    "init_matrix",
    "list_datasets",
    "load_dataset",
    "load_model",
    "load_vectors",
    "lookup",
    "mae",
    "new_user_report",
    "one_hot",
    "plot_map",
    "predefined_split",
    "project",
    "random_split",
    "ranking_comparison",
    "ranking_report",
    "read_ratings",
    "read_table",
    "rmse",
    "temporal_split",
    "user_split",
    "write_html",
}


def test_all_is_pinned() -> None:
    assert set(embedrec.__all__) == EXPECTED


def test_every_name_in_all_exists() -> None:
    for name in embedrec.__all__:
        assert hasattr(embedrec, name), name


def test_import_does_not_load_torch() -> None:
    import subprocess
    import sys

    code = (
        "import embedrec, sys; embedrec.Recommender; embedrec.BayesianDotBias; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
