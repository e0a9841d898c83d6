"""TabularModel and EmbeddingEncoder on small tables with planted structure, plus the sklearn contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load_file
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from embedrec import DataError, EmbeddingTable, ModelFormatError, NotFittedError, ParameterError, load_model
from embedrec.models.tabular import TabularModel
from embedrec.models.tabular_encoder import EmbeddingEncoder
from embedrec.models.training import LOSSES, TrainConfig
from embedrec.show.export import export

# Each colour adds a known amount to y; red/cyan, green/yellow and blue/magenta behave the same.
EFFECT = {"red": 2.0, "cyan": 2.0, "green": -2.0, "yellow": -2.0, "blue": 0.0, "magenta": 0.0}
SMALL = {"hidden": (32,), "epochs": 10}


def planted(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    colour = rng.choice(list(EFFECT), n)
    size = rng.normal(0, 1, n)
    y = np.array([EFFECT[c] for c in colour]) + 0.5 * size + rng.normal(0, 0.1, n)
    return pd.DataFrame({"colour": colour, "size": size}), y


@pytest.fixture(scope="module")
def regression() -> TabularModel:
    X, y = planted()
    return TabularModel(**SMALL).fit(X, y)


@pytest.fixture(scope="module")
def classifier() -> TabularModel:
    X, y = planted(seed=1)
    labels = np.where(y > 1, "high", np.where(y < -1, "low", "mid"))
    return TabularModel(**SMALL).fit(X, pd.Series(labels, name="level"))


def grid(colours: list[str], size: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"colour": colours, "size": size})


def test_learns_the_planted_effect_of_each_category(regression: TabularModel) -> None:
    assert regression.task_ == "regression" and regression.schema_.names("categorical") == ["colour"]
    pred = regression.predict(grid(list(EFFECT)))
    np.testing.assert_allclose(pred, list(EFFECT.values()), atol=0.25)  # noise sd 0.1: the effects are clear
    slope = regression.predict(grid(["blue"], 1.0))[0] - regression.predict(grid(["blue"], -1.0))[0]
    assert slope == pytest.approx(1.0, abs=0.25)  # y grows by 0.5 per unit of size


def test_categories_that_behave_the_same_get_near_vectors(regression: TabularModel) -> None:
    table = regression.embeddings_["colour"]
    assert isinstance(table, EmbeddingTable) and set(table.keys) == set(EFFECT)
    twins = {"red": "cyan", "cyan": "red", "green": "yellow", "yellow": "green", "blue": "magenta"}
    for colour, twin in twins.items():
        assert table.similar(colour, 1, metric="euclidean")[0][0] == twin
    assert table.counts.sum() == 2000


def test_unseen_categories_use_the_learned_unknown_row(regression: TabularModel) -> None:
    unseen = regression.predict(grid(["purple", None]))
    unknown = regression.net_.embeddings[0].weight[0].detach().numpy()
    assert regression.column_vectors(grid(["purple"]))["colour"][0].tolist() == unknown.tolist()
    assert (
        unseen[0] == pytest.approx(unseen[1], abs=1e-5) and -2.0 < unseen[0] < 2.0
    )  # between the known effects


def test_missing_numbers_are_imputed_with_an_indicator() -> None:
    X, y = planted(800)
    X.loc[::4, "size"] = np.nan
    model = TabularModel(**SMALL).fit(X, y)
    assert model.encoder_.features == ["size", "size_na"]
    assert np.isfinite(model.predict(grid(["red"], np.nan))).all()


def test_classes_probabilities_and_score(classifier: TabularModel) -> None:
    assert classifier.task_ == "multiclass" and classifier.classes_.tolist() == ["high", "low", "mid"]
    assert classifier.target_name_ == "level"
    proba = classifier.predict_proba(grid(["red", "green", "blue"]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert classifier.predict(grid(["red", "green", "blue"])).tolist() == ["high", "low", "mid"]
    X, y = planted(500, seed=2)
    truth = np.where(y > 1, "high", np.where(y < -1, "low", "mid"))
    assert classifier.score(X, truth) > 0.85
    assert set(classifier.evaluate(X, truth)) == {"accuracy", "ROC AUC", "log loss"}


def test_binary_task_class_weights_and_loss_by_name(tmp_path: Path) -> None:
    X, y = planted(1000)
    label = y > 1.5  # about a third positive
    plain = TabularModel(**SMALL).fit(X, label)
    weighted = TabularModel(**SMALL, class_weight={True: 5.0, False: 1.0}).fit(X, label)
    assert plain.task_ == "binary" and plain.predict_proba(X).shape == (1000, 2)
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()  # weights tilt it
    assert load_model(weighted.save(tmp_path / "w")).class_weight == {True: 5.0, False: 1.0}
    assert set(LOSSES) == {"mse", "bce", "cross_entropy"}
    with pytest.raises(ParameterError, match="unknown loss 'hinge'; choose one of 'mse', 'bce'"):
        TrainConfig(loss="hinge")


def test_losses_match_their_dense_definitions() -> None:
    out, target = torch.tensor([0.3, -1.2]), torch.tensor([1.0, 0.0])
    p = torch.sigmoid(out)
    expected = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    torch.testing.assert_close(LOSSES["bce"](out, target), expected)
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    expected = -torch.log_softmax(logits, dim=1)[0, 2]
    torch.testing.assert_close(LOSSES["cross_entropy"](logits, torch.tensor([2.0]))[0], expected)


def test_sklearn_contract_clone_pipeline_cross_val() -> None:
    X, y = planted(600)
    model = TabularModel(hidden=(16,), epochs=5, dropout=0.2)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(epochs=6) is model and model.epochs == 6
    scores = cross_val_score(TabularModel(**SMALL), X, y, cv=3)
    assert len(scores) == 3 and scores.min() > 0.8
    piped = make_pipeline(EmbeddingEncoder(TabularModel(**SMALL)), LinearRegression()).fit(X, y)
    assert piped.score(X, y) > 0.9  # a linear model on the learned colour vectors finds the effects
    with pytest.raises(NotFittedError, match="not fitted yet"):
        TabularModel().predict(X)


def test_arrays_as_input_and_feature_checks() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    model = TabularModel(**SMALL).fit(X, y)
    assert model.n_features_in_ == 3 and not hasattr(model, "feature_names_in_")
    assert model.score(X, y) > 0.9
    with pytest.raises(ValueError, match="X has 2 features, but TabularModel is expecting 3"):
        model.predict(X[:, :2])


def test_embeddings_work_with_export_and_numeric_values_get_their_own(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    hours = rng.choice([10, 20, 40, 60], 1000)
    y = (hours == 40).astype(float) + rng.normal(0, 0.1, 1000)  # a bump no line through hours explains
    model = TabularModel(**SMALL).fit(pd.DataFrame({"hours": hours}), y)
    table = model.embeddings_["hours"]
    assert table.ids.is_integer and sorted(table.keys) == [10, 20, 40, 60]
    pred = model.predict(pd.DataFrame({"hours": [10, 20, 40, 60]}))
    assert pred[2] - max(pred[[0, 1, 3]]) > 0.7
    files = export(table, "word2vec", tmp_path / "hours.txt")
    assert files[0].read_text().splitlines()[0] == f"4 {table.dim}"
    off = TabularModel(**SMALL, value_embeddings=0).fit(pd.DataFrame({"hours": hours}), y)
    assert off.embeddings_ == {}


def test_embedding_sizes_follow_the_rule_or_the_override() -> None:
    X, y = planted(300)
    X["city"] = [f"c{i % 30}" for i in range(300)]
    model = TabularModel(**SMALL, embedding_sizes={"city": 4}, max_embedding_size=3).fit(X, y)
    assert model.sizes_ == [3, 4]  # colour: min(3, ⌈1.6·7^0.56⌉ = 5); city given
    assert model.embeddings_["city"].dim == 4
    with pytest.raises(ParameterError, match="embedding_sizes names 'town'"):
        TabularModel(**SMALL, embedding_sizes={"town": 4}).fit(X, y)


def test_interactions_learn_a_product_of_two_ids() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 20
    p, q = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    u, i = rng.integers(0, n_users, 4000), rng.integers(0, n_items, 4000)
    y = (p[u] * q[i]).sum(1)  # a pure interaction: no main effect of either id
    X = pd.DataFrame({"user": u, "item": i})
    fm = TabularModel(hidden=(), interaction_size=2, epochs=20, lr=0.02, validation_fraction=0).fit(X, y)
    assert fm.schema_.names("categorical") == ["user", "item"]  # id-like names are categories
    assert fm.score(X, y) > 0.9
    assert fm.embeddings_["user"].bias is not None


GOLDEN = Path(__file__).parent / "golden" / "table_model_json_v3.json"


def test_model_json_format_is_pinned(tmp_path: Path) -> None:
    X = pd.DataFrame({"colour": ["a", "b"] * 100, "size": np.linspace(-1, 1, 200)})
    path = TabularModel(hidden=(8,), epochs=1).fit(X, X["size"] > 0).save(tmp_path / "m")
    meta = json.loads((path / "model.json").read_text())
    golden = json.loads(GOLDEN.read_text())
    encoder = meta["state"]["encoder"]
    assert sorted(meta) == golden["keys"] and meta["model_type"] == "TabularModel"
    assert sorted(meta["params"]) == golden["params"] and sorted(meta["state"]) == golden["state_keys"]
    assert sorted(encoder) == golden["encoder_keys"]
    assert sorted(encoder["schema"][0]) == golden["schema_column_keys"]
    assert sorted(encoder["categories"][0]) == golden["categories_keys"]
    assert sorted(encoder["scalers"][0]) == golden["scaler_keys"]
    assert sorted(load_file(str(path / meta["weights_file"]))) == golden["tensors"]


def test_save_load_gives_identical_predictions(tmp_path: Path, classifier: TabularModel) -> None:
    X, _ = planted(300, seed=3)
    X.loc[0, "colour"] = "never seen"
    path = classifier.save(tmp_path / "model")
    weights = path / json.loads((path / "model.json").read_text())["weights_file"]
    assert sorted(p.name for p in path.iterdir()) == ["model.json", weights.name]
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))
    assert loaded.get_params() == classifier.get_params() and loaded.target_name_ == "level"
    np.testing.assert_array_equal(
        loaded.embeddings_["colour"].vectors, classifier.embeddings_["colour"].vectors
    )
    weights.write_bytes(b"broken")
    with pytest.raises(ModelFormatError, match="corrupt or truncated"):
        load_model(path)
    with pytest.raises(ModelFormatError, match="not a saved model"):
        load_model(tmp_path)


def test_bad_input_is_a_one_line_error() -> None:
    X, y = planted(100)
    cases = [
        (lambda: TabularModel().fit(X, np.ones(100, dtype=int).astype(str)), DataError, "one class"),
        (
            lambda: TabularModel().fit(X.assign(size=np.nan), y),
            DataError,
            "field 'size': every value is missing",
        ),
        (
            lambda: TabularModel(numeric=["colour"]).fit(X, y),
            DataError,
            "field 'colour': row 1: 'magenta' is not a number",
        ),
        (
            lambda: TabularModel(task="binary").fit(X, y.round()),
            ParameterError,
            "task='binary' but the target",
        ),
        (lambda: TabularModel(task="regression").fit(X, ["a"] * 100), DataError, "non-number 'a'"),
        (lambda: TabularModel(hidden=(0,)).fit(X, y), ParameterError, "hidden layer width"),
        (lambda: TabularModel(dropout=1.5).fit(X, y), ParameterError, "dropout must be below 1"),
        (lambda: TabularModel(task="ranking").fit(X, y), ParameterError, "unknown task 'ranking'"),
        (
            lambda: TabularModel(class_weight="balanced").fit(X, y),
            ParameterError,
            "class_weight is for classification",
        ),
    ]
    for make, error, message in cases:
        with pytest.raises(error) as info:
            make()
        assert "\n" not in str(info.value) and (message is None or message in str(info.value))
    model = TabularModel(**SMALL).fit(X, y)
    with pytest.raises(DataError, match="column 'size' is missing"):
        model.predict(X[["colour"]])
    with pytest.raises(DataError, match="row 1: 'big' is not a number"):
        model.predict(X.assign(size=["big"] + [1.0] * 99))


def test_embedding_encoder_replaces_categories_with_their_vectors() -> None:
    X, y = planted(800)
    X["note"] = [f"row {i}" for i in range(800)]  # id-like text: skipped by the model, passed through
    enc = EmbeddingEncoder(TabularModel(**SMALL), remainder="passthrough").fit(X, y)
    out = enc.transform(X.iloc[:5])
    d = enc.model_.embeddings_["colour"].dim
    assert list(out.columns) == [*(f"colour_{k}" for k in range(d)), "size", "note"]
    assert list(enc.get_feature_names_out()) == list(out.columns) and out.index.tolist() == list(range(5))
    np.testing.assert_allclose(out.iloc[0, :d].to_numpy(), enc.model_.embeddings_["colour"][X["colour"][0]])
    dropped = EmbeddingEncoder(TabularModel(**SMALL), remainder="drop").fit(X, y).transform(X.to_numpy())
    assert isinstance(dropped, np.ndarray) and dropped.shape == (800, d) and dropped.dtype == np.float64
    with pytest.raises(ParameterError, match="column 'size' has no embedding"):
        EmbeddingEncoder(TabularModel(**SMALL), columns=["size"]).fit(X, y)
    with pytest.raises(NotFittedError):
        EmbeddingEncoder().transform(X)


@pytest.mark.slow
def test_passes_sklearn_check_estimator() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    expected = {  # why these checks cannot pass for a network trained by stochastic minibatches:
        "check_sample_weight_equivalence_on_dense_data": "weights 2 and duplicated rows batch differently",
        "check_methods_subset_invariance": "float32 matrix products differ in the 7th digit by batch size",
    }
    settings = {"epochs": 30, "batch_size": 16, "hidden": (32,), "patience": None}
    for task in ("classification", "regression"):
        results = check_estimator(
            TabularModel(task, **settings), on_fail=None, expected_failed_checks=expected
        )
        failed = [r["check_name"] for r in results if r["status"] == "failed"]
        assert failed == [], failed


@pytest.mark.slow
def test_adult_quality_floor(shared_data: Path) -> None:
    """UCI Adult's official split: AUC 0.92 is above one-hot + logistic regression's 0.905 and
    fastai's ~0.91, and below what the defaults reach (0.929), leaving room for seeds and platforms."""
    from embedrec.data.tables import read_table

    train = read_table(shared_data / "tabular" / "adult_train.csv")
    test = read_table(shared_data / "tabular" / "adult_test.csv")
    model = TabularModel().fit(train.drop(columns=["income"]), train["income"])
    scores = model.evaluate(test, test["income"])
    assert scores["ROC AUC"] > 0.92 and scores["accuracy"] > 0.865
