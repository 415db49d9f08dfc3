"""Help → Getting started (also shown on the first launch) and Help → Keyboard shortcuts."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vae_explorer import APP_NAME

GETTING_STARTED = """
<h3>Getting started with {name}</h3>
<p><b>1. Train.</b> Press <b>Start</b> (F5). The app trains a VAE with a mixture-of-Gaussians prior on
the bundled MNIST and draws the validation negative ELBO ("nll", in nats) after every epoch.
<b>Edit → Settings</b> (Ctrl+,) chooses a preset (<i>Fast (CPU)</i>, <i>Recommended</i>,
<i>Course protocol</i>, or <i>2-D lab</i> for the Lab tab), the model and one or more learning rates to compare. Pause (F6) and
Stop (Shift+F5) keep the best model so far.</p>
<p><b>2. Where runs go.</b> Every Start writes a run folder in<br><code>{runs}</code><br>with the
settings, the curve, the best model (<code>model.pt</code>) and its figures. The Training tab's
<i>All runs</i> list shows every run there, the command line's too (<code>vae-explorer train
--out …</code>): tick a run to draw its curve.</p>
<p><b>3. Explore a model.</b> While a queue trains, the tabs <i>Real vs generated</i>,
<i>Components</i>, <i>Interpolation</i>, <i>Latent map</i> and <i>Evaluation</i> show its best model
so far. To explore any earlier run, double-click it in <i>All runs</i> (or <i>This queue</i>), or
use <b>File → Open checkpoint</b> (Ctrl+O) on a <code>model.pt</code>.</p>
<p><b>4. Get your figures out.</b> <b>File → Export figure</b> saves the figure in front as PNG,
SVG or PDF; <b>Export all figures</b> (Ctrl+E) saves every one; <b>Export report</b> (Ctrl+R)
writes a PDF or HTML report of the runs ticked.</p>
<p style="color:#666">This page is under <b>Help → Getting started</b>; the keys are under
<b>Help → Keyboard shortcuts</b>.</p>
"""


class GettingStartedDialog(QDialog):
    def __init__(self, runs_root: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Getting started")
        self.text = QLabel(GETTING_STARTED.format(name=APP_NAME, runs=escape(str(runs_root))))
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMinimumWidth(560)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(keys, what they do) of every menu action of `window` with a shortcut, then the tab keys."""
    rows = []
    for action in window.findChildren(QAction):
        keys = action.shortcut()
        if keys.isEmpty() or not action.text():
            continue
        rows.append((keys.toString(QKeySequence.SequenceFormat.NativeText), action.text().replace("&", "")))
    rows.sort(key=lambda r: r[1].lower())
    rows += [
        ("Ctrl+1 … Ctrl+8", "Show the Training … Lab tab, then Experiment once opened"),
        ("Ctrl+PgDown / Ctrl+PgUp", "Next / previous tab"),
        ("Double-click a run", "Explore its best model"),
    ]
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (keys, text) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumSize(460, 420)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
