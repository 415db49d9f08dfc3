"""Stop and pause requests for a run or a queue of runs: set from any thread, read by the loop
between batches (a thread busy in a loop never runs queued slots, so the loop polls plain flags)."""

from __future__ import annotations

import threading
import time

from . import events as ev


class RunControl:
    """Stop and pause requests, set from any thread and read by the loop between batches; the one
    place where they are held."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.reason = ev.STOP_USER  # why the run stops, once stopped: the user, or a scheduler

    def stop(self, reason: str = ev.STOP_USER) -> None:
        if not self._stop.is_set():
            self.reason = reason
        self._stop.set()
        self._running.set()  # a paused loop wakes up to stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; returns the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        since = time.perf_counter()
        while not self._running.wait(0.1):
            pass
        return time.perf_counter() - since


class Controlled:
    """stop(), pause() and resume(), callable from any thread, for whatever holds a `control`."""

    control: RunControl

    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def paused(self) -> bool:
        return self.control.paused

    @property
    def stopped(self) -> bool:
        return self.control.stopped
