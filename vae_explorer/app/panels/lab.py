"""The Lab tab: a 2-D model seen exactly. Click a test image: its true posterior p(z|x) as a heat
map under q(z|x)'s 1/2/3-sigma ellipses and the prior's components, its exact -log p(x) beside
the IW-k bounds and the ELBO, and the IW-k bound against k closing on the exact value; beside
them the decoded latent plane with the prior's and the aggregate posterior's density contours.
The maths is core.lab's, run as jobs on the inference worker; this module only draws."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QSplitter, QVBoxLayout, QWidget

from vae_explorer.app.image_view import ImageView
from vae_explorer.app.inference import ModelContext, ModelInfo
from vae_explorer.core.grids import tile
from vae_explorer.core.lab import (
    BOUND_DRAWS,
    MASS_LEVELS,
    Manifold,
    PosteriorView,
    manifold,
    posterior_view,
)

from .base import Panel, missing_data_text

PICK_COLUMNS, PICK_ROWS = 6, 8  # test images offered for a click
AGGREGATE_IMAGES = 10_000  # test images in the aggregate posterior (all of MNIST's)
LAB_SEED = 0  # the bound's draws: the same numbers for the same model and image
SHOWN_KS = (1, 10, 100, 1000, 5000)
# heat map colours: white where there is no posterior mass, so the plot's background shows
HEAT = pg.ColorMap([0.0, 0.25, 0.6, 1.0], ["#ffffff", "#fdd49e", "#e34a33", "#7f0000"])
Q_COLOUR = "#1f4e9c"
PRIOR_COLOUR = "#444444"
AGGREGATE_COLOUR = "#00a0c0"
PRIOR_CONTOUR = "#ff9f1c"
NUMBERS_NOTE = (
    f"IW-k and the ELBO come from {BOUND_DRAWS:,} draws from q(z|x); IW-k is averaged over their "
    "blocks of k (± its standard error over the blocks). It is an upper bound on −log p(x) in "
    "expectation: one estimate can fall below it where the weights are heavy-tailed."
)
NOT_2D = (
    "The lab shows a model with a 2-D latent space exactly: train one with the “2-D lab” preset "
    "(Edit → Settings → Preset), or open a 2-D checkpoint."
)


NOT_CATEGORICAL = (
    "The lab does not draw a model with the categorical likelihood: its 256 logits a pixel make "
    "each image's exact posterior take minutes and gigabytes on this tab's worker. Train the “2-D "
    "lab” preset with the Bernoulli or Gaussian likelihood, or use evaluate --exact on the CLI."
)


def applies_to(info: ModelInfo | None) -> bool:
    """The lab draws 2-D models, of a likelihood whose exact posterior takes seconds."""
    return info is None or why_not(info) is None


def why_not(info: ModelInfo) -> str | None:
    if info.config.model.latent_dim != 2:
        return NOT_2D
    if info.config.model.likelihood == "categorical":
        return NOT_CATEGORICAL
    return None


@dataclass(frozen=True)
class Contours:
    """Contour lines of one density: per level, (x, y) with NaN between separate pieces."""

    levels: tuple[float, ...]
    lines: tuple[tuple[np.ndarray, np.ndarray], ...]


@dataclass(frozen=True)
class ManifoldFigure:
    data: Manifold
    prior: Contours
    aggregate: Contours


def contour_lines(density: np.ndarray, levels, extent) -> Contours:
    """Iso-lines of `density` ((n, n), z2 down the rows) at `levels`, in latent coordinates."""
    lo1, hi1, lo2, hi2 = extent
    n = density.shape[0]
    lines = []
    for level in levels:
        pieces = pg.functions.isocurve(density.T.astype(np.float64), float(level), connected=True)
        xs, ys = [], []
        for piece in pieces:
            p = np.asarray(piece, dtype=np.float64)
            # isocurve puts value [i, j] at (i, j); the grid's point i is the centre of cell i
            xs.extend([*(lo1 + (p[:, 0] + 0.5) * (hi1 - lo1) / n), np.nan])
            ys.extend([*(lo2 + (p[:, 1] + 0.5) * (hi2 - lo2) / n), np.nan])
        lines.append((np.array(xs), np.array(ys)))
    return Contours(tuple(float(v) for v in levels), tuple(lines))


def pick_images_job(count: int):
    """The first `count` test images as the model scores them (binarised for the Bernoulli
    likelihood, grey levels for the Gaussian one), tiled for picking."""

    def job(ctx: ModelContext) -> np.ndarray:
        scale = 255.0 if ctx.config.model.likelihood == "categorical" else 1.0  # grey levels 0..255
        x = ctx.test_inputs()[:count].float().cpu().numpy() / scale
        images = x.reshape(len(x), ctx.side, ctx.side)
        if len(images) < count:
            images = np.concatenate([images, np.zeros((count - len(images), ctx.side, ctx.side))])
        return tile(images, PICK_ROWS, PICK_COLUMNS)

    return job


def posterior_job(index: int):
    def job(ctx: ModelContext) -> tuple[PosteriorView, int]:
        x1 = ctx.test_inputs()[index : index + 1]
        view = posterior_view(ctx.model, x1, index, ctx.side, torch.Generator().manual_seed(LAB_SEED))
        return view, int(ctx.test_labels()[index])

    return job


def manifold_job():
    def job(ctx: ModelContext) -> ManifoldFigure:
        data = manifold(ctx.model, ctx.test_inputs()[:AGGREGATE_IMAGES], ctx.side)
        return ManifoldFigure(
            data,
            contour_lines(data.prior, data.prior_levels, data.extent),
            contour_lines(data.aggregate, data.aggregate_levels, data.extent),
        )

    return job


class PickGrid(ImageView):
    """A grid of test images, drawn at the top of its space; a click picks one (its cell is framed)."""

    picked = Signal(int)

    def __init__(self, rows: int, columns: int) -> None:
        super().__init__("Test images appear here")
        self.rows, self.columns = rows, columns
        self.selected: int | None = None
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def image_rect(self) -> QRectF:
        rect = super().image_rect()
        return rect.translated(0, -rect.y()) if not rect.isEmpty() else rect

    def cell_at(self, x: float, y: float) -> int | None:
        rect = self.image_rect()
        if rect.isEmpty() or not rect.contains(x, y):
            return None
        col = int((x - rect.x()) / rect.width() * self.columns)
        row = int((y - rect.y()) / rect.height() * self.rows)
        return min(row, self.rows - 1) * self.columns + min(col, self.columns - 1)

    def cell_centre(self, index: int) -> tuple[float, float]:
        rect = self.image_rect()
        row, col = divmod(index, self.columns)
        return (
            rect.x() + (col + 0.5) * rect.width() / self.columns,
            rect.y() + (row + 0.5) * rect.height() / self.rows,
        )

    def mousePressEvent(self, event) -> None:
        cell = self.cell_at(event.position().x(), event.position().y())
        if cell is not None and event.button() == Qt.MouseButton.LeftButton:
            self.picked.emit(cell)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.selected is None or self.image() is None or self.selected >= self.rows * self.columns:
            return
        rect = self.image_rect()
        w, h = rect.width() / self.columns, rect.height() / self.rows
        row, col = divmod(self.selected, self.columns)
        painter = QPainter(self)
        painter.setPen(QPen(QColor("#e34a33"), 3))
        painter.drawRect(QRectF(rect.x() + col * w + 1, rect.y() + row * h + 1, w - 2, h - 2))
        painter.end()


def _plot(title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setTitle(title, color="#222", size="10pt")
    plot.showGrid(x=True, y=True, alpha=0.2)
    for axis in ("left", "bottom"):
        plot.getPlotItem().getAxis(axis).enableAutoSIPrefix(False)
    plot.setMinimumSize(200, 160)
    return plot


def _legend_below(plot: pg.PlotWidget, columns: int) -> pg.LegendItem:
    """A legend in the plot's grid under its x-axis, `columns` entries a row: over the view box it
    hid the top of the posterior and of the decoded plane. Part of the plot, it is exported with it."""
    legend = pg.LegendItem(offset=None, labelTextColor="#222", colCount=columns, horSpacing=12)
    # under the axes, across the plot's three columns (left axis, view box, right axis)
    plot.getPlotItem().layout.addItem(legend, 4, 0, 1, 3, alignment=Qt.AlignmentFlag.AlignHCenter)
    return legend


def _inside(xs: np.ndarray, ys: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """The points outside `box` ((x0, x1), (y0, y1)) made NaN: a line drawn with
    connect="finite" stops at the box's edge."""
    (x0, x1), (y0, y1) = box
    out = ~((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1))
    return np.where(out, np.nan, xs), np.where(out, np.nan, ys)


