"""The app's messages and its one yes-or-no question, always as plain text.

Messages quote run names, folder names and reasons read from disk; a QMessageBox left to guess
(Qt's AutoText) would render `<h1>` or `<img src=…>` in them as markup. No is the default of the
question, so Enter never destroys anything.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

Icon = QMessageBox.Icon
Button = QMessageBox.StandardButton


def _box(parent: QWidget | None, icon: Icon, title: str, text: str, buttons, default) -> QMessageBox:
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(default)
    return box


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    """Ask `text`; True only when the user answers Yes."""
    box = _box(parent, Icon.Question, title, text, Button.Yes | Button.No, Button.No)
    return box.exec() == Button.Yes


def error(parent: QWidget | None, title: str, text: str) -> None:
    _box(parent, Icon.Critical, title, text, Button.Ok, Button.Ok).exec()


def warn(parent: QWidget | None, title: str, text: str) -> None:
    _box(parent, Icon.Warning, title, text, Button.Ok, Button.Ok).exec()


def inform(parent: QWidget | None, title: str, text: str) -> None:
    _box(parent, Icon.Information, title, text, Button.Ok, Button.Ok).exec()


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` as it is: Qt renders a tooltip that looks like markup as rich
    text, and folder names and reasons come from disk."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"
