"""File → Export report: the report of the chosen runs, written on a worker thread.

The runs are the ones ticked in the run browser, else the one selected there, else the last
queue's; the PDF or HTML is the CLI's `vae-explorer report`, made by the same code.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from .threads import OwnedThreads


class ReportWorker(QObject):
    """Runs in its own thread: reads the run folders and writes the report."""

    done = Signal(str)  # the file written
    failed = Signal(str)  # one line for the user

    def __init__(self, folders: list[str], out: str, kept_colours: dict[str, str]) -> None:
        super().__init__()
        self.folders, self.out, self.kept_colours = folders, out, kept_colours

    @Slot()
    def run(self) -> None:
        from vae_explorer.report import ReportError, collect_runs, write_report

        try:
            path = write_report(collect_runs(self.folders), self.out, kept_colours=self.kept_colours)
        except ReportError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # an unforeseen error: say so instead of killing the thread
            traceback.print_exc()
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        self.done.emit(str(path))


class ReportExport(QObject):
    """GUI-thread front: start(folders, out) → finished(path) or failed(message)."""

    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: ReportWorker | None = None
        self._owned = OwnedThreads(self)  # a report being written is finished before we go

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(
        self, folders: list[str | Path], out: str | Path, kept_colours: dict[str, str] | None = None
    ) -> None:
        """`kept_colours`: the run colours the window shows (a copy: the worker reads it on its
        own thread)."""
        if self.running:
            raise RuntimeError("a report is being written already")
        worker = ReportWorker([str(f) for f in folders], str(out), dict(kept_colours or {}))
        thread = self._owned.start(self, "report", worker)
        thread.started.connect(worker.run)
        worker.done.connect(self._done)
        worker.failed.connect(self._failed)
        self._thread, self._worker = thread, worker
        thread.start()

    def _end(self) -> None:
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        if thread is not None:
            thread.quit()
            thread.wait()
            self._owned.forget(thread)
            thread.deleteLater()
        if worker is not None:
            worker.deleteLater()

    @Slot(str)
    def _done(self, path: str) -> None:
        self._end()
        self.finished.emit(path)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self._end()
        self.failed.emit(message)

    def wait(self) -> None:
        """Block until a report under way is written (on close)."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
