"""`embedrec table train/evaluate/predict` and `embedrec plot --column` end to end, and bad files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedrec.cli.main import app


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object
) -> tuple[int, str, str]:
    """Run the real entry point (errors become exit 2 there); returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["embedrec", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as done:
        app()
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def table(n: int, seed: int) -> pd.DataFrame:
    """A planted table: 'big' when the colour is red or blue and the size is large."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "grey"], n)
    size = rng.normal(0, 1, n).round(3)
    score = np.isin(colour, ["red", "blue"]) * 2.0 + size + rng.normal(0, 0.3, n)
    return pd.DataFrame({"colour": colour, "size": size, "label": np.where(score > 1, "big", "small")})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tables")
    paths = {"train": root / "train.csv", "test": root / "test.tsv"}
    table(1500, 0).to_csv(paths["train"], index=False)
    table(400, 1).to_csv(paths["test"], index=False, sep="\t")
    return paths


@pytest.fixture(scope="module")
def model_dir(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from embedrec.cli.main import cli

    out = tmp_path_factory.mktemp("models") / "planted"
    args = ["table", "train", str(files["train"]), "--target", "label", "--epochs", "8", "--out", str(out)]
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "colour" in result.output and "categorical" in result.output and "binary" in result.output
    return out


def test_train_evaluate_predict(
    model_dir: Path, files: dict[str, Path], monkeypatch, capsys, tmp_path
) -> None:
    code, out, _ = run(monkeypatch, capsys, "table", "evaluate", model_dir, files["test"])
    assert code == 0, out
    accuracy = float(next(line.split()[-1] for line in out.splitlines() if "accuracy" in line))
    assert accuracy > 0.85 and "ROC AUC" in out  # the label follows colour and size up to noise sd 0.3
    predictions = tmp_path / "p.csv"
    code, out, _ = run(
        monkeypatch, capsys, "table", "predict", model_dir, files["test"], "--out", predictions
    )
    assert code == 0, out
    written = pd.read_csv(predictions)
    assert list(written.columns) == ["prediction", "p_big", "p_small"] and len(written) == 400
    np.testing.assert_allclose(written["p_big"] + written["p_small"], 1.0, rtol=1e-6)


def test_plot_maps_one_column(model_dir: Path, monkeypatch, capsys, tmp_path: Path) -> None:
    for name in ("colour.png", "colour.html"):
        code, out, err = run(
            monkeypatch, capsys, "plot", model_dir, "--column", "colour", "--out", tmp_path / name
        )
        assert code == 0, err
        assert (tmp_path / name).stat().st_size > 1000 and "4 points" in out
    code, _, err = run(
        monkeypatch, capsys, "plot", model_dir, "--column", "shape", "--out", tmp_path / "x.png"
    )
    assert code == 2 and "no embedded column 'shape'; its embedded columns: colour" in err


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        ("target=income", "train", "no target column 'income'; the columns are colour, size, label"),
        ("one class", "train", "the target has one class ('small' on every row)"),
        ("empty column", "train", "field 'note': every value is missing"),
        ("drop size", "test", "column 'size' is missing (the model was trained on colour, size)"),
        ("text in size", "test", ":3: field 'size': 'large' is not a number"),
    ],
)
def test_bad_files_exit_2_with_one_line(
    edit: str, where: str, message: str, model_dir: Path, monkeypatch, capsys, tmp_path: Path
) -> None:
    frame = table(60, 2)
    target = "label"
    if edit == "target=income":
        target = "income"
    elif edit == "one class":
        frame["label"] = "small"
    elif edit == "empty column":
        frame["note"] = ""
    elif edit == "drop size":
        frame = frame.drop(columns=["size"])
    else:
        frame["size"] = frame["size"].astype(object)
        frame.loc[1, "size"] = "large"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    if where == "train":
        args = ("table", "train", path, "--target", target, "--epochs", "1", "--out", tmp_path / "m")
    else:
        args = ("table", "evaluate", model_dir, path)
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
