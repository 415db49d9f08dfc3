"""Train → New experiment…: the axes and values to compare, the seeds, the workers, an optional
Ray cluster, and one line saying what Start will do."""

from __future__ import annotations

import os
from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.core.config import ConfigError, RunConfig
from vae_explorer.core.sweep import AXES, SweepSpec, parse_grid, parse_seeds
from vae_explorer.core.sweep_ray import SweepOptions

DEFAULT_AXES = (("prior-init", "random, kmeans"),)
ERROR_STYLE = "color: #b00020;"
PLAN_STYLE = "font-weight: 600;"


class ExperimentDialog(QDialog):
    """Builds a SweepSpec over `base` (the current settings) and the options to run it with."""

    def __init__(self, base: RunConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New experiment")
        self.base = base
        self.axes = QTableWidget(0, 2)
        self.axes.setHorizontalHeaderLabels(["setting", "values (comma-separated)"])
        self.axes.verticalHeader().setVisible(False)
        self.axes.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.axes.setMinimumHeight(140)
        self.add_button = QPushButton("Add axis")
        self.remove_button = QPushButton("Remove axis")
        self.seeds = QLineEdit("0, 1, 2")
        self.seeds.setToolTip("every setting is trained once per seed: 0, 1, 2 or 0-4")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1_000_000)
        self.epochs.setValue(base.train.epochs)
        self.epochs.setToolTip("the maximum epochs of every trial (early stopping still applies)")
        self.workers = QSpinBox()
        self.workers.setRange(1, 1024)
        self.workers.setValue(max(1, os.cpu_count() or 1))
        self.workers.setToolTip("trials at a time, one thread each")
        self.address = QLineEdit()
        self.address.setPlaceholderText("empty: a local Ray instance on 127.0.0.1 only")
        self.address.setToolTip(
            "HOST:PORT of a Ray cluster's head (started with RAY_AUTH_MODE=token; this machine needs "
            "its token in ~/.ray/auth_token and the sweep folder shared with the cluster)"
        )
        self.asha = QCheckBox("Stop clearly worse trials early (ASHA, on validation nll)")
        self.plan = QLabel()
        self.plan.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        self._layout()
        for name, values in DEFAULT_AXES:
            self.add_axis(name, values)
        self.add_button.clicked.connect(lambda: self.add_axis())
        self.remove_button.clicked.connect(self.remove_axis)
        for signal in (self.seeds.textChanged, self.address.textChanged):
            signal.connect(self.update_plan)
        for spin in (self.epochs, self.workers):
            spin.valueChanged.connect(self.update_plan)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.update_plan()

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Seeds", self.seeds)
        form.addRow("Max epochs", self.epochs)
        form.addRow("Workers", self.workers)
        form.addRow("Ray cluster", self.address)
        form.addRow("", self.asha)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("Compare these settings (every combination), on top of the current settings:")
        )
        layout.addWidget(self.axes)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addWidget(self.plan)
        layout.addWidget(self.buttons)
        self.resize(620, 460)

    # -- the axes -------------------------------------------------------------------------------
    def add_axis(self, name: str | None = None, values: str = "") -> None:
        row = self.axes.rowCount()
        self.axes.insertRow(row)
        box = QComboBox()
        for ax in AXES.values():
            box.addItem(f"{ax.label} ({ax.name})", ax.name)
        taken = {self._axis_name(r) for r in range(row)}
        name = name or next(n for n in AXES if n not in taken)
        box.setCurrentIndex(list(AXES).index(name))
        edit = QLineEdit(values)
        edit.setPlaceholderText("for example 4, 16")
        self.axes.setCellWidget(row, 0, box)
        self.axes.setCellWidget(row, 1, edit)
        box.currentIndexChanged.connect(self.update_plan)
        edit.textChanged.connect(self.update_plan)
        self.update_plan()

    def remove_axis(self) -> None:
        row = self.axes.currentRow()
        row = row if row >= 0 else self.axes.rowCount() - 1
        if row >= 0:
            self.axes.removeRow(row)
        self.update_plan()

    def _axis_name(self, row: int) -> str:
        return self.axes.cellWidget(row, 0).currentData()

    def set_axis(self, row: int, name: str, values: str) -> None:
        box = self.axes.cellWidget(row, 0)
        box.setCurrentIndex(list(AXES).index(name))
        self.axes.cellWidget(row, 1).setText(values)

    # -- what Start does ---------------------------------------------------------------------------
    def spec(self) -> SweepSpec:
        """The sweep the dialog describes; ConfigError says what is wrong with it."""
        items = []
        for row in range(self.axes.rowCount()):
            values = self.axes.cellWidget(row, 1).text().replace(" ", "")
            if not values:
                raise ConfigError(f"give values for {self._axis_name(row)}")
            items.append(f"{self._axis_name(row)}={values}")
        base = replace(self.base, train=replace(self.base.train, epochs=self.epochs.value()))
        spec = SweepSpec(
            base=base, grid=parse_grid(items), seeds=parse_seeds(self.seeds.text().replace(" ", ""))
        )
        spec.trials()  # validated by core.config
        return spec

    def options(self) -> SweepOptions:
        address = self.address.text().strip() or None
        return SweepOptions(
            workers=self.workers.value(), address=address, scheduler="asha" if self.asha.isChecked() else None
        )

    def update_plan(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            spec = self.spec()
        except ConfigError as exc:
            self.plan.setStyleSheet(ERROR_STYLE)
            self.plan.setText(str(exc))
            ok.setEnabled(False)
            return
        where = f" of the cluster at {self.address.text().strip()}" if self.address.text().strip() else ""
        self.plan.setStyleSheet(PLAN_STYLE)
        self.plan.setText(spec.plan_text(self.workers.value()) + where)
        ok.setEnabled(True)

    def accept(self) -> None:
        try:
            self.spec()
        except ConfigError:
            return
        super().accept()
