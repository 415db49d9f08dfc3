"""The Training tab's per-epoch views beside the nll curves: the validation bound split into its
reconstruction and KL-like parts (one pair of curves per run), and the prior's component weights
as stacked areas (one small plot per run), so that a mixture's collapse is seen as it happens.
They draw the queue's runs from their run records (app.run_records, updated by the engine's
EpochEnd events) and, for runs ticked in the run list, what metrics.csv and weights.csv hold;
nothing is computed here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from vae_explorer.core.epochlog import WEIGHTS_FILE, WeightsHistory
from vae_explorer.core.runfiles import FileProblem, History, read_weights
from vae_explorer.core.session import RunRecord

from .plot_legend import legend_text

MAX_WEIGHT_PLOTS = 6  # runs whose weights are drawn at once (the latest first)
# the latent map's component colours, so that component k looks alike in both tabs
COMPONENT_COLOURS = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"),
    *("#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"),
    *("#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"),
)


def _plot_widget(title: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background="w")
    plot = widget.getPlotItem()
    plot.setTitle(title, color="#222", size="10pt")
    plot.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).enableAutoSIPrefix(False)
        plot.getAxis(axis).setTextPen(pg.mkPen("#222"))
    return widget


class _Parts:
    """A run's two curves: a run of the queue reads its points from its record, a run from disk
    holds the points drawn of its history."""

    def __init__(
        self,
        key: str | None,
        recon_curve: pg.PlotDataItem,
        kl_curve: pg.PlotDataItem,
        record: RunRecord | None = None,
    ) -> None:
        self.key = key
        self.recon_curve, self.kl_curve = recon_curve, kl_curve
        self.record = record
        self.points: tuple[list[int], list[float], list[float]] = ([], [], [])  # a run from disk

    @property
    def epochs(self) -> list[int]:
        return self.record.history.epoch if self.record is not None else self.points[0]

    @property
    def recon(self) -> list[float]:
        return self.record.history.val_recon if self.record is not None else self.points[1]

    @property
    def kl(self) -> list[float]:
        return self.record.history.val_kl if self.record is not None else self.points[2]

    def draw(self) -> None:
        x = np.asarray(self.epochs, dtype=float)
        self.recon_curve.setData(x, np.asarray(self.recon, dtype=float), connect="finite")
        self.kl_curve.setData(x, np.asarray(self.kl, dtype=float), connect="finite")


class PartsPlot(QWidget):
    """Per run and validated epoch: -E_q log p(x|z) (solid) and E_q[log q(z|x) - log p(z)]
    (dashed) per validation image; the two add up to the run's validation nll."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget = _plot_widget("Validation nll in two parts: reconstruction (solid) and KL-like (dashed)")
        self.widget.setWindowTitle("Bound's parts")
        self.plot = self.widget.getPlotItem()
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "nats per validation image")
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextColor="#222")
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        self.runs: list[_Parts] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)

    def clear(self) -> None:
        for run in self.runs:
            self.plot.removeItem(run.recon_curve)
            self.plot.removeItem(run.kl_curve)
        self.legend.clear()
        self.runs = []

    def add_run(self, label: str, key: str | None, colour: str, record: RunRecord | None = None) -> int:
        """A run's curves; a run of the queue passes its `record`, drawn by `update_run`."""
        recon = self.plot.plot([], [], pen=pg.mkPen(colour, width=2), name=legend_text(label))
        kl = self.plot.plot([], [], pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine))
        self.runs.append(_Parts(key, recon, kl, record))
        return len(self.runs) - 1

    def update_run(self, index: int) -> None:
        """Draw a run of the queue again from its record (a new epoch)."""
        self.runs[index].draw()

    def add_history(self, label: str, key: str, colour: str, history: History) -> int:
        index = self.add_run(label, key, colour)
        run = self.runs[index]
        shown = history.for_display(5_000)
        run.points = (shown.epoch.tolist(), shown.val_recon.tolist(), shown.val_kl.tolist())
        run.draw()
        return index

    def remove_run(self, key: str, start: int = 0) -> None:
        for index, run in enumerate(self.runs[start:], start):
            if run.key == key:
                self.plot.removeItem(run.recon_curve)
                self.plot.removeItem(run.kl_curve)
                self.legend.removeItem(run.recon_curve)
                del self.runs[index]
                return

    def set_shown(self, index: int, shown: bool, label: str) -> None:
        """Hide (or show again) a run of the queue: its curves and its legend entry, so that an
        export shows only what the plot shows."""
        if not 0 <= index < len(self.runs):
            return
        run = self.runs[index]
        if run.recon_curve.isVisible() == shown:
            return
        run.recon_curve.setVisible(shown)
        run.kl_curve.setVisible(shown)
        if shown:
            self.legend.addItem(run.recon_curve, legend_text(label))
        else:
            self.legend.removeItem(run.recon_curve)

    def values(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        run = self.runs[index]
        return np.asarray(run.epochs), np.asarray(run.recon), np.asarray(run.kl)


class WeightsPlot(QWidget):
    """One run's component weights per epoch, stacked: component 0 at the bottom, the bands'
    heights its weights, so a component that dies is a band that thins to nothing. A run of the
    queue reads them from its `record`, a run from disk from its weights.csv (`set_history`)."""

    def __init__(
        self,
        label: str,
        key: str | None = None,
        parent: QWidget | None = None,
        record: RunRecord | None = None,
    ) -> None:
        super().__init__(parent)
        self.key = key
        self.label = label
        self.record = record
        self.widget = _plot_widget("")
        self.widget.setMinimumSize(220, 170)
        self.plot = self.widget.getPlotItem()
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "weight (stacked)")
        self.plot.setYRange(0, 1, padding=0)
        self.plot.setMouseEnabled(x=True, y=False)
        self._epochs: list[int] = []  # a run from disk: its epochs and weights
        self._rows: list[np.ndarray] = []
        self.curves: list[pg.PlotDataItem] = []
        self.fills: list[pg.FillBetweenItem] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)
        self.set_title()

    def _weighted(self) -> tuple[list[int], list[np.ndarray]]:
        """The epochs that recorded weights, and their weights."""
        if self.record is None:
            return self._epochs, self._rows
        history = self.record.history
        pairs = [(e, w) for e, w in zip(history.epoch, history.weights) if w]
        return [e for e, _ in pairs], [np.asarray(w, dtype=float) for _, w in pairs]

    @property
    def epochs(self) -> list[int]:
        return self._weighted()[0]

    @property
    def rows(self) -> list[np.ndarray]:
        return self._weighted()[1]

    def set_title(self, epochs: list[int] | None = None, rows: list[np.ndarray] | None = None) -> None:
        title = legend_text(self.label)
        if epochs is None or rows is None:
            epochs, rows = self._weighted()
        if rows:
            last = np.sort(rows[-1])[::-1]
            title += f" (epoch {epochs[-1]}: largest {', '.join(f'{w:.2f}' for w in last[:3])})"
        self.plot.setTitle(title, color="#222", size="9pt")

    def _ensure(self, k: int) -> None:
        while len(self.curves) < k + 1:
            curve = pg.PlotDataItem([], [], pen=pg.mkPen("#ffffff", width=0.6))
            self.plot.addItem(curve)
            self.curves.append(curve)
        while len(self.fills) < k:
            j = len(self.fills)
            colour = pg.mkColor(COMPONENT_COLOURS[j % len(COMPONENT_COLOURS)])
            fill = pg.FillBetweenItem(self.curves[j], self.curves[j + 1], brush=pg.mkBrush(colour))
            fill.setZValue(-1)
            self.plot.addItem(fill)
            self.fills.append(fill)

    def set_history(self, weights: WeightsHistory) -> None:
        self._epochs = weights.epoch.tolist()
        self._rows = [np.nan_to_num(row, nan=0.0) for row in weights.weights]
        self.draw()

    def draw(self) -> None:
        epochs, rows = self._weighted()
        if not rows:
            return
        table = np.stack(rows)  # (epochs, K)
        k = table.shape[1]
        self._ensure(k)
        x = np.asarray(epochs, dtype=float)
        if len(x) == 1:  # one epoch: a band of width one around it, so it shows
            x, table = np.array([x[0] - 0.5, x[0] + 0.5]), np.repeat(table, 2, axis=0)
        cum = np.concatenate([np.zeros((len(x), 1)), np.cumsum(table, axis=1)], axis=1)
        for j, curve in enumerate(self.curves):
            curve.setData(x, cum[:, min(j, k)])
        self.plot.setXRange(float(x[0]), float(x[-1]), padding=0.02)
        self.set_title(epochs, rows)

    def stacked(self) -> np.ndarray:
        """(epochs, K) of the weights drawn."""
        rows = self.rows
        return np.stack(rows) if rows else np.zeros((0, 0))


