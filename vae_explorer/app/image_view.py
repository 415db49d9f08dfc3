"""A widget that shows a grey-level numpy image scaled crisply (nearest neighbour) to fit."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from vae_explorer.core.grids import to_uint8


def gray_qimage(image: np.ndarray) -> QImage:
    """[0, 1] float (H, W) -> an independent QImage (Format_Grayscale8)."""
    data = np.ascontiguousarray(to_uint8(image))
    h, w = data.shape
    return QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


class ImageView(QWidget):
    """Paints one image, keeping its aspect ratio; shows `placeholder` text until an image is set."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._array: np.ndarray | None = None
        self.placeholder = placeholder
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(64, 64)

    def set_image(self, image: np.ndarray | None) -> None:
        self._array = None if image is None else np.asarray(image, dtype=np.float32)
        self._image = None if image is None else gray_qimage(self._array)
        self.update()

    def image(self) -> np.ndarray | None:
        return self._array

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(280, 280)

    def image_rect(self) -> QRectF:
        """Where the image is drawn, in widget coordinates."""
        if self._image is None:
            return QRectF()
        w, h = self._image.width(), self._image.height()
        scale = min(self.width() / w, self.height() / h)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        if self._image is None:
            painter.setPen(QColor(128, 128, 128))
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder
            )
        else:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(self.image_rect(), self._image)
        painter.end()
