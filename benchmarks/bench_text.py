"""Text classification: embedrec's TextClassifier beside fastText and TF-IDF + LR, on two kinds of text.

    PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_text.py            # rewrites BENCHMARKS.md
    PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_text.py --folds 0  # the 90/10 split only
    PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_text.py --data brown_docs

Data: `rt_polarity` (the issue's: 10,662 review sentences, 2 balanced labels) or `brown_docs` (the 500
Brown corpus documents of ~2,300 words each, 15 unbalanced categories: long texts, many classes, few
examples; 5 folds, as the smallest category has 6 documents). Both read with quoting off.
Protocol: a fixed seeded 90/10 split (seed 0), then k-fold stratified cross-validation (shuffled, seed 0);
accuracy on the held-out part, training time on one thread. Every method sees the raw text (training rows
shuffled: the polarity file holds all positive texts first) and tokenizes it its own way.
Peers: fastText supervised (PyPI `fasttext`) with its defaults and with the settings of its tutorial
(25 epochs, lr 0.5, word bigrams); scikit-learn TF-IDF (words and bigrams, sublinear tf) +
LogisticRegression at its default C=1 and with C chosen by an inner 5-fold cross-validation on each
training part only (LogisticRegressionCV over C in 0.3…100, after the TF-IDF vocabulary is fitted on the
whole training part; the test part never chooses C; its time includes the search). A paired t-test over
the folds says whether embedrec's mean accuracy differs from each peer's by more than the folds' spread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import git_revision, machine, write_section  # noqa: E402

from embedrec import TextClassifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT.parent / "shared" / "data" / "text"
COMMAND = "PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_text.py"


@dataclass(frozen=True)
class Dataset:
    """A labelled text file and how this benchmark reports it."""

    file: str
    label: str  # the label column (the text column is `text`)
    folds: int
    section: str  # BENCHMARKS.md block
    title: str
    about: str
    target: bool  # the target (≥ every peer) is set on this data


DATASETS = {
    "rt_polarity": Dataset(
        file="rt_polarity.tsv",
        label="label",
        folds=10,
        section="text",
        title="Sentence polarity (rt_polarity)",
        about="review sentences (Pang & Lee 2005), half positive",
        target=True,
    ),
    "brown_docs": Dataset(
        file="brown_docs.tsv",
        label="category",
        folds=5,
        section="text-topics",
        title="Document categories (Brown corpus)",
        about="Brown corpus documents (~2,300 words each) in 15 categories, 6 to 80 documents each",
        target=False,
    ),
}

Runner = Callable[[pd.DataFrame, pd.DataFrame], tuple[float, float]]  # -> (accuracy, train seconds)


def embedrec_runner(**params: object) -> Runner:
    def run(train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
        start = time.perf_counter()
        model = TextClassifier(verbose=False, threads=1, **params).fit(
            train.text.tolist(), train.label.tolist()
        )
        seconds = time.perf_counter() - start
        return model.score(test.text.tolist(), test.label.tolist()), seconds

    return run


INNER_C = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def tfidf_runner(c: float | None) -> Runner:
    """TF-IDF + logistic regression at C=c, or (None) with C chosen by 5-fold CV on the training part."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline

    def run(train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
        start = time.perf_counter()
        if c is not None:
            classifier: Any = LogisticRegression(C=c, max_iter=2000)
        else:
            inner = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
            classifier = LogisticRegressionCV(Cs=list(INNER_C), cv=inner, scoring="accuracy", max_iter=2000)
        pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), classifier)
        pipe.fit(train.text, train.label)
        if c is None:
            chosen_c.append(float(classifier.C_[0]))
        seconds = time.perf_counter() - start
        return float(pipe.score(test.text, test.label)), seconds

    return run


chosen_c: list[float] = []  # the C the inner cross-validation picked, split by split


