"""A widget that shows a grey-level numpy image scaled crisply (nearest neighbour) to fit."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
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
        # frames around cells of a one-row strip of `_cells` images: {cell: (colour, letter)}
        self._cells = 0
        self.marks: dict[int, tuple[str, str]] = {}
        self.placeholder = placeholder
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(64, 64)

    def set_image(self, image: np.ndarray | None) -> None:
        self._array = None if image is None else np.asarray(image, dtype=np.float32)
        self._image = None if image is None else gray_qimage(self._array)
        self.update()

    def image(self) -> np.ndarray | None:
        return self._array

    def set_marks(self, cells: int, marks: dict[int, tuple[str, str]]) -> None:
        """Frame cells of the image, taken as a row of `cells` equal images, each in its colour
        with a letter in its corner (the chosen start and end of a path)."""
        self._cells, self.marks = cells, dict(marks)
        self.update()

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
            rect = self.image_rect()
            painter.drawImage(rect, self._image)
            if self._cells and self.marks:
                width = rect.width() / self._cells
                for cell, (colour, letter) in self.marks.items():
                    if 0 <= cell < self._cells:
                        box = QRectF(rect.x() + cell * width + 1, rect.y() + 1, width - 2, rect.height() - 2)
                        painter.setPen(QPen(QColor(colour), 3))
                        painter.setBrush(Qt.BrushStyle.NoBrush)
                        painter.drawRect(box)
                        painter.fillRect(QRectF(box.x(), box.y(), 13, 14), QColor(colour))
                        painter.setPen(QColor("white"))
                        painter.drawText(
                            QRectF(box.x(), box.y(), 13, 14), Qt.AlignmentFlag.AlignCenter, letter
                        )
        painter.end()
