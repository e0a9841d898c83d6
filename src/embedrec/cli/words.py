"""CLI verbs that learn and test embeddings of words and other sequences: `word2vec`, `analogy`,
`wordsim`, `item2vec`, and `classify train|predict`.

embedrec word2vec corpus.txt --out models/words --export words.txt
embedrec analogy models/words king man woman
embedrec wordsim models/words wordsim353.tsv
embedrec item2vec ml-100k --out models/items
embedrec classify train reviews.tsv --text text --label label --out models/sentiment
embedrec classify predict models/sentiment new_reviews.tsv
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

import embedrec
from embedrec.cli.tables import FitTable
from embedrec.data.text import LETTERS, LineCorpus, Tokenizer, check_text_file
from embedrec.errors import DataError, ParameterError
from embedrec.models.item2vec import Item2Vec
from embedrec.models.persist import load_model
from embedrec.models.text_classifier import TextClassifier
from embedrec.models.word2vec import Word2Vec
from embedrec.query.recommender import Recommender
from embedrec.query.wordeval import analogy_accuracy, load_embeddings, word_key, word_similarity
from embedrec.show.export import export as export_table

console = Console()

EXAMPLES = """
Examples:

  embedrec word2vec ../shared/data/text/brown.txt --out models/brown --export brown.txt

  embedrec similar models/brown hotel

  embedrec analogy models/brown king man woman

  embedrec wordsim models/brown ../shared/data/text/wordsim353.tsv

  embedrec analogy models/brown --questions ../shared/data/text/questions-words.txt
"""

CLASSIFY_EXAMPLES = """
Examples:

  embedrec classify train ../shared/data/text/rt_polarity.tsv --text text --label label --out models/rt

  embedrec classify predict models/rt reviews.tsv --out predictions.csv
