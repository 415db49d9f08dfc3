"""Help → About: version, licence, the bundled data's attribution and the versions in use."""

from __future__ import annotations

import platform

import pyqtgraph as pg
import PySide6
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vae_explorer import APP_NAME, __version__
from vae_explorer.assets import icon_path

TEXT = """
<h2 style="margin-bottom:2px">{name}</h2>
<p style="margin-top:0">Version {version}</p>
<p>Train and explore Variational Autoencoders with a learnable<br>
Mixture-of-Gaussians prior on MNIST.</p>
<p><b>Licence:</b> MIT.</p>
<p><b>Bundled data:</b> the MNIST database of handwritten digits,<br>
by Yann LeCun and Corinna Cortes (with Christopher J.C. Burges),<br>
redistributed under the Creative Commons Attribution-Share Alike 3.0<br>
licence (CC BY-SA 3.0).</p>
<p style="color:#666">Python {py} · PyTorch {torch} · PySide6 {pyside} · pyqtgraph {pg}</p>
"""


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        icon = QLabel()
        path = icon_path(128)
        if path.is_file():
            icon.setPixmap(QIcon(str(path)).pixmap(96, 96))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(
            TEXT.format(
                name=APP_NAME,
                version=__version__,
                py=platform.python_version(),
                torch=torch.__version__.split("+")[0],
                pyside=PySide6.__version__,
                pg=pg.__version__,
            )
        )
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        row = QHBoxLayout()
        row.addWidget(icon)
        row.addSpacing(12)
        row.addWidget(self.text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
