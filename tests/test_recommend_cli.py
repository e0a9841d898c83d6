"""The `recommend` and `similar` verbs and the demo's closing tables, on a model of movielens-small."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from embedrec import DataError, UnknownIdError
from embedrec.cli.main import cli
from embedrec.cli.recommend import demo_tail, parse_rating
from embedrec.query.recommender import Recommender

runner = CliRunner()


def invoke(*args: str):  # noqa: ANN201
    return runner.invoke(cli, list(args), env={"COLUMNS": "200"})


def test_recommend_for_a_known_user(small_model, small_model_dir: Path) -> None:
    user = small_model.user_ids_.raw_id(0)
    result = invoke("recommend", str(small_model_dir), "--user", str(user), "-n", "5")
    assert result.exit_code == 0, result.output
    ids, _ = Recommender(small_model).recommend(user, n=5, popularity=1.0)
    titles = Recommender(small_model).catalogue.titles
    for raw in ids:
        assert titles[small_model.item_ids_.index(raw)] in result.output
    assert "genres" in result.output and "predicted" in result.output


def test_recommend_for_a_new_user_from_titles(small_model, small_model_dir: Path) -> None:
    result = invoke(
        "recommend", str(small_model_dir), "--rate", "Toy Story=5", "--rate", "Fargo=4", "--rate", "Scream=1"
    )
    assert result.exit_code == 0, result.output
    ids, _ = Recommender(small_model).recommend_for_ratings(
        {"Toy Story": 5, "Fargo": 4, "Scream": 1}, n=10, popularity=1.0
    )
    assert Recommender(small_model).catalogue.titles[small_model.item_ids_.index(ids[0])] in result.output
    liked = invoke("recommend", str(small_model_dir), "--like", "toy story", "-n", "3")
    assert liked.exit_code == 0 and "preference" in liked.output


def test_similar_items_by_title(small_model, small_model_dir: Path) -> None:
    result = invoke("similar", str(small_model_dir), "pulp fiction", "-n", "4")
    assert result.exit_code == 0, result.output
    assert "Most similar to Pulp Fiction (1994)" in result.output
    ids, _ = Recommender(small_model).similar_items("Pulp Fiction", n=4)  # the verb's default floor
    assert Recommender(small_model).catalogue.titles[small_model.item_ids_.index(ids[0])] in result.output
    users = invoke("similar", str(small_model_dir), "1", "--users", "-n", "3")
    assert users.exit_code == 0 and "Users most like user 1" in users.output


@pytest.mark.parametrize("users", [False, True])
def test_similar_euclidean_shows_the_distance(small_model, small_model_dir: Path, users: bool) -> None:
    """Under a "distance" heading: positive, nearest (smallest) first, minus what the library scores."""
    rec = Recommender(small_model)
    args = ["1", "--users"] if users else ["pulp fiction"]
    result = invoke("similar", str(small_model_dir), *args, "-n", "5", "--metric", "euclidean")
    assert result.exit_code == 0, result.output
    lines = [line.replace("│", " ").replace("┃", " ").split() for line in result.output.splitlines()]
    assert next(cells for cells in lines if cells[:1] == ["#"])[-1] == "distance", result.output
    rows = [cells for cells in lines if cells[:1] in (["1"], ["2"], ["3"])]
    shown = [float(row[-1]) for row in rows]
    if users:
        _, scores = rec.similar_users(1, n=5, metric="euclidean")
    else:
        _, scores = rec.similar_items("Pulp Fiction", n=5, metric="euclidean")
    assert len(shown) == 3 and min(shown) > 0 and shown == sorted(shown)
    assert shown == pytest.approx(-scores[:3], abs=5e-4)
    assert (scores < 0).all()  # the library keeps scoring minus the distance, larger is nearer


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--user", "99999999"], UnknownIdError),
        (["--rate", "no such film whatsoever=4"], UnknownIdError),
        (["--rate", "Toy Story=11"], DataError),
        (["--rate", "Toy Story"], DataError),
        (["--rate", "Toy Story=good"], DataError),
    ],
)
def test_bad_input_is_our_error(small_model_dir: Path, args: list[str], error: type) -> None:
    result = invoke("recommend", str(small_model_dir), *args)
    assert isinstance(result.exception, error), result.output


def test_ambiguous_title_lists_candidates(small_model_dir: Path) -> None:
    result = invoke("similar", str(small_model_dir), "lolita")  # 1962 and 1997, both rated 7 times
    assert isinstance(result.exception, UnknownIdError)
    assert "Lolita (1962)" in str(result.exception) and "Lolita (1997)" in str(result.exception)


@pytest.mark.parametrize(
    "query", ["Star Wars", "star wars episode iv", "Star Wars: Episode IV", "Star Wars (1977)"]
)
def test_similar_echoes_the_title_it_took(small_model_dir: Path, query: str) -> None:
    result = invoke("similar", str(small_model_dir), query, "-n", "3")
    assert result.exit_code == 0, result.output
    echo = f"matched {query!r} → Star Wars: Episode IV - A New Hope (1977) (contains every word"
    assert echo in result.output
    assert "Most similar to Star Wars: Episode IV - A New Hope (1977)" in result.output


def test_rate_and_like_echo_each_match(small_model_dir: Path) -> None:
    result = invoke(
        "recommend", str(small_model_dir), "--rate", "fargo=4", "--rate", "toy stroy=5", "--rate", "1=3"
    )
    assert result.exit_code == 0, result.output
    assert "matched 'fargo' → Fargo (1996) (exact title)" in result.output
    assert "matched 'toy stroy' → Toy Story (1995) (closest spelling" in result.output
    assert "matched 1 " not in result.output  # a raw id needs no echo
    liked = invoke("recommend", str(small_model_dir), "--like", "star wars", "-n", "3")
    assert "matched 'star wars' → Star Wars: Episode IV - A New Hope (1977)" in liked.output


def test_exactly_one_way_to_name_the_user(small_model_dir: Path) -> None:
    assert invoke("recommend", str(small_model_dir)).exit_code == 2
    assert invoke("recommend", str(small_model_dir), "--user", "1", "--like", "Fargo").exit_code == 2


def test_parse_rating() -> None:
    assert parse_rating("Toy Story=5") == ("Toy Story", 5.0)
    assert parse_rating("  1 = 4.5") == (1, 4.5)
    assert parse_rating("Mission: Impossible=3") == ("Mission: Impossible", 3.0)


def test_demo_tail_renders(small_model) -> None:
    console = Console(record=True, width=160)
    console.print(demo_tail(Recommender(small_model)))
    text = console.export_text()
    assert "A new user who rated Toy Story=5, Fargo=4, Scream=1" in text
    assert "Most similar to Pulp Fiction (1994)" in text
    assert "Most similar to Star Wars: Episode IV - A New Hope (1977)" in text


def test_similar_on_a_plain_file_is_our_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a model\n")
    result = invoke("similar", str(path), "Star Wars")
    assert result.exit_code != 0 and isinstance(result.exception, DataError | ValueError)
