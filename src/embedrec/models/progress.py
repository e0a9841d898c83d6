"""What a fit reports: a switchable rich progress bar with the loss, and the history it leaves behind."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass
class TrainHistory:
    """What happened during a fit: one entry per epoch (or sweep) run."""

    train_loss: list[float] = field(default_factory=list)
    valid_rmse: list[float] = field(default_factory=list)  # with the MSE loss
    best_epoch: int = 0
    seconds: float = 0.0
    valid_loss: list[float] = field(default_factory=list)  # with any other loss: its mean on valid

    def __len__(self) -> int:
        """The number of epochs (or sweeps) run: `len(model.history_)`."""
        return len(self.train_loss)


class Bar:
    """A rich progress bar with one tick per epoch (or sweep) showing train loss and valid RMSE (or
    whatever `valid` names)."""

    def __init__(self, description: str, total: int, unit: str = "epochs", valid: str = "valid RMSE") -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit + "  loss {task.fields[loss]}  " + valid + " {task.fields[rmse]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
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
