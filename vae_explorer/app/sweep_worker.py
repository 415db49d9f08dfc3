"""The QThread adapter around a sweep's driver (`core.sweep_ray.SweepRunner`).

The driver starts or joins Ray and blocks in Ray Tune until the sweep ends, so it runs on a
thread of its own, never on the GUI thread. Its events are frozen dataclasses of plain values
(no tensors: the trials train in Ray's worker processes) and reach the GUI through a queued
signal; Stop goes straight to the runner's thread-safe flag.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from vae_explorer import figures
from vae_explorer.core import sweep_events as se
from vae_explorer.core.sweep import SweepSpec
from vae_explorer.core.sweep_ray import SweepOptions, SweepRunner

from .threads import WorkerController


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


class SweepController(WorkerController):
    """Owns the thread and the runner of one sweep at a time; forwards its events."""

    join_timeout_ms = 180_000  # every trial is stopped after its batch, then Ray shuts down

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner: SweepRunner | None = None

    @property
    def stop_requested(self) -> bool:
        return self.running and self.runner is not None and self.runner.stopped

    def start(self, spec: SweepSpec, out_dir: Path, options: SweepOptions) -> None:
        """ConfigError (an impossible setting) is raised here, on the GUI thread, before any thread."""
        if self.running:
            raise RuntimeError("a sweep is already running")
        self.runner = SweepRunner(spec, out_dir, None, options, figures=figures.write_run_figures)
        self._launch("sweep", SweepWorker(self.runner), stop=self.runner.stop)

    def stop(self) -> None:
        if self.running and self.runner is not None:
            self.runner.stop()
