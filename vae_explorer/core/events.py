"""Events the trainer emits; plain dataclasses, safe to pass between threads."""

from __future__ import annotations

from dataclasses import dataclass

STOP_EARLY = "early stop"
STOP_MAX_EPOCHS = "max epochs"
STOP_USER = "stopped"
STOP_DIVERGED = "diverged"
STOP_ERROR = "error"


@dataclass(frozen=True)
class RunStarted:
    lr: float
    device: str
    batches_per_epoch: int
    start_epoch: int


@dataclass(frozen=True)
class BatchProgress:
    epoch: int
    batch: int
    total: int


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    train_loss: float
    val_nll: float
    seconds: float
    best_val: float
    best_epoch: int


@dataclass(frozen=True)
class NewBest:
    epoch: int
    val_nll: float
    checkpoint: str | None


@dataclass(frozen=True)
class RunFinished:
    reason: str
    epochs: int
    best_epoch: int
    best_val: float
    test_nll: float | None
    checkpoint: str | None


@dataclass(frozen=True)
class RunError:
    message: str
