"""The live validation-nll plot: one curve per run, train loss as a hideable dashed twin.

Its axes are plot_axes', its legend plot_legend's; here are the runs' curves and the hover box."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from vae_explorer.core.colours import ColourBook, hashed_colour
from vae_explorer.core.runfiles import History, drawable
from vae_explorer.core.session import RunRecord

from .plot_axes import EpochAxis, NllAxis
from .plot_legend import LEGEND_ROW, SideLegend, legend_text

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
NO_DATA_COLOUR = "#7f7f7f"  # the legend mark of a run with nothing to plot; no run's curve is grey
DISPLAY_EPOCHS = 5_000  # points drawn per curve from a run's history; longer runs are thinned


def run_colours(count: int) -> list[str]:
    """One colour per run: the palette while it lasts, else an ordered ramp (plasma, without its
    pale yellow end) so that many runs get distinct colours in queue order instead of repeats."""
    if count <= len(PALETTE):
        return list(PALETTE[:count])
    cmap = pg.colormap.get("plasma")
    return [cmap.map(0.88 * i / (count - 1), mode="qcolor").name() for i in range(count)]


class _Run:
    """A run's curves. A run of the queue reads its points from its `record` (the one the GUI
    thread keeps, app.run_records), so they are never copied here; a run read from disk holds the
    points drawn of its history."""

    def __init__(self, plot: pg.PlotItem, label: str, colour: str, record: RunRecord | None = None) -> None:
        self.label = label
        self.colour = colour
        self.key: str | None = None  # the run folder, when the run has one
        self.record = record
        # a run from disk: its points as drawn (thinned, for a very long run)
        self._epochs: list[int] = []
        self._val: list[float] = []
        self._train: list[float] = []
        self._minutes: list[float] = []
        self._best: tuple[int, float] | None = None
        self.diverged = False
        self.no_curve = False  # nothing to draw; the legend says why
        self.hidden = False  # unticked in the run list: drawn nowhere, its data kept
        self.note = ""  # what its legend entry says after its name (" (diverged)")
        self.raw_curve = plot.plot([], [])  # the unsmoothed values, faint, behind a smoothed curve
        self.raw_curve.setZValue(-1)
        self.raw_curve.hide()
        self.val_curve = plot.plot([], [], name=legend_text(label))
        self.train_curve = plot.plot([], [])
        # PlotDataItems, not ScatterPlotItems: pyqtgraph's log mode transforms only those, and a
        # marker left in linear units put a star at 10^200 on the log axis
        self.best_marker = pg.PlotDataItem([], [], pen=None, symbol="star", symbolSize=14)
        self.end_marker = pg.PlotDataItem([], [], pen=None, symbol="x", symbolSize=15)
        plot.addItem(self.best_marker)
        plot.addItem(self.end_marker)
        self.set_colour(colour)

    @property
    def epochs(self) -> list[int]:
        return self.record.history.epoch if self.record is not None else self._epochs

    @property
    def val(self) -> list[float]:
        return self.record.history.val_nll if self.record is not None else self._val

    @property
    def train(self) -> list[float]:
        return self.record.history.train_loss if self.record is not None else self._train

    @property
    def minutes(self) -> Sequence[float]:
        """Training time at the end of each epoch, in minutes."""
        if self.record is None:
            return self._minutes
        return training_minutes(self.record.history.seconds)

    @property
    def best(self) -> tuple[int, float] | None:
        if self.record is None:
            return self._best
        return (self.record.best_epoch, self.record.best_val) if self.record.history else None

    def set_points(
        self,
        epochs: list[int],
        val: list[float],
        train: list[float],
        minutes: list[float],
        best: tuple[int, float] | None,
    ) -> None:
        """A run from disk: the points to draw of its history, and its best epoch."""
        self._epochs, self._val, self._train, self._minutes, self._best = epochs, val, train, minutes, best

    def items(self) -> tuple[pg.PlotDataItem, ...]:
        """Everything the run puts on the plot."""
        return (self.val_curve, self.train_curve, self.raw_curve, self.best_marker, self.end_marker)

    def mark_nothing_to_plot(self) -> None:
        """A grey cross in place of the run's line in the legend: it has no point on the plot."""
        self.val_curve.setPen(None)
        self.val_curve.setSymbol("x")
        self.val_curve.setSymbolSize(11)
        self.val_curve.setSymbolBrush(pg.mkBrush(NO_DATA_COLOUR))
        self.val_curve.setSymbolPen(pg.mkPen(NO_DATA_COLOUR))

    def set_colour(self, colour: str) -> None:
        self.colour = colour
        if (self.diverged and not self.epochs) or self.no_curve:
            return  # keeps the grey "nothing to plot" mark in the legend
        self.val_curve.setPen(pg.mkPen(colour, width=2))
        self.val_curve.setSymbol("o")
        self.val_curve.setSymbolSize(4)
        self.val_curve.setSymbolBrush(colour)
        self.val_curve.setSymbolPen(None)
        self.train_curve.setPen(pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine))
        faint = pg.mkColor(colour)
        faint.setAlpha(70)
        self.raw_curve.setPen(pg.mkPen(faint, width=1.5))
        self.best_marker.setSymbolBrush(pg.mkBrush(colour))
        self.best_marker.setSymbolPen(pg.mkPen("k", width=0.8))
        # the divergence cross in the run's own colour, outlined, so it says which run died
        self.end_marker.setSymbolBrush(pg.mkBrush(colour))
        self.end_marker.setSymbolPen(pg.mkPen("#111", width=1.2))


