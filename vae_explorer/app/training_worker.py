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
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from vae_explorer import figures
from vae_explorer.core import events as ev
from vae_explorer.core.config import RunConfig
from vae_explorer.core.session import EndOfRunEvaluation, Session

from .threads import OwnedThreads


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


class TrainingController(QObject):
    """Owns the QThread and the session of one queue of runs; forwards the engine's events."""

    event = Signal(object)
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self.session: Session | None = None
        self._owned = OwnedThreads(self)  # a queue still training is stopped before we go

    @property
    def running(self) -> bool:
        return self._thread is not None

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
        worker = TrainingWorker(self.session)
        thread = self._owned.start(self, "training", worker, stop=self.session.stop)
        thread.started.connect(worker.run)
        worker.event.connect(self.event)
        # direct: the GUI thread may be blocked in stop_and_wait(), so a queued quit would never run
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()

    def stop(self) -> None:
        if self.running and self.session is not None:
            self.session.stop()

    def set_paused(self, paused: bool) -> None:
        if self.running and self.session is not None:
            (self.session.pause if paused else self.session.resume)()

    def stop_and_wait(self, timeout_ms: int = 60_000) -> bool:
        """Ask the session to stop and block until its thread has ended (used on close)."""
        if self._thread is None:
            return True
        self.stop()
        thread = self._thread
        ok = thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        if thread is not None:
            thread.wait()  # it has emitted finished; its run() returns at once
            self._owned.forget(thread)
            thread.deleteLater()
        if worker is not None:
            worker.deleteLater()
        self.finished.emit()
