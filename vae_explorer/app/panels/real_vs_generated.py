"""16 real test images beside 16 generated ones, 4x4 each, refreshed on every new best model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.core.grids import tile, to_images

from ..image_view import ImageView
from ..inference import ModelContext, ModelInfo
from .base import Panel


@dataclass(frozen=True)
class GridPair:
    real: np.ndarray
    generated: np.ndarray


def real_and_generated(seed: int, binary: bool):
    """A job: the first 16 test images and 16 samples from the prior, as 4x4 grids."""

    def job(ctx: ModelContext) -> GridPair:
        side = ctx.side
        real = ctx.test_images()[:16].float().numpy() / 255.0
        torch.manual_seed(seed)
        generated = ctx.model.sample(16, binary=binary).numpy()
        return GridPair(tile(to_images(real, side), 4, 4), tile(to_images(generated, side), 4, 4))

    return job


class RealVsGeneratedPanel(Panel):
    title = "Real vs generated"

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.seed = 0
        self.figure = QWidget()
        self.figure.setWindowTitle("Real vs generated")
        self.real_view = ImageView("Real test images appear here")
        self.generated_view = ImageView("Generated images appear here")
        self.real_box = self._titled("16 real test images", self.real_view)
        self.generated_box = self._titled("16 generated images", self.generated_view)
        grid = QGridLayout(self.figure)
        grid.addWidget(self.real_box, 0, 0)
        grid.addWidget(self.generated_box, 0, 1)
        self.resample = QPushButton("Resample")
        self.resample.setToolTip("Draw 16 new samples from the prior")
        self.resample.setEnabled(False)
        self.resample.clicked.connect(self.on_resample)
        self.binary = QCheckBox("Binary samples")
        self.binary.setToolTip("Show Bernoulli draws instead of the decoder's pixel probabilities")
        self.binary.toggled.connect(lambda _: self.refresh())
        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.binary)
        bar.addWidget(self.resample)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.figure, 1)

    @staticmethod
    def _titled(text: str, view: ImageView) -> QWidget:
        box = QWidget()
        label = QLabel(text)
        label.setStyleSheet("font-weight: bold;")
        v = QVBoxLayout(box)
        v.setContentsMargins(4, 4, 4, 4)
        v.addWidget(label)
        v.addWidget(view, 1)
        return box

    def on_model_loaded(self, info: ModelInfo) -> None:
        self.resample.setEnabled(True)
        self.refresh()

    def on_resample(self) -> None:
        self.seed += 1
        self.refresh()

    def refresh(self) -> None:
        if self.info is None:
            return
        self.service.submit("real-vs-generated", real_and_generated(self.seed, self.binary.isChecked()),
                            self._show)

    def _show(self, grids: GridPair) -> None:
        self.real_view.set_image(grids.real)
        self.generated_view.set_image(grids.generated)

    def export_targets(self):
        return {
            "real_images": ("Real images", self.real_box),
            "generated_images": ("Generated images", self.generated_box),
        }
