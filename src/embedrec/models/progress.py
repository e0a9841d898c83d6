"""What a fit reports: a switchable rich progress bar with the loss, and the history it leaves behind."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column


@dataclass
class TrainHistory:
    """What happened during a fit: one entry per epoch (or sweep) run."""

    train_loss: list[float] = field(default_factory=list)
    valid_rmse: list[float] = field(default_factory=list)  # with the MSE loss
    best_epoch: int = 0
    seconds: float = 0.0
    valid_loss: list[float] = field(default_factory=list)  # with any other loss: its mean on valid
    epoch_seconds: list[float] = field(default_factory=list)  # wall time of each epoch's steps (or sweep)

    def __len__(self) -> int:
        """The number of epochs (or sweeps) run: `len(model.history_)`."""
        return len(self.train_loss)


class Bar:
    """A rich progress bar with one tick per epoch (or sweep) showing train loss and valid RMSE (or
    whatever `valid` names)."""

    def __init__(self, description: str, total: int, unit: str = "epochs", valid: str = "valid RMSE") -> None:
        console = Console(stderr=True)
        figures = f"{unit}  loss {{task.fields[loss]}}  {valid} {{task.fields[rmse]}}"
        # on a narrow terminal the bar gives way (40 wide at most, 4 at least), never the figures
        shown = len(figures.replace("{task.fields[loss]}", "0.0000").replace("{task.fields[rmse]}", "0.0000"))
        fixed = len(description) + 2 * len(str(total)) + 1 + shown + len("0:00:00") + 4  # + the gaps
        self.progress = Progress(
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=max(4, min(40, console.width - fixed))),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn(figures, table_column=Column(no_wrap=True)),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            console=console,
        )
        self.task = self.progress.add_task(description, total=total, loss="-", rmse="-")

    def update(self, step: int, loss: float, rmse: float = math.nan) -> None:
        shown = "-" if math.isnan(rmse) else f"{rmse:.4f}"
        self.progress.update(self.task, completed=step + 1, loss=f"{loss:.4f}", rmse=shown)


@contextmanager
def progress(
    description: str, total: int, *, unit: str = "epochs", verbose: bool = True, valid: str = "valid RMSE"
) -> Iterator[Bar | None]:
    """A Bar for the block (None when verbose=False), removed from the terminal's live area afterwards."""
    if not verbose:
        yield None
        return
    bar = Bar(description, total, unit, valid)
    bar.progress.start()
    try:
        yield bar
    finally:
        bar.progress.stop()
