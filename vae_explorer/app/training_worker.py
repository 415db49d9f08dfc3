"""Runs the core Trainer in a QThread, one queued learning rate after another.

Trainer events are frozen dataclasses of plain numbers and strings; they are forwarded to the GUI
thread as they are. Stop and pause go straight to the trainer's thread-safe flags, because a
thread busy in the training loop never runs queued slots.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from vae_explorer.core.checkpoint import CheckpointError
from vae_explorer.core.config import ConfigError, RunConfig, format_lr
from vae_explorer.core.data import DataError, load_splits
from vae_explorer.core.trainer import Trainer


def run_dir_name(config: RunConfig) -> str:
    return f"lr_{format_lr(config.train.lr)}"


def training_threads(cores: int | None = None) -> int:
    """Intra-op threads for the training thread: all cores but one, which stays with the GUI.

    Training in a worker thread with as many OpenMP threads as cores makes libgomp spin-wait at
    every barrier; when anything else wants a core (the GUI, another process) a batch of 32 then
    takes hundreds of milliseconds instead of a few (measured: ~2 instead of ~200 batches/s).
    """
    cores = cores or os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cores - 1))


class TrainingWorker(QObject):
    run_started = Signal(int, object)  # run index, RunConfig
    event = Signal(int, object)  # run index, a core.events dataclass
    failed = Signal(str)  # a message for the user; the queue stops
    finished = Signal()  # the whole queue is over (normally, stopped or failed)

    def __init__(self, configs: list[RunConfig], out_root: Path) -> None:
        super().__init__()
        self.configs = list(configs)
        self.out_root = Path(out_root)
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._stopped = False
        self._paused = False

    @Slot()
    def run(self) -> None:
        try:
            torch.set_num_threads(training_threads())
            splits = load_splits(self.configs[0].data)
            for index, config in enumerate(self.configs):
                if self._stopped:
                    break
                trainer = Trainer(config, splits, self.out_root / run_dir_name(config),
                                  on_event=lambda e, i=index: self.event.emit(i, e))
                with self._lock:
                    self._trainer = trainer
                    if self._paused:
                        trainer.pause()
                    if self._stopped:
                        trainer.stop()
                self.run_started.emit(index, config)
                trainer.run()
                with self._lock:
                    self._trainer = None
        except (DataError, ConfigError, CheckpointError, OSError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # report, never kill the app
            self.failed.emit(f"training failed: {type(exc).__name__}: {exc}")
        finally:
            self.finished.emit()

    # Called from the GUI thread.
    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._trainer is not None:
                self._trainer.stop()

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = paused
            if self._trainer is not None:
                (self._trainer.pause if paused else self._trainer.resume)()


class TrainingController(QObject):
    """Owns the QThread and the worker for one queue of runs; forwards the worker's signals."""

    run_started = Signal(int, object)
    event = Signal(int, object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, configs: list[RunConfig], out_root: Path) -> None:
        if self.running:
            raise RuntimeError("a training queue is already running")
        thread = QThread()
        thread.setObjectName("training")
        worker = TrainingWorker(configs, out_root)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.run_started.connect(self.run_started)
        worker.event.connect(self.event)
        worker.failed.connect(self.failed)
        # direct: the GUI thread may be blocked in stop_and_wait(), so a queued quit would never run
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def set_paused(self, paused: bool) -> None:
        if self._worker is not None:
            self._worker.set_paused(paused)

    def stop_and_wait(self, timeout_ms: int = 60_000) -> bool:
        """Ask the worker to stop and block until its thread has ended (used on close)."""
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
        if worker is not None:
            worker.deleteLater()
        if thread is not None:
            thread.deleteLater()
        self.finished.emit()
