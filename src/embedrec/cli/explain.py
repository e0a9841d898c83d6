"""The `explain` verb: one-hot ≡ lookup worked out, a trained model's factors, and why an item was suggested.

embedrec explain onehot                      the identity on a 6 × 4 example, then measured at scale
embedrec explain factors DIR                 most active users × most rated items, blanks predicted
embedrec explain DIR --user U --item I       what drives one prediction (model.explain)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from embedrec.cli.tables import FitTable
from embedrec.errors import ParameterError
from embedrec.query.recommender import Recommender

console = Console()
MAX_TOP = 1000  # rows of the factors cross-tab: past this a terminal table is not read, only scrolled

EXAMPLES = """
Examples:

  embedrec explain onehot

  embedrec explain factors models/ml100k

  embedrec explain models/ml100k --user 196 --item 242
"""


def register(cli: typer.Typer) -> None:
    """Add the `explain` verb to the CLI."""
    cli.command("explain", epilog=EXAMPLES)(explain)


def explain(
    target: Annotated[str, typer.Argument(help="'onehot', 'factors', or a saved model directory.")],
    model_dir: Annotated[
        Path | None, typer.Argument(help="The saved model directory, after 'factors'.", show_default=False)
    ] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Raw user id to explain.")] = None,
    item: Annotated[str | None, typer.Option("--item", "-i", help="Raw item id to explain.")] = None,
    top: Annotated[
        int, typer.Option(help=f"Users and items in the factors cross-tab (at most {MAX_TOP:,}).", min=1)
    ] = 15,
    factors: Annotated[int, typer.Option(help="Factor values shown per user and item.", min=0)] = 4,
    batch: Annotated[int, typer.Option(help="Batch size of the onehot measurement.", min=1)] = 1024,
    dim: Annotated[int, typer.Option(help="Embedding size of the onehot measurement.", min=1)] = 32,
    max_vocab: Annotated[
        int, typer.Option(help="Largest vocabulary measured (powers of 10 from 1,000).", min=1000)
    ] = 1_000_000,
    budget_mib: Annotated[
        int,
        typer.Option(
            help="Memory allowed for the measurement (MiB): weight tables over it are refused, and the "
            "one-hot side stops where its matrix would not fit.",
            min=1,
        ),
    ] = 1024,
) -> None:
    """Show how embeddings work: one-hot ≡ lookup, a model's factors, or why a user gets an item."""
    if target == "onehot":
        if model_dir is not None:
            raise typer.BadParameter(f"'explain onehot' takes no directory, got {str(model_dir)!r}")
        _explain_onehot(batch=batch, dim=dim, max_vocab=max_vocab, budget=budget_mib * 2**20)
    elif target == "factors":
        if model_dir is None:
            raise typer.BadParameter("give the saved model directory: embedrec explain factors DIR")
        _explain_factors(model_dir, top=top, n_shown=factors)
    else:
        if model_dir is not None:
            raise typer.BadParameter(f"unexpected extra argument {str(model_dir)!r}")
        if user is None or item is None:
            raise typer.BadParameter("give both --user and --item: embedrec explain DIR --user U --item I")
        _explain_pair(Path(target), user, item)


# -- onehot ----------------------------------------------------------------------------------------


def _matrix_table(
    title: str,
    m: np.ndarray,
    *,
    fmt: str,
    row_labels: list[str],
    hot_rows: set[int] = frozenset(),
    col_prefix: str = "",
) -> FitTable:
    """A small matrix as a compact table; rows in `hot_rows` are highlighted."""
    table = FitTable(title, box=box.SIMPLE_HEAD, pad_edge=False, padding=0, title_justify="center")
    table.add_column("", style="dim", numeric=True, key=True)
    for j in range(m.shape[1]):
        table.add_column(f"{col_prefix}{j}", numeric=True)
    for r, row in enumerate(m):
        cells = [format(x, fmt) for x in row]
        if fmt == ".0f":  # the one-hot matrix: make the single 1 stand out
            cells = [f"[bold green]{c}[/]" if c == "1" else f"[dim]{c}[/]" for c in cells]
        table.add_row(row_labels[r], *cells, style="bold yellow" if r in hot_rows else None)
    return table


def _op(symbol: str) -> Text:
    """An operator between matrices, level with their first data row."""
    return Text("\n\n\n" + symbol, style="bold")