"""


def register(cli: typer.Typer) -> None:
    """Add the word and sequence embedding verbs to the CLI."""
    cli.command("word2vec", epilog=EXAMPLES)(word2vec)
    cli.command("analogy", epilog=EXAMPLES)(analogy)
    cli.command("wordsim", epilog=EXAMPLES)(wordsim)
    cli.command("item2vec")(item2vec)
    classify = typer.Typer(help="Train a text classifier or predict with one.", no_args_is_help=True)
    classify.command("train", epilog=CLASSIFY_EXAMPLES)(classify_train)
    classify.command("predict", epilog=CLASSIFY_EXAMPLES)(classify_predict)
    cli.add_typer(classify, name="classify")


def word2vec(
    corpus: Annotated[Path, typer.Argument(help="A UTF-8 text file, one sentence per line.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to save the model in.")],
    export: Annotated[
        Path | None, typer.Option(help="Also write the vectors in word2vec text format (gensim reads it).")
    ] = None,
    size: Annotated[int, typer.Option("--size", help="Vector size.", min=1)] = 100,
    window: Annotated[int, typer.Option(help="Context words on each side.", min=1)] = 5,
    negative: Annotated[int, typer.Option(help="Negative samples per prediction.", min=1)] = 5,
    min_count: Annotated[int, typer.Option(help="Ignore words seen fewer times.", min=1)] = 5,
    sample: Annotated[float, typer.Option(help="Subsampling threshold of frequent words.", min=0)] = 1e-3,
    cbow: Annotated[bool, typer.Option("--cbow", help="CBOW instead of skip-gram.")] = False,
    epochs: Annotated[int, typer.Option(help="Passes over the corpus.", min=1)] = 5,
    alpha: Annotated[float, typer.Option(help="Starting learning rate.", min=0)] = 0.025,
    workers: Annotated[int | None, typer.Option(help="CPU threads (default: every core).", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="cpu (compiled kernels) or cuda (PyTorch).")] = "cpu",
    keep_case: Annotated[bool, typer.Option("--keep-case", help="Do not lower-case the text.")] = False,
    token_pattern: Annotated[
        str | None, typer.Option(help=r"Regular expression of a token (default: runs of letters; '\S+').")
    ] = None,
    nproc: Annotated[
        int, typer.Option("--nproc", help="Train data-parallel over this many local processes.", min=1)
    ] = 1,
) -> None:
    """Learn word vectors from a text file (skip-gram or CBOW with negative sampling) and save them.

    With --nproc N, or started by `torchrun ... -m embedrec word2vec`, the processes split the corpus's
    jobs and add up their steps after each block; rank 0 prints and saves."""

    tokenizer = Tokenizer(lowercase=not keep_case, pattern=token_pattern or LETTERS)
    model = Word2Vec(
        vector_size=size,
        window=window,
        negative=negative,
        min_count=min_count,
        sample=sample,
        sg=0 if cbow else 1,
        epochs=epochs,
        alpha=alpha,
        workers=workers,
        seed=seed,
        device=device,
    )
    if nproc > 1 or os.environ.get("WORLD_SIZE", "1") != "1":
        from embedrec.models.distributed import spawn, world_size_from_env

        if nproc > 1 and world_size_from_env() > 1:
            raise typer.BadParameter(
                "torchrun already started the processes: leave --nproc out", param_hint="--nproc"
            )
        check_text_file(corpus)  # a missing corpus is one error, before any process starts
        if nproc > 1:
            spawn(nproc, _word2vec_process, model, corpus, tokenizer, out, export)
            return
    _word2vec_process(model, corpus, tokenizer, out, export)


def _word2vec_process(
    model: Word2Vec, corpus: Path, tokenizer: Tokenizer, out: Path, export: Path | None
) -> None:
    """`word2vec` in one process of a job (or the only one): fit, data-parallel in a job; rank 0 reports."""
    if os.environ.get("WORLD_SIZE", "1") != "1":
        from embedrec.models.distributed import data_parallel

        with data_parallel() as hook:
            model.fit(LineCorpus(corpus, tokenizer))
        if hook.rank != 0:
            return
    else:
        model.fit(LineCorpus(corpus, tokenizer))
    model.save(out)
    table = model.embeddings_
    console.print(
        f"{len(table):,} words × {table.dim} from {model.corpus_words_:,} tokens in "
        f"{model.corpus_sentences_:,} sentences: {model.train_seconds_:.1f} s, "
        f"{model.words_per_second_:,.0f} words/s on {model.threads_ or 'a GPU and'} threads",
        highlight=False,
    )
    console.print(f"Saved {out}", highlight=False)
    if export is not None:
        export_table(table, "word2vec", export)
        console.print(f"Wrote {export} (word2vec text format)", highlight=False)


def analogy(
    source: Annotated[Path, typer.Argument(help="A words model directory or a vectors file.")],
    words: Annotated[list[str] | None, typer.Argument(help="A B C: the words nearest to A − B + C.")] = None,
    n: Annotated[int, typer.Option("-n", help="How many answers.", min=1)] = 5,
    questions: Annotated[
        Path | None, typer.Option(help="Score a questions-words file instead (3CosAdd accuracy).")
    ] = None,
    restrict: Annotated[
        int, typer.Option(help="Only the N most frequent words count (gensim's restrict_vocab).", min=1)
    ] = 300_000,
) -> None:
    """king − man + woman ≈ queen: the words nearest to A − B + C, or the accuracy on a test file."""

    table = load_embeddings(source)
    if questions is not None:
        if words:
            raise ParameterError("give either three words or --questions FILE, not both")
        res = analogy_accuracy(table, questions, restrict=restrict)
        grid = FitTable(escape(f"Analogies in {questions.name} ({table.name})"))
        grid.add_column("part", key=True)
        for col in ("correct", "answered", "accuracy"):
            grid.add_column(col, numeric=True)
        for part, semantic in (("semantic", True), ("syntactic", False)):
            c, m = res.part(semantic)
            grid.add_row(part, f"{c:,}", f"{m:,}", f"{c / m:.1%}" if m else "-")
        grid.add_row("all", f"{res.correct:,}", f"{res.n_evaluated:,}", f"{res.accuracy:.1%}")
        console.print(grid)
        console.print(
            f"coverage: {res.n_evaluated:,} of {res.n_total:,} questions ({res.coverage:.1%}) have all "
            "four words",
            highlight=False,
        )
        return
    if not words or len(words) != 3:
        raise ParameterError(f"give three words A B C (A − B + C), got {len(words or [])}")
    a, b, c = (word_key(table, w) for w in words)
    keys, sims = table.analogy(a, b, c, n)
    grid = FitTable(escape(f"{a} − {b} + {c} ≈"), caption=escape(f"cosine, {table.name}"))
    grid.add_column("#", numeric=True, style="dim")
    grid.add_column("word")
    grid.add_column("cosine", numeric=True)
    for rank, (key, sim) in enumerate(zip(keys, sims, strict=True), 1):
        grid.add_row(str(rank), escape(str(key)), f"{sim:.3f}")
    console.print(grid)


def wordsim(
    source: Annotated[Path, typer.Argument(help="A words model directory or a vectors file.")],
    pairs: Annotated[Path, typer.Argument(help="A 'word1 word2 score' file (WordSim-353 style).")],
) -> None:
    """How well cosine similarity agrees with human similarity scores (Spearman), and the coverage."""

    table = load_embeddings(source)
    res = word_similarity(table, pairs)
    console.print(
        f"{pairs.name}: Spearman {res.spearman:.4f}, Pearson {res.pearson:.4f} on {res.n_pairs:,} of "
        f"{res.n_total:,} pairs ({res.coverage:.1%} have both words in {table.name})",
        highlight=False,
    )


def item2vec(
    data: Annotated[str, typer.Argument(help="A built-in dataset name, or a ratings file/folder/zip.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to save the model in.")],
    order: Annotated[
        str, typer.Option(help="time (each user's items by timestamp) or set (baskets).")
    ] = "time",
    size: Annotated[int, typer.Option("--size", help="Vector size.", min=1)] = 64,
    window: Annotated[int, typer.Option(help="Context items on each side (order=time).", min=1)] = 5,
    epochs: Annotated[int, typer.Option(help="Passes over the baskets.", min=1)] = 20,
    min_rating: Annotated[
        float | None, typer.Option(help="Only items rated at least this (default: every item had).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="CPU threads (default: every core).", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Learn item vectors from each user's items as a sentence (Item2Vec), save the model, show neighbours."""

    train = embedrec.load_dataset(data)
    model = Item2Vec(
        vector_size=size,
        window=window,
        order=order,
        epochs=epochs,
        min_rating=min_rating,
        workers=workers,
        seed=seed,
    ).fit(train)
    model.save(out)
    console.print(
        f"{model.n_items:,} items × {size} from {len(train):,} interactions of {model.n_users:,} users "
        f"in {model.train_seconds_:.1f} s",
        highlight=False,
    )
    rec = Recommender(model)
    top = rec.counts.argsort()[::-1][:3]
    for i in top:
        ids, sims = rec.similar_items(model.item_ids_.raw_id(int(i)), n=5)
        names = ", ".join(rec.catalogue.titles[rec.catalogue.index(x)] for x in ids)
        console.print(f"like [bold]{rec.catalogue.titles[int(i)]}[/]: {names}", highlight=False)
    console.print(f"Saved {out}", highlight=False)


