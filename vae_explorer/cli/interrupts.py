"""Ctrl-C, SIGTERM and SIGHUP, in every command, from its first instant.

The first of them raises KeyboardInterrupt in the main thread: whatever was being written is
discarded whole (atomic_write removes its temporary file) and the command ends with exit code
130, without a traceback. `train` takes the first as a request to stop after the batch and save
(`on_stop`). A second one ends the process at once. A signal that was ignored when the command
started (`nohup`, a background job's Ctrl-C) stays ignored.

The KeyboardInterrupt is raised only where Python can carry it to `main`: not inside an import
(importlib swallows it in a lock's callback), a finaliser (ignored there), or code made by
exec() of a string (dataclasses, namedtuples: there it marks the process as killed by SIGINT,
whatever `main` returns). Caught in one of those, it is raised a few milliseconds later, once
that code has returned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

from .exits import EXIT_INTERRUPTED

# the signals that stop a command (core.atomic holds them back while it names a temporary file);
# imported from nowhere heavy: these handlers go in before anything else is imported
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_handled: list[int] = []  # the signals this process handles (not those it found ignored)
_pending: list[int] = []  # a signal whose KeyboardInterrupt waits for a place it can be raised
_RETRY_SECONDS = 0.02
# deferred longer than this (an import stuck for good?), it is raised where it is; imports take
# seconds on a loaded machine
_PATIENCE_SECONDS = 30.0
_boundary: list = []  # the frame of main(), which catches the KeyboardInterrupt
_since: list[float] = []  # when the pending signal came
_settled: list[bool] = []  # non-empty once the command has ended: a signal is recorded, not raised


def abort(signum=None, frame=None) -> None:
    """The second signal: end now; every file is replaced whole or not at all."""
    with contextlib.suppress(OSError):
        os.write(2, b"\naborted\n")
    os._exit(EXIT_INTERRUPTED)


def _interrupt(signum, frame) -> None:
    for sig in _handled:
        signal.signal(sig, abort)
    _pending.append(signum)
    _since[:] = [time.monotonic()]
    _deliver(frame)


def _deliver(frame) -> None:
    if not _pending or _settled:
        return
    patient = bool(_since) and time.monotonic() - _since[0] < _PATIENCE_SECONDS
    if patient and _unsafe(frame) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, lambda signum, frame: _deliver(frame))
        signal.setitimer(signal.ITIMER_REAL, _RETRY_SECONDS)
        return
    _pending.clear()
    raise KeyboardInterrupt


def _unsafe(frame) -> bool:
    """Whether the interrupted code is an import, a finaliser or exec'd text (see above), between
    here and main(), whose callers never see the KeyboardInterrupt."""
    stop = _boundary[0] if _boundary else None
    while frame is not None and frame is not stop:
        code = frame.f_code
        if code.co_filename.startswith(("<frozen importlib", "<string>")) or code.co_name == "__del__":
            return True
        if code.co_filename.endswith(("importlib/__init__.py", "weakref.py")):
            return True
        frame = frame.f_back
    return False


def settle() -> None:
    """The command has ended (call it inside the `try` that catches the KeyboardInterrupt): from
    now on a signal is only recorded in the pending list, never raised."""
    _settled[:] = [True]
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def interruptible(restore: bool = True, boundary=None) -> Iterator[list[int]]:
    """Within: Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt once, then abort. Yields the
    list of signals received but not yet raised (non-empty at the end: the command finished
    before its interrupt could be raised). Afterwards the previous handlers come back (main()
    also runs inside tests), or, with restore=False (the process ends now), later signals are
    ignored, so that none lands in the interpreter's shutdown. `boundary`: the frame that
    catches the KeyboardInterrupt. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    alarm = signal.getsignal(signal.SIGALRM) if hasattr(signal, "SIGALRM") else None
    _handled[:] = [sig for sig, handler in previous.items() if handler is not signal.SIG_IGN]
    _pending.clear()
    _settled.clear()
    _boundary[:] = [boundary] if boundary is not None else []
    for sig in _handled:
        signal.signal(sig, _interrupt)
    try:
        yield _pending
    finally:
        _boundary.clear()
        _settled[:] = [True]
        if alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, alarm)
        for sig, handler in previous.items():
            if not restore and sig in _handled:
                signal.signal(sig, signal.SIG_IGN)
            elif handler is not None:
                signal.signal(sig, handler)


@contextlib.contextmanager
def on_stop(stop: Callable[[], None]) -> Iterator[None]:
    """Within: the first Ctrl-C, SIGTERM or SIGHUP calls `stop()` (which must return at once);
    a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _handled}
    fired: list[int] = []

    def first(signum, frame) -> None:
        for sig in _handled:  # first: a second signal may come while this one runs
            signal.signal(sig, abort)
        fired.append(signum)
        stop()

    for sig in _handled:
        signal.signal(sig, first)
    try:
        yield
    finally:
        if not fired:  # after a stop, the next signal still aborts
            for sig, handler in previous.items():
                signal.signal(sig, handler)
