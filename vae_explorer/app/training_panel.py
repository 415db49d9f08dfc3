"""The Training tab: the live curve plot, the epoch progress and a table of the queued runs."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.core import events as ev
from vae_explorer.core.config import RunConfig, format_lr

from .plot import CurvePlot

COLUMNS = ("learning rate", "status", "epochs", "best val nll", "test nll", "ended by")
REASONS = {
    ev.STOP_EARLY: "early stop",
    ev.STOP_MAX_EPOCHS: "max epochs",
    ev.STOP_USER: "stopped by user",
    ev.STOP_DIVERGED: "diverged (NaN)",
}
PAUSED_TEXT = "Paused. Press Resume (F6) to go on."


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class WrappedLabel(QLabel):
    """A word-wrapped label that asks for the height its lines need at its current width.

    A plain QLabel with word wrap reports one line as its minimum height, and a QSplitter (which
    ignores height-for-width) squeezes its pane down to that; the pane's layout then still gives the
    wrapped lines their full height and takes it from the rows above, so the form's labels were cut
    to 11 of their 14 pixels and lost their descenders ("Epoch", "(epoch 4)").
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def minimumSizeHint(self) -> QSize:
        # at least two lines from the start: the splitter lays its panes out before this label
        # knows its width, and did not always grow the pane again when the minimum rose later
        hint = super().minimumSizeHint()
        two_lines = self.fontMetrics().lineSpacing() * 2 + self.contentsMargins().top() + self.contentsMargins().bottom()
        hint.setHeight(max(hint.height(), two_lines))
        if self.wordWrap() and self.width() > 0:
            hint.setHeight(max(hint.height(), self.heightForWidth(self.width())))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the line count, and so the minimum height, may have changed


