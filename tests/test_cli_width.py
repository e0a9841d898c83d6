"""The command line at 80 columns (a pipe, a log, a default terminal): no number is cut or wrapped.

Every verb of `cli/main.py`'s VERBS runs (a verb without cases here fails the test, so a new verb is
covered) with `COLUMNS=80` and again with `COLUMNS=400`, in one process per width. At 80 columns no line
of standard output is wider than 80, nothing ends in "…", and every number printed is one that the wide
run printed too: a number cut ("0.07…") or folded onto two lines ("1,000,0" / "00") is not. Timings,
which differ between runs, are left out of the comparison. `FitTable` itself is checked cell by cell
against random tables at many widths.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import embedrec
from embedrec.cli.main import VERBS
from embedrec.cli.tables import FitTable

NARROW, WIDE = 80, 400

# verb -> command lines (run in a folder beside the shared inputs in ..) and the exit code each expects
CASES: dict[str, list[tuple[list[str], int]]] = {
    "datasets": [(["datasets"], 0)],
    "info": [(["info", "movielens-small"], 0), (["info", "../ratings.csv"], 0)],
    "train": [
        (["train", "movielens-small", "-m", "dotbias", "--epochs", "1", "-k", "4", "-q", "--out", "t"], 0),
        (["train", "movielens-small", "-m", "als", "-k", "8", "-q", "--out", "als"], 0),  # ranking metrics
    ],
    "evaluate": [(["evaluate", "../split", "movielens-small", "--ranking"], 0)],
    "predict": [
        (["predict", "../small", "--user", "1", "--item", "1", "--item", "1198", "--item", "7153"], 0)
    ],
    "demo": [(["demo", "-q"], 0)],
    "recommend": [
        (["recommend", "../small", "--user", "1", "-n", "5"], 0),
        (["recommend", "../small", "--rate", "star wars=5", "--rate", "fargo=4", "--rate", "scream=1"], 0),
        (["recommend", "../small", "--like", "raiders of the lost ark", "-n", "5"], 0),
    ],
    "similar": [
        (["similar", "../small", "star wars", "-n", "5"], 0),
        (["similar", "../small", "pulp fiction", "-n", "5", "--metric", "euclidean"], 0),
        (["similar", "../small", "1", "--users", "-n", "5", "--metric", "dot"], 0),
        (["similar", "../vectors.txt", "1", "-n", "5"], 0),
        (["similar", "../mean", "fargo"], 2),  # no item vectors: one line, exit 2
    ],
    "explain": [
        (["explain", "onehot", "--max-vocab", "100000", "--budget-mib", "64"], 0),
        (["explain", "factors", "../small", "--factors", "8"], 0),
        (["explain", "../small", "--user", "1", "--item", "260"], 0),
    ],
    "plot": [
        (["plot", "../small", "--out", "map.png", "--max-points", "300", "--labels", "10"], 0),
        (["plot", "../tables", "--column", "city", "--out", "city.png"], 0),
        (["plot", "../mean", "--out", "mean.png"], 2),  # no item vectors: one line, exit 2
    ],
    "axes": [(["axes", "../small", "-k", "2", "-n", "6"], 0)],
    "export": [(["export", "../small", "--format", "npy", "--out", "npy"], 0)],
    "serve": [(["serve", "../mean"], 2)],  # refused before it listens: nothing to recommend with
    "word2vec": [
        (["word2vec", "../corpus.txt", "--out", "w2v", "--size", "16", "--epochs", "2", "--workers", "1"], 0)
    ],
    "analogy": [
        (["analogy", "../words", "king", "man", "woman", "-n", "4"], 0),
        (["analogy", "../words", "--questions", "../questions.txt"], 0),
    ],
    "wordsim": [(["wordsim", "../words", "../pairs.tsv"], 0)],
    "item2vec": [
        (["item2vec", "movielens-small", "--out", "i2v", "--size", "8", "--epochs", "1", "--workers", "1"], 0)
    ],
    "classify": [
        (["classify", "train", "../reviews.tsv", "--out", "tc", "--dim", "8", "--epochs", "2"], 0),
        (["classify", "predict", "../classifier", "../reviews.tsv", "-n", "4"], 0),
    ],
    "table": [
        (["table", "train", "../table.csv", "--target", "spent", "--epochs", "2", "--out", "tm"], 0),
        (["table", "evaluate", "../tables", "../table.csv"], 0),
        (["table", "predict", "../tables", "../table.csv", "--out", "p.csv"], 0),
    ],
}

RUNNER = """
import contextlib, io, json, sys
from embedrec.cli.main import app
results = []
for argv in json.load(sys.stdin):
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = ["embedrec", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            app()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    results.append({"code": code, "out": out.getvalue(), "err": err.getvalue()})
json.dump(results, sys.__stdout__)
"""

# durations (progress bars' "0:00:01" too), speeds and speed-ups differ run to run
TIMING = re.compile(r"\d+:\d\d:\d\d|\d[\d,.]*\s?(?:ms|s|words/s)\b|\d[\d,.]*×")
NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> Counter[str]:
    """The numbers a command printed (timings left out), with how often each was printed."""
    return Counter(NUMBER.findall(TIMING.sub(" ", text)))


def test_every_verb_has_a_case() -> None:
    assert set(CASES) == set(VERBS), "give every verb of cli/main.py a case here"


@pytest.fixture(scope="module")
def workdir(small_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inputs every run shares: models (full data, a split, one without vectors, a table model), a
    vectors file, a ratings file and a table; each width runs in its own folder beneath."""
    root = tmp_path_factory.mktemp("width")
    small_model.save(root / "small")
    data = embedrec.load_dataset("movielens-small")
    train, _ = embedrec.random_split(data, test_fraction=0.2, seed=0)
    embedrec.DotBias(n_factors=4, epochs=1, verbose=False).fit(train).save(root / "split")
    embedrec.GlobalMean().fit(train).save(root / "mean")
    embedrec.export(embedrec.Recommender(small_model).embeddings("item"), "word2vec", root / "vectors.txt")
    rng = np.random.default_rng(0)
    users, items = rng.integers(1, 300, 3000), rng.integers(1, 2_000_000, 3000)  # long item ids
    pd.DataFrame({"user": users, "item": items, "stars": rng.integers(1, 6, 3000)}).to_csv(
        root / "ratings.csv", index=False
    )
    cities = ["Saint-Rémy-de-Provence", "Llanfairpwllgwyngyll", "Oslo", "Rio de Janeiro", "Kyiv"]
    frame = pd.DataFrame(
        {
            "home_city_of_the_customer": rng.choice(cities, 600),
            "age": rng.integers(18, 90, 600),
            "spent": rng.gamma(2.0, 1_000_000.0, 600).round(2),  # large numbers in the metrics
        }
    )
    frame["city"] = frame["home_city_of_the_customer"]
    frame.to_csv(root / "table.csv", index=False)
    model = embedrec.TabularModel(epochs=2, verbose=False).fit(frame.drop(columns="spent"), frame["spent"])
    model.save(root / "tables")
    _texts(root, rng)
    return root


def _texts(root: Path, rng: np.random.Generator) -> None:
    """A corpus and a words model of it, analogy questions, word pairs, and labelled reviews with a
    classifier: small, but with the long words and lines that wrap."""
    vocab = (
        "king queen man woman prince princess boy girl castle extraordinarily incomprehensibilities".split()
    )
    vocab += [f"w{k}" for k in range(40)]
    sentences = [" ".join(rng.choice(vocab, int(rng.integers(5, 15)))) for _ in range(1500)]
    (root / "corpus.txt").write_text("\n".join(sentences) + "\n")
    corpus = embedrec.LineCorpus(root / "corpus.txt", embedrec.Tokenizer(pattern=r"\S+"))
    embedrec.Word2Vec(vector_size=8, epochs=1, workers=1).fit(corpus).save(root / "words")
    (root / "questions.txt").write_text(": family\nking queen man woman\nboy girl prince princess\n")
    (root / "pairs.tsv").write_text("king\tqueen\t8.5\nman\twoman\t8.3\nboy\tcastle\t1.2\n")
    labels = rng.choice(["pos", "neg"], 200)
    reviews = [f"{lab} " + " ".join(rng.choice(vocab, 30)) for lab in labels]
    pd.DataFrame({"label": labels, "text": reviews}).to_csv(root / "reviews.tsv", sep="\t", index=False)
    embedrec.TextClassifier(dim=8, epochs=2).fit(reviews, list(labels)).save(root / "classifier")


def run_all(workdir: Path, columns: int) -> list[dict]:
    """Every case at one terminal width, in one process (in its own folder, so outputs are named alike)."""
    folder = workdir / f"at{columns}"
    folder.mkdir(exist_ok=True)
    argvs = [argv for cases in CASES.values() for argv, _ in cases]
    argvs += [[*verb.split(), "--help"] for verb in [*VERBS, "table train"]]
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER], input=json.dumps(argvs), cwd=folder, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [{**r, "argv": argv} for r, argv in zip(json.loads(done.stdout), argvs, strict=True)]


