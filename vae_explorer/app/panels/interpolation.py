"""Walk between two latents (test images, component means or prior samples) and decode the path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.app.clickable_view import ClickableImageView
from vae_explorer.app.image_view import ImageView
from vae_explorer.app.inference import ModelContext, ModelInfo
from vae_explorer.core.config import prior_kind
from vae_explorer.core.explore import MAX_STEPS, decode_latents, encode_means, interpolation_path
from vae_explorer.core.grids import tile, to_images

from .base import Panel, missing_data_text

GALLERY = 16
MODES = {"images": "Two test images", "means": "Two component means", "prior": "Two random prior samples"}


@dataclass(frozen=True)
class PathResult:
    frames: np.ndarray  # (steps, H, W)
    strip: np.ndarray  # the frames tiled in one row
    start: np.ndarray  # (H, W) what the start endpoint is (the test image, or the decoded latent)
    end: np.ndarray
    names: tuple[str, str]  # what the endpoints are, e.g. ("test image #0", "test image #1")
    caption: str  # a one-line description of the whole path


def endpoint_names(mode: str, a: int, b: int) -> tuple[str, str]:
    """What the two endpoints are, for titles and captions."""
    if mode == "images":
        return f"test image #{a}", f"test image #{b}"
    if mode == "means":
        return f"component mean μ{a}", f"component mean μ{b}"
    return "prior sample a", "prior sample b"


def endpoints(
    ctx: ModelContext, mode: str, a: int, b: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(z_a, z_b, picture of a, picture of b) for the chosen kind of endpoint."""
    model, side = ctx.model, ctx.side
    if mode == "images":
        images = ctx.test_images()[[a, b]]
        z = encode_means(model, ctx.test_inputs()[[a, b]])
        pics = images.float().numpy() / 255.0
    elif mode == "means":
        _, means, _ = model.prior.component_params()
        z = means[[a, b]].cpu().numpy()
        pics = decode_latents(model, z)
    else:
        z = model.prior.sample(2, generator=torch.Generator().manual_seed(seed)).cpu().numpy()
        pics = decode_latents(model, z)
    pics = to_images(pics, side)
    return z[0], z[1], pics[0], pics[1]


def path_job(mode: str, a: int, b: int, steps: int, method: str, seed: int):
    def job(ctx: ModelContext) -> PathResult:
        za, zb, pa, pb = endpoints(ctx, mode, a, b, seed)
        latents = interpolation_path(za, zb, steps, method)
        frames = to_images(decode_latents(ctx.model, latents), ctx.side)
        names = endpoint_names(mode, a, b)
        kind = "linear" if method == "linear" else "spherical (slerp)"
        pair = f" (random pair #{seed})" if mode == "prior" else ""
        caption = f"{names[0]} → {names[1]}{pair}: {kind} interpolation, {steps} steps"
        return PathResult(frames, tile(frames, 1, steps, pad=1, fill=0.35), pa, pb, names, caption)

    return job


def gallery_job(count: int):
    def job(ctx: ModelContext) -> tuple[np.ndarray, int]:
        images = ctx.test_images()
        pics = to_images(images[:count].float().numpy() / 255.0, ctx.side)
        return tile(pics, 1, len(pics), pad=1, fill=0.35), len(images)

    return job


