"""CLI verbs that fit and use models: `train`, `predict` and `demo` (`evaluate` is in cli/evaluate.py).

embedrec train ml-100k --model dotbias --split u1 --out models/ml100k
embedrec train ml-100k --model ease --split u1 --out models/ml100k-ease
embedrec train ml-100k --model dotbias --nproc 2        # data-parallel over 2 local processes
torchrun --nproc-per-node 2 -m embedrec train ml-100k --model dotbias   # the same, started by torchrun
embedrec train ratings.csv --columns user=0,item=1,rating=4,time=5 --out models/mine
embedrec predict models/ml100k --user 196 --item 242
embedrec demo
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.markup import escape

import embedrec
from embedrec.cli.options import ReadSpec, reads_data
from embedrec.cli.recommend import demo_tail
from embedrec.cli.tables import FitTable
from embedrec.data.implicit import default_weights
from embedrec.errors import DataError, ParameterError
from embedrec.metrics import mae, rmse
from embedrec.query.ranking import ranking_comparison, ranking_report, report_frame
from embedrec.query.recommender import Recommender

console = Console()

# CLI name -> class; the first is the default: the best measured RMSE (BENCHMARKS.md). The last three
# are ranking models: they learn which items a user likes and predict no ratings.
MODELS = {
    "bayes": "BayesianDotBias",
    "dotbias": "DotBias",
    "neural": "NeuralCF",
    "baseline": "BiasBaseline",
    "mean": "GlobalMean",
    "als": "ALS",
    "bpr": "BPR",
    "ease": "EASE",
}
# the ranking model of `demo`: the best NDCG@10 measured on ml-latest-small (BENCHMARKS.md, "Ranking")
DEMO_RANKER: tuple[str, dict[str, Any]] = (
    "ease",
    {"regularization": 100.0, "weights": "scaled", "min_count": 3},
)
DEFAULT_MODEL = next(iter(MODELS))
PARALLEL = ("dotbias", "neural", "bpr")  # the models of the shared torch loop: they train data-parallel
FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
SPLITS = (*FOLDS, "random", "user", "temporal", "none")

SplitOpt = Annotated[
    str,
    typer.Option(
        "--split",
        "-s",
        help="How to hold out test ratings: u1..u5/ua/ub (ML-100K's folds), random, user, temporal, none.",
    ),
]
FractionOpt = Annotated[
    float, typer.Option("--test-fraction", help="Share of ratings held out.", min=0.01, max=0.9)
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the split and the model.")]


def register(cli: typer.Typer) -> None:
    """Add the model verbs to the CLI."""
    cli.command("train")(reads_data(train))
    cli.command("predict")(predict)
    cli.command("demo")(demo)


def split_data(
    data: str, split: str, test_fraction: float = 0.2, seed: int = 0, read: ReadSpec | None = None
) -> tuple[Any, Any]:
    """(train, test) Interactions for a dataset name/path and a split name; test is None for "none"."""
    if split not in SPLITS:
        raise typer.BadParameter(
            f"unknown split {split!r}; choose one of {', '.join(SPLITS)}", param_hint="--split"
        )
    options = read.kwargs() if read is not None else {}
    if split in FOLDS:
        if options:
            raise ParameterError(
                f"{split} is read from ML-100K's own fold files: --{next(iter(options)).replace('_', '-')} "
                "does not apply to it"
            )
        return embedrec.predefined_split(data, split)
    full = embedrec.load_dataset(data, **options)
    if split == "random":
        return embedrec.random_split(full, test_fraction=test_fraction, seed=seed)
    if split == "user":
        return embedrec.user_split(full, test_fraction=test_fraction, seed=seed)
    if split == "temporal":
        return embedrec.temporal_split(full, test_fraction=test_fraction)
    return full, None


def make_model(name: str, *, seed: int = 0, verbose: bool = True, **overrides: Any) -> Any:
    """A model by its CLI name with hyper-parameter overrides (None values keep the defaults)."""
    if name not in MODELS:
        raise typer.BadParameter(
            f"unknown model {name!r}; choose one of {', '.join(MODELS)}", param_hint="--model"
        )
    cls = getattr(embedrec, MODELS[name])
    params = set(cls._param_names())
    given = {k: v for k, v in {**overrides, "seed": seed, "verbose": verbose}.items() if v is not None}
    unused = sorted(k for k in given if k not in params and k not in ("seed", "verbose"))
    if unused:
        raise typer.BadParameter(f"--{unused[0].replace('_', '-')} does not apply to the {name} model")
    return cls(**{k: v for k, v in given.items() if k in params})


def metrics_table(rows: dict[str, dict[str, float]], title: str) -> FitTable:
    """A small table: one row per data part, RMSE and MAE columns."""
    table = FitTable(title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("ratings", style="bold", key=True)
    for col in ("n", "RMSE", "MAE"):
        table.add_column(col, numeric=True)
    for name, m in rows.items():
        table.add_row(name, f"{int(m['n']):,}", f"{m['rmse']:.4f}", f"{m['mae']:.4f}")
    return table


def score(model: Any, part: Any) -> dict[str, float]:
    """RMSE and MAE of a model on Interactions that share its id maps."""
    pred = model.predict(part.users, part.items, raw=False)
    return {"n": len(part), "rmse": rmse(part.ratings, pred), "mae": mae(part.ratings, pred)}


def ranking_table(frame: Any, title: str) -> FitTable:
    """One row per model, one column per ranking metric (from `report_frame`); at a narrow width the
    metrics continue in a second part, each repeating the model names."""
    table = FitTable(title, box=box.SIMPLE_HEAD)
    table.add_column("model", key=True)
    for col in map(str, frame.columns):
        table.add_column(col.replace("_", " "), numeric=True)  # "hit rate" may wrap between its words
    for name, row in frame.iterrows():
        table.add_row(str(name), *(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    return table


def train(
    data: Annotated[str, typer.Argument(help="A built-in dataset name, or a ratings file/folder/zip.")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Rating models: bayes (sampled DotBias), dotbias (the torch loop), neural, baseline, mean; "
            "ranking models (top-N lists, no ratings): als, bpr, ease.",
        ),
    ] = DEFAULT_MODEL,
    split: SplitOpt = "random",
    test_fraction: FractionOpt = 0.2,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Save the fitted model to this folder.")
    ] = None,
    factors: Annotated[int | None, typer.Option("--factors", "-k", help="Embedding size.", min=1)] = None,
    sweeps: Annotated[int | None, typer.Option("--sweeps", help="Sampling sweeps (bayes).", min=1)] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Cores for each sweep (bayes; default: all).", min=1),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Training epochs (dotbias, neural, bpr).", min=1)
    ] = None,
    lr: Annotated[
        float | None, typer.Option("--lr", help="Peak learning rate (dotbias, neural, bpr).")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option("--iterations", help="Alternating least-squares iterations (als).", min=1)
    ] = None,
    regularization: Annotated[
        float | None, typer.Option("--regularization", help="L2 weight λ (als, ease).", min=0)
    ] = None,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Confidence 1 + alpha·weight of a like (als).", min=0)
    ] = None,
    loss: Annotated[str | None, typer.Option("--loss", help="bpr, warp or softmax (bpr).")] = None,
    min_rating: Annotated[
        float | None,
        typer.Option("--min-rating", help="Ranking models: values below it are seen, not liked.", min=0),
    ] = None,
    weights: Annotated[
        str,
        typer.Option(
            "--weights",
            help="Ranking models: a like's weight, binary, value, log or scaled; auto: scaled for star "
            "ratings, binary when every value is the same, log for counts.",
        ),
    ] = "auto",
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Ratings per step, over all processes.", min=1)
    ] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu or cuda (dotbias, neural, bpr); cuda: one GPU per process."),
    ] = None,
    compile_step: Annotated[
        bool | None,
        typer.Option("--compile", help="torch.compile each step (dotbias, neural; best on a GPU)."),
    ] = None,
    mixed_precision: Annotated[
        bool | None, typer.Option("--mixed-precision", help="bfloat16 autocast (dotbias, neural).")
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Train data-parallel over this many local processes (dotbias, neural, bpr).",
            min=1,
        ),
    ] = 1,
    shard_tables: Annotated[
        bool,
        typer.Option("--shard-tables", help="Split the embedding tables row-wise over the processes."),
    ] = False,
    seed: SeedOpt = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    *,
    read: ReadSpec,
) -> None:
    """Fit a model on the training part of a split, report RMSE/MAE (ranking metrics for ranking models),
    and optionally save it (with the split, so that `embedrec evaluate` scores the same held-out ratings).

    Under torchrun, or with --nproc, every process trains on its shard of the ratings and rank 0
    prints and saves.
    """
    from embedrec.models.distributed import spawn, world_size_from_env

    settings = {
        "n_factors": factors, "sweeps": sweeps, "threads": threads, "epochs": epochs, "lr": lr,
        "batch_size": batch_size, "device": device,
        "compile": compile_step or None,  # None: not asked for, so no model refuses it
        "mixed_precision": mixed_precision or None,
        "iterations": iterations, "regularization": regularization, "alpha": alpha, "loss": loss,
        "min_rating": min_rating, "weights": weights,
    }  # fmt: skip
    job = (data, model, split, test_fraction, seed, quiet, out, shard_tables, read, settings)
    if (nproc > 1 or world_size_from_env() > 1) and model not in PARALLEL:
        raise typer.BadParameter(
            f"the {model} model trains in one process; --nproc and torchrun apply to {', '.join(PARALLEL)}",
            param_hint="--model",
        )
    if nproc > 1 and world_size_from_env() > 1:
        raise typer.BadParameter(
            "torchrun already started the processes: leave --nproc out", param_hint="--nproc"
        )
    # bad names and settings fail here, once, not in every process ("auto" weights are picked in _fit)
    make_model(model, seed=seed, **{**settings, "weights": None if weights == "auto" else weights})
    if split not in SPLITS:
        split_data(data, split)  # raises the usage error
    if nproc > 1:
        spawn(nproc, _train_process, *job)
    else:
        _train_process(*job)


def _train_process(
    data: str,
    model: str,
    split: str,
    test_fraction: float,
    seed: int,
    quiet: bool,
    out: Path | None,
    shard_tables: bool,
    read: ReadSpec,
    settings: dict[str, Any],
) -> None:
    """`train` in one process of a job (or the only one): fit data-parallel; rank 0 reports and saves."""
    from embedrec.models.distributed import data_parallel

    with data_parallel(shard_tables=shard_tables) as hook:
        fitted, train_part, test_part, seconds = _fit(
            data, model, split, test_fraction, seed, quiet, read=read, **settings
        )
    if hook.rank != 0:
        return
    processes = f" on {hook.world_size} processes" if hook.world_size > 1 else ""
    title = f"{type(fitted).__name__} on {data} ({split} split), fit in {seconds:.1f} s{processes}"
    if "predict" in fitted.capabilities:
        rows = {"train": score(fitted, train_part)}
        if test_part is not None and len(test_part):
            rows["test"] = score(fitted, test_part)
        console.print(metrics_table(rows, title))
    elif test_part is not None and len(test_part):
        frame = report_frame(ranking_comparison(fitted, train_part, test_part))
        console.print(ranking_table(frame, f"{title}: top 10 of the test users (liked = rating ≥ 4)"))
    else:
        console.print(title)
    if out is not None:
        path = fitted.save(out)
        console.print(f"saved to [bold]{path}[/]")


def _fit(
    data: str,
    model: str,
    split: str,
    test_fraction: float,
    seed: int,
    quiet: bool,
    read: ReadSpec | None = None,
    **settings: Any,
) -> tuple[Any, Any, Any, float]:
    """Fit `model` (hyper-parameter `settings`; None keeps a default) on a split: (model, train, test, s).

    `weights="auto"` picks a ranking model's like-weights from the training data (`default_weights`)."""
    if model not in MODELS:
        raise typer.BadParameter(
            f"unknown model {model!r}; choose one of {', '.join(MODELS)}", param_hint="--model"
        )
    train_part, test_part = split_data(data, split, test_fraction, seed, read)
    ranking = getattr(embedrec, MODELS[model]).objective == "ranking"
    values = train_part.ratings
    if not ranking and len(values) and values.min() == values.max():
        raise DataError(
            f"every value is {values[0]:g}: a rating model has nothing to learn from it; "
            "train a ranking model on these interactions (--model als, bpr or ease)",
            path=train_part.source or None,
        )
    if settings.get("weights") == "auto":
        settings["weights"] = default_weights(train_part) if ranking else None
    estimator = make_model(model, seed=seed, verbose=not quiet, **settings)
    start = time.perf_counter()
    valid = test_part if test_part is not None and len(test_part) and not ranking else None
    fitted = estimator.fit(train_part, valid)
    return fitted, train_part, test_part, time.perf_counter() - start