@pytest.mark.slow
def test_every_verb_fits_80_columns_without_cutting_a_number(workdir: Path) -> None:
    narrow, wide = run_all(workdir, NARROW), run_all(workdir, WIDE)
    expected = [code for cases in CASES.values() for _, code in cases]
    expected += [0] * (len(narrow) - len(expected))  # --help
    problems = []
    for n, w, code in zip(narrow, wide, expected, strict=True):
        command = "embedrec " + " ".join(n["argv"])
        if not n["code"] == w["code"] == code:
            problems.append(f"{command}: exit {n['code']} (expected {code})\n{n['out']}{n['err']}")
            continue
        too_wide = [line for line in n["out"].splitlines() if len(line) > NARROW]
        if too_wide:
            problems.append(f"{command}: lines over {NARROW} columns:\n" + "\n".join(too_wide))
        if any("…" in text for text in (n["out"], n["err"], w["out"])):
            problems.append(f"{command}: something was cut:\n{n['out']}")
        # numbers printed at 80 columns that the wide run never printed: cut or folded ones
        missing = set(numbers(n["out"] + n["err"])) - set(numbers(w["out"] + w["err"]))
        if missing:
            problems.append(
                f"{command}: numbers not whole at {NARROW} columns: {sorted(missing)}\n{n['out']}"
            )
    assert not problems, "\n\n".join(problems)


