"""`embedrec train --nproc N` and `torchrun -m embedrec train`: rank 0 prints and saves; one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import embedrec
from embedrec.cli.main import cli


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "120", **(env or {})})


def command(*args: object) -> subprocess.CompletedProcess:
    """The real command line in a new process (spawned workers write to its stdout, not to CliRunner's)."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_nproc_is_refused_for_models_outside_the_torch_loop() -> None:
    result = run("train", "movielens-small", "--model", "bayes", "--nproc", "2")
    assert result.exit_code == 2 and "trains in one process" in result.output


def test_nproc_under_torchrun_is_refused() -> None:
    result = run("train", "movielens-small", "--model", "dotbias", "--nproc", "2", env={"WORLD_SIZE": "2"})
    assert result.exit_code == 2 and "torchrun already started" in result.output


@pytest.mark.parametrize(
    ("model", "option"), [("bayes", "--compile"), ("bayes", "--mixed-precision"), ("dotbias", "--threads")]
)
def test_options_of_one_kind_of_model_are_refused_for_the_other(model: str, option: str) -> None:
    args = ["train", "movielens-small", "--model", model, option]
    result = run(*args, *(["2"] if option == "--threads" else []))
    assert result.exit_code == 2 and f"{option} does not apply to the {model} model" in result.output


def _test_rmse(model_dir: Path, ml100k_dir: Path) -> float:
    _, test = embedrec.predefined_split(ml100k_dir, "u1")
    model = embedrec.load_model(model_dir)
    return embedrec.rmse(test.ratings, model.predict(test.users, test.items, raw=False))


@pytest.mark.slow
def test_nproc_and_torchrun_train_the_same_model_and_rank_zero_saves(
    ml100k_dir: Path, tmp_path: Path
) -> None:
    args = ("train", ml100k_dir, "--model", "dotbias", "--split", "u1", "--quiet")
    local = command("-m", "embedrec", *args, "--nproc", "2", "--out", tmp_path / "nproc")
    assert local.returncode == 0, local.stderr
    assert local.stdout.count("test ") == 1  # printed once, by rank 0
    assert "on 2 processes" in " ".join(local.stdout.split())  # the title wraps at the table's width
    launched = command(
        "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "embedrec", *args,
        "--shard-tables", "--out", tmp_path / "torchrun",
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr
    assert launched.stdout.count("test ") == 1
    nproc, torchrun = (
        _test_rmse(tmp_path / "nproc", ml100k_dir),
        _test_rmse(tmp_path / "torchrun", ml100k_dir),
    )
    assert f"{nproc:.4f}" in local.stdout
    assert abs(nproc - torchrun) < 1e-4  # replicated (--nproc) and sharded (torchrun) tables agree


@pytest.mark.slow
def test_an_error_in_every_process_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = command(
        "-m", "embedrec", "train", tmp_path / "missing.csv", "--model", "dotbias", "--nproc", "2"
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing.csv" in lines[0], result.stderr


@pytest.mark.slow
def test_word2vec_with_nproc_trains_one_model_that_rank_zero_saves(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    words = ["w" + chr(97 + i) * 2 for i in range(20)]  # letters: the default tokenizer keeps them
    corpus.write_text("\n".join(" ".join(words[i % 10 : i % 10 + 8]) for i in range(300)) + "\n")
    result = command(
        "-m", "embedrec", "word2vec", corpus, "--out", tmp_path / "model", "--size", "8", "--min-count", "1",
        "--epochs", "2", "--workers", "1", "--nproc", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Saved") == 1  # printed once, by rank 0
    model = embedrec.load_model(tmp_path / "model")
    assert model.corpus_words_ == 300 * 8 and len(model.embeddings_) == 17
    missing = command(
        "-m", "embedrec", "word2vec", tmp_path / "none.txt", "--out", tmp_path / "m", "--nproc", "2"
    )
    assert (
        missing.returncode == 2
        and missing.stderr.strip().startswith("error: ")
        and "none.txt" in missing.stderr
    )