def predict(
    model_dir: Annotated[Path, typer.Argument(help="A saved model directory.")],
    user: Annotated[str, typer.Option("--user", "-u", help="Raw user id.")],
    item: Annotated[list[str], typer.Option("--item", "-i", help="Raw item id (repeat for several).")],
) -> None:
    """Predicted ratings of one user for one or more items."""
    rec = Recommender.load(model_dir)
    preds = rec.predict(user, item)
    table = FitTable(f"Predicted ratings for user {escape(user)}", box=box.SIMPLE_HEAD)
    table.add_column("item", numeric=True)
    table.add_column("title", min_width=16)
    table.add_column("predicted", numeric=True, style="bold")
    for raw, value in zip(item, np.atleast_1d(preds), strict=True):
        i = rec.catalogue.index(raw)
        raw_id, name = rec.catalogue.ids.raw_id(i), rec.catalogue.titles[i]
        table.add_row(escape(str(raw_id)), escape(name), f"{value:.2f}")
    console.print(table)


def demo(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also save the two models here (ranking/ and rating/)."),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the web app (the models are trained once and kept).")
    ] = False,
    host: Annotated[str, typer.Option(help="With --serve: address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --serve: TCP port.")] = 8000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train on the bundled movielens-small data: a ranking model picks the lists, a rating model
    predicts the stars shown beside them; show what they learned."""
    if serve:
        from embedrec.cli.serve import demo_model_dir, serve_model

        keep = demo_model_dir(out)
        if all((keep / part / "model.json").is_file() for part in ("ranking", "rating")):
            console.print(f"Using the demo models kept in [bold]{keep}[/] (delete it to retrain)")
            serve_model(Recommender.load(keep / "ranking", ratings=keep / "rating"), host, port)
            return
        out = keep
    name = MODELS[DEFAULT_MODEL]
    console.print(f"Training {name} on the bundled movielens-small (90% of ratings; 10% held out) ...")
    fitted, train_part, test_part, seconds = _fit("movielens-small", DEFAULT_MODEL, "random", 0.1, 0, quiet)
    rows = {"train": score(fitted, train_part), "held out": score(fitted, test_part)}
    console.print(metrics_table(rows, f"{name} fit in {seconds:.1f} s"))
    kind, settings = DEMO_RANKER
    console.print(f"Training {MODELS[kind]} to rank (the best measured on this data, BENCHMARKS.md) ...")
    start = time.perf_counter()
    ranker = make_model(kind, verbose=not quiet, **settings).fit(train_part)
    seconds = time.perf_counter() - start
    reports = ranking_comparison(ranker, train_part, test_part)
    reports[f"{name} + popularity prior"] = ranking_report(fitted, train_part, test_part, popularity=1.0)
    title = f"{MODELS[kind]} fit in {seconds:.1f} s: top 10 of the held-out users (liked = rating ≥ 4)"
    console.print(ranking_table(report_frame(reports), title))
    rec = Recommender(ranker, ratings=fitted)
    console.print(demo_tail(rec))
    if out is not None:
        ranker.save(Path(out) / "ranking")
        console.print(f"saved to [bold]{fitted.save(Path(out) / 'rating').parent}[/]")
    if serve:
        from embedrec.cli.serve import serve_model

        serve_model(rec, host, port)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
