"""What every figure panel shares: the inference service, a status line and export targets."""

from __future__ import annotations

import traceback
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QWidget

from vae_explorer.app.ask import plain_tooltip
from vae_explorer.app.inference import InferenceService, ModelInfo
from vae_explorer.core.config import format_lr
from vae_explorer.core.runfiles import MAX_NAME, clean_text

NOTICE_STYLE = (
    "QLabel { background: #fff4d6; color: #4a3800; border: 1px solid #d9b24c;"
    " border-radius: 3px; padding: 6px; }"
)


def missing_data_text(info: ModelInfo, what: str, extra: str = "") -> str:
    """The lasting in-panel message for a model whose test images cannot be read (rich text)."""
    folder = f"the data folder <b>{escape(info.data_folder)}</b>" if info.data_folder else "the data"
    return (
        f"<b>Test images not found</b>, so {escape(what)} cannot be shown: "
        f"{escape(info.data_error or '')}.<br>"
        f"To fix this, restore {folder} (for example move it back) and open the checkpoint again "
        "(File → Open checkpoint)." + (f" {escape(extra)}" if extra else "")
    )


def describe_model(info: ModelInfo) -> str:
    """One line: which run, learning rate, epoch and checkpoint a tab shows."""
    m = info.config.model
    name = info.name or (Path(info.checkpoint).parent.name if info.checkpoint else "training run")
    name = clean_text(name, MAX_NAME)
    where = Path(info.checkpoint).name if info.checkpoint else "not saved"
    return (
        f"Showing {name}: lr={format_lr(info.config.train.lr)}, epoch {info.epoch}, "
        f"validation nll {info.best_val:.2f} ({m.prior}, K={m.components}, L={m.latent_dim}; {where})"
    )


class Panel(QWidget):
    """A tab of the main window. Subclasses refresh in `on_model_loaded` via `self.service`."""

    title = "Panel"

    def __init__(self, service: InferenceService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.info: ModelInfo | None = None
        self.status = QLabel(
            "Nothing to show yet: press Start to train, double-click a run in the Training tab's run "
            "list, or open a checkpoint (File → Open checkpoint)."
        )
        self.status.setStyleSheet("color: #555;")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # it names runs: the user's text
        self.status.setWordWrap(True)  # a long header wraps instead of widening the window
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pin = QCheckBox("Pin")
        self.pin.setToolTip(
            "Keep this model in the explore tabs while training goes on (new best models are not shown)"
        )
        self.pin.setChecked(service.pinned)
        self.pin.toggled.connect(service.set_pinned)
        service.pinned_changed.connect(self._pinned_changed)
        # the one line that says which model the tab shows, with the Pin toggle beside it
        self.header = QWidget()
        row = QHBoxLayout(self.header)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.status, 1)
        row.addWidget(self.pin)
        # a lasting message in place of what cannot be drawn (e.g. the test images are missing)
        self.notice = QLabel()
        self.notice.setObjectName("panel-notice")
        self.notice.setTextFormat(Qt.TextFormat.RichText)
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notice.hide()
        self._stale = False  # a model arrived while the panel was hidden; it refreshes when shown
        service.model_loaded.connect(self._model_loaded)

    def _pinned_changed(self, on: bool) -> None:
        self.pin.blockSignals(True)
        self.pin.setChecked(on)
        self.pin.blockSignals(False)

    def _model_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.status.setText(describe_model(info))
        self.status.setToolTip(
            plain_tooltip(info.checkpoint or "a model of the training under way, not saved yet")
        )
        # a tab of a shown window that is not the current one waits: during training a new best
        # arrives every epoch, and figures nobody sees would take CPU from the training
        self._stale = self.window().isVisible() and not self.isVisible()
        if not self._stale:
            self._draw(info)

    @property
    def stale(self) -> bool:
        """A model arrived while the panel was hidden, and it has not drawn it yet."""
        return self._stale and self.info is not None

    def bring_up_to_date(self) -> bool:
        """Draw the latest model now if it arrived while the panel was hidden; True if it did."""
        if not self._stale or self.info is None:
            return False
        self._stale = False
        self._draw(self.info)
        return True

    def _draw(self, info: ModelInfo) -> None:
        """`on_model_loaded`, with any error it raises shown in the notice instead of raised.

        It runs inside Qt's calls into Python (a slot, and `showEvent` when the tab comes to the
        front). An exception that leaves a Python override of a C++ virtual there is not a
        traceback but a crash: PySide6 6.11 wraps it in "Error calling Python override of …" and
        reads the arguments of errors that C code raised (`f"{'x':.2f}"`) as exception objects when
        they are not yet, which is a segmentation fault."""
        self.set_notice(None)
        try:
            self.on_model_loaded(info)
        except Exception as exc:  # a drawing bug must not take the window down
            traceback.print_exc()
            self.set_notice(
                f"<b>This tab cannot show the model</b>: {escape(type(exc).__name__)}: "
                f"{escape(clean_text(str(exc), 300))}"
            )

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.bring_up_to_date()

    def on_model_loaded(self, info: ModelInfo) -> None:
        """Called on the GUI thread whenever a new model is loaded."""

    @property
    def has_test_data(self) -> bool:
        return self.info is not None and self.info.data_error is None

    def set_notice(self, text: str | None) -> None:
        """Show `text` (rich text) in the panel's notice box until the next model, or hide it."""
        self.notice.setText(text or "")
        self.notice.setVisible(bool(text))

    def notice_text(self) -> str:
        """The notice as plain text ("" when hidden), for tests."""
        if self.notice.isHidden():
            return ""
        doc = QTextDocument()
        doc.setHtml(self.notice.text())
        return doc.toPlainText()

    def export_targets(self) -> dict[str, tuple[str, QWidget]]:
        """{file stem: (menu label, widget)} of the figures this panel can export."""
        return {}
