"""The word and sequence verbs end to end: word2vec → similar / analogy / wordsim / plot, classify,
item2vec; bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embedrec
from embedrec.cli.main import app, cli

runner = CliRunner()
LETTERS = "bcdfghjklmnp"


def invoke(*args: object):  # noqa: ANN201
    return runner.invoke(cli, [str(a) for a in args], env={"COLUMNS": "200"})


def word(cluster: int, i: int) -> str:
    return f"{LETTERS[cluster]}{LETTERS[i]}o"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Planted clusters as text: each line uses the words of one cluster of six."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(600):
        c = int(rng.integers(4))
        lines.append(" ".join(word(c, int(i)) for i in rng.integers(0, 6, 10)))
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "words"
    export = out.parent / "words.txt"
    result = invoke("word2vec", corpus, "--out", out, "--export", export, "--size", 16, "--window", 3,
                    "--min-count", 1, "--sample", 0, "--epochs", 10, "--workers", 1)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "words × 16" in result.output and "words/s" in result.output and export.is_file()
    return out


def test_similar_finds_the_cluster_in_the_model_and_the_exported_file(model_dir: Path) -> None:
    for source in (model_dir, model_dir.parent / "words.txt"):
        result = invoke("similar", source, word(0, 0).upper(), "-n", 5)
        assert result.exit_code == 0, result.output
        assert all(word(0, i) in result.output for i in range(1, 6)), result.output
        assert word(1, 0) not in result.output


def test_analogy_and_wordsim_run_on_a_words_model(model_dir: Path, tmp_path: Path) -> None:
    result = invoke("analogy", model_dir, word(0, 0), word(0, 1), word(1, 1), "-n", 3)
    assert result.exit_code == 0 and "≈" in result.output, result.output
    pairs = tmp_path / "pairs.tsv"
    lines = [(word(0, 0), word(0, 1), 9), (word(0, 0), word(2, 1), 1), (word(1, 0), word(1, 2), 9),
             ("unicorn", "dragon", 5)]  # fmt: skip
    pairs.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in lines))
    result = invoke("wordsim", model_dir, pairs)
    assert result.exit_code == 0, result.output
    # the two same-cluster pairs tie in the human scores and come first by cosine: ranks (2.5, 1, 2.5)
    # against (2, 1, 3) or (3, 1, 2) give 0.866 either way
    assert "Spearman 0.8660" in result.output and "3 of 4 pairs (75.0%" in result.output
    questions = tmp_path / "q.txt"
    questions.write_text(f": same\n{word(0, 0)} {word(0, 1)} {word(0, 2)} {word(0, 3)}\nunicorn a b c\n")
    result = invoke("analogy", model_dir, "--questions", questions)
    assert result.exit_code == 0 and "1 of 2 questions (50.0%)" in result.output, result.output


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_plot_draws_chosen_words(model_dir: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"words{suffix}"
    words = ",".join(word(c, i) for c in range(3) for i in range(3))
    result = invoke("plot", model_dir, "--words", words, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000 and "9 points" in result.output


def cli_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object) -> str:
    """Run the real entry point; it must exit 2 with one line on stderr."""
    monkeypatch.setattr(sys, "argv", ["embedrec", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        app()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bad_corpora_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    empty, binary, rare = tmp_path / "empty.txt", tmp_path / "blob.bin", tmp_path / "rare.txt"
    empty.write_text("")
    binary.write_bytes(bytes(range(256)) * 4)
    rare.write_text("few words here\n")
    out = tmp_path / "m"
    assert "empty" in cli_error(monkeypatch, capsys, "word2vec", empty, "--out", out)
    assert "binary" in cli_error(monkeypatch, capsys, "word2vec", binary, "--out", out)
    assert "no word occurs min_count=5" in cli_error(monkeypatch, capsys, "word2vec", rare, "--out", out)
    assert not out.exists()


def test_unknown_words_are_one_line_errors(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert "'unicorn'" in cli_error(monkeypatch, capsys, "similar", model_dir, "unicorn")
    assert "'unicorn'" in cli_error(
        monkeypatch, capsys, "analogy", model_dir, word(0, 0), "unicorn", word(1, 1)
    )
    assert "three words" in cli_error(monkeypatch, capsys, "analogy", model_dir, word(0, 0))


def test_classify_train_then_predict(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    good, bad, filler = ["great", "superb"], ["awful", "dull"], ["the", "film", "was", "plot", "cast"]
    rows = ["label\ttext"]
    for _ in range(400):
        pos = bool(rng.integers(2))
        words = [*rng.choice(filler, 5), rng.choice(good if pos else bad)]
        rows.append(("pos" if pos else "neg") + "\t" + '"' + " ".join(rng.permutation(words)))  # a leading "
    data = tmp_path / "reviews.tsv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "clf"
    result = invoke("classify", "train", data, "--out", out, "--dim", 8, "--epochs", 10)
    assert result.exit_code == 0, result.output
    assert "accuracy on 40 held-out texts: 1.0000" in result.output
    preds = tmp_path / "preds.csv"
    result = invoke("classify", "predict", out, data, "--out", preds)
    assert result.exit_code == 0 and "accuracy on 400 texts" in result.output, result.output
    assert preds.read_text().count("\n") == 401
    result = invoke("classify", "predict", out, data, "-n", 3)
    assert result.exit_code == 0 and "probability" in result.output


def test_classify_names_a_missing_column(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("review,stars\ngood,5\n")
    err = cli_error(monkeypatch, capsys, "classify", "train", data, "--out", tmp_path / "m")
    assert "no column 'text'" in err and "review, stars" in err


@pytest.mark.parametrize(
    ("rows", "message"),
    [("!!!,pos\n...,neg\n", "no word occurs"), ("good film,pos\nbad film,pos\n", "at least two labels")],
)
def test_classify_names_the_file_when_its_texts_or_labels_cannot_train(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path, rows: str, message: str
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + rows)
    out = tmp_path / "m"
    err = cli_error(monkeypatch, capsys, "classify", "train", data, "--out", out)
    assert f"{data} (--text text, --label label)" in err and message in err
    assert not out.exists()  # no partial model


def test_item2vec_learns_and_saves_a_recommender(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["user,item,rating,timestamp"]
    for u in range(60):
        for i in rng.choice(8, 5, replace=False) + 8 * (u % 3):
            lines.append(f"{u},{i},4,{rng.integers(1000)}")
    data = tmp_path / "ratings.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "items"
    result = invoke("item2vec", data, "--out", out, "--size", 8, "--epochs", 5, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "like " in result.output and "Saved" in result.output
    assert isinstance(embedrec.load_model(out), embedrec.Item2Vec)
    result = invoke("recommend", out, "--user", 1, "-n", 3)
    assert result.exit_code == 0, result.output


def test_export_writes_a_words_models_vectors(model_dir: Path, tmp_path: Path) -> None:
    result = invoke("export", model_dir, "--format", "projector", "--out", tmp_path / "projector")
    assert result.exit_code == 0, result.output
    tsv = (tmp_path / "projector" / "vectors.tsv").read_text().splitlines()
    assert len(tsv) == 24 and len(tsv[0].split("\t")) == 16