class WeightsView(QWidget):
    """Small stacked-area plots of the runs' weights, side by side (the latest runs first)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Mixture weights per epoch")
        self.plots: list[WeightsPlot] = []
        self.queue: dict[int, WeightsPlot] = {}  # the queue's runs, by run index
        self.hidden: list[WeightsPlot] = []  # the queue's runs unticked or deleted in the run list
        self.empty = QLabel(
            "The weights of a prior with components, per epoch, for the runs training and the runs "
            "ticked in the run list (runs trained before this view record none)."
        )
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #555;")
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        layout.addLayout(self.grid, 1)

    def _layout(self) -> None:
        for plot in self.plots:
            self.grid.removeWidget(plot)
            plot.hide()
        shown = [p for p in self.plots if p not in self.hidden][-MAX_WEIGHT_PLOTS:]
        columns = 1 if len(shown) <= 1 else 2 if len(shown) <= 4 else 3
        for i, plot in enumerate(shown):
            self.grid.addWidget(plot, i // columns, i % columns)
            plot.show()
        self.empty.setVisible(not shown)

    def clear(self) -> None:
        for plot in self.plots:
            self.grid.removeWidget(plot)
            plot.deleteLater()
        self.plots, self.queue, self.hidden = [], {}, []
        self._layout()

    def add_queue_run(self, record: RunRecord, key: str | None) -> None:
        """A run of the queue, drawn from its record by `update_run`."""
        plot = WeightsPlot(record.label, key, record=record)
        self.plots.append(plot)
        self.queue[record.index] = plot
        self._layout()

    def update_run(self, index: int) -> None:
        """Draw a run of the queue again from its record (a new epoch with weights)."""
        plot = self.queue.get(index)
        if plot is not None:
            plot.draw()

    def add_folder(self, label: str, key: str, folder: Path) -> bool:
        """A ticked run's weights.csv; False (nothing drawn) when it has none or cannot be read."""
        try:
            weights = read_weights(Path(folder) / WEIGHTS_FILE)
        except FileProblem:
            return False
        if not len(weights):
            return False
        plot = WeightsPlot(label, key)
        plot.set_history(weights)
        self.plots.append(plot)
        self._layout()
        return True

    def remove(self, key: str) -> None:
        for plot in [p for p in self.plots if p.key == key and p not in self.queue.values()]:
            self.plots.remove(plot)
            self.grid.removeWidget(plot)
            plot.deleteLater()
        self._layout()

    def set_queue_shown(self, index: int, shown: bool) -> None:
        plot = self.queue.get(index)
        if plot is None or (plot not in self.hidden) == shown:
            return
        if shown:
            self.hidden.remove(plot)
        else:
            self.hidden.append(plot)
        self._layout()

    def shown(self) -> list[WeightsPlot]:
        return [p for p in self.plots if p.isVisibleTo(self)]