def training_minutes(seconds: Sequence[float]) -> np.ndarray:
    """The running total of epochs' seconds, in minutes (an epoch without a time adds none)."""
    per_epoch = np.nan_to_num(np.asarray(seconds, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    return np.cumsum(per_epoch) / 60.0


def _drawable(values: Sequence[float]) -> np.ndarray:
    """The values with those no axis can show (non-finite, or huge) left out as gaps."""
    y = np.asarray(values, dtype=float)
    return np.where(drawable(y), y, np.nan)


class CurvePlot(QWidget):
    """Validation nll per epoch for several runs; hover shows the nearest point's value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget = pg.PlotWidget(
            background="w", axisItems={"bottom": EpochAxis("bottom"), "left": NllAxis("left")}
        )
        self.plot = self.widget.getPlotItem()
        self.plot.setLabel("bottom", "epoch")
        self.nll_label = "nll (nats)"
        self.plot.setLabel("left", self.nll_label)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setTitle("Validation negative ELBO per epoch", color="#222", size="11pt")
        self.legend = SideLegend(labelTextColor="#222", pen=pg.mkPen("#bbb"), brush=pg.mkBrush("w"))
        self.plot.legend = self.legend  # plot(name=...) adds its curve here
        self.plot.layout.addItem(self.legend, 2, 3, alignment=Qt.AlignmentFlag.AlignTop)
        self.plot.layout.setColumnStretchFactor(3, 0)
        self.plot.layout.setColumnSpacing(2, 6)  # a gap between the view box and the legend
        left, top, _, bottom = self.plot.layout.getContentsMargins()
        self.plot.layout.setContentsMargins(left, top, 6, bottom)  # the legend's frame stays whole
        self.plot.getViewBox().sigResized.connect(self._fit_legend)
        for axis in ("left", "bottom"):
            ax = self.plot.getAxis(axis)
            ax.setPen(pg.mkPen("#444"))
            ax.setTextPen(pg.mkPen("#222"))
            ax.enableAutoSIPrefix(False)  # "(x0.001)" beside minutes or nats helps nobody
        self.hover = pg.TextItem(
            color="#111", fill=pg.mkBrush(255, 255, 224, 235), anchor=(0, 1), border=pg.mkPen("#888")
        )
        self.hover.setZValue(100)
        self.hover.screen_only = True
        self.hover.hide()
        self.plot.addItem(self.hover, ignoreBounds=True)
        self.runs: list[_Run] = []
        self.colours: ColourBook | None = None  # the run folders' colours, shared with the run list
        self.show_train = True
        self.log_y = False
        self.smoothing = 0.0
        self.x_time = False
        self.widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._values_on: bool | None = None  # whether the axes show tick values
        self._show_values(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)

    # -- runs ------------------------------------------------------------------------------------
    def clear(self) -> None:
        self._show_values(False)
        for run in self.runs:
            for item in run.items():
                self.plot.removeItem(item)
        self.legend.clear()
        self.runs = []
        self.hover.hide()
        self._fit_legend()

    def add_run(self, label: str, key: str | None = None, record: RunRecord | None = None) -> int:
        """A new curve; a run with a folder (`key`) gets its stable colour, others the next of the
        palette in order. A run of the queue passes its `record`: its curve is drawn from the
        record's history by `update_run`."""
        if key is not None:  # the run folder's own colour, as the run list shows it
            colour = self.colours.colour(key) if self.colours is not None else hashed_colour(key)
        else:
            colour = PALETTE[len(self.runs) % len(PALETTE)]
        run = _Run(self.plot, label, colour, record)
        run.key = key
        run.train_curve.setVisible(self.show_train)
        self.runs.append(run)
        unkeyed = [r for r in self.runs if r.key is None]
        if len(unkeyed) > len(PALETTE):  # past the palette: spread those runs over a colour ramp
            for r, c in zip(unkeyed, run_colours(len(unkeyed))):
                r.set_colour(c)
        self._fit_legend()
        return len(self.runs) - 1

    def remove_runs_from(self, index: int) -> None:
        """Take the runs from `index` on off the plot (the overlaid runs of the browser)."""
        for run in self.runs[index:]:
            self._remove(run)
        del self.runs[index:]
        if not any(r.epochs for r in self.runs):
            self._show_values(False)
        self._fit_legend()

    def add_history(self, label: str, key: str, history: History) -> int:
        """A run's curve from its metrics, in its stable colour, drawn once: a very long run is
        thinned to DISPLAY_EPOCHS points (its best and last kept). A run without a finished epoch
        gets a grey mark in the legend that says so."""
        index = self.add_run(label, key)
        run = self.runs[index]
        if not len(history):
            self.mark_no_curve(index, "no finished epoch")
            return index
        best = history.best()
        total_minutes = training_minutes(history.seconds)
        shown = history.for_display(DISPLAY_EPOCHS)
        keep = np.searchsorted(history.epoch, shown.epoch)
        run.set_points(
            shown.epoch.tolist(),
            shown.val_nll.tolist(),
            shown.train_loss.tolist(),
            total_minutes[keep].tolist(),
            best,
        )
        if len(shown) < len(history):
            self._relabel(run, f" ({len(shown):,} of its {len(history):,} epochs drawn)")
        if not any(len(r.epochs) for r in self.runs if r is not run):
            self._show_values(True)
        self._draw(run)
        return index

    def remove_run(self, key: str, start: int = 0) -> None:
        """Take the curve of the run whose folder is `key` off the plot: the first one from the
        `start`th run on (the browser's runs come after the queue's own)."""
        for index, run in enumerate(self.runs[start:], start):
            if run.key == key:
                self._remove(run)
                del self.runs[index]
                break
        if not any(r.epochs for r in self.runs):
            self._show_values(False)
        self._fit_legend()

    def _remove(self, run: _Run) -> None:
        for item in run.items():
            self.plot.removeItem(item)
        self.legend.removeItem(run.val_curve)

    def mark_no_curve(self, index: int, reason: str) -> None:
        """A run with nothing to draw: a grey cross in the legend and 'no curve: <reason>'."""
        run = self.runs[index]
        run.mark_nothing_to_plot()
        run.no_curve = True
        self._relabel(run, f" (no curve: {reason})")

    def _relabel(self, run: _Run, note: str) -> None:
        """The run's legend entry: its name, then `note` (" (diverged)")."""
        run.note = note
        label = self.legend.getLabel(run.val_curve)
        if label is not None:
            label.setText(legend_text(run.label, note))
            self.legend.updateSize()

    def update_run(self, index: int) -> None:
        """Draw a run of the queue again from its record, which has changed (a new epoch)."""
        run = self.runs[index]
        if run.epochs:
            self._show_values(True)
        self._draw(run)

    # -- smoothing and the x-axis ------------------------------------------------------------------
    def xs(self, run: _Run) -> Sequence[float]:
        """Where the run's points go: their epochs, or minutes of training with x_time."""
        return run.minutes if self.x_time else run.epochs

    def shown(self, values: Sequence[float]) -> Sequence[float]:
        """The values as drawn: an exponential moving average with `smoothing` (bias-corrected,
        so the first points are not pulled towards 0), else as they are."""
        a = self.smoothing
        if a <= 0 or not values:
            return values
        out, avg = [], 0.0
        for t, v in enumerate(values, 1):
            avg = a * avg + (1 - a) * v
            out.append(avg / (1 - a**t))
        return out

    def _draw(self, run: _Run) -> None:
        x = self.xs(run)
        run.val_curve.setData(x, _drawable(self.shown(run.val)))
        run.train_curve.setData(x, _drawable(self.shown(run.train)))
        run.raw_curve.setData(x, _drawable(run.val))
        run.raw_curve.setVisible(self.smoothing > 0 and not run.hidden)
        if run.best is not None and run.best[0] in run.epochs:
            i = run.epochs.index(run.best[0])
            run.best_marker.setData([x[i]], [run.best[1]])
        if run.diverged and run.epochs:
            step = x[-1] - x[-2] if len(x) > 1 else 1.0
            run.end_marker.setData([x[-1] + step], [run.val[-1]])

    def set_smoothing(self, a: float) -> None:
        self.smoothing = min(max(float(a), 0.0), 0.99)
        for run in self.runs:
            self._draw(run)

    def set_x_time(self, on: bool) -> None:
        self.x_time = on
        self.plot.getAxis("bottom").whole = not on
        self.plot.setLabel("bottom", "training time (minutes)" if on else "epoch")
        for run in self.runs:
            self._draw(run)
        self.plot.enableAutoRange()

    def reset_zoom(self) -> None:
        self.plot.enableAutoRange()

    def to_csv(self) -> str:
        """The points of every run shown as CSV (a run unticked or deleted is left out, as from
        the plot): run, epoch, minutes, train loss, validation nll."""
        import csv
        import io

        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["run", "epoch", "minutes", "train_loss", "val_nll"])
        for run in (r for r in self.runs if not r.hidden):
            for e, m, t, v in zip(run.epochs, run.minutes, run.train, run.val):
                out.writerow([run.label, e, f"{m:.4f}", repr(t), repr(v)])
        return buf.getvalue()

    def mark_diverged(self, index: int) -> None:
        """'(diverged)' in the run's legend entry, which keeps its place and colour, and, when
        the run has finite points, a cross in its colour at the epoch it diverged in, at the
        height of its last finite value. A run that diverged in its first epoch has no value to
        mark: nothing is drawn for it, and its legend entry shows a grey cross instead of a line
        in a colour that is nowhere on the plot."""
        run = self.runs[index]
        run.diverged = True
        if run.epochs:
            self._draw(run)
        else:
            run.end_marker.setData([], [])
            run.mark_nothing_to_plot()
        self._relabel(run, " (diverged)")

    def set_train_visible(self, visible: bool) -> None:
        self.show_train = visible
        for run in self.runs:
            run.train_curve.setVisible(visible and not run.hidden)
        self.plot.enableAutoRange()  # the y-range follows the curves shown

    def set_run_shown(self, index: int, shown: bool) -> None:
        """Show or hide a run's curves, markers and legend entry (its data stay, for showing again)."""
        run = self.runs[index]
        if run.hidden == (not shown):
            return
        run.hidden = not shown
        for item in (run.val_curve, run.best_marker, run.end_marker):
            item.setVisible(shown)
        run.train_curve.setVisible(shown and self.show_train)
        run.raw_curve.setVisible(shown and self.smoothing > 0)
        if shown:
            self.legend.addItem(run.val_curve, legend_text(run.label, run.note))
        elif self.legend.getLabel(run.val_curve) is not None:
            self.legend.removeItem(run.val_curve)
        self._fit_legend()

    def drop_from_legend(self, index: int) -> None:
        """Leave a run that never ran out of the legend (and so out of exported figures)."""
        run = self.runs[index]
        if self.legend.getLabel(run.val_curve) is not None:
            self.legend.removeItem(run.val_curve)
            self._fit_legend()

    def _show_values(self, on: bool) -> None:
        """Tick labels only once there is a point: an empty plot showed pyqtgraph's 0.1 .. 0.9."""
        if on == self._values_on:
            return
        self._values_on = on
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setStyle(showValues=on)

    def set_nll_label(self, text: str) -> None:
        """Name the y-axis for the likelihood of the runs shown (see core.config.nll_label)."""
        self.nll_label = text
        self.plot.setLabel("left", f"{text}, log scale" if self.log_y else text)

    def set_log_y(self, on: bool) -> None:
        self.log_y = on
        lo, hi = self.plot.getViewBox().viewRange()[1]
        if on and hi > 0:  # the axis would take the linear range for exponents (10^450: overflow)
            self.plot.getViewBox().setYRange(math.log10(lo) if lo > 0 else 0.0, math.log10(hi), padding=0)
        self.plot.setLogMode(x=False, y=on)
        self.plot.setLabel("left", f"{self.nll_label}, log scale" if on else self.nll_label)
        self.plot.enableAutoRange()

    def points(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The validation points as drawn (for tests and exports)."""
        x, y = self.runs[index].val_curve.getData()
        return (np.array([]), np.array([])) if x is None else (np.asarray(x), np.asarray(y))

    # -- legend ------------------------------------------------------------------------------
    def _fit_legend(self, *_) -> None:
        height = self.plot.getViewBox().height()
        if height >= 2 * LEGEND_ROW:  # else not laid out yet
            self.legend.fit(height)

    # -- hover -------------------------------------------------------------------------------
    def nearest_point(self, scene_pos: QPointF, max_px: float = 12.0, runs=None):
        """(run label, epoch, value) of the plotted point nearest to scene_pos, within max_px;
        with `runs`, among theirs only, and with the distance in pixels as a fourth element."""
        vb = self.plot.getViewBox()
        view = vb.mapSceneToView(scene_pos)
        # pixels per view unit along each axis, from two mapped points
        one = vb.mapViewToScene(QPointF(view.x() + 1.0, view.y() + 1.0))
        sx, sy = abs(one.x() - scene_pos.x()), abs(one.y() - scene_pos.y())
        best, best_d = None, max_px
        for run in self.runs if runs is None else runs:
            if not run.epochs:
                continue
            series = [(run.label, self.shown(run.val), run.val)]
            if self.show_train:
                series.append((f"{run.label} train", self.shown(run.train), run.train))
            x = np.asarray(self.xs(run), dtype=float)
            for label, drawn, values in series:
                y = np.asarray(drawn, dtype=float)
                if self.log_y:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), y)
                d = np.hypot((x - view.x()) * sx, (y - view.y()) * sy)
                d[~np.isfinite(d)] = np.inf
                i = int(np.argmin(d))
                if d[i] < best_d:
                    best, best_d = (label, run.epochs[i], values[i]), float(d[i])
        if runs is not None and best is not None:
            return (*best, best_d)
        return best

    def values_at(self, epoch: int) -> list[str]:
        """One line per run shown that reached `epoch`: its validation (and train) value there."""
        lines = []
        for run in self.runs:
            if epoch in run.epochs and self.legend.getLabel(run.val_curve) is not None:
                lines.append(self._value_line(run, run.epochs.index(epoch)))
        return lines

    def hover_text(self, scene_pos: QPointF, max_px: float = 40.0) -> str | None:
        """What the hover box says with the mouse at `scene_pos`: the epoch under the mouse (the
        nearest point's, within `max_px` across), the run nearest the mouse first, then every
        other run shown at that epoch, each with its validation and train value."""
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        view = vb.mapSceneToView(scene_pos)
        per_px = abs(vb.mapViewToScene(QPointF(view.x() + 1.0, view.y())).x() - scene_pos.x())
        best = None  # (pixels across, pixels total, run, index)
        for run in self.runs:
            if not run.epochs or self.legend.getLabel(run.val_curve) is None:
                continue
            x = np.asarray(self.xs(run), dtype=float)
            i = int(np.argmin(np.abs(x - view.x())))
            across = abs(x[i] - view.x()) * per_px
            near = self.nearest_point(scene_pos, max_px=float("inf"), runs=[run])
            total = near[3] if near is not None else float("inf")
            if across <= max_px and (best is None or total < best[1]):
                best = (across, total, run, i)
        if best is None:
            return None
        _, _, run, i = best
        epoch = run.epochs[i]
        when = f", {run.minutes[i]:.2f} min" if self.x_time else ""
        own = self._value_line(run, i)
        others = [line for line in self.values_at(epoch) if line != own]
        return "\n".join([f"epoch {epoch}{when}, nats", f"▸ {own}", *others])

    def _value_line(self, run: _Run, i: int) -> str:
        train = f" (train {run.train[i]:.2f})" if self.show_train else ""
        return f"{run.label}: {run.val[i]:.2f}{train}"

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        text = self.hover_text(scene_pos)
        if text is None:
            self.hover.hide()
            return
        self.hover.setText(text)
        self.hover.setPos(self.plot.getViewBox().mapSceneToView(scene_pos))
        self.hover.show()

    def leaveEvent(self, event) -> None:
        """The hover box goes when the mouse leaves the plot."""
        self.hover.hide()
        super().leaveEvent(event)
