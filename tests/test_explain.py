"""The `explain` verb through the CLI: the one-hot worked example, a model's factors, one prediction."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedrec.cli import explain as explain_cli
from embedrec.cli.main import cli
from embedrec.errors import UnknownIdError
from embedrec.query.recommender import Recommender

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich sizes tables to the console: a wide one keeps every cross-tab column and title whole.
    monkeypatch.setattr(explain_cli.console, "width", 200)


def test_onehot_worked_example_and_budget() -> None:
    # Budget 16 MiB: V=1,000 (4 MiB one-hot matrix) is measured, V=10,000 (39 MiB) must be skipped.
    result = runner.invoke(cli, ["explain", "onehot", "--max-vocab", "10000", "--budget-mib", "16"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "one_hot(idx, 6)" in out and "W[idx]" in out
    assert "equals W[idx]: yes" in out
    lines = {line.split()[0]: line for line in out.splitlines() if re.match(r"\s*\d{1,3}(,\d{3})+\s", line)}
    assert "1,000" in lines and "ms" in lines["1,000"] and "skipped" not in lines["1,000"]
    assert "skipped" in lines["10,000"] and "39.2 MiB" in lines["10,000"]
    assert "over the budget of 16.0 MiB" in out


def test_onehot_example_rows_are_the_looked_up_rows() -> None:
    result = runner.invoke(cli, ["explain", "onehot", "--max-vocab", "1000"])
    assert result.exit_code == 0, result.output
    # Side by side, line r shows batch row r of one_hot(idx) (idx = 3, 0, 3, 5), row r of W, then row r
    # of the product and of the lookup: the product equals the lookup and repeats W's row idx[r].
    lines = [line.split() for line in result.output.splitlines()]
    lines = [t for t in lines if len(t) > 7 and all(x in ("0", "1") for x in t[1:7])][:4]
    groups = [[t[i : i + 4] for i in range(8, len(t), 5)] for t in lines]  # [W row, product, lookup]
    w_rows = [g[0] for g in groups]
    for r, want in enumerate([3, 0, 3, 5][:4]):
        assert groups[r][1] == groups[r][2]
        if want < 4:
            assert groups[r][1] == w_rows[want]


def _crosstab(output: str) -> tuple[list[str], dict[str, list[str]]]:
    lines = output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["user"])
    header = lines[head].split()[1:]
    body: dict[str, list[str]] = {}
    for line in lines[head + 2 :]:
        if not line.strip():
            break
        user, *cells = line.split()
        body[user] = cells
    return header, body


def test_factors_crosstab_matches_model(small_model, small_model_dir: Path) -> None:
    result = runner.invoke(cli, ["explain", "factors", str(small_model_dir), "--top", "8", "--factors", "3"])
    assert result.exit_code == 0, result.output
    header, body = _crosstab(result.output)
    seen = small_model.seen_.tocsr()
    top_users = np.argsort(-np.diff(seen.indptr), kind="stable")[:8]
    top_items = np.argsort(-np.bincount(seen.indices, minlength=seen.shape[1]), kind="stable")[:8]
    assert header == [str(small_model.item_ids_.raw_id(int(i))) for i in top_items]
    assert list(body) == [str(small_model.user_ids_.raw_id(int(u))) for u in top_users]
    n_predicted = 0
    for u in top_users:
        cells = body[str(small_model.user_ids_.raw_id(int(u)))]
        for c, i in enumerate(top_items):
            if seen[u, i] != 0:  # known: the training rating, as it is
                assert cells[c] == f"{seen[u, i]:g}"
            else:  # blank: the model's prediction, in parentheses
                n_predicted += 1
                assert cells[c] == f"({small_model.predict(int(u), int(i), raw=False):.1f})"
    assert "Forrest Gump (1994)" in result.output  # the most rated movie of movielens-small
    f = small_model.user_factors_[top_users[0]][:3]
    assert re.search(r"\s+".join(re.escape(f"{x:+.2f}") for x in f), result.output)
    assert "The first 3 of 32 factors" in result.output
    assert n_predicted + sum(seen[u, i] != 0 for u in top_users for i in top_items) == 64


def test_factors_of_a_model_without_factors(tmp_path: Path) -> None:
    import embedrec

    data = embedrec.load_dataset("movielens-small")
    model_dir = embedrec.BiasBaseline().fit(data).save(tmp_path / "baseline")
    result = runner.invoke(cli, ["explain", "factors", str(model_dir), "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "BiasBaseline has no user/item factors to show" in result.output
    assert "Forrest Gump (1994)" in result.output


def test_factors_needs_a_directory() -> None:
    result = runner.invoke(cli, ["explain", "factors"])
    assert result.exit_code == 2 and "give the saved model directory" in result.output


def test_pair_needs_user_and_item(small_model_dir: Path) -> None:
    result = runner.invoke(cli, ["explain", str(small_model_dir), "--user", "1"])
    assert result.exit_code == 2 and "give both --user and --item" in result.output


def test_pair_explanation(small_model, small_model_dir: Path) -> None:
    user, item = small_model.user_ids_.raw_id(0), small_model.item_ids_.raw_id(0)
    result = runner.invoke(cli, ["explain", str(small_model_dir), "--user", str(user), "--item", str(item)])
    assert result.exit_code == 0, result.output
    assert "Toy Story (1995)" in result.output  # item index 0 of movielens-small
    e = Recommender(small_model).explain(user, item)
    assert (
        f"predicted rating {e.prediction:.2f}" in result.output and f"score {e.score:+.3f}" in result.output
    )
    assert str(e.rated["title"].iloc[0]) in result.output


def test_pair_unknown_user_is_our_error(small_model_dir: Path) -> None:
    result = runner.invoke(cli, ["explain", str(small_model_dir), "--user", "999999", "--item", "1"])
    assert isinstance(result.exception, UnknownIdError)