class TrainingPanel(QWidget):
    """Shows what the training worker reports; it never computes anything itself."""

    title = "Training"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = CurvePlot()
        self.plot.widget.setMinimumHeight(260)
        self.show_train = QCheckBox("Show train loss (dashed)")
        self.show_train.setChecked(True)
        self.show_train.toggled.connect(self.plot.set_train_visible)
        self.log_y = QCheckBox("Log y-axis")
        self.log_y.toggled.connect(self.plot.set_log_y)

        self.progress = QProgressBar()
        self.progress.setFormat("batch %v / %m")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.run_label = QLabel("–")
        self.epoch_label = QLabel("–")
        self.best_label = QLabel("–")
        self.speed_label = QLabel("–")
        self.eta_label = QLabel("–")
        self.result_label = WrappedLabel("No run yet. Press Start (F5) to train with the current settings.")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

        self._configs: list[RunConfig] = []
        self._epoch_started = time.monotonic()
        self._paused_since: float | None = None  # monotonic time of the pause, while paused
        self._current: int | None = None  # the row of the run in progress
        # (label, has a checkpoint) of every run that diverged in this queue
        self.diverged: list[tuple[str, bool]] = []
        self._build()

    def _build(self) -> None:
        toggles = QHBoxLayout()
        toggles.addWidget(self.show_train)
        toggles.addWidget(self.log_y)
        toggles.addStretch(1)
        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.plot, 1)
        tv.addLayout(toggles)

        form = QFormLayout()
        form.addRow("Run", self.run_label)
        form.addRow("Epoch", self.epoch_label)
        form.addRow("Best validation nll", self.best_label)
        form.addRow("Seconds per epoch", self.speed_label)
        form.addRow("Epoch ETA", self.eta_label)
        progress_box = QGroupBox("Progress")
        pv = QVBoxLayout(progress_box)
        pv.addWidget(self.progress)
        pv.addLayout(form)
        pv.addWidget(self.result_label)
        runs_box = QGroupBox("Runs")
        rv = QVBoxLayout(runs_box)
        rv.addWidget(self.table)
        bottom = QWidget()
        bh = QHBoxLayout(bottom)
        bh.setContentsMargins(0, 0, 0, 0)
        bh.addWidget(progress_box, 2)
        bh.addWidget(runs_box, 3)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(split)

    # -- queue -------------------------------------------------------------------------------------
    def start_queue(self, configs: list[RunConfig]) -> None:
        self._configs = list(configs)
        self._paused_since = self._current = None
        self.diverged = []
        self.plot.clear()
        self.table.setRowCount(len(configs))
        for row, config in enumerate(configs):
            self.plot.add_run(f"lr={format_lr(config.train.lr)}")
            self._set_row(row, format_lr(config.train.lr), "queued", "", "", "", "")
        self.result_label.setText("Loading data…")
        self._reset_progress()

    def _reset_progress(self, text: str = "batch %v / %m") -> None:
        self.progress.setFormat(text)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        for label in (self.epoch_label, self.speed_label, self.eta_label):
            label.setText("–")

    def _set_row(self, row: int, *values: str) -> None:
        for col, value in enumerate(values):
            if value is None:
                continue
            item = QTableWidgetItem(value)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.table.setItem(row, col, item)

    def on_run_started(self, index: int, config: RunConfig) -> None:
        self.run_label.setText(f"{index + 1} of {len(self._configs)}: lr={format_lr(config.train.lr)}, "
                               f"{config.train.optimizer}, batch {config.train.batch_size}")
        self._current = index
        self._set_row(index, None, "paused" if self.paused else "running")
        self.result_label.setText(PAUSED_TEXT if self.paused else "Training…")

    # -- pause -------------------------------------------------------------------------------------
    def _clock(self) -> float:
        """Now, or when the pause began while paused (resuming moves the epoch's start on by the
        time spent paused)."""
        return self._paused_since if self._paused_since is not None else time.monotonic()

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    def set_paused(self, paused: bool) -> None:
        """Show the pause where it lasts: the run's row, the progress bar and label, the ETA. The
        time spent paused is left out of the epoch's ETA after resuming."""
        if paused == self.paused:
            return
        if paused:
            self._paused_since = time.monotonic()
            self.progress.setFormat("paused at batch %v / %m")
            self.eta_label.setText("paused")
        else:
            self._epoch_started += time.monotonic() - self._paused_since
            self._paused_since = None
            self.progress.setFormat("batch %v / %m")
            self.eta_label.setText("–")  # until the next batch reports
        if self._current is not None:
            item = self.table.item(self._current, 1)
            if item is not None and item.text() in ("running", "paused"):
                self._set_row(self._current, None, "paused" if paused else "running")
                self.result_label.setText(PAUSED_TEXT if paused else "Training…")

    def on_event(self, index: int, event: object) -> None:
        if isinstance(event, ev.RunStarted):
            self.progress.setRange(0, event.batches_per_epoch)
            self.progress.setValue(0)
            self._epoch_started = self._clock()
        elif isinstance(event, ev.BatchProgress):
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.batch)
            epochs = self._configs[index].train.epochs if index < len(self._configs) else 0
            self.epoch_label.setText(f"{event.epoch} (max {epochs})")
            if self.paused:  # a batch that was under way when Pause was pressed
                self.eta_label.setText("paused")
            else:
                elapsed = time.monotonic() - self._epoch_started
                left = elapsed / max(event.batch, 1) * (event.total - event.batch)
                self.eta_label.setText(format_duration(left))
        elif isinstance(event, ev.EpochEnd):
            self.plot.add_epoch(index, event.epoch, event.train_loss, event.val_nll,
                                event.best_epoch, event.best_val)
            self._epoch_started = self._clock()
            self.best_label.setText(f"{event.best_val:.2f} (epoch {event.best_epoch})")
            self.speed_label.setText(f"{event.seconds:.1f}")
            self._set_row(index, None, None, str(event.epoch), f"{event.best_val:.2f}")
        elif isinstance(event, ev.RunFinished):
            reason = REASONS.get(event.reason, event.reason)
            test = f"{event.test_nll:.2f}" if event.test_nll is not None else "–"
            status = "diverged" if event.reason == ev.STOP_DIVERGED else "done"
            best = f"{event.best_val:.2f}" if math.isfinite(event.best_val) else "–"
            self._set_row(index, None, status, str(event.epochs), best, test, reason)
            lr = format_lr(self._configs[index].train.lr)
            if event.reason == ev.STOP_DIVERGED:
                self.plot.mark_diverged(index)
                self.diverged.append((f"lr={lr}", event.checkpoint is not None))
            if event.checkpoint is None:
                self.result_label.setText(f"lr={lr}: {reason} after {event.epochs} epochs; no checkpoint "
                                          "(no epoch with a finite loss was completed).")
            else:
                self.result_label.setText(f"lr={lr}: {reason} after {event.epochs} epochs; test nll {test} "
                                          f"nats (best model, epoch {event.best_epoch}).")
            self._current = None
        elif isinstance(event, ev.RunError):
            self._set_row(index, None, "failed", None, None, None, "error")

    def on_failed(self, message: str) -> None:
        """The queue stopped on an error (the data would not load, a run raised): the run under way,
        or every run when none had started yet (they share the data that failed), is marked failed."""
        started = any(self.table.item(row, 1) is not None and self.table.item(row, 1).text() != "queued"
                      for row in range(self.table.rowCount()))
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 1)
            status = item.text() if item is not None else ""
            if status in ("running", "paused") or (status == "queued" and not started):
                self._set_row(row, None, "failed", None, None, None, "error")
        self._paused_since = self._current = None
        self._reset_progress("failed")
        first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
        self.result_label.setText(f"Training failed: {first_line}")

    def on_queue_finished(self, stopped: bool, failed: bool = False) -> None:
        self._paused_since = self._current = None
        if not failed:  # a failure has reset the bar already and says so on it
            self.progress.setFormat("batch %v / %m")
        if not stopped and not failed:
            self.progress.setValue(self.progress.maximum())
        self.eta_label.setText("–")
        if self.diverged:  # lasting here: the status bar's summary gives way to later messages
            runs = ", ".join(f"{label} ({'best checkpoint kept' if kept else 'no checkpoint'})"
                             for label, kept in self.diverged)
            self.result_label.setText(f"{self.result_label.text()}\nDiverged (non-finite loss): {runs}.")
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 1)
            if item is not None and item.text() in ("queued", "running", "paused"):
                self._set_row(row, None, "not run" if item.text() == "queued" else "stopped")
