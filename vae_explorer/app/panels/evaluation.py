"""The Evaluation tab: the figures of every evaluated model beside published ones, the class
histogram of generated digits and the bound against the importance-weighted NLL.

Rows come from the queue's end-of-run evaluations (engine events), from an evaluation.json beside
an opened checkpoint, and from the Evaluate button, which evaluates the model shown in the
inference worker's thread with a progress bar and Cancel.
"""

from __future__ import annotations

import csv
import math
import textwrap
import threading
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.app import ask
from vae_explorer.app.inference import ModelContext, ModelInfo
from vae_explorer.app.panels.base import Panel
from vae_explorer.core.evaluation import REFERENCES
from vae_explorer.core.metrics import METRICS, csv_header, csv_row
from vae_explorer.core.runfiles import EVALUATION, MODEL, FileProblem, read_evaluation


# the model, its epoch, then core.metrics' table: every metric there is a column here
def _header(metric) -> str:
    """A metric's column header: its name on lines of at most 12 characters, then its unit."""
    lines = textwrap.wrap(metric.short or metric.label, 12)
    return "\n".join(lines + ([f"({metric.unit})"] if metric.unit else []))


def columns() -> list[str]:
    """The table's headers: the model, its epoch, then one per metric of core.metrics' table."""
    return ["model", "epoch", *(_header(m) for m in METRICS)]


def metric_column(key: str) -> int:
    return 2 + [m.key for m in METRICS].index(key)


# the published figures, named short in the table (their full names and sources in tooltips)
REFERENCE_NAMES = ("course write-up (MoG prior)", "VAE, standard prior", "VAE, VampPrior")
REFERENCE_COLOUR = "#6b6b6b"
ALIGN = {
    False: Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
    True: Qt.AlignmentFlag.AlignCenter,
}


@dataclass
class Row:
    """One evaluated model: its name and `core.evaluation.evaluate`'s figures."""

    name: str
    results: dict[str, Any]


def _number(value: Any) -> float | None:
    """`value` as a float when it is a number (a bool is not), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _whole(value: Any) -> str:
    """A count: "–" when there is none, "?" when it is not a whole number."""
    if value is None:
        return "–"
    number = _number(value)
    return str(int(number)) if number is not None and number.is_integer() else "?"


def metric_cell(metric, results: dict[str, Any]) -> str:
    """A metric as the table shows it (core.metrics writes it); "?" when one of its values is
    there but not a number (results of any shape are shown, never raised on), "–" when missing."""
    keys = [k for k in (metric.key, metric.spread, metric.samples, metric.reference) if k]
    if metric.total and metric.total != "#components":
        keys.append(metric.total)
    if any(results.get(k) is not None and _number(results.get(k)) is None for k in keys):
        return "?"
    counted = metric.total == "#components" and results.get(metric.key) is not None
    if counted and not isinstance(results.get("components"), list):
        return "?"
    return metric.text(results) or "–"


def row_cells(row: Row) -> list[str]:
    """The table's cells of one evaluated model."""
    r = row.results
    return [str(row.name), _whole(r.get("epoch")), *(metric_cell(m, r) for m in METRICS)]


def class_counts(results: dict[str, Any]) -> np.ndarray | None:
    """The class histogram of generated digits: ten finite, non-negative counts, else None."""
    value = results.get("class_histogram")
    if not isinstance(value, list) or len(value) != 10:
        return None
    counts = [_number(v) for v in value]
    if any(c is None or not math.isfinite(c) or c < 0 for c in counts):
        return None
    return np.array(counts, dtype=float)


def bound_and_iw(results: dict[str, Any]) -> tuple[float, float] | None:
    """(negative ELBO, IW-NLL) when both are finite numbers, else None."""
    bound, iw = _number(results.get("neg_elbo")), _number(results.get("iw_nll"))
    if bound is None or iw is None or not (math.isfinite(bound) and math.isfinite(iw)):
        return None
    return bound, iw


