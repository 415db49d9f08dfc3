"""Every mixture component's character in one row: its weight, the share of test images it explains,
their digits (a class bar with the dominant digit and its purity), samples from it and the test
images it explains best. Components that explain almost nothing fold into one line.

The jobs that compute the rows and their types are components_data's; here is the drawing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.app.clickable_view import ClickableImageView
from vae_explorer.app.image_view import ImageView
from vae_explorer.app.inference import ModelInfo
from vae_explorer.core.colours import PSEUDO_INPUT_COLOUR
from vae_explorer.core.explore import MAX_COMPONENT_SAMPLES, NEGLIGIBLE_WEIGHT, format_weight
from vae_explorer.core.likelihood import IN_USE_SHARE

from .base import Panel
from .components_data import ComponentRows, components_job, row_job, row_order

ROW_HEIGHT = 58  # before the pane's width is known
MIN_ROW_HEIGHT, MAX_ROW_HEIGHT = 22, 120  # the rows scale between these to fill the pane's width
LABEL_WIDTH, BAR_WIDTH = 126, 124
MAX_TYPICAL = 16  # test images shown per component
TICK_GAP_PX = 8  # between two component indices under the weights chart
ORDERS = (("component index", "index"), ("weight", "weight"), ("share of test images", "usage"))
BAR_COLOUR, DOMINANT_COLOUR = QColor("#9ecae1"), QColor("#1f5f99")
WEIGHT_COLOUR, SHARE_COLOUR = "#1f77b4", "#ff7f0e"
SAMPLES_HEADER = "samples from it"
PSEUDO_HEADER = "its pseudo-input u (framed), then samples from q(z|u)"


class ClassBar(QWidget):
    """The digits of the test images a component explains: one bar per digit, the dominant dark."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts: tuple[int, ...] = ()
        self.dominant: int | None = None
        self.setFixedSize(QSize(BAR_WIDTH, ROW_HEIGHT))

    def set_counts(self, counts: tuple[int, ...], dominant: int | None) -> None:
        self.counts, self.dominant = tuple(counts), dominant
        total = sum(self.counts)
        if total:
            parts = [f"{d}: {c / total:.0%}" for d, c in enumerate(self.counts) if c]
            self.setToolTip(f"digits of the {total} test images it explains best\n" + ", ".join(parts))
        else:
            self.setToolTip("it explains no test image")
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        n = max(len(self.counts), 10)
        top = max(self.counts) if self.counts else 0
        label_h = 12
        slot = (self.width() - 4) / n
        font = QFont(painter.font())
        font.setPixelSize(9)
        painter.setFont(font)
        for d in range(n):
            x = 2 + d * slot
            count = self.counts[d] if d < len(self.counts) else 0
            if top and count:
                h = (self.height() - label_h - 4) * count / top
                colour = DOMINANT_COLOUR if d == self.dominant else BAR_COLOUR
                painter.fillRect(QRectF(x + 1, self.height() - label_h - h, slot - 2, h), colour)
            painter.setPen(QColor("#222") if d == self.dominant else QColor("#888"))
            painter.drawText(
                QRectF(x, self.height() - label_h, slot, label_h), Qt.AlignmentFlag.AlignCenter, str(d)
            )
        painter.end()


class RowsArea(QScrollArea):
    """The scroll area of the rows; it tells when its width changes, so the rows can be scaled."""

    resized = Signal()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.resized.emit()


class FoldLine(QLabel):
    """The one line that stands for the unused components; a click shows or hides their rows."""

    clicked = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setStyleSheet("QLabel { color: #555; padding: 4px 2px; }")

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


@dataclass
class Row:
    label: QLabel
    bar: ClassBar
    view: ClickableImageView
    typical: ImageView

    def widgets(self) -> tuple[QWidget, ...]:
        return (self.label, self.bar, self.view, self.typical)

    def place(self, layout: QGridLayout, line: int, visible: bool) -> None:
        """Put the row's widgets on `line` of the rows' grid, shown or folded away."""
        for col, w in enumerate(self.widgets()):
            layout.addWidget(w, line, col)
            w.setVisible(visible)

    def hide(self) -> None:
        for w in self.widgets():
            w.setVisible(False)


