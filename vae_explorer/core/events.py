"""What the run engine reports: one stream of frozen dataclasses, each naming its run by index.

Every event but `TrainingState` is safe to hand to another thread: plain numbers, strings, paths,
and (in `NewBest`) a CPU copy of the weights that nobody writes to. `TrainingState` holds the live
model and optimiser state for the run-folder writer, on the engine's thread, during the callback
only; front ends drop it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import RunConfig

STOP_EARLY = "early stop"
STOP_MAX_EPOCHS = "max epochs"
STOP_USER = "stopped"
STOP_SCHEDULER = "stopped by scheduler"  # an experiment's scheduler (ASHA) ended a clearly worse trial
STOP_DIVERGED = "diverged"
STOP_ERROR = "error"


class RunStatus(str, enum.Enum):
    """Where a run of the queue stands; the last five are final."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"  # ran to its maximum epochs
    EARLY_STOPPED = "early stopped"
    STOPPED = "stopped"  # by the user
    DIVERGED = "diverged"
    FAILED = "failed"
    NOT_RUN = "not run"  # the queue ended (stop, failure) before its turn

    @property
    def final(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


STATUS_OF_REASON = {
    STOP_EARLY: RunStatus.EARLY_STOPPED,
    STOP_MAX_EPOCHS: RunStatus.DONE,
    STOP_USER: RunStatus.STOPPED,
    STOP_SCHEDULER: RunStatus.STOPPED,
    STOP_DIVERGED: RunStatus.DIVERGED,
    STOP_ERROR: RunStatus.FAILED,
}


@dataclass(frozen=True)
class QueueStarted:
    configs: tuple[RunConfig, ...]
    run_dirs: tuple[str | None, ...]
    out_dir: str | None


@dataclass(frozen=True)
class RunStarted:
    run: int
    lr: float
    device: str
    batches_per_epoch: int
    start_epoch: int
    config: RunConfig
    run_dir: str | None
    history: tuple[dict[str, float], ...] = ()  # epochs already done, when resumed


STEP_EAGER = "eager"
STEP_CUDA_GRAPH = "CUDA graph"


@dataclass(frozen=True)
class StepChosen:
    """How the run's training steps execute, decided at its first step: `mode` is STEP_EAGER or
    STEP_CUDA_GRAPH; `detail` says why (or how long the capture took)."""

    run: int
    mode: str
    detail: str
    on_gpu: bool = False

    def text(self) -> str:
        return f"{self.mode} ({self.detail})"


@dataclass(frozen=True)
class StatusChanged:
    """The engine's loop paused or went on (seen between batches)."""

    run: int
    status: RunStatus


@dataclass(frozen=True)
class BatchProgress:
    run: int
    epoch: int
    batch: int
    total: int


@dataclass(frozen=True)
class EpochEnd:
    run: int
    epoch: int
    train_loss: float
    val_nll: float
    seconds: float
    best_val: float
    best_epoch: int
    # the validation nll's two parts (reconstruction, KL-like), NaN where not measured, and the
    # prior's component weights after the epoch, () for a prior without components (core.epochlog)
    val_recon: float = math.nan
    val_kl: float = math.nan
    weights: tuple[float, ...] = ()

    def record(self) -> dict[str, Any]:
        """The epoch as a row of metrics.csv and of a run's history (the parts and the weights only
        where measured)."""
        row: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_nll": self.val_nll,
            "seconds": self.seconds,
        }
        if not math.isnan(self.val_recon):
            row["val_recon"] = self.val_recon
        if not math.isnan(self.val_kl):
            row["val_kl"] = self.val_kl
        if self.weights:
            row["weights"] = list(self.weights)
        return row


@dataclass(frozen=True, eq=False)
class NewBest:
    """A better model: `weights` is a CPU copy of its state_dict, owned by the event."""

    run: int
    epoch: int
    val_nll: float
    config: RunConfig
    weights: dict[str, torch.Tensor] = field(repr=False)
    checkpoint: str | None = None  # where the writer keeps it (model.pt), when the run has a folder


@dataclass(frozen=True, eq=False)
class TrainingState:
    """The state to resume from after `epoch`: live references, valid during the callback only."""

    run: int
    epoch: int
    weights: dict[str, torch.Tensor] = field(repr=False)
    optimizer: dict[str, Any] = field(repr=False)
    rng: dict[str, torch.Tensor] = field(repr=False)
    metrics: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class RunFinished:
    run: int
    reason: str
    epochs: int
    best_epoch: int
    best_val: float
    test_nll: float | None
    checkpoint: str | None

    @property
    def status(self) -> RunStatus:
        return STATUS_OF_REASON[self.reason]


@dataclass(frozen=True)
class RunFailed:
    """The run raised: `message` is one line for the user."""

    run: int
    message: str


@dataclass(frozen=True)
class EvaluationProgress:
    """The end-of-run evaluation is at `stage`, `done` of `total`."""

    run: int
    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class Evaluated:
    """The end-of-run evaluation of the run's best model: `core.evaluation.evaluate`'s dict (plain
    numbers, lists and strings), with the run's `epoch`, `checkpoint` and any `notes`."""

    run: int
    results: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class QueueFinished:
    """The queue is over. `best` is the index of the run with the lowest validation nll among those
    with a model (None when none has one); `failure` the message when the queue failed."""

    stopped: bool
    best: int | None
    failure: str | None = None
    written: tuple[str, ...] = ()  # files the queue wrote beside its runs (the overlaid curves)