def _explain_onehot(*, batch: int, dim: int, max_vocab: int, budget: int) -> None:
    import torch

    from embedrec.models.onehot import compare_onehot_lookup, format_bytes, lookup, one_hot

    n_users, k = 6, 4
    idx = torch.tensor([3, 0, 3, 5])  # a batch of 4 user indices; user 3 twice
    weights = torch.randn(n_users, k, generator=torch.Generator().manual_seed(0))  # (6, 4)
    oh = one_hot(idx, n_users)  # (4, 6)
    product = oh @ weights  # (4, 4)
    looked_up = lookup(weights, idx)  # (4, 4)
    batch_labels = [str(int(i)) for i in idx]

    console.print(
        f"[bold]One-hot ≡ lookup[/]: {n_users} users × {k} factors, a batch of user indices "
        f"idx = {escape(str(idx.tolist()))}.\n"
        "Multiplying the one-hot rows by the weight matrix picks out that user's row of weights; an "
        "embedding layer gets the same rows by indexing, without building the one-hot matrix."
    )
    hot = {int(i) for i in idx}
    tables = [
        _matrix_table(f"one_hot(idx, {n_users})", oh.numpy(), fmt=".0f", row_labels=batch_labels),
        _op("@"),
        _matrix_table(
            f"W ({n_users}×{k})",
            weights.numpy(),
            fmt="+.2f",
            row_labels=[str(i) for i in range(n_users)],
            hot_rows=hot,
            col_prefix="f",
        ),
        _op("="),
        _matrix_table("product", product.numpy(), fmt="+.2f", row_labels=batch_labels, col_prefix="f"),
        _op("≡"),
        _matrix_table(
            escape("W[idx]"), looked_up.numpy(), fmt="+.2f", row_labels=batch_labels, col_prefix="f"
        ),
    ]
    grid = Table.grid(padding=(0, 1))
    grid.add_row(*tables)
    if console.measure(grid, options=console.options.update_width(10_000)).maximum <= console.width:
        console.print(grid)
    else:  # a narrow terminal: the product and the lookup go on a second line
        for part in (tables[:3], [Text(""), *tables[3:]]):
            grid = Table.grid(padding=(0, 1))
            grid.add_row(*part)
            console.print(grid)
    same = torch.equal(product, looked_up)
    console.print(
        f"one_hot(idx, {n_users}) @ W equals W\\[idx]: [bold]{'yes' if same else 'NO'}[/] (exactly). "
        "Gradients agree too: only rows 0, 3 and 5 of W get any, and row 3 gets two.\n"
    )

    sizes = [10**p for p in range(3, 19) if 10**p <= max_vocab]
    rows = compare_onehot_lookup(sizes, batch=batch, dim=dim, memory_budget=budget)
    table = FitTable(
        f"Measured: batch {batch}, {dim} factors, float32, CPU (best of 3)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("V", numeric=True, key=True)
    for name in ("one-hot time", "one-hot mem", "lookup time", "lookup mem", "× faster", "table W"):
        table.add_column(name, numeric=True)
    notes = []
    for r in rows:
        if r.onehot_seconds is None:
            onehot_time, ratio = "[red]skipped[/]", "—"
            notes.append(f"V = {r.vocab_size:,}: {r.note}")
        else:
            onehot_time, ratio = _ms(r.onehot_seconds), f"{r.onehot_seconds / r.lookup_seconds:,.0f}×"
        table.add_row(
            f"{r.vocab_size:,}",
            onehot_time,
            format_bytes(r.onehot_bytes),
            _ms(r.lookup_seconds),
            format_bytes(r.lookup_bytes),
            ratio,
            format_bytes(r.weight_bytes),
        )
    console.print(table)
    for note in notes:
        console.print(f"[yellow]{note}[/]", highlight=False)
    console.print(
        "Memory columns count what each side allocates per batch; the one-hot matrix grows with V, "
        "the lookup does not.",
        style="dim",
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.3f} ms" if seconds < 1 else f"{seconds:,.2f} s"


# -- factors ---------------------------------------------------------------------------------------


def _crosstab(
    model: Any,
    users: np.ndarray,
    items: np.ndarray,
    block: np.ndarray,
    known: np.ndarray,
    predicted: np.ndarray,
) -> FitTable:
    """Users × items: known ratings in bold as they are, blanks as (prediction) in cyan; on a narrow
    terminal the item columns continue in further parts, each with the user column."""
    table = FitTable(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
    table.add_column("user", style="bold", numeric=True, justify="left", key=True)
    for i in items:
        table.add_column(escape(str(model.item_ids_.raw_id(int(i)))), numeric=True)
    for r, u in enumerate(users):
        cells = [
            f"[bold]{block[r, c]:g}[/]" if known[r, c] else f"[cyan]({predicted[r, c]:.1f})[/]"
            for c in range(len(items))
        ]
        table.add_row(escape(str(model.user_ids_.raw_id(int(u)))), *cells)
    return table


def _explain_factors(model_dir: Path, *, top: int, n_shown: int) -> None:
    if top > MAX_TOP:
        raise ParameterError(
            f"--top {top:,} would print a {top:,}-row table; the most it shows is {MAX_TOP:,}"
        )
    rec = Recommender.load(model_dir)
    model = rec.model
    seen = model.seen_.tocsr()  # (n_users, n_items) training ratings
    user_counts = np.diff(seen.indptr)
    item_counts = np.bincount(seen.indices, minlength=seen.shape[1])
    users = np.argsort(-user_counts, kind="stable")[:top]
    items = np.argsort(-item_counts, kind="stable")[:top]
    corner = seen[users][:, items].tocoo()  # (top, top) sparse
    block = np.zeros(corner.shape, dtype=np.float32)
    known = np.zeros(corner.shape, dtype=bool)  # stored entries, whatever their value
    block[corner.row, corner.col] = corner.data
    known[corner.row, corner.col] = True
    uu, ii = np.meshgrid(users, items, indexing="ij")  # (top, top)
    predicted = model.predict(uu, ii, raw=False)
    n_top_items = min(top, seen.shape[1])

    console.print(
        f"[bold]{type(model).__name__}[/] from {model_dir}: the {len(users)} most active users × the "
        f"{n_top_items} most rated items. [bold]Known[/] training ratings as they are; [cyan](blanks)[/] "
        "filled with the model's predictions. A model learns factors so that their dot product (plus the "
        "biases) reproduces the known cells; the blanks then come for free."
    )
    console.print(_crosstab(model, users, items, block, known, predicted))
    share = known.mean() if known.size else 0.0
    console.print(
        f"{share:.0%} of this corner is known; of the whole {seen.shape[0]:,} × {seen.shape[1]:,} matrix, "
        f"{seen.nnz / (seen.shape[0] * seen.shape[1]):.1%}.",
        style="dim",
    )

    uf, itf = getattr(model, "user_factors_", None), getattr(model, "item_factors_", None)
    has_factors = uf is not None and itf is not None and uf.shape[1] > 0 and n_shown > 0
    shown = min(n_shown, uf.shape[1]) if has_factors else 0
    item_table = FitTable("Items (columns above)", box=box.SIMPLE_HEAD, pad_edge=False)
    item_table.add_column("item", numeric=True, key=True)
    item_table.add_column("title", min_width=16, key=True)
    item_table.add_column("ratings", numeric=True)
    user_table = FitTable("Users (rows above)", box=box.SIMPLE_HEAD, pad_edge=False)
    user_table.add_column("user", numeric=True, key=True)
    user_table.add_column("ratings", numeric=True)
    ub, ib = getattr(model, "user_bias_", None), getattr(model, "item_bias_", None)
    for t in (item_table, user_table):
        if ub is not None and ib is not None:
            t.add_column("bias", numeric=True)
        for j in range(shown):
            t.add_column(f"f{j}", numeric=True)
    with_bias = ub is not None and ib is not None

    def extra(bias: np.ndarray | None, table: np.ndarray | None, row: int) -> list[str]:
        cells = [f"{bias[row]:+.2f}"] if with_bias else []
        return cells + ([f"{x:+.2f}" for x in table[row, :shown]] if shown else [])

    for i in map(int, items):
        raw, title = escape(str(model.item_ids_.raw_id(i))), escape(rec.catalogue.titles[i])
        item_table.add_row(raw, title, f"{item_counts[i]:,}", *extra(ib, itf, i))
    for u in map(int, users):
        user_table.add_row(escape(str(model.user_ids_.raw_id(u))), f"{user_counts[u]:,}", *extra(ub, uf, u))
    console.print(Group(item_table, user_table))
    if has_factors:
        console.print(
            f"The first {shown} of {uf.shape[1]} factors. A prediction is the dot product of a user's row "
            "and an item's row plus the biases, passed through the model's link to the rating range.",
            style="dim",
        )
    else:
        console.print(f"{type(model).__name__} has no user/item factors to show.", style="dim")


# -- one pair --------------------------------------------------------------------------------------


def _explain_pair(model_dir: Path, user: str, item: str) -> None:
    rec = Recommender.load(model_dir)
    result = rec.explain(user, item)
    console.print(result)
    if result.prediction is not None:
        console.print(
            f"The terms add up to the predicted rating {result.prediction:.2f} (in stars; in the model's own "
            f"units they add up to its score {result.score:+.3f}). A rated item counts by how the new-user "
            "solve weighs it for this item; 'rest' is what training learned beyond that solve.",
            style="dim",
        )


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
