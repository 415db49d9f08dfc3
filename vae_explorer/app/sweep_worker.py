"""The QThread adapter around a sweep's driver (`core.sweep_ray.SweepRunner`).

The driver starts or joins Ray and blocks in Ray Tune until the sweep ends, so it runs on a
thread of its own, never on the GUI thread. Its events are frozen dataclasses of plain values
(no tensors: the trials train in Ray's worker processes) and reach the GUI through a queued
signal; Stop goes straight to the runner's thread-safe flag.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from vae_explorer import figures
from vae_explorer.core import sweep_events as se
from vae_explorer.core.sweep import SweepSpec
from vae_explorer.core.sweep_ray import SweepOptions, SweepRunner

from .threads import OwnedThreads


class SweepWorker(QObject):
    event = Signal(object)  # a core.sweep_events dataclass
    finished = Signal()

    def __init__(self, runner: SweepRunner) -> None:
        super().__init__()
        self.runner = runner
        runner.on_event = self.event.emit

    @Slot()
    def run(self) -> None:
        try:
            self.runner.run()
        except Exception as exc:  # the sweep could not start (a busy folder, Ray): say why
            text = " ".join(str(exc).split()) or type(exc).__name__
            self.event.emit(se.SweepFinished(self.runner.stopped, text[:400], (), ()))
        finally:
            self.finished.emit()


class SweepController(QObject):
    """Owns the thread and the runner of one sweep at a time; forwards its events."""

    event = Signal(object)
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: SweepWorker | None = None
        self.runner: SweepRunner | None = None
        self._owned = OwnedThreads(self)  # a sweep still running is stopped and joined before we go

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def stop_requested(self) -> bool:
        return self.running and self.runner is not None and self.runner.stopped

    def start(self, spec: SweepSpec, out_dir: Path, options: SweepOptions) -> None:
        """ConfigError (an impossible setting) is raised here, on the GUI thread, before any thread."""
        if self.running:
            raise RuntimeError("a sweep is already running")
        self.runner = SweepRunner(spec, out_dir, None, options, figures=figures.write_run_figures)
        worker = SweepWorker(self.runner)
        thread = self._owned.start(self, "sweep", worker, stop=self.runner.stop)
        thread.started.connect(worker.run)
        worker.event.connect(self.event)
        # direct: the GUI thread may be blocked in stop_and_wait(), so a queued quit would never run
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()

    def stop(self) -> None:
        if self.running and self.runner is not None:
            self.runner.stop()

    def stop_and_wait(self, timeout_ms: int = 180_000) -> bool:
        """Stop every trial and block until the driver has ended (used on close)."""
        if self._thread is None:
            return True
        self.stop()
        ok = self._thread.wait(timeout_ms)
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
