"""What a run records of each validated epoch beyond its nll: the validation bound's two parts and
the prior's component weights, so that a collapse of the mixture is seen as it happens.

A history row (an `EpochEnd.record()`, an entry of a checkpoint's metrics["history"]) may carry,
beside `checkpoint.HISTORY_FIELDS`:
- `val_recon`: -E_q log p(x|z) and `val_kl`: E_q[log q(z|x) - log p(z)], per validation image, from
  the validation pass the run makes anyway (they add up to `val_nll`);
- `weights`: the prior's K component weights at the end of the epoch (where they are not all
  equal: fixed equal weights, the VampPrior's or a uniform mixture's, are not recorded).
The two parts go into metrics.csv as two more columns; the weights into weights.csv (epoch, then
one column per component). Rows and files without them, written before they existed, stay valid.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import MAX_EPOCHS as MAX_EPOCH  # the largest epoch a run file may name

PART_FIELDS = ("val_recon", "val_kl")
WEIGHTS_KEY = "weights"
WEIGHTS_FILE = "weights.csv"
OPTIONAL_KEYS = (*PART_FIELDS, WEIGHTS_KEY)
MAX_COMPONENTS = 100_000  # columns of weights.csv read back


def metric_columns(base: Sequence[str], history: list[dict[str, Any]]) -> list[str]:
    """metrics.csv's columns: `base`, then the parts when any row has them."""
    return [*base, *(f for f in PART_FIELDS if any(f in row for row in history))]


def weights_csv(history: list[dict[str, Any]]) -> str | None:
    """weights.csv of the rows that carry weights (None when none does): `epoch,weight_0,...`."""
    rows = [row for row in history if row.get(WEIGHTS_KEY)]
    if not rows:
        return None
    k = max(len(row[WEIGHTS_KEY]) for row in rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", *(f"weight_{i}" for i in range(k))])
    for row in rows:
        w = [f"{float(v):.6g}" for v in row[WEIGHTS_KEY]]
        writer.writerow([int(row["epoch"]), *w, *(["nan"] * (k - len(w)))])
    return buf.getvalue()


def check_optional(entry: dict[str, Any]) -> str | None:
    """Why an entry's optional keys are wrong (None when they are fine): the parts are numbers,
    the weights a list of finite numbers from 0 to 1."""
    for key in PART_FIELDS:
        if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], (int, float))):
            return f"its {key} is not a number"
    if WEIGHTS_KEY in entry:
        w = entry[WEIGHTS_KEY]
        if not isinstance(w, (list, tuple)) or len(w) > MAX_COMPONENTS:
            return f"its {WEIGHTS_KEY} is not a list of component weights"
        for v in w:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= v <= 1.0):
                return f"its {WEIGHTS_KEY} hold {v!r}, not a weight from 0 to 1"
    return None


@dataclass(frozen=True)
class WeightsHistory:
    """A run's weights.csv: the epochs (increasing) and their (epochs, K) component weights."""

    epoch: np.ndarray  # int64
    weights: np.ndarray  # float64 (epochs, K); NaN where not recorded

    @staticmethod
    def empty() -> WeightsHistory:
        return WeightsHistory(np.zeros(0, dtype=np.int64), np.zeros((0, 0)))

    @staticmethod
    def from_rows(history: list[dict[str, Any]]) -> WeightsHistory:
        """From history rows (the engine's events, a checkpoint's metrics)."""
        rows = [row for row in history if row.get(WEIGHTS_KEY)]
        if not rows:
            return WeightsHistory.empty()
        k = max(len(row[WEIGHTS_KEY]) for row in rows)
        table = np.full((len(rows), k), np.nan)
        for i, row in enumerate(rows):
            table[i, : len(row[WEIGHTS_KEY])] = row[WEIGHTS_KEY]
        return WeightsHistory(np.array([int(r["epoch"]) for r in rows], dtype=np.int64), table)

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def components(self) -> int:
        return self.weights.shape[1]


def parse_weights(text: str) -> WeightsHistory:
    """weights.csv's text; ValueError (one line) when it is not a header `epoch,weight_0,...` and
    rows of numbers with whole, increasing epochs and weights from 0 to 1 (or nan)."""
    header_line, _, body = text.partition("\n")
    header = [h.strip() for h in header_line.strip().split(",")]
    if (
        len(header) < 2
        or header[0] != "epoch"
        or header[1:] != [f"weight_{i}" for i in range(len(header) - 1)]
    ):
        raise ValueError("its header is not epoch,weight_0,weight_1,...")
    if len(header) - 1 > MAX_COMPONENTS:
        raise ValueError(f"has more than {MAX_COMPONENTS:,} components")
    if not body.strip():
        return WeightsHistory.empty()
    try:
        table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            f"has a row that is not {len(header)} numbers ({str(exc).splitlines()[0]})"
        ) from None
    if table.shape[1] != len(header):
        raise ValueError(f"has rows of {table.shape[1]} values under a header of {len(header)} columns")
    epochs, weights = table[:, 0], table[:, 1:]
    if not (np.isfinite(epochs) & (epochs >= 0) & (epochs <= MAX_EPOCH) & (epochs == np.floor(epochs))).all():
        raise ValueError(f"has an epoch that is not a whole number from 0 to {MAX_EPOCH:,}")
    if len(epochs) > 1 and not (np.diff(epochs) > 0).all():
        raise ValueError("has epochs that do not increase")
    ok = np.isnan(weights) | ((weights >= 0) & (weights <= 1))
    if not ok.all():
        raise ValueError("has a weight outside 0 to 1")
    return WeightsHistory(epochs.astype(np.int64), weights)


def part_values(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    """One optional part per row, NaN where a row lacks it."""
    return np.array([float(row.get(key, math.nan)) for row in rows])