def _ellipse(mean, std, scale: float, points: int = 90) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, points)
    return mean[0] + scale * std[0] * np.cos(t), mean[1] + scale * std[1] * np.sin(t)


class LabPanel(Panel):
    title = "Lab"
    not_applicable = NOT_2D  # the tab's tooltip while a model it cannot draw is shown

    @staticmethod
    def applies_to(info: ModelInfo | None) -> bool:
        return applies_to(info)

    @staticmethod
    def why_not(info: ModelInfo) -> str | None:
        return why_not(info)

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.view: PosteriorView | None = None
        self.digit: int | None = None
        self.figure: ManifoldFigure | None = None
        self.index = 0
        # picking a test image
        self.grid = PickGrid(PICK_ROWS, PICK_COLUMNS)
        self.grid.setMinimumSize(150, 200)
        self.grid.picked.connect(self.pick)
        self.spin = QSpinBox()
        self.spin.setRange(0, 9999)
        self.spin.setKeyboardTracking(False)
        self.spin.setToolTip("Any test image, by its index in the test set")
        self.spin.valueChanged.connect(self.pick)
        self.numbers = QLabel("Click a test image.")
        self.numbers.setTextFormat(Qt.TextFormat.RichText)
        self.numbers.setWordWrap(True)
        self.numbers.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.numbers.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.numbers.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.numbers.setToolTip(NUMBERS_NOTE)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.pick_title = pick_title = QLabel("<b>Test images</b> (binarised): click one")
        pick_title.setWordWrap(True)
        lv.addWidget(pick_title)
        lv.addWidget(self.grid, 3)
        row = QHBoxLayout()
        row.addWidget(QLabel("Image #"))
        row.addWidget(self.spin, 1)
        lv.addLayout(row)
        lv.addWidget(self.numbers, 2)
        left.setMinimumWidth(190)
        # the figures
        self.posterior_plot = _plot("True posterior p(z|x), q(z|x) and the prior")
        self.posterior_plot.setWindowTitle("Lab: true posterior")
        self.posterior_plot.setAspectLocked(True, 1.0)
        self.posterior_plot.setLabel("bottom", "z₁")
        self.posterior_plot.setLabel("left", "z₂")
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setLookupTable(HEAT.getLookupTable(nPts=256))
        self.posterior_plot.addItem(self.heat)
        legend = _legend_below(self.posterior_plot, 2)
        # legend keys are scatter items: a PlotDataItem's key takes its colour from its data
        self.heat_key = pg.ScatterPlotItem(symbol="s", size=10, brush=pg.mkBrush("#e34a33"), pen=None)
        self.posterior_plot.addItem(self.heat_key, ignoreBounds=True)
        legend.addItem(self.heat_key, "p(z|x) (colour: √)")
        self.q_curves = [
            pg.PlotDataItem([], [], pen=pg.mkPen(Q_COLOUR, width=2, style=style))
            for style in (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine)
        ]
        for curve in self.q_curves:
            self.posterior_plot.addItem(curve)
        legend.addItem(self.q_curves[0], "q(z|x): 1, 2, 3 σ")
        self.prior_curves = pg.PlotDataItem(
            [], [], pen=pg.mkPen(PRIOR_COLOUR, width=1, style=Qt.PenStyle.DashLine)
        )
        self.prior_marks = pg.ScatterPlotItem(
            symbol="+", size=12, pen=pg.mkPen(PRIOR_COLOUR, width=2), brush=None
        )
        self.posterior_plot.addItem(self.prior_curves, ignoreBounds=True)
        self.posterior_plot.addItem(self.prior_marks, ignoreBounds=True)
        legend.addItem(self.prior_marks, "prior components, 1 σ")

        self.bound_plot = _plot("The bound tightening: IW-k against k")
        self.bound_plot.setWindowTitle("Lab: bound tightening")
        self.bound_plot.setLogMode(x=True, y=False)
        self.bound_plot.setLabel("bottom", "k (importance samples)")
        self.bound_plot.setLabel("left", "−log p(x) and its bounds, nats")
        blegend = _legend_below(self.bound_plot, 2)
        self.exact_line = pg.PlotDataItem([], [], pen=pg.mkPen("#2ca02c", width=2))
        self.iw_curve = pg.PlotDataItem(
            [], [], pen=pg.mkPen("#d62728", width=2), symbol="o", symbolSize=6, symbolBrush="#d62728"
        )
        self.gap_fill = pg.FillBetweenItem(self.iw_curve, self.exact_line, brush=pg.mkBrush(214, 39, 40, 50))
        # +- one standard error of each IW-k over its blocks of draws (x in log10 units: error
        # bars are not transformed by the log axis)
        self.iw_errors = pg.ErrorBarItem(
            x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), pen=pg.mkPen("#d62728")
        )
        self.bound_plot.addItem(self.gap_fill)
        self.bound_plot.addItem(self.exact_line)
        self.bound_plot.addItem(self.iw_curve)
        self.bound_plot.addItem(self.iw_errors)
        blegend.addItem(self.iw_curve, "IW-k (k = 1: −ELBO)")
        blegend.addItem(self.exact_line, "exact −log p(x)")
        # a FillBetweenItem in a legend crashes pyqtgraph's painting: a square of its colour instead
        self.gap_key = pg.ScatterPlotItem(symbol="s", size=10, brush=pg.mkBrush(214, 39, 40, 90), pen=None)
        self.bound_plot.addItem(self.gap_key, ignoreBounds=True)
        blegend.addItem(self.gap_key, "gap (k = 1: KL(q ‖ p(z|x)))")

        self.manifold_plot = _plot("Decoded plane, p(z) and the aggregate posterior")
        self.manifold_plot.setWindowTitle("Lab: manifold")
        self.manifold_plot.setAspectLocked(True, 1.0)
        self.manifold_plot.setLabel("bottom", "z₁")
        self.manifold_plot.setLabel("left", "z₂")
        self.tiles = pg.ImageItem(axisOrder="row-major")
        self.tiles.setLookupTable(np.array([[g, g, g] for g in range(256)], dtype=np.uint8))
        self.tiles.setOpacity(0.85)
        self.manifold_plot.addItem(self.tiles)
        mlegend = _legend_below(self.manifold_plot, 1)
        widths = (2.5, 1.5)
        self.prior_lines = [
            pg.PlotDataItem(
                [], [], pen=pg.mkPen(PRIOR_CONTOUR, width=w, style=Qt.PenStyle.DashLine), connect="finite"
            )
            for w in widths
        ]
        self.aggregate_lines = [
            pg.PlotDataItem([], [], pen=pg.mkPen(AGGREGATE_COLOUR, width=w), connect="finite") for w in widths
        ]
        for item in (*self.prior_lines, *self.aggregate_lines):
            self.manifold_plot.addItem(item, ignoreBounds=True)
        shares = "/".join(f"{int(s * 100)}" for s in MASS_LEVELS)
        mlegend.addItem(self.prior_lines[0], f"prior p(z): {shares}% mass")
        mlegend.addItem(self.aggregate_lines[0], f"aggregate posterior: {shares}%")
        self.prior_means = pg.ScatterPlotItem(
            symbol="+", size=12, pen=pg.mkPen(PRIOR_CONTOUR, width=2.5), brush=None
        )
        self.manifold_plot.addItem(self.prior_means, ignoreBounds=True)
        mlegend.addItem(self.prior_means, "prior means")
        # each plot follows its data's extent (the heat map and q's ellipses, the decoded plane),
        # also when the tab is resized after drawing
        for plot in (self.posterior_plot, self.bound_plot, self.manifold_plot):
            plot.getPlotItem().getViewBox().enableAutoRange()
        self.prior_xy = (np.zeros(0), np.zeros(0))
        self.posterior_plot.getPlotItem().getViewBox().sigRangeChanged.connect(self._clip_posterior)
        self.manifold_plot.getPlotItem().getViewBox().sigRangeChanged.connect(self._clip_manifold)

        middle = QSplitter(Qt.Orientation.Vertical)
        middle.addWidget(self.posterior_plot)
        middle.addWidget(self.bound_plot)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(self.manifold_plot)
        self.splitter.setStretchFactor(0, 1)  # a larger window makes the test images larger too
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 3)
        self.splitter.setSizes([215, 405, 405])
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)

    # -- the model ------------------------------------------------------------------------------
    def on_model_loaded(self, info: ModelInfo) -> None:
        if not applies_to(info):
            self.clear()
            self.set_notice(escape(why_not(info) or NOT_2D))
            return
        if info.data_error is not None:
            self.clear()
            self.set_notice(missing_data_text(info, "the lab's figures"))
            return
        shown = "binarised" if info.config.model.likelihood == "bernoulli" else "grey levels"
        self.pick_title.setText(f"<b>Test images</b> ({shown}): click one")
        cap = (info.config.data.limit_test or 10_000) - 1
        self.spin.blockSignals(True)
        self.spin.setRange(0, max(cap, 0))
        self.spin.blockSignals(False)
        self.index = min(self.index, max(cap, 0))
        self.service.submit(
            "lab-images", pick_images_job(PICK_ROWS * PICK_COLUMNS), self._show_images, self._failed
        )
        self.service.submit("lab-manifold", manifold_job(), self._show_manifold, self._failed)
        self.refresh_posterior()

    def pick(self, index: int) -> None:
        if not 0 <= index <= self.spin.maximum():  # a blank cell after the last test image
            return
        self.index = int(index)
        self.spin.blockSignals(True)
        self.spin.setValue(self.index)
        self.spin.blockSignals(False)
        self.grid.selected = self.index
        self.grid.update()
        self.refresh_posterior()

    def refresh_posterior(self) -> None:
        if self.info is None or not applies_to(self.info) or self.info.data_error is not None:
            return
        computing = f"<i>Computing image #{self.index}…</i>"
        if self.view is not None and self.view.index == self.index and self.digit is not None:
            # the old model's numbers stay beside its figures until the new ones come
            computing += "<br>" + self.numbers_html(self.view, self.digit)
        self.numbers.setText(computing)
        self.service.submit("lab-posterior", posterior_job(self.index), self._show_posterior, self._failed)

    def clear(self) -> None:
        for key in ("lab-images", "lab-posterior", "lab-manifold"):
            self.service.cancel(key)
        self.view = self.figure = None
        self.grid.set_image(None)
        self.heat.clear()
        for item in (
            *self.q_curves,
            self.prior_curves,
            self.exact_line,
            self.iw_curve,
            *self.prior_lines,
            *self.aggregate_lines,
        ):
            item.setData([], [])
        self.iw_errors.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
        self.prior_marks.setData([], [])
        self.prior_means.setData([], [])
        self.tiles.clear()
        self.numbers.setText("")

    def _failed(self, message: str) -> None:
        self.set_notice(f"<b>Cannot draw the lab:</b> {escape(message)}")

    # -- drawing --------------------------------------------------------------------------------
    def _show_images(self, tiles: np.ndarray) -> None:
        self.grid.selected = self.index
        self.grid.set_image(tiles)

    def _show_posterior(self, result: tuple[PosteriorView, int]) -> None:
        view, digit = result
        self.view, self.digit = view, digit
        lo1, hi1, lo2, hi2 = view.extent
        # the square root shows a second mode of a tenth of the first's height, still exact in its shape
        shown = np.sqrt(view.density)
        self.heat.setImage(shown, autoLevels=False, levels=(0.0, float(shown.max())))
        self.heat.setRect(QRectF(lo1, lo2, hi1 - lo1, hi2 - lo2))
        for scale, curve in enumerate(self.q_curves, 1):
            curve.setData(*_ellipse(view.q_mean, view.q_std, scale))
        xs, ys = [], []
        for mean, std in zip(view.prior_means, view.prior_stds):
            ex, ey = _ellipse(mean, std, 1.0, 120)
            xs.extend([*ex, np.nan])
            ys.extend([*ey, np.nan])
        self.prior_xy = (np.array(xs), np.array(ys))
        self.posterior_plot.getPlotItem().getViewBox().enableAutoRange()
        self._clip_posterior()
        nll = -view.log_px
        self.exact_line.setData([float(view.ks[0]), float(view.ks[-1])], [nll, nll])
        self.iw_curve.setData(view.ks.astype(float), -view.iw_bounds)
        self.iw_errors.setData(
            x=np.log10(view.ks.astype(float)), y=-view.iw_bounds, height=2 * view.iw_stderr, beam=0.04
        )
        self.bound_plot.getPlotItem().getViewBox().enableAutoRange()
        self.numbers.setText(self.numbers_html(view, digit))

    @staticmethod
    def numbers_html(view: PosteriorView, digit: int) -> str:
        state = (
            f"converged on {view.grid_points}² points"
            if view.converged
            else f"<b>not converged</b> ({view.grid_points}² points, last change {view.change:.1e})"
        )
        rows = [
            f"<tr><td style='white-space:nowrap'>exact −log p(x)</td><td align=right><b>{-view.log_px:.2f}</b></td></tr>"
        ]
        ks = list(view.ks)
        for k in SHOWN_KS:
            if k in ks:
                err = view.iw_stderr[ks.index(k)]
                spread = f"&nbsp;±&nbsp;{err:.2f}" if err > 0 else ""
                rows.append(f"<tr><td>IW-{k:,}</td><td align=right>{-view.iw(k):.2f}{spread}</td></tr>")
        rows.append(f"<tr><td>−ELBO</td><td align=right>{-view.elbo:.2f}</td></tr>")
        rows.append(f"<tr><td>gap: KL(q ‖ p(z|x))</td><td align=right>{view.gap:.2f}</td></tr>")
        return (
            f"<b>Test image #{view.index}</b> (digit {digit})<br>"
            f"<table cellspacing=0 cellpadding=1>{''.join(rows)}</table>"
            f"<span style='color:#555; font-size:8pt'>nats; quadrature {state}; IW-k and ELBO "
            f"from {BOUND_DRAWS:,} draws from q(z|x) (hover for more)</span>"
        )

    def _show_manifold(self, figure: ManifoldFigure) -> None:
        self.figure = figure
        data = figure.data
        lo1, hi1, lo2, hi2 = data.extent
        self.tiles.setImage(
            (np.ascontiguousarray(data.tiles[::-1]) * 255).astype(np.uint8), autoLevels=False, levels=(0, 255)
        )
        self.tiles.setRect(QRectF(lo1, lo2, hi1 - lo1, hi2 - lo2))
        for items, contours in ((self.prior_lines, figure.prior), (self.aggregate_lines, figure.aggregate)):
            for item, (xs, ys) in zip(items, contours.lines):
                item.setData(xs, ys, connect="finite")
        self.manifold_plot.getPlotItem().getViewBox().enableAutoRange()
        self._clip_manifold()

    # The prior's marks lie where they lie, the view follows the data: SVG keeps no clipping
    # (QSvgGenerator writes none), so what lies outside the view is cut here, for the screen and
    # every export alike, whenever the view moves.
    def _clip_posterior(self, *_range) -> None:
        if self.view is None:
            return
        box = self.posterior_plot.getPlotItem().getViewBox().viewRange()
        self.prior_curves.setData(*_inside(*self.prior_xy, box), connect="finite")
        means = self.view.prior_means
        keep = np.isfinite(_inside(means[:, 0], means[:, 1], box)[0])
        self.prior_marks.setData(means[keep, 0], means[keep, 1])

    def _clip_manifold(self, *_range) -> None:
        if self.figure is None:
            return
        box = self.manifold_plot.getPlotItem().getViewBox().viewRange()
        means = self.figure.data.prior_means
        keep = np.isfinite(_inside(means[:, 0], means[:, 1], box)[0])
        self.prior_means.setData(means[keep, 0], means[keep, 1])

    def export_targets(self) -> dict[str, tuple[str, QWidget]]:
        if not applies_to(self.info):
            return {}
        return {
            "lab_posterior": ("Lab: true posterior", self.posterior_plot),
            "lab_bound": ("Lab: bound tightening", self.bound_plot),
            "lab_manifold": ("Lab: manifold", self.manifold_plot),
        }
