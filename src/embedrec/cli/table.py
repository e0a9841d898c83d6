"""CLI verbs for table models: `table train`, `table predict` and `table evaluate`.

embedrec table train adult_train.csv --target income --out models/adult
embedrec table evaluate models/adult adult_test.csv
embedrec table predict models/adult adult_test.csv --out predictions.csv
embedrec plot models/adult --column occupation --out occupation.png
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.markup import escape

from embedrec.cli.tables import FitTable
from embedrec.errors import ParameterError
from embedrec.models.persist import load_model

console = Console()

EXAMPLES = """
Examples:

  embedrec table train adult_train.csv --target income --out models/adult

  embedrec table train ratings.csv --target rating --categorical user,movie --out models/ml

  embedrec table evaluate models/adult adult_test.csv

  embedrec table predict models/adult adult_test.csv --out predictions.csv
"""

table_cli = typer.Typer(
    help="Entity embeddings for any table (CSV/TSV/Parquet): train, evaluate, predict.",
    no_args_is_help=True,
    epilog=EXAMPLES,
)


def _columns_option(role: str) -> Any:
    return typer.Option(
        help=f"Columns to treat as {role}, comma-separated (default: inferred).", show_default=False
    )


def register(cli: typer.Typer) -> None:
    """Add the `table` verb group to the CLI."""
    cli.add_typer(table_cli, name="table")


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@table_cli.command("train", epilog=EXAMPLES)
def train(
    file: Annotated[Path, typer.Argument(help="The training table: CSV, TSV or Parquet.")],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to save the model in.")],
    categorical: Annotated[str | None, _columns_option("categorical (one embedding each)")] = None,
    numeric: Annotated[str | None, _columns_option("numbers")] = None,
    multilabel: Annotated[str | None, _columns_option("'|'-separated labels")] = None,
    skip: Annotated[str | None, _columns_option("unused")] = None,
    task: Annotated[
        str, typer.Option(help="auto, regression, classification, binary or multiclass.")
    ] = "auto",
    epochs: Annotated[int, typer.Option(help="Passes over the training rows.", min=1)] = 5,
    interaction_size: Annotated[
        int, typer.Option(help="Factor size of the pairwise interactions between columns (0: none).", min=0)
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, batches and validation rows.")] = 0,
) -> None:
    """Fit a TabularModel: one embedding per categorical column beside the numbers, then an MLP."""
    from embedrec.data.tables import read_table, target_column
    from embedrec.models.tabular import TabularModel

    frame = read_table(file)
    y = target_column(frame, target)
    model = TabularModel(
        task,
        categorical=_names(categorical),
        numeric=_names(numeric),
        multilabel=_names(multilabel),
        skip=_names(skip),
        epochs=epochs,
        interaction_size=interaction_size,
        seed=seed,
        verbose=True,
    )
    start = time.perf_counter()
    model.fit(frame.drop(columns=[target]), y)
    seconds = time.perf_counter() - start
    _show_schema(model)
    history = model.history_
    valid = history.valid_rmse or history.valid_loss
    what = f"{model.task_} on {len(frame):,} rows in {seconds:.1f} s"
    if valid:
        name = "RMSE (standardised target)" if history.valid_rmse else "loss"
        what += f"; best validation {name} {min(valid):.4f} at epoch {history.best_epoch + 1}"
    console.print(what, highlight=False)
    model.save(out)
    console.print(f"Saved to {out}", highlight=False)


def _show_schema(model: Any) -> None:
    grid = FitTable("Columns", box=box.SIMPLE, title_justify="center")
    grid.add_column("column", min_width=12)
    grid.add_column("role", min_width=11)
    grid.add_column("why", min_width=16)
    grid.add_column("embedding", min_width=12)
    sizes = {
        c.name: f"{c.n_rows - 1:,} values × {d}"
        for c, d in zip(model.encoder_.categories, model.sizes_, strict=True)
    }
    for col in model.schema_.columns:
        grid.add_row(escape(col.name), col.kind, escape(col.reason), sizes.get(col.name, ""))
    console.print(grid)


def _load(model_dir: Path) -> Any:
    from embedrec.models.tabular import TabularModel

    if not model_dir.is_dir():
        raise ParameterError(f"{model_dir}: no such model directory (train one with `embedrec table train`)")
    model = load_model(model_dir)
    if not isinstance(model, TabularModel):
        raise ParameterError(f"{model_dir} holds a {type(model).__name__}, not a table model")
    return model


@table_cli.command("predict", epilog=EXAMPLES)
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A saved table model directory.")],
    file: Annotated[Path, typer.Argument(help="The rows to predict: CSV, TSV or Parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the predictions (CSV).")],
) -> None:
    """Write one prediction per row of FILE (and each class's probability for a classifier)."""
    from embedrec.data.tables import read_table

    model = _load(model_dir)
    frame = read_table(file)
    result = pd.DataFrame({"prediction": model.predict(frame)})
    if model.task_ != "regression":
        proba = model.predict_proba(frame)
        for j, cls in enumerate(model.classes_):
            result[f"p_{cls}"] = proba[:, j]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    result.to_csv(tmp, index=False)
    tmp.replace(out)
    console.print(f"Wrote {len(result):,} predictions to {out}", highlight=False)


@table_cli.command("evaluate", epilog=EXAMPLES)
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A saved table model directory.")],
    file: Annotated[Path, typer.Argument(help="A table with the target column: CSV, TSV or Parquet.")],
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="The target column (default: the training one).")
    ] = None,
) -> None:
    """Accuracy, ROC AUC and log loss (classification) or RMSE, MAE and R² (regression) on FILE."""
    from embedrec.data.tables import read_table, target_column

    model = _load(model_dir)
    name = target or model.target_name_
    if name is None:
        raise ParameterError("the model does not know its target column's name: pass --target")
    frame = read_table(file)
    y = target_column(frame, name)
    grid = FitTable(escape(f"{model_dir} on {file.name} ({len(frame):,} rows)"), box=box.SIMPLE)
    grid.add_column("metric", key=True)
    grid.add_column("value", numeric=True)
    for metric, value in model.evaluate(frame, y).items():
        grid.add_row(metric, f"{value:.4f}")
    console.print(grid)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
