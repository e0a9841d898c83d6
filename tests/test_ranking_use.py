"""Ranking models in use: a rating model's stars beside a ranking model's list, the CLI verbs, bad input
files (one line, exit 2), the web app serving a ranking model, and the new-user protocol."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embedrec
from embedrec import EASE, BiasBaseline, MostPopular, ParameterError, Recommender
from embedrec.cli.main import app, cli
from embedrec.query.ranking import new_user_report

TOY_STORY, STAR_WARS, FARGO = 1, 260, 608  # movielens-small ids


@pytest.fixture(scope="module")
def small() -> embedrec.Interactions:
    return embedrec.load_dataset("movielens-small")


@pytest.fixture(scope="module")
def pair(small) -> Recommender:
    """EASE (only items liked by 20+ users: quick) ranking, a bias baseline giving the stars."""
    ranker = EASE(100.0, weights="scaled", min_count=20).fit(small)
    return Recommender(ranker, ratings=BiasBaseline().fit(small))


def test_stars_are_the_rating_models_predictions(pair: Recommender) -> None:
    ids, scores = pair.recommend(1, n=5)
    np.testing.assert_allclose(pair.stars(1, ids), pair.ratings.predict(1, ids), rtol=1e-6)
    user = pair.fold_in({TOY_STORY: 5.0, FARGO: 4.0, STAR_WARS: 1.0})
    ids, _ = pair.recommend_for(user, n=5)
    alone = Recommender(pair.ratings, popularity=0.0)
    expected = alone.model.to_rating(alone.model.score_folded(alone.fold_in(dict(zip(
        [TOY_STORY, FARGO, STAR_WARS], [5.0, 4.0, 1.0], strict=True)))))  # fmt: skip
    np.testing.assert_allclose(pair.stars(user, ids), expected[pair.catalogue.indices(ids)], rtol=1e-5)
    assert pair.stars(pair.fold_in([TOY_STORY], liked=True), ids) is None  # likes carry no rating
    assert Recommender(pair.model).stars(1, ids) is None


def test_a_companion_rating_model_must_match(pair: Recommender, small) -> None:
    with pytest.raises(ParameterError, match="must be a fitted rating model, got MostPopular"):
        Recommender(pair.model, ratings=MostPopular().fit(small))
    part = small.to_dataframe().iloc[:50_000]  # its own id maps: fewer users and items
    other = BiasBaseline().fit(embedrec.Interactions.from_dataframe(part))
    with pytest.raises(ParameterError, match="fitted on other users or items"):
        Recommender(pair.model, ratings=other)


def test_web_app_serves_a_ranking_model_with_stars(pair: Recommender) -> None:
    pytest.importorskip("fastapi", reason="fastapi is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from embedrec.web import create_app

    ratings = [{"item": TOY_STORY, "rating": 5}, {"item": FARGO, "rating": 4}]
    with TestClient(create_app(pair, map_methods=["pca"]), raise_server_exceptions=False) as client:
        assert client.get("/health").json()["model"] == "EASE"
        body = client.post("/recommendations", json={"ratings": ratings, "n": 6}).json()
        user = pair.fold_in([(TOY_STORY, 5.0), (FARGO, 4.0)])
        ids, scores = pair.recommend_for(user, n=6)
        assert [it["id"] for it in body["items"]] == ids.tolist()
        np.testing.assert_allclose([it["score"] for it in body["items"]], scores, rtol=1e-5)
        np.testing.assert_allclose([it["stars"] for it in body["items"]], pair.stars(user, ids), rtol=1e-5)
        assert body["items"][0]["because"]  # the liked movies behind it
        known = client.get("/users/1/recommendations", params={"n": 3}).json()["items"]
        assert len(known) == 3 and all(it["stars"] is not None for it in known)
        predicted = client.post("/predict", json={"pairs": [{"user": 1, "item": FARGO}]}).json()
        assert predicted["predictions"][0]["rating"] == pytest.approx(float(pair.ratings.predict(1, FARGO)))
    with TestClient(create_app(Recommender(pair.model), map_methods=["pca"])) as client:
        body = client.post("/recommendations", json={"ratings": ratings, "n": 3}).json()
        assert all(it["stars"] is None for it in body["items"])  # a ranking model alone shows no stars


def run_cli(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "160"})


def test_train_evaluate_recommend_a_ranking_model(ml100k_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ease"
    result = run_cli(
        "train", ml100k_dir, "--model", "ease", "--split", "u1", "--min-rating", "4", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert "ndcg" in result.output and "MostPopular" in result.output and "RMSE" not in result.output
    assert "0.46" in result.output  # EASE on likes, u1: NDCG@10 0.467
    result = run_cli("evaluate", out, ml100k_dir, "--split", "u1")
    assert result.exit_code == 0, result.output
    assert "Ranking @ 10" in result.output and "0.46" in result.output
    result = run_cli("recommend", out, "--user", "196", "-n", "3")
    assert result.exit_code == 0 and "score" in result.output
    result = run_cli("train", ml100k_dir, "--model", "ease", "--factors", "8")
    assert "does not apply to the ease model" in str(result.exception) + result.output


BAD_FILES = {
    "negative counts": ("user,item,rating\n1,10,3\n1,11,-1\n2,10,5\n2,12,2\n", "value -1 is negative"),
    "one user": ("user,item,rating\n1,10,3\n1,11,1\n1,12,5\n", "every like belongs to one user (1)"),
    "one item": ("user,item,rating\n1,10,3\n2,10,1\n3,10,5\n", "every like belongs to one item (10)"),
    "NaN weights": ("user,item,rating\n1,10,3\n1,11,nan\n2,10,5\n", "plays.csv:3: field 'rating'"),
    "all-equal counts, scaled": ("user,item,rating\n1,10,2\n2,11,2\n2,10,2\n", "every value is 2"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_implicit_files_get_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    text, message = BAD_FILES[case]
    path = tmp_path / "plays.csv"
    path.write_text(text)
    weights = ["--weights", "scaled"] if "scaled" in case else []
    # the real entry point, in this process: `embedrec train plays.csv --model ease ...`
    monkeypatch.setattr(sys, "argv", ["embedrec", "train", str(path), "--model", "ease", "--split", "none",
                                      *weights])  # fmt: skip
    with pytest.raises(SystemExit) as info:
        app()
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert info.value.code == 2, err
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_equal_counts_are_clicks_for_a_ranking_model_and_refused_by_a_rating_model(tmp_path: Path) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text("user,item,rating\n1,10,1\n1,11,1\n2,10,1\n2,12,1\n3,11,1\n3,12,1\n")
    assert run_cli("train", path, "--model", "ease", "--split", "none").exit_code == 0
    result = run_cli("train", path, "--model", "baseline", "--split", "none")
    assert "every value is 1: a rating model has nothing to learn" in str(result.exception)


@pytest.mark.slow
def test_new_user_from_three_items_beats_popularity(ml100k_dir: Path) -> None:
    data = embedrec.load_dataset(ml100k_dir)
    pop = new_user_report(MostPopular(), data, n_given=3, folds=5)
    ease = new_user_report(EASE(300.0, min_rating=4), data, n_given=3, folds=5)
    assert pop.n_users == ease.n_users > 800
    # measured 0.431 against popularity's 0.389 (×1.11): issue 11 asked for ×1.5, not reached (BENCHMARKS.md)
    assert ease.ndcg > 1.05 * pop.ndcg


def test_new_user_protocol_hides_the_held_out_users(small) -> None:
    report = new_user_report(MostPopular(), small, n_given=3, folds=3, seed=1)
    assert report.n_users > 500 and 0 < report.ndcg < 1
    again = new_user_report(MostPopular(), small, n_given=3, folds=3, seed=1)
    assert json.dumps(report.as_dict()) == json.dumps(again.as_dict())  # seeded