def fasttext_runner(**params: object) -> Runner:
    import fasttext

    def write(df: pd.DataFrame, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"__label__{label} {text}\n" for label, text in zip(df.label, df.text, strict=True))

    def run(train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            train_file, test_file = os.path.join(tmp, "train.txt"), os.path.join(tmp, "test.txt")
            write(train, train_file)
            write(test, test_file)
            start = time.perf_counter()
            model = fasttext.train_supervised(train_file, verbose=0, seed=0, thread=1, **params)
            seconds = time.perf_counter() - start
            _, precision_at_1, _ = model.test(test_file)  # one label per text: precision@1 = accuracy
        return float(precision_at_1), seconds

    return run


def methods() -> tuple[dict[str, Runner], str]:
    runners: dict[str, Runner] = {"embedrec TextClassifier (defaults)": embedrec_runner()}
    note = ""
    try:
        runners["fastText (defaults)"] = fasttext_runner()
        runners["fastText (tutorial: 25 epochs, lr 0.5, bigrams)"] = fasttext_runner(
            epoch=25, lr=0.5, wordNgrams=2
        )
    except ImportError:
        note = "fastText is not installed here (`pip install fasttext` in the benchmark venv): left out."
    runners["TF-IDF + LR (C=1, default)"] = tfidf_runner(1.0)
    runners["TF-IDF + LR (C by inner 5-fold CV)"] = tfidf_runner(None)
    return runners, note


def splits(df: pd.DataFrame, folds: list[int], n_folds: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """("90/10", train, test) for fold 0, then the cross-validation folds asked for (1..n_folds).
    Training rows come shuffled: a file may be sorted by label, and fastText learns in file order."""
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(1)
    out = []
    if 0 in folds:
        order = np.random.default_rng(0).permutation(len(df))
        cut = int(len(df) * 0.9)
        out.append(("90/10", order[:cut], order[cut:]))
    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=0)
    for k, (train, test) in enumerate(cv.split(df.text, df.label), 1):
        if k in folds:
            out.append((f"cv{k}", rng.permutation(train), test))
    return out


def paired(diff: np.ndarray) -> str:
    """'p = …' of a two-sided paired t-test that the mean of the per-fold differences is 0."""
    from scipy.stats import ttest_1samp

    if len(diff) < 2 or not diff.std():
        return "p = –"
    return f"p = {float(ttest_1samp(diff, 0.0).pvalue):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATASETS), default="rt_polarity")
    parser.add_argument("--folds", type=int, nargs="+", help="0: the 90/10 split; 1..k: CV folds (all)")
    args = parser.parse_args()
    data = DATASETS[args.data]
    folds = args.folds if args.folds is not None else list(range(data.folds + 1))
    df = pd.read_csv(TEXT / data.file, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    df = df.rename(columns={data.label: "label"})
    runners, note = methods()
    results: dict[str, dict[str, tuple[float, float]]] = {name: {} for name in runners}
    for split, train, test in splits(df, folds, data.folds):
        for name, run in runners.items():
            results[name][split] = run(df.iloc[train], df.iloc[test])
            acc, secs = results[name][split]
            print(split, name, f"accuracy {acc:.4f}, {secs:.1f} s", flush=True)
    cv = [s for s in results[next(iter(runners))] if s.startswith("cv")]
    lines = [
        f"## {data.title}",
        "",
        f"`{COMMAND}{'' if args.data == 'rt_polarity' else ' --data ' + args.data}` — {machine()}; "
        f"git {git_revision()}.",
        "",
        f"{len(df):,} {data.about}. The seeded 90/10 split (seed 0) and "
        f"{len(cv)}-fold stratified cross-validation (seed 0); training seconds on one thread. embedrec's "
        "TextClassifier at its defaults: 100-dimensional word and word-bigram embeddings pooled with "
        "sublinear TF-IDF weights (L2-normalised) → linear → softmax, trained end to end by full-batch "
        "L-BFGS (100 iterations) with L2 weight decay 1e-4 on the rows and the output weights.",
        "",
        "| method | accuracy 90/10 | train s 90/10 | CV accuracy (mean ± sd) | CV train s (mean) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, res in results.items():
        split = res.get("90/10")
        first = f"{split[0]:.4f} | {split[1]:.1f}" if split else "– | –"
        if cv:
            acc = [res[s][0] for s in cv]
            secs = [res[s][1] for s in cv]
            cross = f"{np.mean(acc):.4f} ± {np.std(acc):.4f} | {np.mean(secs):.1f}"
        else:
            cross = "– | –"
        lines.append(f"| {name} | {first} | {cross} |")
    ours_name = next(iter(runners))
    if cv:
        lines.append("")
        ours_acc = np.array([results[ours_name][s][0] for s in cv])
        for name, res in list(results.items())[1:]:
            diff = ours_acc - np.array([res[s][0] for s in cv])
            verdict = "; target ≥: " + ("met" if diff.mean() >= 0 else "MISSED") if data.target else ""
            lines.append(
                f"- embedrec − {name}: {diff.mean():+.4f} CV accuracy (paired t-test {paired(diff)}, "
                f"better on {int((diff > 0).sum())} of {len(cv)} folds){verdict}."
            )
    if chosen_c:
        lines.append(
            f"- C chosen by the inner cross-validation (90/10 split first, then fold by fold): {chosen_c}."
        )
    if note:
        lines += ["", note]
    text = "\n".join(lines)
    print(text)
    if len(cv) == data.folds and "90/10" in results[next(iter(runners))]:
        write_section(data.section, text)


if __name__ == "__main__":
    main()