def evaluation_job(
    iw_samples: int | None,
    fid: bool,
    inception: bool,
    progress,
    cancel,
    checkpoint: str | None = None,
    epoch: int | None = None,
):
    """A job: evaluate the model the worker holds, which must be the one asked for (from
    `checkpoint`, at `epoch`, where given), on its full test set as its data settings give it.
    The results name the model evaluated ("checkpoint", "epoch") and say whether that file still
    holds it ("saved_model_current"): the window may show another model, or the run have written
    a newer best, by the time a long evaluation ends."""

    def job(ctx: ModelContext) -> dict[str, Any]:
        if (checkpoint is not None and ctx.checkpoint != checkpoint) or (
            epoch is not None and ctx.epoch != epoch
        ):
            what = checkpoint or "the model shown"
            raise RuntimeError(f"{what} changed or could not be loaded before its evaluation began")
        from vae_explorer.core.checkpoint import checkpoint_epoch
        from vae_explorer.core.data import load_splits
        from vae_explorer.core.evaluation import EvaluationRequest, evaluate_with_notes

        data = replace(ctx.config.data, limit_train=None, limit_val=None, download=False)
        request = EvaluationRequest(iw_samples, fid, inception)

        def stop() -> bool:  # Cancel, or the service shutting down (the window closing)
            return cancel() or ctx.stopping.is_set()

        results = evaluate_with_notes(
            ctx.model, replace(ctx.config, data=data), load_splits(data), request, progress, stop
        )
        return {
            **results,
            "checkpoint": ctx.checkpoint or None,
            "epoch": ctx.epoch,
            "saved_model_current": checkpoint_epoch(ctx.checkpoint) == ctx.epoch,
        }

    return job


def _describes(results: dict[str, Any], info: ModelInfo) -> bool:
    """Whether an evaluation.json read beside `info`'s checkpoint is that model's: it names a file
    of the same name (the path it holds may be relative or from before a move) and, where it says,
    the same epoch (an older best's figures are not this model's)."""
    named = results.get("checkpoint")
    same_file = named is None or named == info.checkpoint or Path(named).name == Path(info.checkpoint).name
    return same_file and results.get("epoch") in (None, info.epoch)


