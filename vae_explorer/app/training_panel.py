"""The Training tab: the live curve plot, the epoch progress and a table of the queued runs."""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.core import events as ev
from vae_explorer.core.colours import ColourBook, colours_file, hashed_colour
from vae_explorer.core.config import RunConfig, format_lr, nll_label, prior_kind
from vae_explorer.core.events import RunStatus
from vae_explorer.core.runs import real_path
from vae_explorer.core.session import RunRecord

from . import ask
from .epoch_views import EpochViews
from .plot import CurvePlot
from .run_browser import RunBrowser
from .run_records import QueueRecords

COLUMNS = ("learning rate", "status", "epochs", "best val nll", "test nll", "ended by")
REASONS = {
    ev.STOP_EARLY: "early stop",
    ev.STOP_MAX_EPOCHS: "max epochs",
    ev.STOP_USER: "stopped by user",
    ev.STOP_DIVERGED: "diverged (NaN)",
    ev.STOP_ERROR: "error",
}
PAUSED_TEXT = "Paused. Press Resume (F6) to go on."


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = round(seconds)
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
        two_lines = (
            self.fontMetrics().lineSpacing() * 2
            + self.contentsMargins().top()
            + self.contentsMargins().bottom()
        )
        hint.setHeight(max(hint.height(), two_lines))
        if self.wordWrap() and self.width() > 0:
            hint.setHeight(max(hint.height(), self.heightForWidth(self.width())))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the line count, and so the minimum height, may have changed


