"""The `evaluate` verb: score a saved model on ratings it has not seen, and refuse to be fooled.

embedrec evaluate models/ml100k ml-100k              # the held-out part of the split it was trained with
embedrec evaluate models/mine --test test.csv        # a separate file of held-out ratings, as it is
embedrec evaluate models/ml100k ml-100k --ranking -k 10

Without --split the split recorded in the model is redone (same seed and fraction), so the test rows are
the ones it never saw; rows it was trained on are refused unless --allow-train-rows, which scores them
apart as training error. A data set other than the model's training data is refused too: a separate
test file is given with --test and scored whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich import box
from rich.console import Console

from embedrec.cli.options import ReadSpec, reads_data
from embedrec.cli.tables import FitTable
from embedrec.cli.train import SPLITS, ranking_table, split_data
from embedrec.data.interactions import Interactions
from embedrec.data.readers import read_ratings
from embedrec.errors import Arg, DataError
from embedrec.models.base import Estimator
from embedrec.models.persist import load_model
from embedrec.query.evaluation import align, evaluate_ratings, training_split
from embedrec.query.ranking import ranking_comparison, report_frame

console = Console()


def register(cli: typer.Typer) -> None:
    """Add the `evaluate` verb to the CLI."""
    cli.command("evaluate")(reads_data(evaluate))


def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A saved model directory.")],
    data: Annotated[
        str | None,
        typer.Argument(help="The data the model was trained on (name or path); its held-out part is scored."),
    ] = None,
    test: Annotated[
        Path | None, typer.Option("--test", help="A file of held-out ratings, scored whole (no split).")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split", "-s", help=f"{', '.join(SPLITS)} (default: the split the model was trained with)."
        ),
    ] = None,
    test_fraction: Annotated[
        float | None, typer.Option("--test-fraction", help="Share held out (default: the model's).", min=0.01)
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the split (default: the model's).")
    ] = None,
    allow_train_rows: Annotated[
        bool,
        typer.Option("--allow-train-rows", help="Score rows the model trained on apart, as training error."),
    ] = False,
    ranking: Annotated[
        bool, typer.Option("--ranking", help="Also ranking metrics of the top-k (always for ranking models).")
    ] = False,
    k: Annotated[int, typer.Option("-k", help="Cut-off for ranking metrics.", min=1)] = 10,
    threshold: Annotated[float, typer.Option(help="Test ratings at least this count as liked.")] = 4.0,
    *,
    read: ReadSpec,
) -> None:
    """Score a saved model on ratings it has not seen: the held-out part of its split, or a --test file."""
    fitted = load_model(model_dir)
    if (data is None) == (test is None):
        raise typer.BadParameter("give the data the model was trained on, or --test FILE (not both)")
    if test is not None:
        if any(v is not None for v in (split, test_fraction, seed)):
            raise typer.BadParameter(
                "--split, --test-fraction and --seed split data; a --test file is scored whole"
            )
        part, train_part = read_ratings(test, **read.kwargs()), None
        source, title = str(test), f"{model_dir} on {test}"
    else:
        part, train_part, name = _held_out(fitted, str(data), split, test_fraction, seed, read)
        source, title = f"the {name} split of {data}", f"{model_dir} on {data} ({name} split)"
    if "predict" in fitted.capabilities:
        result = evaluate_ratings(fitted, part, allow_train_rows=allow_train_rows, what=f"rows of {source}")
        rows = {}
        if result.test is not None:
            rows["test (new to the model)"] = result.test
        if result.train_rows is not None:
            rows["training rows: training error"] = result.train_rows
        console.print(_table(rows, title))
        if result.unknown:
            console.print(
                f"[yellow]{result.unknown:,} {'row' if result.unknown == 1 else 'rows'} skipped: "
                "user or item unknown to the model[/]"
            )
    if ranking or "predict" not in fitted.capabilities:  # a ranking model is scored by its lists
        _ranking(fitted, train_part, part, k, threshold)


def _held_out(
    fitted: Estimator, data: str, split: str | None, fraction: float | None, seed: int | None, read: ReadSpec
) -> tuple[Interactions, Interactions, str]:
    """(test, train, split name): `data` split as asked, else as the model's training data was."""
    recorded = fitted.train_origin_.get("split") or {}
    name = split or recorded.get("name") or "random"
    fraction = fraction if fraction is not None else recorded.get("test_fraction") or 0.2
    seed = seed if seed is not None else recorded.get("seed") or 0
    train_part, part = split_data(data, name, fraction, seed, read)
    if part is None or not len(part):
        raise typer.BadParameter(
            "this split has no test ratings; choose another --split", param_hint="--split"
        )
    trained_on = fitted.train_origin_.get("data_fingerprint")
    if trained_on and part.origin.get("data_fingerprint") not in (None, trained_on):
        raise DataError(
            f"{data} is not the data the model was trained on ({training_split(fitted)}): splitting it would "
            "score a part of other data; to score a separate file of held-out ratings, pass {}",
            hints=(Arg("test", data),),
        )
    return part, train_part, name


def _table(rows: dict[str, Any], title: str) -> FitTable:
    table = FitTable(title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("ratings", style="bold", key=True)
    for col in ("n", "RMSE", "MAE"):
        table.add_column(col, numeric=True)
    for name, m in rows.items():
        table.add_row(name, f"{m.n:,}", f"{m.rmse:.4f}", f"{m.mae:.4f}")
    return table


def _ranking(
    fitted: Estimator, train_part: Interactions | None, part: Interactions, k: int, threshold: float
) -> None:
    """Ranking metrics of the top-k against the popularity and genre baselines."""
    test_part, _ = align(fitted, part)
    train = align(fitted, train_part)[0] if train_part is not None else _seen(fitted)
    frame = report_frame(ranking_comparison(fitted, train, test_part, k=k, threshold=threshold))
    console.print(ranking_table(frame, f"Ranking @ {k} (liked = rating ≥ {threshold:g})"))


def _seen(fitted: Estimator) -> Interactions:
    """The model's training rows, from what it saved, for the ranking baselines."""
    seen = fitted.seen_
    users = np.repeat(np.arange(seen.shape[0], dtype=np.int32), np.diff(seen.indptr))
    return Interactions._owned(
        users, seen.indices.astype(np.int32), seen.data.astype(np.float32), None, user_ids=fitted.user_ids_,
        item_ids=fitted.item_ids_, scale=fitted.scale_, item_meta=fitted.item_meta_,
    )  # fmt: skip


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
