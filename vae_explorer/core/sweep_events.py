"""What a running sweep reports: frozen dataclasses of plain values, safe to hand to another thread.

The driver (core.sweep_ray) emits them from Ray Tune's callbacks: each trial's epochs as they are
reported, its end with the figures its run folder holds, and retries after a worker died.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .sweep import TrialPlan


@dataclass(frozen=True)
class SweepStarted:
    out_dir: str
    trials: tuple[TrialPlan, ...]  # every trial of the sweep
    pending: tuple[str, ...]  # the ids of those this run trains (all, or the unfinished ones)
    workers: int | None  # trials at a time (None: as many as the cluster has CPUs)
    address: str | None  # the cluster joined, or None for a local instance
    plan: str  # "12 trials = 2 × 2 settings × 3 seeds on 2 workers"
    resumed: bool = False  # --resume: `pending` are the unfinished trials


@dataclass(frozen=True)
class RayReady:
    """Ray is up (started or joined) after `seconds`."""

    seconds: float
    address: str


@dataclass(frozen=True)
class TrialStarted:
    trial: str
    attempt: int  # 1, then 2, 3 ... after a worker died


@dataclass(frozen=True)
class TrialEpoch:
    trial: str
    epoch: int
    train_loss: float
    val_nll: float
    seconds: float
    best_val: float
    best_epoch: int

    def record(self) -> dict[str, float]:
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_nll": self.val_nll,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class TrialRetried:
    """The trial's worker died; Tune starts it again, and it goes on from its last.pt."""

    trial: str
    attempt: int
    message: str


@dataclass(frozen=True)
class TrialEnded:
    """The trial is over: its status and reason as its outcome.json says, its figures (keys of
    core.sweep_results.FIGURES), and `message` when it failed."""

    trial: str
    status: str
    reason: str | None
    figures: dict[str, Any] = field(hash=False)
    message: str | None = None


@dataclass(frozen=True)
class SweepFinished:
    stopped: bool
    failure: str | None  # why the sweep could not run or finish, in one line
    written: tuple[str, ...]  # trials.csv, summary.csv, comparison.csv
    comparison: tuple[str, ...]  # one line per axis value: "prior-init=kmeans vs random: -1.10 ± 0.30 …"
