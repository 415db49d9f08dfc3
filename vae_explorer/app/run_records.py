"""The GUI thread's copy of the training queue's run records, which the front end observes.

The engine keeps its records on the training thread; the same events reach the GUI thread
through a queued signal, and `QueueRecords` applies each of them once (`core.session.route`) to
the one list of records there. The Training tab, its curve plot and the main window read those
records and react to `changed`, so none keeps a run state of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from vae_explorer.core.config import RunConfig
from vae_explorer.core.session import RunRecord, best_run, route


class QueueRecords(QObject):
    """The records of the queue shown: replaced by `start`, updated by `apply`."""

    started = Signal()  # a new queue's records (all queued) replace the previous ones
    changed = Signal(object, object)  # (run index or None, event), after the event is applied

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.records: list[RunRecord] = []

    def start(self, configs: Sequence[RunConfig], folders: Sequence[Path | None] | None = None) -> None:
        """A new queue of `configs`, each run writing into its folder of `folders` (when known)."""
        folders = list(folders) if folders is not None else [None] * len(configs)
        self.records = [
            RunRecord(i, c, Path(f) if f is not None else None)
            for i, (c, f) in enumerate(zip(configs, folders))
        ]
        self.started.emit()

    @Slot(object)
    def apply(self, event: object) -> None:
        """Apply one engine event to the records it concerns, then tell the observers."""
        route(self.records, event)
        self.changed.emit(getattr(event, "run", None), event)

    def best(self) -> RunRecord | None:
        """The run of the queue with the lowest validation nll that has a model, if any."""
        index = best_run(self.records)
        return None if index is None else self.records[index]
