"""Worker threads that end before their owners.

Qt aborts the process when a QThread is destroyed while it runs ("QThread: Destroyed while thread
'evaluation' is still running"). An owner's shutdown or close normally joins its threads first,
but an owner can be destroyed without that having run: a window deleted without being closed, a
window released at the interpreter's exit, a close handler that raised. `OwnedThreads` joins the
threads of one owner at the latest while the owner's C++ object is being destroyed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

_ALL: weakref.WeakSet[OwnedThreads] = weakref.WeakSet()


def running_threads() -> list[str]:
    """The names of the owned worker threads that still run, in every owner (for tests)."""
    return [
        thread.objectName()
        for owned in list(_ALL)
        for thread in owned.threads
        if shiboken6.isValid(thread) and thread.isRunning()
    ]


def join_all() -> None:
    """Stop and join every owned worker thread still running (a test's last resort)."""
    for owned in list(_ALL):
        owned.join()


class OwnedThreads:
    """The worker threads of one QObject owner, each with the worker object it runs and a
    callable that asks its work to end (a stop flag, a cancel event).

    Each thread is a Qt child of the owner, so Qt deletes it only after the owner's `destroyed`
    signal, and that signal joins it. This object, not the owner, holds the workers: the owner's
    Python wrapper may be released before its C++ destructor runs, and a worker object freed
    while its thread still runs one of its slots would crash.
    """

    def __init__(self, owner: QObject) -> None:
        self._owned: list[tuple[QThread, QObject | None, Callable[[], None] | None]] = []
        # a closure over this object, not over the owner: it keeps the workers alive until the
        # owner's C++ object is gone, and makes no reference cycle through the owner
        owned = self
        owner.destroyed.connect(lambda *_: owned.join())
        _ALL.add(self)

    def start(
        self,
        owner: QObject,
        name: str,
        worker: QObject | None = None,
        stop: Callable[[], None] | None = None,
    ) -> QThread:
        """A new QThread called `name`, a child of `owner`, with `worker` moved into it; not
        started yet (connect its signals first, then call `.start()`)."""
        thread = QThread(owner)
        thread.setObjectName(name)
        if worker is not None:
            worker.moveToThread(thread)
        self._owned.append((thread, worker, stop))
        return thread

    @property
    def threads(self) -> list[QThread]:
        return [thread for thread, _, _ in self._owned]

    def forget(self, thread: QThread) -> None:
        """Stop tracking a thread that has ended (its owner deletes it)."""
        self._owned = [entry for entry in self._owned if entry[0] is not thread]

    def join(self) -> None:
        """Ask every thread's work to stop, quit their event loops and wait until they end."""
        owned = [entry for entry in self._owned if shiboken6.isValid(entry[0])]
        for _, _, stop in owned:
            if stop is not None:
                stop()
        for thread, _, _ in owned:
            thread.quit()
        for thread, _, _ in owned:
            thread.wait()


class WorkerController(QObject):
    """Owns one worker thread at a time (a training queue, a sweep) and forwards its worker's
    events. A subclass makes the worker and its engine, then calls `_launch`, and says in `stop`
    how to ask that engine to end; the thread's lifetime (start, join on close, tidying up when it
    ends) is the same for every such worker and lives here."""

    event = Signal(object)
    finished = Signal()
    join_timeout_ms = 60_000  # how long a close waits for the work to end

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: QObject | None = None
        self._owned = OwnedThreads(self)  # a worker still running is stopped and joined before we go

    @property
    def running(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        raise NotImplementedError

    def _launch(self, name: str, worker: QObject, stop: Callable[[], None]) -> None:
        """Run `worker.run` on a new thread called `name`; `worker` has `event` and `finished`
        signals, and `stop` asks its work to end from any thread."""
        thread = self._owned.start(self, name, worker, stop=stop)
        thread.started.connect(worker.run)
        worker.event.connect(self.event)
        # direct: the GUI thread may be blocked in stop_and_wait(), so a queued quit would never run
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()

    def stop_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Ask the work to stop and block until its thread has ended (used on close)."""
        if self._thread is None:
            return True
        self.stop()
        ok = self._thread.wait(self.join_timeout_ms if timeout_ms is None else timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        thread.wait()  # it has emitted finished; its run() returns at once
        self._owned.forget(thread)
        thread.deleteLater()
        if worker is not None:
            worker.deleteLater()
        self.finished.emit()
