"""Every code block of README.md runs: Python blocks are executed, command lines are run, in a fresh folder.

The README is the front door; this keeps it true. Blocks run in order within one temporary folder and
one Python namespace (as in a notebook), so a later block may use what an earlier one made (`model`,
`models/small`, `items.txt`). The "your own file" examples read files made here from ML-100K in the
layouts the README describes: a header-less `ratings.csv` with extra id columns and dates, and a 0–10
`ratings.dat` with a separate `movies.dat`. Command lines that start a server are started and polled
until the page answers, then stopped; `./install.sh` and the test command are what CI itself runs, so
they are skipped here. Dataset names that would download (ml-100k) are pointed at the shared copy; the
UCI Adult files of the table example are linked into the folder, and paths into the shared data
(`../shared/data/text/brown.txt`) point at it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
BIN = Path(sys.executable).parent
SHARED = REPO.parent / "shared"
SERVING = ("serve", "--serve")


def blocks() -> list[tuple[int, str, str]]:
    """(line number, language, text) of every fenced block."""
    text = README.read_text()
    return [(text[: m.start()].count("\n") + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def commands(text: str) -> list[str]:
    """The command lines of a shell block: comments dropped, `\\` continuations joined."""
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.extend(part.strip() for part in line.split("&&"))
    return out


def test_the_readme_has_both_kinds_of_block() -> None:
    kinds = {lang for _, lang, _ in blocks()}
    assert {"python", "bash"} <= kinds


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A fresh folder with the dataset cache pointed at the shared ML-100K copy (no downloads), and a
    user's own rating files."""
    path = tmp_path_factory.mktemp("readme")
    cache = path / ".data"
    cache.mkdir()
    (cache / "ml-100k").symlink_to(shared_data / "ml-100k")
    _own_files(shared_data / "ml-100k", path)
    for table in ("adult_train.csv", "adult_test.csv"):  # the table-model example reads them by name
        (path / table).symlink_to(shared_data / "tabular" / table)
    return path


def _own_files(ml100k: Path, out: Path) -> None:
    """ratings.csv: user,item,genre id,review id,rating,date, no header; ratings.dat + movies.dat, 0–10."""
    rng = np.random.default_rng(0)
    rows = np.loadtxt(ml100k / "u.data", dtype=np.int64)[:20_000]  # user, item, rating, time
    dates = np.datetime_as_string(rows[:, 3].astype("datetime64[s]"), unit="D")
    genre = rng.integers(1, 18, len(rows))
    with open(out / "ratings.csv", "w") as f:
        for k, ((u, i, r, _), day) in enumerate(zip(rows, dates, strict=True)):
            f.write(f"{u},{i},{genre[k]},{100_000 + k},{r},{day}\n")
    with open(out / "ratings.dat", "w") as f:
        for u, i, r, ts in rows:
            f.write(f"{u}::{i}::{2 * r + rng.integers(-1, 1)}::{ts}\n")
    with open(ml100k / "u.item", encoding="latin-1") as src, open(out / "movies.dat", "w") as f:
        for line in src:
            fields = line.rstrip("\n").split("|")
            flags = [int(x) for x in fields[5:]]
            genres = "|".join(g for g, on in zip(GENRES, flags, strict=True) if on)
            f.write(f"{fields[0]}::{fields[1]}::{genres}\n")


GENRES = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy Film-Noir "
    "Horror Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


def _env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EMBEDREC_DATA": str(workdir / ".data"),
        "COLUMNS": "100",
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }


def _run_command(line: str, workdir: Path) -> None:
    # paths into the shared data, as the README writes them from the repository, point at the shared copy
    argv = [
        str(SHARED / a.removeprefix("../shared/")) if a.startswith("../shared/") else a
        for a in shlex.split(line)
    ]
    if argv[0] == "./install.sh" or argv[1:3] == ["-m", "pytest"]:
        return  # CI runs both itself: the install before the tests, and the tests are this run
    if argv[0].endswith(("embedrec", "python")):
        argv[0] = str(BIN / Path(argv[0]).name)
    if any(word in argv for word in SERVING):
        _serve_briefly(argv, workdir)
        return
    done = subprocess.run(argv, cwd=workdir, env=_env(workdir), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"README command failed: {line}\n{done.stdout}\n{done.stderr}"
    if argv[1:2] == ["axes"]:
        _check_axes(done.stdout)
    if argv[1:2] == ["plot"] and "--labels" in argv:  # the README says how many labels its map has
        said = re.search(r"\((\d+) of them here", README.read_text())
        assert said, "README.md no longer says how many of the map's labels are placed"
        assert f"Labelled {said.group(1)} of the" in done.stdout, done.stdout


# What the README says the first two principal components of its movielens-small model run between;
# each title (as the start of a cell, so a wrapped title still matches) must be in the README and at an
# end of that component in what `embedrec axes` printed.
AXES = {
    1: ("Austin Powers in Goldmember", "Blair Witch Project", "Ace Ventura: When Nature Calls", "Showgirls",
        "Harry Potter", "Singin' in the Rain", "Sound of Music"),
    2: ("Matrix", "American Pie 2", "X2: X-Men United", "Armageddon", "Fantasia", "My Fair Lady",
        "Citizen Kane", "Napoleon Dynamite"),
}  # fmt: skip


def _check_axes(output: str) -> None:
    readme = " ".join(README.read_text().split())
    parts = re.split(r"Principal component (\d+):", output)
    sections = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    for component, titles in AXES.items():
        for title in titles:
            assert title in readme, f"README.md no longer names {title!r}"
            assert title in sections[component], (
                f"README.md says {title!r} is at an end of principal component {component}; "
                f"`embedrec axes` printed:\n{sections[component]}"
            )


def _serve_briefly(argv: list[str], workdir: Path) -> None:
    """Start a serving command on a free port, wait until the page answers, then stop it."""
    port = "8765"  # not the README's 8000, which a developer's own server may hold
    if "--port" in argv:
        argv[argv.index("--port") + 1] = port
    else:
        argv = [*argv, "--port", port]
    proc = subprocess.Popen(
        argv, cwd=workdir, env=_env(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"README command exited early: {shlex.join(argv)}\n{proc.stdout.read().decode()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"README command never answered: {shlex.join(argv)}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_every_readme_block_runs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict = {"__name__": "readme"}
    monkeypatch.setenv("EMBEDREC_DATA", str(workdir / ".data"))  # the Python blocks read ml-100k too
    for line, lang, text in blocks():
        if lang == "python":
            code = compile(text, f"README.md:{line}", "exec")
            cwd = os.getcwd()
            os.chdir(workdir)
            try:
                exec(code, namespace)  # noqa: S102 - the README's own example
            finally:
                os.chdir(cwd)
        elif lang == "bash":
            for command in commands(text):
                _run_command(command, workdir)
        else:
            pytest.fail(f"README.md:{line}: a {lang!r} block that no test runs")