# -- FitTable on its own ------------------------------------------------------------------------------


def _random_table(rng: np.random.Generator) -> tuple[FitTable, list[str]]:
    """A table of random numbers and words; returns it and its number cells."""
    words = ["Star", "Wars:", "Episode", "IV", "Extra-Terrestrial", "(1977)", "a", "Lord", "of", "the"]
    n_cols = int(rng.integers(1, 12))
    kinds = rng.random(n_cols) < 0.6
    table = FitTable("A title that is longer than some of the tables it names", box=None)
    for j, numeric in enumerate(kinds):
        header = " ".join(rng.choice(["hit rate", "precision", "f", "lookup time"], 1))
        table.add_column(f"{header}{j}", numeric=bool(numeric), drop=int(rng.integers(0, 3)),
                         key=j == 0)  # fmt: skip
    cells = []
    for _ in range(int(rng.integers(0, 6))):
        row = []
        for numeric in kinds:
            if numeric:
                cell = f"{rng.normal() * 10.0 ** rng.integers(0, 9):+,.{rng.integers(0, 5)}f}"
                cells.append(cell)
            else:
                cell = " ".join(rng.choice(words, int(rng.integers(1, 8))))
            row.append(cell)
        table.add_row(*row)
    return table, cells


@pytest.mark.parametrize("width", [24, 40, 60, 80, 120])
def test_fit_table_never_cuts_a_number(width: int) -> None:
    rng = np.random.default_rng(width)
    for _ in range(40):
        table, cells = _random_table(rng)
        console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(table)
        text = console.export_text()
        assert "…" not in text
        assert max((len(line) for line in text.splitlines()), default=0) <= width
        tokens = Counter(token for line in text.splitlines() for token in line.split())
        assert not Counter(cells) - tokens, text  # each number whole, on one line


def test_fit_table_gives_way_in_order() -> None:
    """Text wraps, then the spacing tightens, then an optional column goes, then one block per row."""
    table = FitTable("t")
    table.add_column("title")
    table.add_column("genres", drop=1)
    table.add_column("score", numeric=True)
    table.add_row("Star Wars: Episode IV - A New Hope (1977)", "Action, Adventure, Sci-Fi", "0.988")
    console = Console(width=200)
    assert table.plan(console, 200).groups == [[0, 1, 2]]  # type: ignore[union-attr]
    wrapped = table.plan(console, 50)
    assert wrapped is not None and wrapped.groups == [[0, 1, 2]] and not wrapped.dropped
    compact = table.plan(console, 30)  # one space between columns, no rules
    assert compact is not None and compact.compact and compact.groups == [[0, 1, 2]]
    narrow = table.plan(console, 24)
    assert narrow is not None and narrow.groups == [[0, 2]] and narrow.dropped == ["genres"]
    assert table.plan(console, 12) is None  # one block per row
    console = Console(width=12, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    assert "0.988" in console.export_text().split()