class EvaluationPanel(Panel):
    title = "Evaluation"
    progressed = Signal(str, int, int)  # emitted from the inference worker's thread

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.rows: list[Row] = []
        self._cancel = threading.Event()
        self._evaluating: str | None = None  # the name of the model being evaluated
        self._pending: dict[Path, dict[str, Any]] = {}  # evaluations whose run folder was held
        self._retry = QTimer(self)  # tries them again while any wait (and when training ends)
        self._retry.setInterval(5000)
        self._retry.timeout.connect(self.save_pending)
        self.iw_samples = QSpinBox()
        self.iw_samples.setRange(0, 5000)
        self.iw_samples.setValue(1000)
        self.iw_samples.setSpecialValueText("no IW-NLL")
        self.iw_samples.setToolTip(
            "Importance samples per test image (5000 for figures compared with papers)"
        )
        self.fid = QCheckBox("FID")
        self.fid.setChecked(True)
        self.inception = QCheckBox("IS")
        self.inception.setChecked(True)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip(
            "Evaluate the selected run's best model, or the model shown, on its whole test set"
        )
        self.evaluate_button.setEnabled(False)
        self.evaluate_button.clicked.connect(self.evaluate_shown)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progressed.connect(self._progress)
        self.export_csv = QPushButton("Export table…")
        self.export_csv.clicked.connect(lambda: self.save_csv())
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #555;")

        self.table = QTableWidget(0, len(columns()))
        self.table.setHorizontalHeaderLabels(columns())
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._draw_histogram)

        self.histogram = pg.PlotWidget(background="w")
        self.histogram.setMinimumHeight(180)
        hist = self.histogram.getPlotItem()
        hist.setLabel("bottom", "digit the classifier sees in a generated image")
        hist.setLabel("left", "generated images")
        hist.getAxis("bottom").setTicks([[(d, str(d)) for d in range(10)]])
        hist.setMouseEnabled(x=False, y=False)
        self.histogram_title = QLabel("<b>Class histogram of generated digits</b>")
        self.bars = pg.BarGraphItem(x=np.arange(10), height=np.zeros(10), width=0.7, brush="#4c72b0")
        hist.addItem(self.bars)
        self.histogram_box = self._boxed(self.histogram_title, self.histogram)

        self.gap_plot = pg.PlotWidget(background="w")
        self.gap_plot.setMinimumHeight(180)
        gap = self.gap_plot.getPlotItem()
        gap.setLabel("left", "nats per image")
        gap.setMouseEnabled(x=False, y=False)
        gap.addLegend(offset=(-10, 10))
        self.bound_bars = pg.BarGraphItem(x=[], height=[], width=0.35, brush="#dd8452", name="neg. ELBO")
        self.iw_bars = pg.BarGraphItem(x=[], height=[], width=0.35, brush="#4c72b0", name="IW-NLL")
        gap.addItem(self.bound_bars)
        gap.addItem(self.iw_bars)
        self.gap_title = QLabel("<b>Bound against importance-weighted NLL</b>")
        self.gap_box = self._boxed(self.gap_title, self.gap_plot)
        self._build()
        self._render()

    @staticmethod
    def _boxed(title: QLabel, plot: QWidget) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(4, 4, 4, 4)
        v.addWidget(title)
        v.addWidget(plot, 1)
        return box

    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(QLabel("IW samples"))
        bar.addWidget(self.iw_samples)
        bar.addWidget(self.fid)
        bar.addWidget(self.inception)
        bar.addWidget(self.evaluate_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.export_csv)
        figures = QSplitter(Qt.Orientation.Horizontal)
        figures.addWidget(self.histogram_box)
        figures.addWidget(self.gap_box)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(figures)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.notice)
        layout.addLayout(bar)
        layout.addWidget(self.message)
        layout.addWidget(split, 1)

    # -- rows ------------------------------------------------------------------------------------
    def add_result(self, name: str, results: dict[str, Any]) -> None:
        """Show (or replace) the figures of the model called `name`, and select its row."""
        self.evaluate_button.setEnabled(self._evaluating is None)
        key = results.get("checkpoint") or name  # one row per model: a new queue's runs add rows
        self.rows = [r for r in self.rows if (r.results.get("checkpoint") or r.name) != key] + [
            Row(name, dict(results))
        ]
        self._render()
        self.table.selectRow(len(self.rows) - 1)
        notes = results.get("notes") or []
        if notes:
            self.message.setText(" ".join(map(str, notes)) if isinstance(notes, list) else str(notes))

    def _render(self) -> None:
        refs = [(label, key, value, source) for label, key, value, source in REFERENCES]
        self.table.setRowCount(len(self.rows) + len(refs))
        for i, row in enumerate(self.rows):
            for col, text in enumerate(row_cells(row)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(ALIGN[bool(col)])
                self.table.setItem(i, col, item)
        for j, (label, key, value, source) in enumerate(refs):
            i = len(self.rows) + j
            cells = ["–"] * self.table.columnCount()
            cells[0] = REFERENCE_NAMES[j] if j < len(REFERENCE_NAMES) else label  # grey, italic
            cells[metric_column(key)] = f"{value:.2f}"
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setForeground(QBrush(QColor(REFERENCE_COLOUR)))
                item.setToolTip(f"Published figure, {label}: {value:.2f}\n{source}")
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
                item.setTextAlignment(ALIGN[bool(col)])
                self.table.setItem(i, col, item)
        self.table.resizeRowsToContents()
        self._draw_gap()
        self._draw_histogram()

    def _selected(self, or_last: bool = False) -> Row | None:
        """The model row the user selected (a reference row is none); with `or_last`, the newest
        row when none is selected."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        index = rows[0].row() if rows else (len(self.rows) - 1 if or_last else -1)
        return self.rows[index] if 0 <= index < len(self.rows) else None

    def _draw_histogram(self) -> None:
        row = self._selected(or_last=True)
        counts = class_counts(row.results) if row is not None else None
        heights = counts if counts is not None else np.zeros(10)
        self.bars.setOpts(height=heights)
        title = "<b>Class histogram of generated digits</b>"
        if row is None:
            self.histogram_title.setText(title)
        elif counts is not None:
            self.histogram_title.setText(f"{title} — {escape(str(row.name))}")
        elif row.results.get("class_histogram") is None:
            self.histogram_title.setText(f"{title} — not computed (FID/IS off)")
        else:
            self.histogram_title.setText(f"{title} — not shown: not ten counts")
        plot = self.histogram.getPlotItem()
        if heights.any():
            plot.enableAutoRange()
        else:  # nothing to show: a plain 0..1 axis, not autoscaled noise around zero
            plot.setYRange(0, 1, padding=0)

    def _draw_gap(self) -> None:
        pairs = [(r, bound_and_iw(r.results)) for r in self.rows]
        shown = [(r, pair) for r, pair in pairs if pair is not None]
        x = np.arange(len(shown), dtype=float)
        self.bound_bars.setOpts(x=x - 0.18, height=[bound for _, (bound, _) in shown])
        self.iw_bars.setOpts(x=x + 0.18, height=[iw for _, (_, iw) in shown])
        axis = self.gap_plot.getPlotItem().getAxis("bottom")
        axis.setTicks([[(i, str(r.name)) for i, (r, _) in enumerate(shown)]])
        title = "<b>Bound against importance-weighted NLL</b>"
        self.gap_title.setText(title if shown else f"{title} — no IW-NLL yet (Evaluate with IW samples)")
        if shown:  # from zero: a bar's height is its value, so a 3-nat gap looks like one
            high = max(max(pair) for _, pair in shown)
            self.gap_plot.getPlotItem().setYRange(
                min(0.0, *(min(pair) for _, pair in shown)), high * 1.25
            )  # room for the legend above the bars
            self.gap_plot.getPlotItem().setXRange(-0.6, len(shown) - 0.4)

    # -- evaluating the model shown ---------------------------------------------------------------
    def on_model_loaded(self, info: ModelInfo) -> None:
        self.evaluate_button.setEnabled(self._evaluating is None)
        if self._evaluating is None:
            self.message.setText("")  # "Evaluation cancelled." was about another model
        # the selection follows the model shown, so that Evaluate means it until another row is
        # chosen; an earlier model's row left selected would be evaluated (and shown) instead
        known = [
            i
            for i, r in enumerate(self.rows)
            if info.checkpoint and r.results.get("checkpoint") == info.checkpoint
        ]
        if known:
            self.table.selectRow(known[0])
        else:
            self.table.clearSelection()
        if info.checkpoint and not known:
            try:  # a file from disk: checked key by key, never trusted
                results = read_evaluation(Path(info.checkpoint).with_name(EVALUATION))
            except FileProblem as exc:
                self.set_notice(escape(f"The saved evaluation is not shown: {exc}"))
                return
            if results is not None and _describes(results, info):
                # the file beside the model names it as the run wrote it (relative to where `train`
                # ran, or before the folder was moved): the row names the file opened
                self.add_result(
                    self._name(info), {**results, "checkpoint": info.checkpoint, "epoch": info.epoch}
                )

    @staticmethod
    def _name(info: ModelInfo) -> str:
        """The run's name (its name.txt, else its folder), as the run list shows it."""
        path = Path(info.checkpoint) if info.checkpoint else None
        where = info.name or (path.parent.name if path else "model")
        if "(lr=" in where:  # a queue's run is named with its rate already
            return where
        return f"{where} (lr={info.config.train.lr:g})"

    def evaluate_shown(self) -> None:
        """Evaluate the selected run's best model (loading its checkpoint first), or else the model
        shown, with the chosen number of importance samples, FID and IS."""
        if self._evaluating is not None:
            return
        row = self._selected()
        checkpoint = row.results.get("checkpoint") if row is not None else None
        epoch: int | None = None
        if isinstance(checkpoint, str) and checkpoint and Path(checkpoint).is_file():
            if self.info is None or self.info.checkpoint != checkpoint:
                self.service.load_checkpoint(checkpoint)  # runs before the job, in the same thread
            name = row.name
        elif self.info is not None:  # the model shown: it, and no other, is evaluated
            checkpoint, epoch, name = self.info.checkpoint, self.info.epoch, self._name(self.info)
        else:
            return
        self._cancel.clear()
        self._evaluating = name
        samples = self.iw_samples.value() or None
        job = evaluation_job(
            samples,
            self.fid.isChecked(),
            self.inception.isChecked(),
            self.progressed.emit,
            self._cancel.is_set,
            checkpoint,
            epoch,
        )
        self.evaluate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setFormat("starting…")
        self.message.setText(f"Evaluating {self._evaluating}…")
        self.service.submit("evaluation", job, self._done, self._failed)

    def cancel(self) -> None:
        self._cancel.set()
        if self._evaluating is not None:
            self.progress.setFormat("cancelling…")

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self._evaluating is None:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{stage} %p%")

    def _finish(self, text: str) -> None:
        self._evaluating = None
        self.evaluate_button.setEnabled(self.info is not None)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.message.setText(text)

    def _done(self, results: dict[str, Any]) -> None:
        name = self._evaluating or "model"
        results = dict(results)  # names the model evaluated, whatever is shown now
        current = results.pop("saved_model_current", False)
        saved = self._save(results) if current else self._not_saved(results)
        self._finish(f"Evaluated {name}. {saved}")
        self.add_result(name, results)

    @staticmethod
    def _not_saved(results: dict[str, Any]) -> str:
        checkpoint = results.get("checkpoint")
        if not isinstance(checkpoint, str) or Path(checkpoint).name != MODEL:
            return ""  # only a run's model.pt has its evaluation kept
        return (
            f"Not saved: {checkpoint} no longer holds the model of epoch {results.get('epoch')} "
            "(the run has saved a newer best, or the file changed)."
        )

    def _save(self, results: dict[str, Any]) -> str:
        """Keep an evaluation of a run's model in the run's evaluation.json (an IW-NLL with more
        samples there stays the one shown); says what became of it."""
        from vae_explorer.core.atomic import WriteError
        from vae_explorer.core.evaluation_file import save_evaluation
        from vae_explorer.core.runlock import RunFolderBusy
        from vae_explorer.core.runs import is_run_folder

        checkpoint = results.get("checkpoint")
        if not isinstance(checkpoint, str) or Path(checkpoint).name != MODEL:
            return ""
        folder = Path(checkpoint).parent
        if not is_run_folder(folder):
            return ""
        try:
            merged = save_evaluation(folder, results)
        except RunFolderBusy:
            # a run of this window's queue holds its folder until the queue ends (or another
            # process writes it): kept, and saved when the queue ends, not thrown away
            self._pending[folder] = dict(results)
            self._retry.start()
            return (
                f"Not saved yet: {folder} is held by a run still writing it (this window's training, "
                "or another process); it is saved as soon as the folder is free."
            )
        except (WriteError, OSError) as exc:
            return f"Not saved: {exc}"
        results.update(
            {k: merged.get(k) for k in ("iw_nll", "iw_nll_stderr", "iw_samples", "gap", "iw_runs")}
        )
        return f"Saved in {folder / 'evaluation.json'}."

    def save_pending(self) -> None:
        """Save the evaluations that found their run folder held (every 5 s while any wait, and
        when this window's training ends)."""
        from vae_explorer.core.checkpoint import checkpoint_epoch
        from vae_explorer.core.runlock import probably_busy

        pending, self._pending = self._pending, {}
        said = []
        for folder, results in pending.items():
            if probably_busy(folder):  # still held: asked of the lock, the model file left unread
                self._pending[folder] = results
            elif checkpoint_epoch(folder / MODEL) != results.get("epoch"):
                said.append(f"Not saved: {folder / MODEL} no longer holds the model evaluated.")
            else:
                said.append(self._save(results))  # held again meanwhile: it waits once more
        if not self._pending:
            self._retry.stop()
        if said and self._evaluating is None:
            self.message.setText(" ".join(said))

    def _failed(self, message: str) -> None:
        self._finish("Evaluation cancelled." if "cancelled" in message else f"Evaluation failed: {message}")

    # -- export -------------------------------------------------------------------------------------
    def save_csv(self, path: str | Path | None = None) -> Path | None:
        """Write the table, reference rows included, as CSV; None when the user cancels."""
        if path is None:
            chosen, _ = ask.save_file(self, "Export evaluation table", "evaluation.csv", "CSV table (*.csv)")
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        from vae_explorer.core.atomic import WriteError, atomic_write_text

        # numbers only, each in its own column, units in the header (core.metrics)
        lines: list[list[str]] = [["model", "epoch", *csv_header()]]
        for row in self.rows:
            epoch = _number(row.results.get("epoch"))
            lines.append([str(row.name), "" if epoch is None else str(int(epoch)), *csv_row(row.results)])
        header = lines[0]
        for label, key, value, _ in REFERENCES:
            reference = ["reference: " + label, "", *[""] * (len(header) - 2)]
            reference[header.index(next(h for h in header if h.split(" ")[0] == key))] = repr(value)
            lines.append(reference)
        import io

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(lines)
        try:
            atomic_write_text(path, buf.getvalue())
        except WriteError as exc:
            ask.error(self, "Export failed", str(exc))
            return None
        except OSError as exc:
            ask.error(self, "Export failed", f"Cannot write {path}: {exc.strerror or exc}")
            return None
        return path

    def export_targets(self):
        return {
            "class_histogram": ("Class histogram of generated digits", self.histogram_box),
            "elbo_vs_iw": ("Bound against IW-NLL", self.gap_box),
        }
