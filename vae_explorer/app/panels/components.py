"""Every mixture component's samples in a row, its weight beside it, and a bar chart of the weights."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.app.clickable_view import ClickableImageView
from vae_explorer.app.inference import ModelContext, ModelInfo
from vae_explorer.core.explore import (
    MAX_COMPONENT_SAMPLES,
    NEGLIGIBLE_WEIGHT,
    all_components,
    component_means,
    component_order,
    format_weight,
)
from vae_explorer.core.grids import tile, to_images

from .base import Panel

ROW_HEIGHT = 58


@dataclass(frozen=True)
class ComponentRows:
    strips: np.ndarray  # (K, H, W): one tiled strip per component, in component order
    weights: np.ndarray  # (K,)


def _strips(samples: np.ndarray, side: int) -> np.ndarray:
    return np.stack([tile(to_images(s, side), 1, len(s), pad=1, fill=0.35) for s in samples])


def components_job(n: int, temperature: float, binary: bool, mean_only: bool, seed: int):
    def job(ctx: ModelContext) -> ComponentRows:
        weights = ctx.model.prior.component_params()[0].numpy()
        if mean_only:
            samples = component_means(ctx.model, binary, torch.Generator().manual_seed(seed))[:, None, :]
        else:
            samples = all_components(ctx.model, n, temperature, binary, seed)
        return ComponentRows(_strips(samples, ctx.side), weights)

    return job


def row_job(k: int, n: int, temperature: float, binary: bool, seed: int):
    def job(ctx: ModelContext) -> tuple[int, np.ndarray]:
        samples = all_components(ctx.model, n, temperature, binary, seed, components=[k])
        return k, _strips(samples, ctx.side)[0]

    return job


class ComponentsPanel(Panel):
    title = "Components"

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.seed = 0
        self.rows: list[tuple[QLabel, ClickableImageView]] = []
        self.weights = np.zeros(0)
        self.order = np.zeros(0, dtype=int)
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
        self.binary = QCheckBox("Binary samples")
        self.mean_only = QCheckBox("Decoded mean μₖ only")
        self.sort = QCheckBox("Sort by weight")
        self.resample = QPushButton("Resample all")
        self.resample.setEnabled(False)
        # two rows, so the panel (and the window) can be narrow: sampling settings, then display options
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
        for w in (self.binary, self.mean_only, self.sort):
            options.addWidget(w)
        options.addStretch(1)
        # rows
        self.rows_widget = QWidget()
        self.rows_widget.setWindowTitle("Mixture components")
        self.rows_layout = QGridLayout(self.rows_widget)
        self.rows_layout.setVerticalSpacing(2)
        self.rows_layout.setColumnStretch(2, 1)  # strips keep their aspect, flush left
        self.placeholder = QLabel("Samples of each mixture component appear here once a model is loaded.")
        self.placeholder.setStyleSheet("color: #777;")
        self.rows_layout.addWidget(self.placeholder, 0, 0, 1, 3)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_widget)
        # weights chart
        self.chart = pg.PlotWidget(background="w")
        self.chart.setWindowTitle("Mixture weights")
        self.chart.setLabel("bottom", "component k")
        self.chart.setLabel("left", "weight wₖ")
        self.chart.setTitle("Mixture weights", color="#222", size="10pt")
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.chart.getAxis("left").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#1f77b4")
        self.chart.addItem(self.bars)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(bar)
        layout.addLayout(options)
        layout.addWidget(self.notice)
        layout.addWidget(split, 1)
        hint = QLabel("Click a row to draw new samples from that component.")
        hint.setStyleSheet("color: #777;")
        layout.addWidget(hint)
        self.samples.valueChanged.connect(self.refresh)
        self.temperature.valueChanged.connect(self._temperature_changed)
        self.temperature.sliderReleased.connect(self.refresh)
        for w in (self.binary, self.mean_only, self.sort):
            w.toggled.connect(self.refresh)
        self.resample.clicked.connect(self.resample_all)

    @property
    def temperature_value(self) -> float:
        return self.temperature.value() / 100.0

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
        self.samples.setEnabled(not self.mean_only.isChecked())
        self.temperature.setEnabled(not self.mean_only.isChecked())
        job = components_job(
            self.samples.value(),
            self.temperature_value,
            self.binary.isChecked(),
            self.mean_only.isChecked(),
            self.seed,
        )
        self.service.submit("components", job, self._show, self._failed)

    def resample_row(self, k: int) -> None:
        if self.info is None or self.mean_only.isChecked():
            return
        self.seed += 1
        job = row_job(
            k, self.samples.value(), self.temperature_value, self.binary.isChecked(), self.seed * 1000 + k
        )
        self.service.submit(f"component-row-{k}", job, self._show_row, self._failed)

    def _ensure_rows(self, count: int) -> None:
        self.placeholder.setVisible(count == 0)
        while len(self.rows) < count:
            label = QLabel()
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setMinimumWidth(90)
            view = ClickableImageView()
            view.setMinimumSize(64, ROW_HEIGHT)
            view.setFixedHeight(ROW_HEIGHT)
            row = len(self.rows)
            view.clicked.connect(lambda _x, _m, r=row: self._row_clicked(r))
            self.rows_layout.addWidget(label, row + 1, 0)
            self.rows_layout.addWidget(view, row + 1, 1)
            self.rows.append((label, view))
        for i, (label, view) in enumerate(self.rows):
            label.setVisible(i < count)
            view.setVisible(i < count)

    def _row_clicked(self, row: int) -> None:
        if row < len(self.order):
            self.resample_row(int(self.order[row]))

    def _failed(self, message: str) -> None:
        """A failed job: say why in the panel instead of leaving the previous model's rows."""
        self._ensure_rows(0)
        self.order = np.zeros(0, dtype=int)
        self.bars.setOpts(x=[], height=[], width=0.7)
        self.set_notice(f"<b>Cannot draw the components:</b> {escape(message)}")

    def _show(self, result: ComponentRows) -> None:
        self.set_notice(None)
        self.weights = result.weights
        self.order = component_order(result.weights, self.sort.isChecked())
        self._ensure_rows(len(self.order))
        for row, k in enumerate(self.order):
            label, view = self.rows[row]
            w = float(result.weights[k])
            unused = w < NEGLIGIBLE_WEIGHT
            label.setText(
                f"<b>k = {k}</b><br>w = {format_weight(w)}" + ("<br><i>unused</i>" if unused else "")
            )
            label.setStyleSheet("color: #999;" if unused else "")
            view.set_image(result.strips[k])
            view.setFixedWidth(round(ROW_HEIGHT * result.strips[k].shape[1] / result.strips[k].shape[0]))
            view.setToolTip(
                f"component {k}, weight {format_weight(w)}: click to resample"
                + (
                    "\nThe prior gives this component almost no weight: the model never samples"
                    " from it, so its samples need not look like digits."
                    if unused
                    else ""
                )
            )
        used = int((result.weights >= NEGLIGIBLE_WEIGHT).sum())
        self.chart.setTitle(
            f"Mixture weights ({used} of {len(result.weights)} components in use)", color="#222", size="10pt"
        )
        self.bars.setOpts(x=np.arange(len(result.weights)), height=result.weights, width=0.7)
        self.chart.setXRange(-0.6, len(result.weights) - 0.4, padding=0)
        step = max(1, math.ceil(len(result.weights) / 16))  # whole component indices only, at most ~16
        self.chart.getAxis("bottom").setTicks([[(k, str(k)) for k in range(0, len(result.weights), step)]])
        self.chart.setYRange(0, max(float(result.weights.max()) * 1.1, 1e-3), padding=0)

    def _show_row(self, result: tuple[int, np.ndarray]) -> None:
        k, strip = result
        rows = list(self.order)
        if k in rows:
            self.rows[rows.index(k)][1].set_image(strip)

    def row_images(self) -> list[np.ndarray | None]:
        """The strips as shown, top to bottom (for tests)."""
        return [view.image() for _, view in self.rows[: len(self.order)]]

    def export_targets(self):
        return {
            "components": ("Mixture components", self.rows_widget),
            "component_weights": ("Mixture weights", self.chart),
        }
