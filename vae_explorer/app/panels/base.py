"""What every figure panel shares: the inference service, a status line and export targets."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from ..inference import InferenceService, ModelInfo


class Panel(QWidget):
    """A tab of the main window. Subclasses refresh in `on_model_loaded` via `self.service`."""

    title = "Panel"

    def __init__(self, service: InferenceService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.info: ModelInfo | None = None
        self.status = QLabel("Train a model or open a checkpoint (File → Open checkpoint).")
        self.status.setStyleSheet("color: #555;")
        service.model_loaded.connect(self._model_loaded)

    def _model_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.status.setText(f"Model: epoch {info.epoch}, validation nll {info.best_val:.2f} "
                            f"({info.config.model.prior}, K={info.config.model.components}, "
                            f"L={info.config.model.latent_dim})")
        self.on_model_loaded(info)

    def on_model_loaded(self, info: ModelInfo) -> None:
        """Called on the GUI thread whenever a new model is loaded."""

    def export_targets(self) -> dict[str, tuple[str, QWidget]]:
        """{file stem: (menu label, widget)} of the figures this panel can export."""
        return {}
