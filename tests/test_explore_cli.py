"""The `plot` and `axes` verbs on a model trained on movielens-small, and seeded t-SNE / UMAP maps."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedrec.cli import main
from embedrec.cli.main import cli
from embedrec.query.recommender import Recommender
from embedrec.show.projection import most_rated, principal_axes, project

runner = CliRunner()


def invoke(*args: str):  # noqa: ANN201
    return runner.invoke(cli, list(args), env={"COLUMNS": "200"})


def run_app(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """The real entry point (errors -> one line + exit code), as a shell would run it."""
    monkeypatch.setattr(sys, "argv", ["embedrec", *args])
    with pytest.raises(SystemExit) as exit_info:
        main.app()
    return int(exit_info.value.code), capsys.readouterr().err


def test_plot_png_has_the_expected_size_and_is_not_blank(small_model_dir: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    out = tmp_path / "map.png"
    result = invoke("plot", str(small_model_dir), "--out", str(out), "--labels", "15")
    assert result.exit_code == 0, result.output
    assert "points" in result.output and str(out.name) in result.output
    pixels = image.imread(out)
    assert pixels.shape[:2] == (800, 1000)
    rgb = pixels[..., :3]
    assert rgb.std() > 0.05  # a blank canvas is one colour
    assert (np.abs(rgb - rgb[0, 0]).sum(axis=-1) > 0.1).mean() > 0.01  # points, not just a title


def test_plot_svg(small_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "map.svg"
    result = invoke("plot", str(small_model_dir), "--out", str(out), "--color", "count", "--labels", "5")
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_plot_html_is_self_contained_and_sub_sampled(small_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    result = invoke("plot", str(small_model_dir), "--out", str(out), "--max-points", "500")
    assert result.exit_code == 0, result.output
    assert "500 of" in result.output and "most-rated" in result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", text, re.I)


def test_axes_shows_variance_shares_titles_and_biases(small_model, small_model_dir: Path) -> None:
    result = invoke("axes", str(small_model_dir), "-k", "2", "-n", "4")
    assert result.exit_code == 0, result.output
    table = Recommender(small_model).embeddings("item")
    axes, _ = principal_axes(table, 2, n=4)
    for ax in axes:
        assert f"{ax.explained:.1%} of variance" in result.output
        assert ax.top[0][0] in result.output and ax.bottom[0][0] in result.output
    assert "liked beyond what their factors say" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--method", "isomap", "--out", "m.png"],
        ["--color", "flavour", "--out", "m.png"],
        ["--out", "m.jpg"],
    ],
    ids=["method", "colour", "suffix"],
)
def test_bad_plot_input_is_one_line_and_exit_2(
    args: list[str], small_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = run_app(monkeypatch, capsys, "plot", str(small_model_dir), *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


def test_missing_model_dir_is_one_line_and_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    code, err = run_app(monkeypatch, capsys, "axes", str(tmp_path / "nope"))
    assert code == 2 and "no such model directory" in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def popular_vectors(small_model) -> np.ndarray:
    table = Recommender(small_model).embeddings("item")
    return table.vectors[most_rated(table, 300)]


@pytest.mark.slow
def test_tsne_is_seeded(popular_vectors: np.ndarray) -> None:
    a = project(popular_vectors, "tsne", seed=3)
    b = project(popular_vectors, "tsne", seed=3)
    assert a.shape == (300, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_umap_is_seeded(popular_vectors: np.ndarray) -> None:
    pytest.importorskip("umap", reason="umap-learn is not installed (pip install 'embedrec[umap]')")
    a = project(popular_vectors, "umap", seed=3)
    b = project(popular_vectors, "umap", seed=3)
    assert a.shape == (300, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


def test_plot_colours_by_what_the_data_has(tmp_path: Path) -> None:
    # data without genres (a plain ratings file): the default colour is the rating count, not an error
    import embedrec
    from embedrec.show.plots import default_color

    rng = np.random.default_rng(0)
    ratings = tmp_path / "r.csv"
    rows = {(int(u), int(i)) for u, i in zip(rng.integers(0, 60, 900), rng.integers(0, 40, 900), strict=True)}
    ratings.write_text(
        "user,item,rating\n" + "".join(f"{u},{i},{(u + i) % 5 + 1}\n" for u, i in sorted(rows))
    )
    model = embedrec.BiasBaseline().fit(embedrec.read_ratings(ratings))
    dotbias = embedrec.DotBias(n_factors=4, epochs=2, verbose=False).fit(embedrec.read_ratings(ratings))
    out = dotbias.save(tmp_path / "model")
    result = invoke("plot", str(out), "--out", str(tmp_path / "map.png"), "--labels", "0")
    assert result.exit_code == 0, result.output
    assert default_color(Recommender(dotbias).embeddings("item")) == "count"
    assert model.item_meta_ is None


def test_plot_colours_by_genre_where_there_are_genres(small_model) -> None:
    from embedrec.show.plots import default_color

    assert default_color(Recommender(small_model).embeddings("item")) == "genre"
