"""The live validation-nll plot: one curve per run, train loss as a hideable dashed twin."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


class EpochAxis(pg.AxisItem):
    """An x-axis with ticks on whole epochs only (no 1.2, 1.4 ... on short runs)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph names)
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        levels = [(s, v) for s, v in levels if v]
        if not levels and maxVal - minVal < 50:
            first, last = math.ceil(minVal), math.floor(maxVal)
            levels = [(1.0, [float(v) for v in range(first, last + 1)])]
        return levels


class _Run:
    def __init__(self, plot: pg.PlotItem, label: str, colour: str) -> None:
        self.label = label
        self.colour = colour
        self.epochs: list[int] = []
        self.val: list[float] = []
        self.train: list[float] = []
        self.best: tuple[int, float] | None = None
        self.diverged = False
        self.val_curve = plot.plot([], [], pen=pg.mkPen(colour, width=2), name=label,
                                   symbol="o", symbolSize=4, symbolBrush=colour, symbolPen=None)
        self.train_curve = plot.plot([], [], pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine))
        self.best_marker = pg.ScatterPlotItem(size=13, symbol="star", brush=pg.mkBrush(colour),
                                              pen=pg.mkPen("k", width=0.8))
        self.end_marker = pg.ScatterPlotItem(size=14, symbol="x", brush=pg.mkBrush("#d62728"),
                                             pen=pg.mkPen("#d62728", width=2))
        plot.addItem(self.best_marker)
        plot.addItem(self.end_marker)


class CurvePlot(QWidget):
    """Validation nll per epoch for several runs; hover shows the nearest point's value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget = pg.PlotWidget(background="w", axisItems={"bottom": EpochAxis("bottom")})
        self.plot = self.widget.getPlotItem()
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "nll (nats)")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setTitle("Validation negative ELBO per epoch", color="#222", size="11pt")
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor="#222")
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 220))
        for axis in ("left", "bottom"):
            ax = self.plot.getAxis(axis)
            ax.setPen(pg.mkPen("#444"))
            ax.setTextPen(pg.mkPen("#222"))
        self.hover = pg.TextItem(color="#111", fill=pg.mkBrush(255, 255, 224, 235), anchor=(0, 1),
                                 border=pg.mkPen("#888"))
        self.hover.setZValue(100)
        self.hover.hide()
        self.plot.addItem(self.hover, ignoreBounds=True)
        self.runs: list[_Run] = []
        self.show_train = True
        self.log_y = False
        self.widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)

    # -- runs ------------------------------------------------------------------------------------
    def clear(self) -> None:
        for run in self.runs:
            for item in (run.val_curve, run.train_curve, run.best_marker, run.end_marker):
                self.plot.removeItem(item)
        self.legend.clear()
        self.runs = []
        self.hover.hide()

    def add_run(self, label: str) -> int:
        run = _Run(self.plot, label, PALETTE[len(self.runs) % len(PALETTE)])
        run.train_curve.setVisible(self.show_train)
        self.runs.append(run)
        return len(self.runs) - 1

    def add_epoch(self, index: int, epoch: int, train_loss: float, val_nll: float,
                  best_epoch: int, best_val: float) -> None:
        run = self.runs[index]
        run.epochs.append(epoch)
        run.val.append(val_nll)
        run.train.append(train_loss)
        run.best = (best_epoch, best_val)
        run.val_curve.setData(run.epochs, run.val)
        run.train_curve.setData(run.epochs, run.train)
        run.best_marker.setData([best_epoch], [best_val])

    def mark_diverged(self, index: int) -> None:
        """A red cross after the last finite point, and '(diverged)' in the legend."""
        run = self.runs[index]
        run.diverged = True
        x = (run.epochs[-1] + 1) if run.epochs else 1
        y = run.val[-1] if run.val else 0.0
        run.end_marker.setData([x], [y])
        self.legend.removeItem(run.val_curve)
        self.legend.addItem(run.val_curve, f"{run.label} (diverged)")

    def set_train_visible(self, visible: bool) -> None:
        self.show_train = visible
        for run in self.runs:
            run.train_curve.setVisible(visible)

    def set_log_y(self, on: bool) -> None:
        self.log_y = on
        self.plot.setLogMode(x=False, y=on)

    def points(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The validation points as drawn (for tests and exports)."""
        x, y = self.runs[index].val_curve.getData()
        return (np.array([]), np.array([])) if x is None else (np.asarray(x), np.asarray(y))

    # -- hover -------------------------------------------------------------------------------
    def nearest_point(self, scene_pos: QPointF, max_px: float = 12.0) -> tuple[str, int, float] | None:
        """(run label, epoch, value) of the plotted point nearest to scene_pos, within max_px."""
        vb = self.plot.getViewBox()
        best, best_d = None, max_px
        for run in self.runs:
            series = [(run.label, run.val)]
            if self.show_train:
                series.append((f"{run.label} train", run.train))
            for label, values in series:
                for epoch, value in zip(run.epochs, values):
                    y = np.log10(value) if self.log_y and value > 0 else value
                    p = vb.mapViewToScene(QPointF(epoch, y))
                    d = float(np.hypot(p.x() - scene_pos.x(), p.y() - scene_pos.y()))
                    if d < best_d:
                        best, best_d = (label, epoch, value), d
        return best

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        hit = self.nearest_point(scene_pos)
        if hit is None:
            self.hover.hide()
            return
        label, epoch, value = hit
        self.hover.setText(f"{label}\nepoch {epoch}: {value:.2f} nats")
        vb = self.plot.getViewBox()
        self.hover.setPos(vb.mapSceneToView(scene_pos))
        self.hover.show()