class InterpolationPanel(Panel):
    title = "Interpolation"

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(service, parent)
        self.seed = 0
        self.result: PathResult | None = None
        self.mode = QComboBox()
        for key, label in MODES.items():
            self.mode.addItem(label, key)
        self.method = QComboBox()
        self.method.addItem("Linear", "linear")
        self.method.addItem("Spherical (slerp)", "spherical")
        self.steps = QSpinBox()
        self.steps.setRange(2, MAX_STEPS)
        self.steps.setValue(10)
        # endpoint editors, one page per mode
        self.image_a, self.image_b = QSpinBox(), QSpinBox()
        for box, value in ((self.image_a, 0), (self.image_b, 1)):
            box.setRange(0, 9999)
            box.setValue(value)
        self.mean_a, self.mean_b = QSpinBox(), QSpinBox()
        self.mean_b.setValue(1)
        self.mean_a.setToolTip("The mixture component whose mean μₖ starts the path")
        self.mean_b.setToolTip("The mixture component whose mean μₖ ends the path")
        self.new_pair = QPushButton("New random pair")
        self.pages = QStackedWidget()
        self.pages.addWidget(self._pair_page("From image #", self.image_a, "to #", self.image_b))
        self.pages.addWidget(self._pair_page("From mean μ", self.mean_a, "to μ", self.mean_b))
        prior_page = QWidget()
        pl = QHBoxLayout(prior_page)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.new_pair)
        pl.addStretch(1)
        self.pages.addWidget(prior_page)
        self.gallery = ClickableImageView("Test images appear here")
        self.gallery.setFixedHeight(54)
        self.gallery.setToolTip("Click: start image; Shift+click: end image")
        self.gallery_count = 0
        # results
        self.start_view, self.end_view = ImageView("start"), ImageView("end")
        self.current_view = ImageView("Decoded path appears here")
        for v in (self.start_view, self.end_view):
            v.setFixedSize(110, 110)
        self.current_view.setMinimumSize(180, 180)
        self.strip_view = ClickableImageView("")  # placeholder set when a path cannot be drawn
        self.strip_view.setMinimumHeight(40)
        self.strip_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.strip_view.setToolTip("Click a frame to show it large")
        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.start_title, self.end_title = QLabel("<b>Start</b>"), QLabel("<b>End</b>")
        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setEnabled(False)
        self.scrub_label = QLabel("t = –")
        self._build()
        self.mode.currentIndexChanged.connect(self._mode_changed)
        for w in (self.method,):
            w.currentIndexChanged.connect(self.refresh)
        for w in (self.steps, self.image_a, self.image_b, self.mean_a, self.mean_b):
            w.valueChanged.connect(self.refresh)
        self.new_pair.clicked.connect(self._new_pair)
        self.gallery.clicked.connect(self._gallery_clicked)
        self.scrub.valueChanged.connect(self._scrubbed)
        self.strip_view.clicked.connect(self._strip_clicked)

    @staticmethod
    def _pair_page(text_a: str, box_a: QSpinBox, text_b: str, box_b: QSpinBox) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(text_a))
        row.addWidget(box_a)
        row.addWidget(QLabel(text_b))
        row.addWidget(box_b)
        row.addStretch(1)
        return page

    def _build(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Endpoints"))
        controls.addWidget(self.mode)
        controls.addWidget(self.pages, 1)
        controls.addWidget(QLabel("Steps"))
        controls.addWidget(self.steps)
        controls.addWidget(QLabel("Method"))
        controls.addWidget(self.method)
        gallery_box = QGroupBox("Test images (click: start, Shift+click: end)")
        gl = QVBoxLayout(gallery_box)
        gl.addWidget(self.gallery)
        self.figure = QWidget()
        self.figure.setWindowTitle("Interpolation")
        fl = QVBoxLayout(self.figure)
        fl.addWidget(self.caption)
        fl.addWidget(self.strip_view)
        ends = QHBoxLayout()
        for title, view in ((self.start_title, self.start_view), (self.end_title, self.end_view)):
            title.setWordWrap(True)
            title.setFixedWidth(view.width())
            box = QVBoxLayout()
            box.addWidget(title)
            box.addWidget(view)
            box.addStretch(1)
            ends.addLayout(box)
        cur = QVBoxLayout()
        cur.addWidget(QLabel("<b>Along the path</b>"))
        cur.addWidget(self.current_view, 1)
        scrub = QHBoxLayout()
        scrub.addWidget(self.scrub, 1)
        scrub.addWidget(self.scrub_label)
        cur.addLayout(scrub)
        ends.addLayout(cur, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.notice)
        layout.addLayout(controls)
        layout.addWidget(gallery_box)
        layout.addWidget(self.figure)
        layout.addLayout(ends, 1)

    # -- inputs --------------------------------------------------------------------------------
    def _mode_changed(self) -> None:
        self.pages.setCurrentIndex(self.mode.currentIndex())
        self.refresh()

    def _new_pair(self) -> None:
        self.seed += 1
        self.refresh()

    def _gallery_clicked(self, fraction: float, modifiers) -> None:
        if not self.gallery_count:
            return
        index = min(int(fraction * self.gallery_count), self.gallery_count - 1)
        self.mode.setCurrentIndex(self.mode.findData("images"))
        target = self.image_b if modifiers & Qt.KeyboardModifier.ShiftModifier else self.image_a
        target.setValue(index)

    def on_model_loaded(self, info: ModelInfo) -> None:
        k = info.config.model.components if prior_kind(info.config.model.prior).components else 1
        for box in (self.mean_a, self.mean_b):
            box.setRange(0, k - 1)
        if info.data_error is None:
            self.gallery.set_placeholder("Test images appear here")
            self.service.submit(
                "interpolation-gallery", gallery_job(GALLERY), self._show_gallery, self._gallery_failed
            )
        else:  # no stale gallery under the new model's header; the other endpoints still work
            self.service.cancel("interpolation-gallery")
            self._gallery_failed("")
            self.gallery.set_placeholder("Test images not found (see the message above)")
            self.set_notice(
                missing_data_text(
                    info,
                    "the test images and the paths between them",
                    "Paths between component means or prior samples need no "
                    "data: choose them under Endpoints.",
                )
            )
        self.refresh()

    def _gallery_failed(self, message: str) -> None:
        self.gallery.set_image(None)
        self.gallery.set_placeholder(f"Cannot show the test images: {message}")
        self.gallery_count = 0

    def _show_gallery(self, result: tuple[np.ndarray, int]) -> None:
        strip, total = result
        self.gallery.set_image(strip)
        self.gallery_count = min(GALLERY, total)
        for box in (self.image_a, self.image_b):
            box.setMaximum(total - 1)
        self._mark_gallery()

    def _mark_gallery(self) -> None:
        """Frame the start (A, green) and end (B, orange) images in the gallery when the path
        runs between test images shown there."""
        marks = {}
        if self.mode.currentData() == "images":
            marks[self.image_a.value()] = ("#2ca02c", "A")
            b = self.image_b.value()
            marks[b] = ("#ff7f0e", "B") if b != self.image_a.value() else ("#7f7f7f", "=")
        self.gallery.set_marks(self.gallery_count, marks)

    def selection(self) -> tuple[str, int, int]:
        mode = self.mode.currentData()
        if mode == "images":
            return mode, self.image_a.value(), self.image_b.value()
        if mode == "means":
            return mode, self.mean_a.value(), self.mean_b.value()
        return mode, 0, 1

    def refresh(self) -> None:
        self._mark_gallery()
        if self.info is None:
            return
        mode, a, b = self.selection()
        if mode == "images" and not self.has_test_data:
            self.service.cancel("interpolation")
            self.clear_path(
                "Paths between test images need the test images, which were not found: "
                "choose component means or prior samples under Endpoints."
            )
            return
        job = path_job(mode, a, b, self.steps.value(), self.method.currentData(), self.seed)
        self.service.submit("interpolation", job, self._show, self._path_failed)

    def _path_failed(self, message: str) -> None:
        self.clear_path(f"Cannot draw this path: {message}")

    def clear_path(self, message: str) -> None:
        """Drop the drawn path (it belonged to another model or selection) and say why in its place."""
        self.result = None
        self.strip_view.set_image(None)
        self.strip_view.set_placeholder(message)
        self.strip_view.setFixedHeight(60)
        self.caption.setText("")
        self.start_title.setText("<b>Start</b>")
        self.end_title.setText("<b>End</b>")
        for view in (self.start_view, self.end_view, self.current_view):
            view.set_image(None)
        self.scrub.setEnabled(False)
        self.scrub_label.setText("t = –")

    # -- results -------------------------------------------------------------------------------
    def _show(self, result: PathResult) -> None:
        self.result = result
        self.strip_view.set_placeholder("")
        self.strip_view.set_image(result.strip)
        self._fit_strip()
        self.caption.setText(result.caption)
        self.start_title.setText(f"<b>Start</b><br>{result.names[0]}")
        self.end_title.setText(f"<b>End</b><br>{result.names[1]}")
        self.start_view.set_image(result.start)
        self.end_view.set_image(result.end)
        self.scrub.setEnabled(True)
        self.scrub.setRange(0, len(result.frames) - 1)
        self._scrubbed(self.scrub.value())

    def _strip_clicked(self, fraction: float, _modifiers) -> None:
        if self.result is not None:
            self.scrub.setValue(min(int(fraction * len(self.result.frames)), len(self.result.frames) - 1))

    def _fit_strip(self) -> None:
        """Give the strip the height its aspect ratio asks for at the current width (no empty bands)."""
        image = self.strip_view.image()
        if image is not None:
            h, w = image.shape
            self.strip_view.setFixedHeight(max(40, min(220, round(self.strip_view.width() * h / w))))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_strip()

    def _scrubbed(self, step: int) -> None:
        if self.result is None:
            return
        step = min(step, len(self.result.frames) - 1)
        self.current_view.set_image(self.result.frames[step])
        self.scrub_label.setText(
            f"step {step + 1}/{len(self.result.frames)}, t = {step / (len(self.result.frames) - 1):.2f}"
        )

    def export_targets(self):
        return {"interpolation": ("Interpolation strip", self.figure)}
