"""A run's epochs as the engine reports them, kept as columns (one list per field).

A `RunRecord` holds one: each `EpochEnd` appends one row, and a front end that draws the run reads
whole columns (`epoch`, `val_nll`, ...) without rebuilding them from per-epoch dicts, so drawing
stays linear in the number of epochs. It also reads as a sequence of rows (the dicts of
`EpochEnd.record()`), the form metrics.csv and a checkpoint's metrics["history"] take.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from .epochlog import PART_FIELDS, WEIGHTS_KEY

BASE_FIELDS = ("epoch", "train_loss", "val_nll", "seconds")


class RunHistory:
    """One entry per reported epoch, in the order reported. The parts are NaN where an epoch did
    not measure them, the weights `None` where it did not record them; a row read back carries
    only what its epoch recorded."""

    def __init__(self, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.epoch: list[int] = []
        self.train_loss: list[float] = []
        self.val_nll: list[float] = []
        self.seconds: list[float] = []
        self.val_recon: list[float] = []
        self.val_kl: list[float] = []
        self.weights: list[list[float] | None] = []
        for row in rows:
            self.append(row)

    def append(self, row: dict[str, Any]) -> None:
        """Add one epoch's row (an `EpochEnd.record()`, an entry of a checkpoint's history)."""
        self.epoch.append(int(row["epoch"]))
        self.train_loss.append(row.get("train_loss", math.nan))
        self.val_nll.append(row["val_nll"])
        self.seconds.append(row.get("seconds", math.nan))
        self.val_recon.append(row.get("val_recon", math.nan))
        self.val_kl.append(row.get("val_kl", math.nan))
        weights = row.get(WEIGHTS_KEY)
        self.weights.append(list(weights) if weights else None)

    def __len__(self) -> int:
        return len(self.epoch)

    def row(self, i: int) -> dict[str, Any]:
        """The `i`th epoch as a dict (negative `i` counts from the end)."""
        out: dict[str, Any] = {
            "epoch": self.epoch[i],
            "train_loss": self.train_loss[i],
            "val_nll": self.val_nll[i],
            "seconds": self.seconds[i],
        }
        for key in PART_FIELDS:
            value = getattr(self, key)[i]
            if not math.isnan(value):
                out[key] = value
        if self.weights[i]:
            out[WEIGHTS_KEY] = list(self.weights[i])
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.row(i)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self.row(i) for i in range(len(self)))

    def rows(self) -> list[dict[str, Any]]:
        return list(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunHistory):
            return self.rows() == other.rows()
        if isinstance(other, list):
            return self.rows() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (mutable, compared by content)

    def __repr__(self) -> str:
        return f"RunHistory({len(self)} epochs)"