class TrainingPanel(QWidget):
    """Shows what the training worker reports; it never computes anything itself. The queue's
    run state is `queue`'s records (shared with the window): the table and the plot read them."""

    title = "Training"

    def __init__(
        self, runs_root: Path | None = None, parent: QWidget | None = None, queue: QueueRecords | None = None
    ) -> None:
        super().__init__(parent)
        self.queue = queue if queue is not None else QueueRecords(self)
        self.queue.started.connect(self._show_queue)
        self.queue.changed.connect(self._on_change)
        self.browser = RunBrowser(runs_root)
        self.browser.curves_changed.connect(self.show_browser_curves)
        self.browser.deleted.connect(self._run_deleted)
        self.plot = CurvePlot()
        # one colour per run folder, the same in the list, the plot and the report, and kept
        self.plot.colours = self.browser.colours = ColourBook(colours_file())
        # with the tab bar of its three views above it, the window still fits 700 pixels' height
        self.plot.widget.setMinimumHeight(230)
        self.show_train = QCheckBox("Show train loss (dashed)")
        self.show_train.setChecked(True)
        self.show_train.toggled.connect(self.plot.set_train_visible)
        self.log_y = QCheckBox("Log y-axis")
        self.log_y.toggled.connect(self.plot.set_log_y)
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 95)
        self.smoothing.setFixedWidth(110)
        self.smoothing.setToolTip(
            "Exponential moving average of the curves (0 = none); the raw values stay, faint, behind"
        )
        self.smoothing.valueChanged.connect(lambda v: self.plot.set_smoothing(v / 100.0))
        self.x_axis = QComboBox()
        self.x_axis.addItem("epoch", False)
        self.x_axis.addItem("training time", True)
        self.x_axis.currentIndexChanged.connect(lambda _i: self.plot.set_x_time(self.x_axis.currentData()))
        self.reset_zoom = QPushButton("Reset zoom")
        self.reset_zoom.clicked.connect(self.plot.reset_zoom)
        self.export_csv = QPushButton("Curves as CSV…")
        self.export_csv.setToolTip(
            "Save every curve's points (run, epoch, minutes, train loss, validation nll)"
        )
        self.export_csv.clicked.connect(lambda: self.save_curves_csv())

        self.progress = QProgressBar()
        self.progress.setFormat("batch %v / %m")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.run_label = QLabel("–")
        self.epoch_label = QLabel("–")
        self.best_label = QLabel("–")
        self.speed_label = QLabel("–")
        self.eta_label = QLabel("–")
        self.queue_eta_label = QLabel("–")
        self.queue_eta_label.setToolTip(
            "The time left if every remaining run goes on to its maximum epochs at the last epoch's "
            "speed; early stopping usually ends runs sooner"
        )
        self.plan_label = WrappedLabel("")
        self.plan_label.setStyleSheet("color: #333;")
        self.result_label = WrappedLabel("No run yet. Press Start (F5) to train with the current settings.")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.cellDoubleClicked.connect(self._explore_queue_row)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (1, 5):  # "stopped by user", "early stopped": one line each
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(False)

        self.queue_keys: list[str | None] = []  # the run folders of the queue shown
        self._browser_curves: dict[str, tuple[str, int]] = {}  # key -> (name, epochs) drawn
        self.deleted_runs: set[int] = set()  # runs of the queue shown whose folders were deleted
        self._listed: set[int] = set()  # runs of the queue shown that the run list ticked
        self._result_run: int | None = None  # the run the result line is about
        self._epoch_started = time.monotonic()
        self._paused_since: float | None = None  # monotonic time of the pause, while paused
        self._batches = 1  # batches per epoch of the run under way
        self._last_batch = (0, 1)  # (batch, total) the run under way last reported
        self._run_started = time.monotonic()
        self._epoch_wall: float | None = None  # wall seconds an epoch took, validation included
        self._last_epoch_end: tuple[int, float] | None = None  # (epoch, clock) of the last EpochEnd
        self.epoch_views = EpochViews()
        self._build()

    def _build(self) -> None:
        toggles = QHBoxLayout()
        toggles.addWidget(self.show_train)
        toggles.addWidget(self.log_y)
        toggles.addSpacing(12)
        toggles.addWidget(QLabel("Smoothing"))
        toggles.addWidget(self.smoothing)
        toggles.addSpacing(12)
        toggles.addWidget(QLabel("x-axis"))
        toggles.addWidget(self.x_axis)
        toggles.addStretch(1)
        toggles.addWidget(self.reset_zoom)
        toggles.addWidget(self.export_csv)
        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 0, 0, 0)
        # the nll curves, and beside them the bound's parts and the prior's weights per epoch
        self.curve_tabs = QTabWidget()
        self.curve_tabs.setDocumentMode(True)
        self.curve_tabs.addTab(self.plot, "Validation nll")
        self.curve_tabs.addTab(self.epoch_views.parts, "Bound's parts")
        self.curve_tabs.addTab(self.epoch_views.weights, "Mixture weights")
        tv.addWidget(self.curve_tabs, 1)
        tv.addLayout(toggles)

        form = QFormLayout()
        form.addRow("Run", self.run_label)
        form.addRow("Epoch", self.epoch_label)
        form.addRow("Best validation nll", self.best_label)
        form.addRow("Seconds per epoch", self.speed_label)
        form.addRow("Epoch ETA", self.eta_label)
        form.addRow("Queue ETA", self.queue_eta_label)
        progress_box = QGroupBox("Progress")
        pv = QVBoxLayout(progress_box)
        pv.addWidget(self.plan_label)
        pv.addWidget(self.progress)
        pv.addLayout(form)
        pv.addWidget(self.result_label)
        self.run_tabs = QTabWidget()
        self.run_tabs.addTab(self.table, "This queue")
        self.run_tabs.addTab(self.browser, "All runs")
        self.run_tabs.setCurrentWidget(self.browser)  # until a queue starts: the runs on disk
        runs_box = QGroupBox("Runs")
        rv = QVBoxLayout(runs_box)
        rv.addWidget(self.run_tabs)
        bottom = QWidget()
        bh = QHBoxLayout(bottom)
        bh.setContentsMargins(0, 0, 0, 0)
        bh.addWidget(progress_box, 2)
        bh.addWidget(runs_box, 3)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([600, 400])  # the run list shows a handful of rows from the start
        self.splitter = split
        layout = QVBoxLayout(self)
        layout.addWidget(split)

    # -- queue -------------------------------------------------------------------------------------
    @property
    def records(self) -> list[RunRecord]:
        """The queue's run records: `queue`'s, never a copy."""
        return self.queue.records

    def start_queue(self, configs: list[RunConfig], folders: list[Path | None] | None = None) -> None:
        """A new queue of `configs` (writing into `folders`), shown as its records are made."""
        self.queue.start(configs, folders)

    def on_event(self, event: object) -> None:
        """An engine event: applied to the queue's records, which then tell this tab."""
        self.queue.apply(event)

    def _show_queue(self) -> None:
        """Show a new queue: its runs' rows and curves (in each run folder's stable colour)."""
        configs = [r.config for r in self.records]
        self._result_run: int | None = None
        self.queue_keys = [real_path(r.run_dir) if r.run_dir is not None else None for r in self.records]
        self._paused_since = None
        self.plot.clear()
        self._browser_curves = {}
        self.deleted_runs = set()
        self._listed = set()
        if configs:
            self.plot.set_nll_label(nll_label(configs[0].model.likelihood))
        self.table.setRowCount(len(configs))
        for record, key in zip(self.records, self.queue_keys):
            self.plot.add_run(record.label, key, record)
            self._render_row(record.index)
        self.epoch_views.start_queue(
            [
                (r, key, run.colour, prior_kind(r.config.model.prior).components)
                for r, key, run in zip(self.records, self.queue_keys, self.plot.runs)
            ]
        )
        self.browser.busy = {k for k in self.queue_keys if k is not None}
        self.show_browser_curves()
        self.run_tabs.setCurrentWidget(self.table)
        self.run_label.setText("–")
        self.best_label.setText("–")
        self.result_label.setText("Loading data…")
        self._reset_progress()

    def save_curves_csv(self, path: str | None = None) -> Path | None:
        """Write the plotted curves to a CSV file (asked for when not given); None when cancelled
        or when the file cannot be written (the user is told why)."""
        from vae_explorer.core.atomic import WriteError, atomic_write_text

        if not path:
            path, _ = ask.save_file(self, "Save the curves as CSV", "nll_curves.csv", "CSV files (*.csv)")
            if not path:
                return None
        target = Path(path)
        try:
            atomic_write_text(target, self.plot.to_csv())
        except (WriteError, OSError) as exc:
            ask.error(self, "Save curves", f"Cannot write {target}: {exc}")
            return None
        return target

    def set_plan(self, text: str) -> None:
        """The line that says what Start will do (or, while training, what it is doing)."""
        self.plan_label.setText(text)

    def queue_eta(self, run: int, epoch: int, seconds: float, in_epoch: float | None = None) -> str:
        """At most this long: the rest of the epoch under way (`in_epoch` seconds, when one is),
        the remaining epochs of this run and of the runs after it at `seconds` an epoch (batches
        per epoch taken as equal between runs of one queue)."""
        left = self.records[run].config.train.epochs - epoch
        left += sum(r.config.train.epochs for r in self.records[run + 1 :] if r.status is RunStatus.QUEUED)
        total = left * seconds + (in_epoch or 0.0)
        return f"at most {format_duration(total)}" if total > 0 else "0:00"

    def show_browser_curves(self) -> None:
        """The curves of the runs ticked in the browser, after the queue's own (a run of the queue
        is drawn once, live). Only what changed is redrawn: a run ticked is added, a run unticked
        (or renamed, or read again with more epochs) is taken off, the others stay as drawn."""
        live = {k for k in self.queue_keys if k is not None}
        listed = {r.key for r in self.browser.runs}
        for index, key in enumerate(self.queue_keys):  # the queue's runs: shown while ticked
            if key is not None and index < len(self.plot.runs):
                ticked = key not in listed or key in self.browser.checked
                shown = ticked and index not in self.deleted_runs
                self.plot.set_run_shown(index, shown)
                self.epoch_views.set_queue_run_shown(index, shown, self.records[index].label)
        wanted = {
            run.key: (run.name, len(run.history), run.history)
            for run in self.browser.checked_runs()
            if run.key not in live and run.readable
        }
        for key, drawn in list(self._browser_curves.items()):
            if key not in wanted or wanted[key][:2] != drawn:
                self.plot.remove_run(key, start=len(self.records))
                del self._browser_curves[key]
        for key, (name, epochs, history) in wanted.items():
            if key not in self._browser_curves:
                self.plot.add_history(name, key, history)
                self._browser_curves[key] = (name, epochs)
        folders = {run.key: run.folder for run in self.browser.checked_runs()}
        colour = self.plot.colours.colour if self.plot.colours is not None else hashed_colour
        self.epoch_views.show_runs(
            [(name, key, colour(key), history, folders[key]) for key, (name, _, history) in wanted.items()]
        )

    def _tick_listed_queue_runs(self) -> None:
        """Tick the queue's runs the run list shows for the first time: their curves are on the
        plot, so their ticks say so (a run that diverged at once is listed only at the end)."""
        listed = {r.key for r in self.browser.runs}
        for index, key in enumerate(self.queue_keys):
            if key is not None and key in listed and index not in self._listed:
                self._listed.add(index)
                self.browser.set_checked(key, True)

    def _explore_queue_row(self, row: int, _column: int = 0) -> None:
        """Double-click in This queue: explore that run, as a double-click in All runs does."""
        key = self.queue_keys[row] if 0 <= row < len(self.queue_keys) else None
        if key is None or row in self.deleted_runs:
            return
        run = self.browser.run_of(key)
        if run is None:  # its first epoch may have ended after the last listing
            self.browser.refresh()
            run = self.browser.run_of(key)
        if run is not None:
            self.browser.explore(run)

    def _run_deleted(self, key: str) -> None:
        """A run of this queue deleted from the run list: off the plot, and its row says so."""
        if key not in self.queue_keys:
            return
        index = self.queue_keys.index(key)
        self.plot.set_run_shown(index, False)
        self.epoch_views.set_queue_run_shown(index, False, self.records[index].label)
        self.deleted_runs.add(index)
        self._render_row(index)

    def _reset_progress(self, text: str = "batch %v / %m") -> None:
        self.progress.setFormat(text)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        for label in (self.epoch_label, self.speed_label, self.eta_label, self.queue_eta_label):
            label.setText("–")

    def _render_row(self, row: int) -> None:
        """The table row of a run, from its record."""
        r = self.records[row]
        values = (
            format_lr(r.config.train.lr),
            "deleted" if row in self.deleted_runs else r.status.value,
            str(r.epochs) if r.status is not RunStatus.QUEUED else "",
            f"{r.best_val:.2f}" if math.isfinite(r.best_val) else ("–" if r.status.final else ""),
            f"{r.test_nll:.2f}" if r.test_nll is not None else ("–" if r.status.final else ""),
            REASONS.get(r.reason, r.reason) if r.reason else "",
        )
        for col, value in enumerate(values):
            item = self.table.item(row, col)
            if item is None:
                item = QTableWidgetItem()
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)
            item.setText(value)

    @property
    def current(self) -> RunRecord | None:
        """The run under way (running or paused), if any."""
        return next((r for r in self.records if r.status in (RunStatus.RUNNING, RunStatus.PAUSED)), None)

    @property
    def diverged(self) -> list[tuple[str, bool]]:
        """(label, has a checkpoint) of every run of the queue that diverged."""
        return [
            (f"lr={format_lr(r.config.train.lr)}", r.checkpoint is not None)
            for r in self.records
            if r.status is RunStatus.DIVERGED
        ]

    # -- pause -------------------------------------------------------------------------------------
    def _clock(self) -> float:
        """Now, or when the pause began while paused (resuming moves the epoch's start on by the
        time spent paused)."""
        return self._paused_since if self._paused_since is not None else time.monotonic()

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    def set_paused(self, paused: bool) -> None:
        """Show a pause request where it lasts: the progress bar and label and the ETA (the run's
        row follows the engine, which pauses between batches). The time spent paused is left out
        of the epoch's ETA after resuming."""
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
        if self.current is not None:
            self.result_label.setText(PAUSED_TEXT if paused else "Training…")

    # -- engine events -----------------------------------------------------------------------------
    def _on_change(self, run: int | None, event: object) -> None:
        """What an engine event, applied to the records already, changes on this tab."""
        if isinstance(event, ev.RunStarted):
            self.browser.refresh()  # its folder is on disk now
            c = event.config.train
            self.run_label.setText(
                f"{run + 1} of {len(self.records)}: lr={format_lr(c.lr)}, {c.optimizer}, batch {c.batch_size}"
            )
            for label in (self.epoch_label, self.best_label, self.speed_label, self.eta_label):
                label.setText("–")  # nothing of the previous run stays beside this one's name
            self._batches = max(event.batches_per_epoch, 1)
            self._last_batch = (0, self._batches)
            self.progress.setFormat("paused at batch %v / %m" if self.paused else "batch %v / %m")
            self.progress.setRange(0, event.batches_per_epoch)
            self.progress.setValue(0)
            self._epoch_started = self._run_started = self._clock()
            self._epoch_wall, self._last_epoch_end = None, None
            self.result_label.setText(PAUSED_TEXT if self.paused else "Training…")
            if 0 <= run < len(self.records) and self.records[run].history:  # resumed: its epochs so far
                self.plot.update_run(run)
                self.epoch_views.update_run(run)
        elif isinstance(event, ev.StepChosen):  # after RunStarted: the run label is this run's
            self.run_label.setToolTip(f"Training step: {event.text()}")
            if event.on_gpu:  # on the CPU steps are always eager: nothing to say there
                mode = "CUDA-graph steps" if event.mode == ev.STEP_CUDA_GRAPH else "eager steps"
                self.run_label.setText(f"{self.run_label.text()}; {mode}")
        elif isinstance(event, ev.BatchProgress):
            self._last_batch = (event.batch, event.total)
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.batch)
            self.epoch_label.setText(f"{event.epoch} (max {self.records[run].config.train.epochs})")
            if self.paused:  # a batch that was under way when Pause was pressed
                self.eta_label.setText("paused")
            else:
                elapsed = time.monotonic() - self._epoch_started
                left = elapsed / max(event.batch, 1) * (event.total - event.batch)
                self.eta_label.setText(format_duration(left))
                # the queue's bound from the same clock: this epoch's rest, then whole epochs at
                # the last one's pace (or this one's, in a run's first epoch), so it is never
                # below the epoch's own
                per_epoch = self._epoch_wall or elapsed / max(event.batch, 1) * event.total
                self.queue_eta_label.setText(self.queue_eta(run, event.epoch, per_epoch, left))
        elif isinstance(event, ev.EpochEnd):
            if run < len(self.queue_keys) and run not in self._listed:
                self.browser.refresh()  # its first epoch made its folder a run folder
                self._tick_listed_queue_runs()
            self.epoch_views.update_run(run)
            self.plot.update_run(run)  # the record has the epoch already
            now = self._clock()
            epochs = event.epoch - self._last_epoch_end[0] if self._last_epoch_end else 1
            # wall time an epoch takes, validation and checkpoints included
            self._epoch_wall = (now - (self._last_epoch_end or (0, self._run_started))[1]) / max(epochs, 1)
            self._last_epoch_end = (event.epoch, now)
            self._epoch_started = now
            self.best_label.setText(f"{event.best_val:.2f} (epoch {event.best_epoch})")
            self.speed_label.setText(f"{event.seconds:.1f}")
            self.queue_eta_label.setText(self.queue_eta(run, event.epoch, self._epoch_wall))
        elif isinstance(event, ev.RunFinished):
            self._show_result(self.records[run])
        elif isinstance(event, ev.EvaluationProgress):
            self.progress.setFormat(f"evaluating the best model: {event.stage} %p%")
            self.progress.setRange(0, max(event.total, 1))
            self.progress.setValue(event.done)
        elif isinstance(event, ev.Evaluated):  # back to where the run's training ended
            stopped = self.records[run].status is RunStatus.STOPPED
            self.progress.setFormat("stopped at batch %v / %m" if stopped else "batch %v / %m")
            self.progress.setRange(0, self._last_batch[1])
            self.progress.setValue(self._last_batch[0])
        elif isinstance(event, ev.QueueFinished):
            self._queue_finished(event)
            for r in self.records:
                if r.status is RunStatus.NOT_RUN:
                    self.plot.drop_from_legend(r.index)
            self.browser.busy = set()
            self.browser.refresh()
            self._tick_listed_queue_runs()
            for row in range(len(self.records)):
                self._render_row(row)
            return
        if run is not None and 0 <= run < len(self.records):
            self._render_row(run)

    def _show_result(self, r: RunRecord) -> None:
        self._result_run = r.index
        reason = REASONS.get(r.reason, r.reason)
        lr = format_lr(r.config.train.lr)
        most = r.config.train.epochs
        if r.status is RunStatus.DIVERGED:
            self.epoch_label.setText(f"{r.epochs} completed; diverged in epoch {r.epochs + 1} (max {most})")
        else:
            self.epoch_label.setText(f"{r.epochs} completed (max {most})")
        self.eta_label.setText("–")
        if r.status is RunStatus.STOPPED:
            self.progress.setFormat("stopped at batch %v / %m")
        if r.status is RunStatus.DIVERGED:
            self.plot.mark_diverged(r.index)
        if r.checkpoint is None:
            self.result_label.setText(
                f"lr={lr}: {reason} after {r.epochs} epochs; no checkpoint "
                "(no epoch with a finite loss was completed)."
            )
        else:
            test = f"{r.test_nll:.2f}" if r.test_nll is not None else "–"
            self.result_label.setText(
                f"lr={lr}: {reason} after {r.epochs} epochs; test nll {test} "
                f"nats (best model, epoch {r.best_epoch})."
            )

    def _queue_finished(self, event: ev.QueueFinished) -> None:
        self._paused_since = None
        self.eta_label.setText("–")
        self.queue_eta_label.setText("–")
        if event.failure is not None:
            self._reset_progress("failed")
            self.result_label.setText(f"Training failed: {event.failure}")
            return
        self.progress.setFormat("batch %v / %m")
        if not event.stopped:
            self.progress.setValue(self.progress.maximum())
        elif all(r.status is RunStatus.NOT_RUN for r in self.records):
            self.result_label.setText("Stopped before the first run.")
        # the other diverged runs, lasting here (the status bar's summary gives way to later
        # messages); the run the result line is about says so itself
        others = [r for r in self.records if r.status is RunStatus.DIVERGED and r.index != self._result_run]
        if others:
            runs = ", ".join(
                f"lr={format_lr(r.config.train.lr)} "
                f"({'best checkpoint kept' if r.checkpoint is not None else 'no checkpoint'})"
                for r in others
            )
            self.result_label.setText(f"{self.result_label.text()}\nAlso diverged (non-finite loss): {runs}.")
