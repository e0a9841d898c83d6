"""The command line on other people's files: the reading flags on every verb that reads data, `info`
showing which column was taken for what, errors that name flags (not Python arguments), and `evaluate`
that scores only ratings a model has not seen."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from embedrec.cli import data as cli_data
from embedrec.cli import evaluate as cli_evaluate
from embedrec.cli import train as cli_train
from embedrec.cli.main import app
from embedrec.cli.options import cli_spelling, parse_columns
from embedrec.errors import Arg, DataError

ISSUE_ROWS = "".join(
    f"{u},{i},{(u * i) % 17 + 1},{1000 + n},{(u + i) % 5 + 1},2005-0{n % 9 + 1}-1{n % 10}\n"
    for n, (u, i) in enumerate((u, i) for u in range(1, 41) for i in range(1, 31) if (u + 2 * i) % 3)
)


def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: object
) -> tuple[int, str, str]:
    """Run `embedrec ARGS` in this process as a user would: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["embedrec", *map(str, args)])
    for module in (cli_data, cli_evaluate, cli_train):  # wide tables, without touching other tests' width
        monkeypatch.setattr(module.console, "_width", 200)
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def issue_file(tmp_path: Path) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text(ISSUE_ROWS)
    return path


def test_info_shows_which_column_was_taken_for_what(capsys, monkeypatch, issue_file: Path) -> None:
    code, out, err = cli(capsys, monkeypatch, "info", issue_file)
    assert code == 0, err
    assert "rating ← column 4 (by content: integers 1..5)" in out
    assert "time ← column 5 (by content: dates like" in out
    assert "column 2: integers 1..17: not a rating scale" in out and "column 3: a running counter" in out
    assert "scale" in out and "1 to 5" in out and "1970" not in out


def test_columns_flag_names_or_positions(capsys, monkeypatch, issue_file: Path) -> None:
    code, out, err = cli(
        capsys, monkeypatch, "info", issue_file, "--columns", "user=1,item=0,rating=4,time=none"
    )
    assert code == 0, err
    assert "user ← column 1 (given)" in out and "item ← column 0 (given)" in out and "no timestamps" in out


