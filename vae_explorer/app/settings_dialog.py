"""The settings dialog: data, model and training hyper-parameters, several learning rates at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.core.config import (
    OPTIMIZERS,
    PRESETS,
    PRIOR_KINDS,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    apply_preset,
    check_new_run,
    preset_of,
    prior_kind,
)
from vae_explorer.core.data import FOLDERS
from vae_explorer.core.device import gpu_name

from .settings import TrainingSettings, format_lrs, parse_lrs

SOURCES = {
    "bundled": "MNIST (bundled)",
    "mnist": "MNIST from a torchvision folder",
    "fashion-mnist": "Fashion-MNIST from a torchvision folder",
}
ARCH_LABELS = {"mlp": "MLP (784-H-H-L)", "conv": "Convolutional"}
LIKELIHOOD_LABELS = {
    "bernoulli": "Bernoulli (binarised pixels)",
    "categorical": "Categorical (256 grey levels)",
    "gaussian": "Gaussian (grey levels in [0, 1], σ = 0.1)",
}
PRIOR_INIT_LABELS = {
    "random": "Random N(0, I) (the course)",
    "kmeans": "k-means of encoder means after epoch 1",
}
PRESET_LABELS = {
    "course": "Course protocol",
    "recommended": "Recommended",
    "fast": "Fast (CPU)",
    "lab2d": "2-D lab",
}
SCHEDULE_LABELS = {
    "constant": "Constant (the course)",
    "cosine": "Warm-up, then cosine down to 2%",
    "plateau": "Halve after 5 epochs without improvement",
}
OPTIMIZER_LABELS = {
    "adamax": "Adamax",
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD (momentum 0.9)",
    "rmsprop": "RMSprop",
}
INVALID_STYLE = "background-color: #ffd7d7;"


def _spin(lo: int, hi: int, special: str | None = None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setAccelerated(True)
    if special:
        box.setSpecialValueText(special)
    return box


class SeedEdit(QLineEdit):
    """The seed: any whole number the configuration takes (core.config checks its range; a spin
    box would stop at 2^31 - 1). value() is -1 for text that is no whole number, which the
    configuration then refuses with its own message."""

    def __init__(self) -> None:
        super().__init__()
        self.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,20}")))
        self.setToolTip("The run's seed: its initial weights, shuffles, binarisations and noise")

    def value(self) -> int:
        text = self.text().strip()
        return int(text) if text.isdigit() else -1

    def setValue(self, value: int) -> None:
        self.setText(str(value))


def _combo(items: dict[str, str]) -> QComboBox:
    box = QComboBox()
    for key, label in items.items():
        box.addItem(label, key)
    return box


def _select(box: QComboBox, key: str) -> None:
    box.setCurrentIndex(max(0, box.findData(key)))


class SettingsDialog(QDialog):
    """Edits TrainingSettings; OK stays disabled while any field is invalid."""

    def __init__(self, settings: TrainingSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Training settings")
        self.preset = QComboBox()
        self.preset.addItem("Custom", None)
        for name in PRESETS:
            self.preset.addItem(PRESET_LABELS.get(name, name), name)
        self.preset.setToolTip("A named set of model and training settings; data, seed and device are kept")
        # data
        self.source = _combo(SOURCES)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder holding MNIST/raw or FashionMNIST/raw")
        self.folder.setMinimumWidth(
            self.folder.fontMetrics().horizontalAdvance(self.folder.placeholderText()) + 24
        )
        self.browse = QPushButton("Browse…")
        self.limit_train = _spin(0, 50_000, "all 50,000")
        self.limit_val = _spin(0, 10_000, "all 10,000")
        self.limit_test = _spin(0, 10_000, "all 10,000")
        # model
        self.arch = _combo(ARCH_LABELS)
        self.prior = _combo({kind.name: kind.label for kind in PRIOR_KINDS.values()})
        self.components = _spin(1, 512)
        self.mixture_weights = _combo(
            {"learnable": "Learnable (the course)", "uniform": "Uniform, fixed (means and variances learned)"}
        )
        self.mixture_weights.setToolTip(
            "Fixed equal weights cannot drift towards the components already in use"
        )
        self.latent_dim = _spin(1, 512)
        self.hidden = _spin(8, 4096)
        self.likelihood = _combo(LIKELIHOOD_LABELS)
        self.likelihood.setToolTip(
            "The Gaussian likelihood's nll is a density of continuous intensities: "
            "it is not comparable with the binarised models' nats"
        )
        # training
        self.optimizer = _combo({o: OPTIMIZER_LABELS[o] for o in OPTIMIZERS})
        self.lrs = QLineEdit()
        self.lrs.setToolTip(
            "One or more learning rates, separated by commas; each runs in turn "
            "and gets its own curve, e.g. 1e-5, 1e-3, 1e-2"
        )
        self.batch_size = _spin(1, 65_536)
        self.epochs = _spin(1, 100_000)
        self.patience = _spin(1, 10_000)
        self.kl_warmup = _spin(0, 10_000, "none")
        self.kl_warmup.setToolTip(
            "Epochs over which the KL-like term's weight in the training loss rises from 0 to 1; "
            "validation and test figures are always the full negative ELBO"
        )
        self.prior_init = _combo(PRIOR_INIT_LABELS)
        self.prior_init.setToolTip(
            "k-means: after the first epoch the mixture's components are placed on k-means clusters "
            "of the training images' encoder means, so that every component starts where data lies"
        )
        self.schedule = _combo(SCHEDULE_LABELS)
        self.schedule.setToolTip("How the learning rate changes over the run")
        self.warmup_epochs = _spin(0, 10_000, "none")
        self.warmup_epochs.setToolTip(
            "With the cosine schedule: epochs over which the rate first rises from 0"
        )
        self.val_every = _spin(1, 10_000)
        self.val_every.setToolTip(
            "Validate every this many epochs (the last epoch always is); early-stop patience counts epochs"
        )
        self.checkpoint_seconds = _spin(0, 86_400, "every validation")
        self.checkpoint_seconds.setSuffix(" s")
        self.checkpoint_seconds.setToolTip(
            "Write last.pt (the state a run resumes from) at most this often; an epoch with a new best "
            "and the last state are always written"
        )
        self.seed = SeedEdit()
        self.device = QComboBox()
        self.device.addItem("Automatic (GPU when available)", "auto")
        self.device.addItem("CPU", "cpu")
        has_gpu = gpu_name() is not None
        self.device.addItem("CUDA GPU" if has_gpu else "CUDA GPU (not available)", "cuda")
        if not has_gpu:
            self.device.model().item(2).setEnabled(False)
        self.show_settings(settings)

        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        # room for three lines of messages, kept while there are none: the dialog's height and the
        # fields' places do not change while the user types (a click aimed at one field landed on
        # another when a message pushed them by a line)
        self.error.setFixedHeight(self.error.fontMetrics().lineSpacing() * 3 + 4)
        self.error.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults
        )
        self._layout()
        self.browse.clicked.connect(self._browse)
        self.preset.activated.connect(self._apply_preset)
        for w in (
            self.source,
            self.arch,
            self.prior,
            self.mixture_weights,
            self.likelihood,
            self.optimizer,
            self.prior_init,
            self.schedule,
            self.device,
        ):
            w.currentIndexChanged.connect(self.validate)
        for w in (self.folder, self.lrs):
            w.textChanged.connect(self.validate)
        for w in (
            self.limit_train,
            self.limit_val,
            self.limit_test,
            self.components,
            self.latent_dim,
            self.hidden,
            self.batch_size,
            self.epochs,
            self.patience,
            self.kl_warmup,
            self.warmup_epochs,
            self.val_every,
            self.checkpoint_seconds,
        ):
            w.valueChanged.connect(self.validate)
        self.seed.textChanged.connect(self.validate)
        self.validate()

    def _layout(self) -> None:
        top = QFormLayout()
        top.addRow("Preset", self.preset)
        data = QFormLayout()
        data.addRow("Data source", self.source)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.browse)
        data.addRow("Data folder", row)
        data.addRow("Training images", self.limit_train)
        data.addRow("Validation images", self.limit_val)
        data.addRow("Test images", self.limit_test)
        model = QFormLayout()
        model.addRow("Architecture", self.arch)
        model.addRow("Prior", self.prior)
        model.addRow("Mixture components K", self.components)
        model.addRow("Mixture weights", self.mixture_weights)
        model.addRow("Latent dimension L", self.latent_dim)
        model.addRow("Hidden units", self.hidden)
        model.addRow("Likelihood", self.likelihood)
        train = QFormLayout()
        train.addRow("Optimiser", self.optimizer)
        train.addRow("Learning rates", self.lrs)
        train.addRow("Batch size", self.batch_size)
        train.addRow("Max epochs", self.epochs)
        train.addRow("Early-stop patience", self.patience)
        train.addRow("Seed", self.seed)
        train.addRow("Device", self.device)
        course = QFormLayout()
        course.addRow("Rate schedule", self.schedule)
        course.addRow("Rate warm-up (epochs)", self.warmup_epochs)
        course.addRow("Validate every (epochs)", self.val_every)
        course.addRow("Save state at most every", self.checkpoint_seconds)
        course.addRow("KL warm-up (epochs)", self.kl_warmup)
        course.addRow("Mixture placement", self.prior_init)
        grid = QGridLayout()
        for col, (title, form) in enumerate((("Data", data), ("Model", model))):
            box = QGroupBox(title)
            box.setLayout(form)
            grid.addWidget(box, 0, col)
        box = QGroupBox("Training")
        columns = QHBoxLayout(box)
        columns.addLayout(train, 1)
        columns.addSpacing(12)
        columns.addLayout(course, 1)
        grid.addWidget(box, 1, 0, 1, 2)
        outer = QVBoxLayout(self)
        outer.addLayout(top)
        outer.addLayout(grid)
        outer.addWidget(self.error)
        outer.addWidget(self.buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a torchvision data folder", self.folder.text()
        )
        if folder:
            self.folder.setText(folder)

    def show_settings(self, settings: TrainingSettings) -> None:
        """Put `settings` into the fields (the inverse of settings())."""
        c = settings.config
        _select(self.source, "bundled" if c.data.root is None else c.data.dataset)
        self.folder.setText(c.data.root or "")
        self.limit_train.setValue(c.data.limit_train or 0)
        self.limit_val.setValue(c.data.limit_val or 0)
        self.limit_test.setValue(c.data.limit_test or 0)
        _select(self.arch, c.model.arch)
        _select(self.prior, c.model.prior)
        self.components.setValue(c.model.components)
        _select(self.mixture_weights, c.model.mixture_weights)
        self.latent_dim.setValue(c.model.latent_dim)
        self.hidden.setValue(c.model.hidden)
        _select(self.likelihood, c.model.likelihood)
        _select(self.optimizer, c.train.optimizer)
        self.lrs.setText(format_lrs(settings.lrs))
        self.batch_size.setValue(c.train.batch_size)
        self.epochs.setValue(c.train.epochs)
        self.patience.setValue(c.train.patience)
        self.kl_warmup.setValue(c.train.kl_warmup)
        _select(self.prior_init, c.train.prior_init)
        _select(self.schedule, c.train.schedule)
        self.warmup_epochs.setValue(c.train.warmup_epochs)
        self.val_every.setValue(c.train.val_every)
        self.checkpoint_seconds.setValue(round(c.train.checkpoint_seconds))
        self.seed.setValue(c.train.seed)
        _select(self.device, c.train.device)

    def restore_defaults(self) -> None:
        self.show_settings(TrainingSettings())

    def _apply_preset(self) -> None:
        """Put the chosen preset's model and training settings (one learning rate) into the fields."""
        name = self.preset.currentData()
        if name is None:
            return
        try:
            current = self.settings().config
        except ConfigError:  # an unreadable field: start from the defaults' data and seed
            current = RunConfig()
        config = apply_preset(name, current)
        self.show_settings(TrainingSettings(config, [config.train.lr]))

    def _show_preset(self) -> None:
        """Name the preset the fields match, or Custom."""
        name = None
        try:
            settings = self.settings()
            if len(settings.lrs) == 1:
                name = preset_of(settings.config)
        except ConfigError:
            pass
        self.preset.blockSignals(True)
        self.preset.setCurrentIndex(max(0, self.preset.findData(name)))
        self.preset.blockSignals(False)

    # -- validation ------------------------------------------------------------------------
    def _folder_problem(self) -> str | None:
        source = self.source.currentData()
        if source == "bundled":
            return None
        text = self.folder.text().strip()
        if not text:
            return "choose the data folder"
        root = Path(text)
        if root.exists() and not root.is_dir():
            return f"{root} is a file, not a folder"
        raw = root / FOLDERS[source] / "raw"
        if not raw.is_dir():
            return f"{raw} does not exist"
        return None

    def validate(self) -> bool:
        folder_bundled = self.source.currentData() == "bundled"
        self.folder.setEnabled(not folder_bundled)
        self.browse.setEnabled(not folder_bundled)
        self.warmup_epochs.setEnabled(self.schedule.currentData() == "cosine")
        kind = prior_kind(self.prior.currentData())
        self.components.setEnabled(kind.components)
        self.mixture_weights.setEnabled(kind.weights_option)
        self.prior_init.setEnabled(kind.placeable)
        problems = []
        folder_problem = self._folder_problem()
        self.folder.setStyleSheet(INVALID_STYLE if folder_problem else "")
        if folder_problem:
            problems.append(f"Data folder: {folder_problem}")
        try:
            parse_lrs(self.lrs.text())
            self.lrs.setStyleSheet("")
        except ConfigError as exc:
            self.lrs.setStyleSheet(INVALID_STYLE)
            problems.append(f"Learning rates: {exc}")
        if self.device.currentData() == "cuda" and gpu_name() is None:  # saved on a machine with one
            problems.append("Device: no CUDA GPU is available here; choose Automatic or CPU")
        if not problems:
            try:
                check_new_run(self.settings().config.validate())
            except ConfigError as exc:
                problems.append(str(exc))
        self._show_preset()
        self.error.setText("\n".join(problems))
        self.error.setToolTip("\n".join(problems))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
        return not problems

    def accept(self) -> None:
        if self.validate():
            super().accept()

    def settings(self) -> TrainingSettings:
        """The settings as entered; call only when validate() is True."""
        source = self.source.currentData()
        lrs = parse_lrs(self.lrs.text())
        data = DataConfig(
            dataset="mnist" if source == "bundled" else source,
            root=None if source == "bundled" else self.folder.text().strip(),
            limit_train=self.limit_train.value() or None,
            limit_val=self.limit_val.value() or None,
            limit_test=self.limit_test.value() or None,
        )
        model = ModelConfig(
            arch=self.arch.currentData(),
            hidden=self.hidden.value(),
            latent_dim=self.latent_dim.value(),
            prior=self.prior.currentData(),
            components=self.components.value(),
            mixture_weights=self.mixture_weights.currentData(),
            likelihood=self.likelihood.currentData(),
        )
        train = TrainConfig(
            optimizer=self.optimizer.currentData(),
            lr=lrs[0],
            batch_size=self.batch_size.value(),
            epochs=self.epochs.value(),
            patience=self.patience.value(),
            kl_warmup=self.kl_warmup.value(),
            prior_init=self.prior_init.currentData(),
            schedule=self.schedule.currentData(),
            warmup_epochs=self.warmup_epochs.value() if self.schedule.currentData() == "cosine" else 0,
            val_every=self.val_every.value(),
            checkpoint_seconds=float(self.checkpoint_seconds.value()),
            seed=self.seed.value(),
            device=self.device.currentData(),
        )
        return TrainingSettings(replace(RunConfig(data, model, train)), lrs)
