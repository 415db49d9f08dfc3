"""The app's messages and its one yes-or-no question, always as plain text.

Messages quote run names, folder names and reasons read from disk; a QMessageBox left to guess
(Qt's AutoText) would render `<h1>` or `<img src=…>` in them as markup. No is the default of the
question, so Enter never destroys anything.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

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


# -- file dialogs that open where the user last was ------------------------------------------------
LAST_FOLDER_KEY = "dialogs/last_folder"


def last_folder(default: Path | None = None) -> Path:
    """The folder of the last file the user chose in any of the app's dialogs, else `default`
    (the home folder when not given)."""
    from .settings import read_texts

    default = default if default is not None and default.is_dir() else Path.home()
    saved = read_texts(QSettings(), LAST_FOLDER_KEY, 1)
    folder = Path(saved[0]) if saved else default
    return folder if folder.is_dir() else default


def remember_folder(path: str | Path) -> None:
    path = Path(path)
    QSettings().setValue(LAST_FOLDER_KEY, str(path if path.is_dir() else path.parent))


def save_file(parent: QWidget | None, title: str, name: str, filters: str) -> tuple[str, str]:
    """(path, chosen filter) from a save dialog that starts in the last folder used; ('', '') when
    cancelled."""
    path, chosen = QFileDialog.getSaveFileName(parent, title, str(last_folder() / name), filters)
    if path:
        remember_folder(path)
    return path, chosen


def open_file(parent: QWidget | None, title: str, filters: str, default: Path | None = None) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, str(last_folder(default)), filters)
    if path:
        remember_folder(path)
    return path


def choose_folder(parent: QWidget | None, title: str) -> str:
    folder = QFileDialog.getExistingDirectory(parent, title, str(last_folder()))
    if folder:
        remember_folder(folder)
    return folder
