"""An ImageView that reports clicks, with the image column under the mouse."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

from .image_view import ImageView


class ClickableImageView(ImageView):
    """Emits clicked(fraction_x, modifiers) where fraction_x in [0, 1) is across the drawn image."""

    clicked = Signal(float, object)

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(placeholder, parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event) -> None:
        rect = self.image_rect()
        pos = event.position()
        if rect.isValid() and rect.contains(pos):
            self.clicked.emit((pos.x() - rect.x()) / rect.width(), event.modifiers())
        super().mousePressEvent(event)