def read_table(path: Path) -> Any:
    """A CSV or TSV file as a DataFrame of strings; TSV is read with quoting off (a text may start with ")."""

    check_text_file(path)
    tsv = path.suffix.lower() in (".tsv", ".tab", ".txt")
    try:
        return pd.read_csv(
            path,
            sep="\t" if tsv else ",",
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read it as {'TSV' if tsv else 'CSV'}: {exc}", path=str(path)) from None


def _column(df: Any, name: str, path: Path, option: str) -> list[str]:
    if name not in df.columns:
        raise DataError(
            f"no column {name!r} ({option}); columns: {', '.join(map(str, df.columns))}", path=str(path)
        )
    return df[name].tolist()


def classify_train(
    file: Annotated[Path, typer.Argument(help="A CSV or TSV file with a text and a label column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to save the model in.")],
    text: Annotated[str, typer.Option(help="The text column.")] = "text",
    label: Annotated[str, typer.Option(help="The label column.")] = "label",
    dim: Annotated[int, typer.Option(help="Embedding size.", min=1)] = 100,
    ngrams: Annotated[int, typer.Option(help="1: words; 2: words and word bigrams.", min=1, max=2)] = 2,
    weighting: Annotated[
        str, typer.Option(help="Pooling: tfidf (sublinear, L2-normalised), mean (fastText's) or idf.")
    ] = "tfidf",
    optimizer: Annotated[
        str, typer.Option(help="lbfgs (full batch, 10 iterations an epoch), or adam / sgd (minibatches).")
    ] = "lbfgs",
    epochs: Annotated[int, typer.Option(help="Epochs (L-BFGS: 10 iterations each).", min=1)] = 10,
    weight_decay: Annotated[float, typer.Option(help="L2 on the rows and output weights.", min=0)] = 1e-4,
    lr: Annotated[float, typer.Option(help="Learning rate of adam / sgd.", min=0)] = 0.01,
    pretrained: Annotated[
        Path | None, typer.Option(help="Start the word rows from these vectors (word2vec/GloVe file).")
    ] = None,
    freeze: Annotated[bool, typer.Option(help="Keep the pre-trained word rows fixed.")] = False,
    test_fraction: Annotated[
        float,
        typer.Option(help="Hold out this share of the rows to report accuracy on (0: none).", min=0, max=0.9),
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the split and the model.")] = 0,
) -> None:
    """Train a text classifier (TF-IDF-weighted word and bigram embeddings → linear → softmax), save it."""

    df = read_table(file)
    texts, labels = _column(df, text, file, "--text"), _column(df, label, file, "--label")
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test = int(round(len(texts) * test_fraction))
    test, fit_rows = order[:n_test], order[n_test:]
    model = TextClassifier(
        dim=dim,
        ngrams=ngrams,
        weighting=weighting,
        optimizer=optimizer,
        epochs=epochs,
        weight_decay=weight_decay,
        lr=lr,
        seed=seed,
        freeze=freeze,
        pretrained=None if pretrained is None else str(pretrained),
    )
    try:
        model.fit([texts[i] for i in fit_rows], [labels[i] for i in fit_rows])
    except DataError as err:  # the texts or labels as a whole: name the file and its columns
        raise DataError(f"{file} (--text {text}, --label {label}): {err}") from None
    model.save(out)
    console.print(
        f"{len(fit_rows):,} texts, {len(model.classes_)} labels, {len(model.vocab_counts_):,} words: "
        f"best epoch {model.history_['best_epoch'] + 1}, {model.train_seconds_:.1f} s",
        highlight=False,
    )
    if n_test:
        acc = model.score([texts[i] for i in test], [labels[i] for i in test])
        console.print(f"accuracy on {n_test:,} held-out texts: {acc:.4f}", highlight=False)
    console.print(f"Saved {out}", highlight=False)


def classify_predict(
    model_dir: Annotated[Path, typer.Argument(help="A saved TextClassifier directory.")],
    file: Annotated[Path, typer.Argument(help="A CSV or TSV file with a text column.")],
    text: Annotated[str, typer.Option(help="The text column.")] = "text",
    label: Annotated[
        str, typer.Option(help="A label column to score against, if the file has one.")
    ] = "label",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write predictions to this CSV.")] = None,
    n: Annotated[int, typer.Option("-n", help="Rows shown when not writing a file.", min=1)] = 10,
) -> None:
    """Labels (and their probabilities) for the texts of a file; accuracy too when it has labels."""

    model = load_model(model_dir)
    if not isinstance(model, TextClassifier):
        raise ParameterError(f"{model_dir} holds a {type(model).__name__}, not a TextClassifier")
    df = read_table(file)
    texts = _column(df, text, file, "--text")
    proba = model.predict_proba(texts)
    pred = model.classes_[proba.argmax(axis=1)]
    result = pd.DataFrame({"text": texts, "predicted": pred, "probability": proba.max(axis=1)})
    if label in df.columns:
        acc = float(np.mean(pred == df[label].to_numpy(dtype=object)))
        console.print(f"accuracy on {len(texts):,} texts: {acc:.4f}", highlight=False)
    if out is not None:
        result.to_csv(out, index=False)
        console.print(f"Wrote {len(result):,} predictions to {out}", highlight=False)
        return
    grid = FitTable(escape(f"Predictions of {model_dir.name}"))
    grid.add_column("text", min_width=20)
    grid.add_column("predicted", min_width=9)
    grid.add_column("probability", numeric=True)
    for row in result.head(n).itertuples():
        grid.add_row(escape(row.text), escape(str(row.predicted)), f"{row.probability:.3f}")
    console.print(grid)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