def test_refusal_names_the_cli_flag_not_the_python_argument(capsys, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "".join(f"{u},{i},{(u + i) % 5 + 1},{(u * i) % 5 + 1}\n" for u in range(9) for i in range(9))
    )
    code, out, err = cli(capsys, monkeypatch, "info", path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "2 columns could each be the rating" in err and "--columns user=0,item=1,rating=3" in err
    assert "columns={" not in err and "Traceback" not in err


def test_encoding_and_separator_flags(capsys, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes("zoë;x;4\nann;y;2\n".encode("latin-1"))
    code, _, err = cli(capsys, monkeypatch, "info", path)
    assert code == 2 and "--encoding latin-1" in err and "encoding=" not in err
    code, out, err = cli(
        capsys, monkeypatch, "info", path, "--encoding", "latin-1", "--sep", ";", "--no-header"
    )
    assert code == 0, err
    assert "';'-separated, no header line" in out


def test_scale_flag_declares_the_range(capsys, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1,1,3\n1,2,7\n2,1,9\n")
    code, out, err = cli(capsys, monkeypatch, "info", path, "--scale", "0,10")
    assert code == 0 and "0 to 10" in out, err
    code, _, err = cli(capsys, monkeypatch, "info", path, "--scale", "1,5")
    assert code == 2 and "r.csv:3: field 'rating': rating 7 is outside the declared scale" in err


def test_items_flag_attaches_titles(capsys, monkeypatch, tmp_path: Path) -> None:
    ratings, movies = tmp_path / "r.csv", tmp_path / "movies.dat"
    ratings.write_text("user,item,rating\n1,0114508,8\n2,0120338,5\n")
    movies.write_text("0114508::Species (1995)::Action|Horror\n0120338::Titanic (1997)::Drama\n")
    code, out, err = cli(capsys, monkeypatch, "info", ratings, "--items", movies)
    assert code == 0, err
    assert "movies.dat: metadata for 2 of 2 items" in out and "title, year, genres" in out


def test_a_fold_on_another_file_says_what_folds_are(capsys, monkeypatch, issue_file: Path) -> None:
    code, _, err = cli(capsys, monkeypatch, "train", issue_file, "--split", "u1", "--model", "baseline")
    assert code == 2 and "MovieLens 100K's published folds" in err and "--split random" in err
    assert "delete" not in err


def test_json_lines_gz_is_read(capsys, monkeypatch, tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "reviews.json.gz"
    lines = [
        f'{{"reviewerID": "A{u}", "asin": "{i:010d}", "overall": {(u + i) % 5 + 1}.0}}'
        for u in range(5)
        for i in range(5)
    ]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    code, out, err = cli(capsys, monkeypatch, "info", path)
    assert code == 0, err
    assert "JSON lines" in out and "item ← column 1 'asin' (by name)" in out


@pytest.fixture(scope="module")
def trained(ml100k_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import embedrec

    out = tmp_path_factory.mktemp("models") / "baseline"
    train, _ = embedrec.random_split(embedrec.read_ratings(ml100k_dir), test_fraction=0.2, seed=0)
    embedrec.BiasBaseline().fit(train).save(out)
    return out


def test_evaluate_redoes_the_models_split_by_default(
    capsys, monkeypatch, trained: Path, ml100k_dir: Path
) -> None:
    code, out, err = cli(capsys, monkeypatch, "evaluate", trained, ml100k_dir)
    assert code == 0, err
    assert "test (new to the model)" in out and "19,960" in out and "training rows" not in out


def test_evaluate_refuses_rows_the_model_trained_on(
    capsys, monkeypatch, trained: Path, ml100k_dir: Path
) -> None:
    code, _, err = cli(capsys, monkeypatch, "evaluate", trained, ml100k_dir, "--seed", "1")
    assert code == 2 and "were in the model's training data" in err and "--allow-train-rows" in err
    assert "seed 0, 20% held out" in err
    code, out, err = cli(
        capsys, monkeypatch, "evaluate", trained, ml100k_dir, "--seed", "1", "--allow-train-rows"
    )
    assert code == 0 and "training rows: training error" in out and "test (new to the model)" in out


def test_evaluate_a_separate_test_file(
    capsys, monkeypatch, trained: Path, ml100k_dir: Path, tmp_path: Path
) -> None:
    import embedrec

    code, _, err = cli(capsys, monkeypatch, "evaluate", trained, "--test", ml100k_dir / "u1.test")
    assert code == 2 and "--allow-train-rows" in err  # u1.test overlaps the random split's training rows
    _, held = embedrec.random_split(embedrec.read_ratings(ml100k_dir), test_fraction=0.2, seed=0)
    rows = held.to_dataframe().head(500)
    fresh = tmp_path / "held_out.csv"
    fresh.write_text(rows[["user", "item", "rating"]].to_csv(index=False) + "999999,1,3\n")
    code, out, err = cli(capsys, monkeypatch, "evaluate", trained, "--test", fresh)
    assert code == 0, err
    assert "test (new to the model)" in out and " 500 " in out and "1 row skipped" in out


def test_evaluate_refuses_splitting_other_data(capsys, monkeypatch, trained: Path, issue_file: Path) -> None:
    code, _, err = cli(capsys, monkeypatch, "evaluate", trained, issue_file)
    assert code == 2 and "is not the data the model was trained on" in err and "--test" in err


def test_cli_spelling_of_arguments() -> None:
    assert cli_spelling(Arg("columns", {"user": 0, "timestamp": None})) == "--columns user=0,time=none"
    assert cli_spelling(Arg("encoding", "latin-1")) == "--encoding latin-1"
    assert cli_spelling(Arg("scale", (0, 10))) == "--scale 0,10"
    assert cli_spelling(Arg("sep", "\t")) == "--sep tab"
    assert cli_spelling(Arg("allow_train_rows", True)) == "--allow-train-rows"
    err = DataError("pass {}", hints=(Arg("header", False),))
    assert str(err) == "pass header=False" and err.render(cli_spelling) == "pass --no-header"
    assert parse_columns("user=customer,item=1,rating=none") == {
        "user": "customer",
        "item": 1,
        "rating": None,
    }
