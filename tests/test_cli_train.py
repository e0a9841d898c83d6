"""The model verbs end to end: train -> save -> evaluate -> predict, demo, and bad arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import embedrec
from embedrec.cli.main import cli
from embedrec.errors import UnknownIdError


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "120"})


def test_train_evaluate_predict_on_ml100k_u1(ml100k_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = run("train", ml100k_dir, "--model", "baseline", "--split", "u1", "--out", out)
    assert result.exit_code == 0, result.output
    assert "BiasBaseline" in result.output and "test" in result.output and "0.95" in result.output
    assert (out / "model.json").is_file()
    result = run("evaluate", out, ml100k_dir, "--split", "u1")
    assert result.exit_code == 0, result.output
    assert "19,968" in result.output and "0.95" in result.output
    result = run("predict", out, "--user", "196", "--item", "242", "--item", "1")
    assert result.exit_code == 0, result.output
    assert "Kolya (1996)" in result.output and "Toy Story (1995)" in result.output
    result = run("predict", out, "--user", "999999", "--item", "1")
    assert isinstance(result.exception, UnknownIdError)


def test_train_dotbias_with_options_prints_metrics(tmp_path: Path) -> None:
    result = run(
        "train",
        "movielens-small",
        "--model",
        "dotbias",
        "--split",
        "random",
        "-k",
        "4",
        "--epochs",
        "1",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "DotBias" in result.output and "RMSE" in result.output


@pytest.mark.slow  # two models on movielens-small: about 15 s
def test_demo_reports_held_out_rmse_and_ranks_with_a_ranking_model(tmp_path: Path) -> None:
    result = run("demo", "--quiet", "--out", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    assert "held out" in result.output and "EASE" in result.output and "ndcg" in result.output
    assert "ranked by EASE, stars by BayesianDotBias" in result.output
    for part in ("ranking", "rating"):
        assert embedrec.load_model(tmp_path / "demo" / part).is_fitted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "movielens-small", "--model", "svd"), "unknown model 'svd'"),
        (("train", "movielens-small", "--split", "u9"), "unknown split 'u9'"),
        (("train", "movielens-small", "--model", "baseline", "--factors", "3"), "does not apply"),
    ],
)
def test_bad_arguments_name_the_choices(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code != 0
    assert message in str(result.exception) + result.output
