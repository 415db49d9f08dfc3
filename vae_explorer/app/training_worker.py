"""The one QThread adapter around the run engine (`core.session.Session`).

The session is made on the GUI thread (it holds no tensors until it runs) and run in a worker
thread. Its events are frozen dataclasses; they reach the GUI thread through a queued signal,
except `TrainingState`, which carries live tensors for the run-folder writer and stays on the
worker's thread. Stop and pause go straight to the session's thread-safe controls, because a
thread busy in the training loop never runs queued slots.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Signal, Slot

from vae_explorer import figures
from vae_explorer.core import events as ev
from vae_explorer.core.config import RunConfig
from vae_explorer.core.session import EndOfRunEvaluation, Session

from .threads import WorkerController


def training_threads(cores: int | None = None) -> int:
    """Intra-op threads for the training thread: all cores but one, which stays with the GUI.

    Training in a worker thread with as many OpenMP threads as cores makes libgomp spin-wait at
    every barrier; when anything else wants a core (the GUI, another process) a batch of 32 then
    takes hundreds of milliseconds instead of a few (measured: ~2 instead of ~200 batches/s).
    """
    cores = cores or os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cores - 1))


# Progress reaches the GUI at most this often: the engine reports a hundred times an epoch, which
# on a GPU (an epoch in well under a second) would be hundreds of queued updates a second.
PROGRESS_INTERVAL = 0.05


class TrainingWorker(QObject):
    event = Signal(object)  # a core.events dataclass
    finished = Signal()  # the whole queue is over (normally, stopped or failed)

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        session.on_event = self._forward
        self._progress_sent = 0.0

    def _forward(self, event: object) -> None:
        if isinstance(event, ev.TrainingState):
            return  # live tensors: for the run-folder writer only
        if isinstance(event, ev.BatchProgress) and event.batch < event.total:
            now = time.monotonic()
            if now - self._progress_sent < PROGRESS_INTERVAL:
                return  # a later report (an epoch's last one always goes) says more
            self._progress_sent = now
        self.event.emit(event)

    @Slot()
    def run(self) -> None:
        try:
            torch.set_num_threads(training_threads())
            self.session.run()  # reports its own failures as events
        finally:
            self.finished.emit()


class TrainingController(WorkerController):
    """Owns the QThread and the session of one queue of runs; forwards the engine's events."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None

    @property
    def paused(self) -> bool:
        return self.running and self.session is not None and self.session.paused

    @property
    def stop_requested(self) -> bool:
        return self.running and self.session is not None and self.session.stopped

    def start(self, configs: list[RunConfig], out_dir: Path) -> None:
        if self.running:
            raise RuntimeError("a training queue is already running")
        self.session = Session(
            configs,
            out_dir,
            figures=figures.write_run_figures,
            compare=figures.write_comparison,
            evaluation=EndOfRunEvaluation(),
        )
        self._launch("training", TrainingWorker(self.session), stop=self.session.stop)

    def stop(self) -> None:
        if self.running and self.session is not None:
            self.session.stop()

    def set_paused(self, paused: bool) -> None:
        if self.running and self.session is not None:
            (self.session.pause if paused else self.session.resume)()
