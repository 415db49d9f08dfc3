"""16 real test images beside 16 generated ones, 4x4 each, refreshed on every new best model."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.app.image_view import ImageView
from vae_explorer.app.inference import ModelContext, ModelInfo
from vae_explorer.core.explore import prior_samples
from vae_explorer.core.grids import tile, to_images

from .base import Panel, missing_data_text


def real_images_job():
    """A job: the first 16 test images as a 4x4 grid (needs the test data)."""

    def job(ctx: ModelContext) -> np.ndarray:
        real = ctx.test_images()[:16].float().numpy() / 255.0
        return tile(to_images(real, ctx.side), 4, 4)

    return job


def generated_job(seed: int, binary: bool):
    """A job: 16 samples from the prior as a 4x4 grid (needs no data)."""

    def job(ctx: ModelContext) -> np.ndarray:
        generated = prior_samples(ctx.model, 16, seed, binary)
        return tile(to_images(generated, ctx.side), 4, 4)

    return job


class RealVsGeneratedPanel(Panel):
    title = "Real vs generated"

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.seed = 0
        self.figure = QWidget()
        self.figure.setWindowTitle("Real vs generated")
        self.real_placeholder = "Real test images appear here"
        self.real_view = ImageView(self.real_placeholder)
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
        bar.addWidget(self.header, 1)
        bar.addWidget(self.binary)
        bar.addWidget(self.resample)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.notice)
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
        if info.data_error is None:
            self.real_view.set_placeholder(self.real_placeholder)
            self.service.submit("real-images", real_images_job(), self.real_view.set_image, self._real_failed)
        else:  # never leave the previous model's images under this model's header
            self.service.cancel("real-images")
            self.real_view.set_image(None)
            self.real_view.set_placeholder("Test images not found (see the message above)")
            self.set_notice(missing_data_text(info, "the real test images"))
        self.refresh()

    def on_resample(self) -> None:
        self.seed += 1
        self.refresh()

    def refresh(self) -> None:
        if self.info is None:
            return
        self.service.submit(
            "generated-images",
            generated_job(self.seed, self.binary.isChecked()),
            self.generated_view.set_image,
            self._generated_failed,
        )

    def _real_failed(self, message: str) -> None:
        self.real_view.set_image(None)
        self.real_view.set_placeholder(f"Cannot show the real test images: {message}")

    def _generated_failed(self, message: str) -> None:
        self.generated_view.set_image(None)
        self.generated_view.set_placeholder(f"Cannot draw samples: {message}")

    def export_targets(self):
        return {
            "real_images": ("Real images", self.real_box),
            "generated_images": ("Generated images", self.generated_box),
        }