class ComponentsPanel(Panel):
    title = "Components"

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.seed = 0
        self.rows: list[Row] = []
        self.weights = np.zeros(0)
        self.order = np.zeros(0, dtype=int)
        self.result: ComponentRows | None = None
        self.unused: set[int] = set()
        self.expanded = False
        # controls
        self.samples = QSpinBox()
        self.samples.setRange(1, MAX_COMPONENT_SAMPLES)
        self.samples.setValue(8)
        self.temperature = QSlider(Qt.Orientation.Horizontal)
        self.temperature.setRange(0, 200)
        self.temperature.setValue(100)
        self.temperature.setMinimumWidth(90)
        self.temperature.setMaximumWidth(200)
        self.temperature_label = QLabel("1.00")
        self.typical_count = QSpinBox()
        self.typical_count.setRange(0, MAX_TYPICAL)
        self.typical_count.setValue(4)
        self.typical_count.setToolTip("test images shown per component: those it explains best")
        self.binary = QCheckBox("Binary samples")
        self.mean_only = QCheckBox("Decoded mean μₖ only")
        self.order_by = QComboBox()
        for text, key in ORDERS:
            self.order_by.addItem(text, key)
        self.resample = QPushButton("Resample all")
        self.resample.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Samples per row"))
        bar.addWidget(self.samples)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Temperature (× σₖ)"))
        bar.addWidget(self.temperature, 1)
        bar.addWidget(self.temperature_label)
        bar.addStretch(1)
        bar.addWidget(self.resample)
        options = QHBoxLayout()
        options.addWidget(self.binary)
        options.addWidget(self.mean_only)
        options.addSpacing(12)
        options.addWidget(QLabel("Sort by"))
        options.addWidget(self.order_by)
        options.addSpacing(12)
        options.addWidget(QLabel("Test images per row"))
        options.addWidget(self.typical_count)
        options.addStretch(1)
        # rows
        self.rows_widget = QWidget()
        self.rows_widget.setWindowTitle("Mixture components")
        grid = QWidget()
        self.rows_layout = QGridLayout(grid)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setVerticalSpacing(2)
        self.rows_layout.setHorizontalSpacing(8)
        self.rows_layout.setColumnStretch(4, 1)  # strips keep their aspect, flush left
        self.headers = [
            QLabel(f"<b>{text}</b>")
            for text in ("component", "digits it explains", SAMPLES_HEADER, "test images it explains best")
        ]
        for col, header in enumerate(self.headers):
            header.setStyleSheet("color: #333;")
            self.rows_layout.addWidget(header, 0, col)
        self.placeholder = QLabel("Samples of each mixture component appear here once a model is loaded.")
        self.placeholder.setStyleSheet("color: #777;")
        outer = QVBoxLayout(self.rows_widget)
        outer.addWidget(grid)
        outer.addWidget(self.placeholder)
        outer.addStretch(1)
        self.fold = FoldLine()
        self.fold.clicked.connect(self.toggle_unused)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #333;")
        scroll = self.scroll = RowsArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_widget)
        scroll.resized.connect(self._fit_rows)
        # weights and usage chart
        self.chart = pg.PlotWidget(background="w")
        self.chart.setWindowTitle("Mixture weights")
        self.chart.setLabel("bottom", "component k")
        self.chart.setLabel("left", "weight wₖ, share of test images")
        self.chart.setTitle("Mixture weights", color="#222", size="10pt")
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.chart.getAxis("left").enableAutoSIPrefix(False)
        self.chart.getPlotItem().getViewBox().sigResized.connect(self._tick_components)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=WEIGHT_COLOUR)
        self.share_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=SHARE_COLOUR)
        self.chart.addItem(self.bars)
        self.chart.addItem(self.share_bars)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        split.setSizes([1000, 200])
        self.chart.setMinimumWidth(180)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addLayout(bar)
        layout.addLayout(options)
        layout.addWidget(self.notice)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        hint = QLabel("Click a row's samples to draw new ones from that component.")
        hint.setStyleSheet("color: #777;")
        layout.addWidget(hint)
        self._show_rows(0)
        self.samples.valueChanged.connect(self.refresh)
        self.typical_count.valueChanged.connect(self.refresh)
        self.temperature.valueChanged.connect(self._temperature_changed)
        self.temperature.sliderReleased.connect(self.refresh)
        for w in (self.binary, self.mean_only):
            w.toggled.connect(self.refresh)
        self.order_by.currentIndexChanged.connect(self._lay_out)
        self.resample.clicked.connect(self.resample_all)

    @property
    def temperature_value(self) -> float:
        return self.temperature.value() / 100.0

    @property
    def sort(self) -> str:
        return self.order_by.currentData()

    def _temperature_changed(self, _value: int) -> None:
        self.temperature_label.setText(f"{self.temperature_value:.2f}")
        if not self.temperature.isSliderDown():
            self.refresh()

    def on_model_loaded(self, info: ModelInfo) -> None:
        self.resample.setEnabled(True)
        self.refresh()

    def resample_all(self) -> None:
        self.seed += 1
        self.refresh()

    def refresh(self) -> None:
        if self.info is None:
            return
        mean_only = self.mean_only.isChecked()
        self.samples.setEnabled(not mean_only)
        self.temperature.setEnabled(not mean_only)
        job = components_job(
            self.samples.value(),
            self.temperature_value,
            self.binary.isChecked(),
            mean_only,
            self.seed,
            self.typical_count.value(),
        )
        if self.result is None:
            self.placeholder.setText("Drawing the components…")
        self.service.submit("components", job, self._show, self._failed)

    def resample_row(self, k: int) -> None:
        if self.info is None or self.mean_only.isChecked():
            return
        self.seed += 1
        job = row_job(
            k, self.samples.value(), self.temperature_value, self.binary.isChecked(), self.seed * 1000 + k
        )
        self.service.submit(f"component-row-{k}", job, self._show_row, self._failed)

    def toggle_unused(self) -> None:
        self.expanded = not self.expanded
        self._lay_out()

    # -- rows -------------------------------------------------------------------------------------
    def _new_row(self) -> Row:
        label = QLabel()
        label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        label.setFixedWidth(LABEL_WIDTH)
        view = ClickableImageView()
        view.setMinimumSize(64, ROW_HEIGHT)
        view.setFixedHeight(ROW_HEIGHT)
        view.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        typical = ImageView()
        typical.setMinimumSize(8, ROW_HEIGHT)
        typical.setFixedHeight(ROW_HEIGHT)
        typical.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        row = Row(label, ClassBar(), view, typical)
        index = len(self.rows)
        view.clicked.connect(lambda _x, _m, r=index: self._row_clicked(r))
        return row

    def _show_rows(self, count: int) -> None:
        while len(self.rows) < count:
            self.rows.append(self._new_row())
        self.placeholder.setVisible(count == 0)
        for header in self.headers:
            header.setVisible(count > 0)

    def _lay_out(self) -> None:
        """Place the rows in the chosen order: the used components first, then the fold line and,
        when it is open, the unused ones."""
        r = self.result
        if r is None:
            return
        shares = None if r.components is None else np.array([c.share for c in r.components])
        self.order = row_order(r.weights, shares, self.sort)
        layout = self.rows_layout
        for w in (self.fold, *(w for row in self.rows for w in row.widgets())):
            layout.removeWidget(w)
        used = [int(k) for k in self.order if int(k) not in self.unused]
        unused = [int(k) for k in self.order if int(k) in self.unused]
        line = 1
        for k in used:
            self.rows[k].place(layout, line, True)
            line += 1
        if unused:
            layout.addWidget(self.fold, line, 0, 1, 5)
            self.fold.setText(self._fold_text(unused))
            self.fold.setVisible(True)
            line += 1
            for k in unused:
                self.rows[k].place(layout, line, self.expanded)
                line += 1
        else:
            self.fold.setVisible(False)
        for k in range(len(r.weights), len(self.rows)):
            self.rows[k].hide()

    def row_height(self) -> int:
        """The height of the rows that makes them fill the pane's width without a horizontal
        scrollbar: the strips keep the images square, so their width follows the height."""
        r = self.result
        if r is None or not len(r.strips):
            return ROW_HEIGHT
        strip_h, strip_w = r.strips.shape[1:]
        typical_w = 0
        if r.components is not None:
            typical_w = max((c.typical.shape[1] for c in r.components if c.typical is not None), default=0)
        spacing = self.rows_layout.horizontalSpacing() * 4
        margins = self.rows_widget.layout().contentsMargins()
        scrollbar = self.scroll.verticalScrollBar().sizeHint().width()
        free = self.scroll.viewport().width() - LABEL_WIDTH - BAR_WIDTH - spacing - scrollbar
        free -= margins.left() + margins.right()
        height = int(free * strip_h / max(strip_w + typical_w, 1))
        return max(MIN_ROW_HEIGHT, min(MAX_ROW_HEIGHT, height))

    def _fit_rows(self) -> None:
        r = self.result
        if r is None:
            return
        h = self.row_height()
        strip_h = r.strips.shape[1]
        for k in range(len(r.weights)):
            row = self.rows[k]
            row.view.setFixedSize(round(h * r.strips[k].shape[1] / strip_h), h)
            typical = row.typical.image()
            row.typical.setFixedSize(round(h * typical.shape[1] / strip_h) if typical is not None else 8, h)
            row.bar.setFixedHeight(h)

    def _fold_text(self, unused: list[int]) -> str:
        r = self.result
        n = len(unused)
        noun = "component" if n == 1 else "components"
        if r.components is not None:
            why = f"each explains under {IN_USE_SHARE:.0%} of the test images"
            if all(r.weights[k] < NEGLIGIBLE_WEIGHT for k in unused):
                why += f", weight below {NEGLIGIBLE_WEIGHT:g}"
        else:
            why = f"weight below {NEGLIGIBLE_WEIGHT:g}"
        arrow = "▾" if self.expanded else "▸"
        action = "click to hide" if self.expanded else "click to show"
        return f"{arrow} <b>{n} {noun} unused</b> ({why}) — {action}"

    def _row_clicked(self, k: int) -> None:
        self.resample_row(k)

    def _failed(self, message: str) -> None:
        """A failed job: say why in the panel instead of leaving the previous model's rows."""
        self.result = None
        for row in self.rows:
            row.hide()
        self.fold.setVisible(False)
        self.placeholder.setText("No components to show (see the message above).")
        self._show_rows(0)
        self.order = np.zeros(0, dtype=int)
        self.summary.setText("")
        self.bars.setOpts(x=[], height=[])
        self.share_bars.setOpts(x=[], height=[])
        self.set_notice(f"<b>Cannot draw the components:</b> {escape(message)}")

    def _show(self, result: ComponentRows) -> None:
        self.set_notice(None)
        self.result = result
        self.weights = result.weights
        self.headers[2].setText(f"<b>{PSEUDO_HEADER if result.pseudo_inputs else SAMPLES_HEADER}</b>")
        k_total = len(result.weights)
        self._show_rows(k_total)
        comps = result.components
        if comps is not None:
            self.unused = {k for k, c in enumerate(comps) if c.share < IN_USE_SHARE}
        else:
            self.unused = {k for k, w in enumerate(result.weights) if w < NEGLIGIBLE_WEIGHT}
        for k in range(k_total):
            row = self.rows[k]
            w = float(result.weights[k])
            unused = k in self.unused
            lines = [f"<b>k = {k}</b>", f"weight {format_weight(w)}"]
            tip = f"component {k}, weight {format_weight(w)}"
            if comps is not None:
                c = comps[k]
                lines.append(f"explains {c.share:.1%}")
                if c.dominant is not None:
                    lines.append(f"digit {c.dominant}, {c.purity:.0%} pure")
                tip += f"; it explains {c.count} of the {result.images} test images best"
                row.bar.set_counts(c.class_counts, c.dominant)
                row.typical.set_image(c.typical)
                row.typical.setToolTip(
                    "the test images whose encoder means this component explains best"
                    if c.typical is not None
                    else "it explains no test image"
                )
            else:
                row.bar.set_counts((), None)
                row.typical.set_image(None)
            row.label.setText("<br>".join(lines))
            row.label.setStyleSheet("color: #999;" if unused else "")
            strip = result.strips[k]
            row.view.set_image(strip)
            row.view.set_marks(result.cells, {0: (PSEUDO_INPUT_COLOUR, "u")} if result.pseudo_inputs else {})
            row.view.setToolTip(
                f"{tip}: click to resample"
                + (
                    "\nThis component explains almost no test image: the model rarely or never samples"
                    " from it, so its samples need not look like digits."
                    if unused
                    else ""
                )
            )
        self._lay_out()
        self._fit_rows()
        self._show_summary()
        self._show_chart()

    def _show_summary(self) -> None:
        r = self.result
        k_total = len(r.weights)
        used = k_total - len(self.unused)
        if r.components is None:
            self.summary.setText(
                f"{used} of {k_total} components have weight ≥ {NEGLIGIBLE_WEIGHT:g}. Usage, digits and "
                "test images need the test images, which cannot be read (see the Real vs generated tab)."
            )
            return
        live = [c for k, c in enumerate(r.components) if k not in self.unused]
        purity = sum(c.share * c.purity for c in r.components if not math.isnan(c.purity))
        digits = sorted({c.dominant for c in live if c.dominant is not None})
        self.summary.setText(
            f"<b>{used} of {k_total} components in use</b> (each explaining at least {IN_USE_SHARE:.0%} of "
            f"the {r.images} test images); purity {purity:.0%} (test images whose component's "
            f"dominant digit is their own); dominant digits: {', '.join(map(str, digits)) or 'none'}."
        )

    def _show_chart(self) -> None:
        r = self.result
        k_total = len(r.weights)
        x = np.arange(k_total)
        self.bars.setOpts(x=x - 0.2, height=r.weights, width=0.4)
        top = float(r.weights.max())
        if r.components is not None:
            shares = np.array([c.share for c in r.components])
            self.share_bars.setOpts(x=x + 0.2, height=shares, width=0.4)
            top = max(top, float(shares.max()))
        else:
            self.share_bars.setOpts(x=[], height=[])
        used = k_total - len(self.unused)
        # the title is the legend: a legend item beside the bars cost more room than it gave
        self.chart.setTitle(
            f"<span style='color:{WEIGHT_COLOUR}'>■</span> weight "
            f"<span style='color:{SHARE_COLOUR}'>■</span> share<br>{used} of {k_total} in use",
            color="#222",
            size="9pt",
        )
        self.chart.setXRange(-0.8, k_total - 0.2, padding=0)
        self._tick_components()
        self.chart.setYRange(0, max(top * 1.15, 1e-3), padding=0)

    def _tick_components(self, *_) -> None:
        """Whole component indices under the bars, as many as fit the chart's width without
        running together (a label and a gap each)."""
        if self.result is None:
            return
        k_total = len(self.result.weights)
        axis = self.chart.getAxis("bottom")
        font = axis.style.get("tickFont") or axis.font()
        label = QFontMetrics(font).horizontalAdvance(str(max(k_total - 1, 0))) + TICK_GAP_PX
        width = self.chart.getPlotItem().getViewBox().width() or self.chart.width()
        step = max(1, math.ceil(k_total / max(1, int(width // label))))
        axis.setTicks([[(k, str(k)) for k in range(0, k_total, step)]])

    def _show_row(self, result: tuple[int, np.ndarray]) -> None:
        k, strip = result
        if k < len(self.rows):
            self.rows[k].view.set_image(strip)

    def row_images(self) -> list[np.ndarray | None]:
        """The sample strips in display order, folded rows included (for tests)."""
        return [self.rows[int(k)].view.image() for k in self.order]

    def export_targets(self):
        return {
            "components": ("Mixture components", self.rows_widget),
            "component_weights": ("Mixture weights", self.chart),
        }
