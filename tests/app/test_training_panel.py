"""The Training tab's Progress box: every label gets the height its text needs."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QGroupBox, QLabel

from vae_explorer.app.training_panel import WrappedLabel

RESULT = "lr=0.003: max epochs after 4 epochs; test nll 169.59 nats (best model, epoch 4)."


def fill(panel) -> None:
    panel.run_label.setText("2 of 2: lr=0.003, adamax, batch 32")
    panel.epoch_label.setText("4 (max 4)")
    panel.best_label.setText("174.06 (epoch 4)")
    panel.speed_label.setText("1.1")
    panel.eta_label.setText("0:03")
    panel.result_label.setText(RESULT)


def progress_box(panel) -> QGroupBox:
    box = panel.epoch_label.parentWidget()
    assert isinstance(box, QGroupBox) and box.title() == "Progress"
    return box


@pytest.mark.parametrize("size", [(1280, 860), (1100, 750), (800, 600)])
def test_progress_labels_are_not_cut(window, qtbot, size):
    """The wrapped result line used to take its second line's height from the form rows above it,
    cutting "Epoch" and "(epoch 4)" to 11 of 14 pixels (their descenders gone)."""
    panel = window.training
    fill(panel)
    window.resize(*size)
    qtbot.wait(50)
    box = progress_box(panel)
    labels = [lab for lab in box.findChildren(QLabel) if lab.isVisible()]
    assert len(labels) == 11  # five rows of two, and the result line
    for lab in labels:
        need = lab.heightForWidth(lab.width()) if lab.wordWrap() else lab.sizeHint().height()
        assert lab.height() >= need, (lab.text(), lab.height(), need, size)
        assert lab.height() >= lab.fontMetrics().height()
    assert panel.result_label.height() >= 2 * panel.result_label.fontMetrics().lineSpacing()  # two lines


def test_wrapped_label_minimum_height_follows_its_width(qtbot):
    label = WrappedLabel(RESULT)
    qtbot.addWidget(label)
    label.resize(600, 20)
    one_line = label.minimumSizeHint().height()
    label.resize(150, 20)
    assert label.minimumSizeHint().height() > one_line
    assert label.minimumSizeHint().height() == label.heightForWidth(150)