class EpochViews:
    """The parts plot and the weights view, fed by the Training tab: the queue's runs live, then
    the runs ticked in the run list from their files."""

    def __init__(self) -> None:
        self.parts = PartsPlot()
        self.weights = WeightsView()
        self.queue_size = 0
        self._browser: dict[str, tuple[str, int]] = {}  # key -> (label, epochs) as drawn

    def start_queue(self, runs: list[tuple[RunRecord, str | None, str, bool]]) -> None:
        """(record, run folder key, colour, whether its prior has weights) of each run of a new
        queue, in run order: each is drawn from its record."""
        self.parts.clear()
        self.weights.clear()
        self._browser = {}
        self.queue_size = len(runs)
        for record, key, colour, weighted in runs:
            self.parts.add_run(record.label, key, colour, record)
            if weighted:
                self.weights.add_queue_run(record, key)

    def figures(self) -> list[tuple[str, str, QWidget]]:
        """(file stem, label, widget) of the views that have something drawn, for File → Export."""
        out = []
        if any(run.epochs for run in self.parts.runs):
            out.append(("elbo_parts", "Bound's parts per epoch", self.parts.widget))
        if any(plot.rows for plot in self.weights.plots):
            out.append(("mixture_weights_per_epoch", "Mixture weights per epoch", self.weights))
        return out

    def update_run(self, index: int) -> None:
        """The run `index` of the queue has new epochs in its record: its views are drawn again."""
        if 0 <= index < len(self.parts.runs):
            self.parts.update_run(index)
        self.weights.update_run(index)

    def show_runs(self, runs: list[tuple[str, str, str, History, Path]]) -> None:
        """The ticked runs (label, key, colour, history, folder) beside the queue's: those no
        longer ticked go, new ones are drawn from their files, and a run renamed or read again
        with more epochs is drawn again (as the nll plot does)."""
        wanted = {key: (label, len(history)) for label, key, _, history, _ in runs}
        for key, drawn in list(self._browser.items()):
            if wanted.get(key) != drawn:
                self.parts.remove_run(key, start=self.queue_size)
                self.weights.remove(key)
                del self._browser[key]
        for label, key, colour, history, folder in runs:
            if key in self._browser:
                continue
            if history.has_parts:
                self.parts.add_history(label, key, colour, history)
            self.weights.add_folder(label, key, folder)
            self._browser[key] = wanted[key]

    def set_queue_run_shown(self, index: int, shown: bool, label: str) -> None:
        """A run of the queue unticked (or deleted) in the run list leaves these views too."""
        self.parts.set_shown(index, shown, label)
        self.weights.set_queue_shown(index, shown)
