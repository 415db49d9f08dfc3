"""The Experiment tab: a sweep's trials live, one curve per trial coloured by its setting, and a
table that fills with each trial's figures as it ends; double-click a trial to explore it."""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.core import sweep_events as se
from vae_explorer.core.runs import read_run
from vae_explorer.core.sweep_results import FIGURE

from . import ask
from .plot import run_colours
from .plot_legend import legend_text

COLUMNS = (
    "trial",
    "setting",
    "seed",
    "status",
    "epochs",
    "best val nll",
    "test nll",
    "IW-NLL",
    "FID",
    "IS",
    "in use",
)
FIGURE_COLUMNS = {
    "best_val": 5,
    "test_nll": 6,
    "iw_nll": 7,
    "fid": 8,
    "inception_score": 9,
    "components_in_use": 10,
}


class _Trial:
    """One trial's row and curve."""

    def __init__(self, plan, row: int, curve: pg.PlotDataItem) -> None:
        self.plan = plan
        self.row = row
        self.curve = curve
        self.epochs: list[int] = []
        self.values: list[float] = []
        self.folder: Path | None = None


class SweepPanel(QWidget):
    """Renders core.sweep_events; emits explore_requested(RunSummary) and stop_requested()."""

    title = "Experiment"
    explore_requested = Signal(object)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trials: dict[str, _Trial] = {}
        self.out_dir: Path | None = None
        self.running = False
        self.status = QLabel("No experiment yet: Train → New experiment…")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "validation nll (nats)")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setTitle(
            "Validation nll per epoch: one curve per trial, a colour per setting", color="#222"
        )
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor="#222")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Double-click a trial to explore its best model")
        self.comparison = QLabel()
        self.comparison.setWordWrap(True)
        self.comparison.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stop_button = QPushButton("Stop experiment")
        self.stop_button.setEnabled(False)
        self.open_button = QPushButton("Open folder")
        self.open_button.setEnabled(False)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.table, 1)
        lower_layout.addWidget(self.comparison)
        split.addWidget(lower)
        buttons = QHBoxLayout()
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        self.stop_button.clicked.connect(self.stop_requested)
        self.open_button.clicked.connect(self._open_folder)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.explore_row(row))

    # -- events ------------------------------------------------------------------------------------
    def on_event(self, event: object) -> None:
        if isinstance(event, se.SweepStarted):
            self._start(event)
        elif isinstance(event, se.RayReady):
            self.status.setText(self.status.text() + f" Ray ready in {event.seconds:.1f} s.")
        elif isinstance(event, se.TrialStarted) and event.trial in self.trials:
            self._cell(
                self.trials[event.trial].row,
                3,
                "running" if event.attempt == 1 else f"running (start {event.attempt})",
            )
        elif isinstance(event, se.TrialEpoch) and event.trial in self.trials:
            self._epoch(event)
        elif isinstance(event, se.TrialRetried) and event.trial in self.trials:
            self._cell(self.trials[event.trial].row, 3, f"restarting: {event.message}")
        elif isinstance(event, se.TrialEnded) and event.trial in self.trials:
            self._ended(event)
        elif isinstance(event, se.SweepFinished):
            self._finished(event)

    def _start(self, event: se.SweepStarted) -> None:
        self.plot.clear()
        self.legend.clear()
        self.table.setRowCount(0)
        self.trials = {}
        self.comparison.setText("")
        self.out_dir = Path(event.out_dir)
        self.running = True
        self.stop_button.setEnabled(True)
        self.open_button.setEnabled(True)
        settings = list(dict.fromkeys(t.setting for t in event.trials))
        colours = dict(zip(settings, run_colours(len(settings))))
        pending = set(event.pending)
        self.table.setRowCount(len(event.trials))
        for row, plan in enumerate(event.trials):
            first = all(t.plan.setting != plan.setting for t in self.trials.values())
            pen = pg.mkPen(colours[plan.setting], width=1.5)
            curve = self.plot.plot([], [], pen=pen, name=legend_text(plan.setting) if first else None)
            trial = _Trial(plan, row, curve)
            trial.folder = plan.folder(event.out_dir)
            self.trials[plan.id] = trial
            for col, text in enumerate(
                (
                    plan.id,
                    plan.setting,
                    str(plan.seed),
                    "queued" if plan.id in pending else "finished earlier",
                )
            ):
                self._cell(row, col, text)
            self.table.item(row, 1).setForeground(QBrush(QColor(colours[plan.setting])))
            if plan.id not in pending:
                self._show_folder(trial)
        where = f"the Ray cluster at {event.address}" if event.address else "a local Ray instance (127.0.0.1)"
        self.status.setText(f"{event.plan}, on {where}. Trials in {event.out_dir}.")

    def _epoch(self, event: se.TrialEpoch) -> None:
        trial = self.trials[event.trial]
        # a trial started again after its worker died repeats the epochs after its last.pt
        while trial.epochs and trial.epochs[-1] >= event.epoch:
            trial.epochs.pop()
            trial.values.pop()
        trial.epochs.append(event.epoch)
        trial.values.append(event.val_nll if math.isfinite(event.val_nll) else math.nan)
        trial.curve.setData(trial.epochs, trial.values)
        self._cell(trial.row, 4, str(event.epoch))
        self._cell(trial.row, 5, f"{event.best_val:.2f}")

    def _ended(self, event: se.TrialEnded) -> None:
        trial = self.trials[event.trial]
        status = event.status + (
            f" ({event.reason})" if event.reason and event.reason not in event.status else ""
        )
        if event.message:
            status = f"failed: {event.message}"
        self._cell(trial.row, 3, status)
        figures = event.figures
        if figures.get("epochs") is not None:
            self._cell(trial.row, 4, str(int(figures["epochs"])))
        for key, col in FIGURE_COLUMNS.items():
            value = figures.get(key)
            if value is not None and math.isfinite(value):
                self._cell(trial.row, col, f"{value:.{FIGURE[key].digits}f}")

    def _show_folder(self, trial: _Trial) -> None:
        """A trial finished in an earlier run of the sweep: its curve and figures from its folder."""
        from vae_explorer.core.sweep_results import trial_result

        if trial.folder is None:
            return
        result = trial_result(trial.plan, trial.folder)
        trial.epochs = result.history.epoch.tolist()
        trial.values = result.history.val_nll.tolist()
        trial.curve.setData(trial.epochs, trial.values)
        self._ended(se.TrialEnded(trial.plan.id, result.status, result.reason, dict(result.figures)))

    def _finished(self, event: se.SweepFinished) -> None:
        self.running = False
        self.stop_button.setEnabled(False)
        if event.failure:
            self.status.setText(f"The experiment failed: {event.failure}")
        else:
            done = "stopped" if event.stopped else "finished"
            written = ", ".join(Path(p).name for p in event.written)
            self.status.setText(
                self.status.text().split(" Ray ready")[0] + f" The experiment {done}; wrote {written}."
            )
        if event.comparison:
            self.comparison.setText("Paired by seed, 95% intervals:\n" + "\n".join(event.comparison))

    def set_stopping(self) -> None:
        self.stop_button.setEnabled(False)
        self.status.setText(self.status.text() + " Stopping every trial after its current batch…")

    # -- the table ------------------------------------------------------------------------------------
    def _cell(self, row: int, col: int, text: str) -> None:
        item = self.table.item(row, col)
        if item is None:
            item = QTableWidgetItem(text)
            self.table.setItem(row, col, item)
        else:
            item.setText(text)

    def row_text(self, row: int) -> list[str]:
        return [
            (self.table.item(row, c).text() if self.table.item(row, c) else "") for c in range(len(COLUMNS))
        ]

    def explore_row(self, row: int) -> None:
        trial = next((t for t in self.trials.values() if t.row == row), None)
        if trial is None or trial.folder is None:
            return
        run = read_run(trial.folder, self.out_dir.parent if self.out_dir else None)
        if run is None or run.checkpoint is None:
            ask.inform(self, "Explore trial", f"{trial.plan.id} has no model yet (no epoch finished).")
            return
        self.explore_requested.emit(run)

    def _open_folder(self) -> None:
        if self.out_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.out_dir)))
