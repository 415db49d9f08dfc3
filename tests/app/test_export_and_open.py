"""Export figure follows the chosen file type; paths of the wrong kind (a folder as a checkpoint, a
file as the export folder) get messages that say so, never "does not exist"."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from apphelpers import answer_messages, message_texts
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

from vae_explorer.core.checkpoint import CheckpointError, read_checkpoint


@pytest.fixture
def out(tmp_path):
    """An empty folder for the exports (tmp_path also holds the settings store)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def curve_action(window):
    return next(a for a in window.export_menu.actions() if a.text() == "Validation nll curves…")


@pytest.mark.parametrize(
    ("name_filter", "suffix"),
    [("SVG vector image (*.svg)", ".svg"), ("PDF document (*.pdf)", ".pdf"), ("PNG image (*.png)", ".png")],
)
def test_export_figure_adds_the_chosen_filters_extension(window, out, monkeypatch, name_filter, suffix):
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out / "curves"), name_filter))
    curve_action(window).trigger()
    assert sorted(p.name for p in out.iterdir()) == [f"curves{suffix}"]
    if suffix == ".svg":
        assert ET.parse(out / "curves.svg").getroot().tag.endswith("svg")
    elif suffix == ".pdf":
        assert (out / "curves.pdf").read_bytes().startswith(b"%PDF")


def test_a_typed_extension_wins_over_the_filter(window, out, monkeypatch):
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(out / "curves.pdf"), "SVG vector image (*.svg)")
    )
    curve_action(window).trigger()
    assert sorted(p.name for p in out.iterdir()) == ["curves.pdf"]


def test_export_figure_in_qts_own_dialog_follows_the_chosen_filter(window, qtbot, out):
    """The reviewer's case in the real (non-native) dialog: choose SVG, type `curves`, Save."""
    seen = []

    def drive():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(100, drive)
            return
        dialog.setDirectory(str(out))
        dialog.selectNameFilter("SVG vector image (*.svg)")
        dialog.findChild(QLineEdit).setText("curves")
        seen.append(dialog.selectedNameFilter())
        dialog.accept()

    def give_up():  # never leave a modal dialog hanging the test
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            dialog.reject()

    QTimer.singleShot(200, drive)
    QTimer.singleShot(20_000, give_up)
    curve_action(window).trigger()
    assert seen == ["SVG vector image (*.svg)"]
    assert sorted(p.name for p in out.iterdir()) == ["curves.svg"]


def test_filter_suffix_helpers(tmp_path):
    from vae_explorer.app.export import filter_suffix, with_chosen_suffix

    assert filter_suffix("SVG vector image (*.svg)") == ".svg"
    assert filter_suffix("") is None and filter_suffix("All files (*)") is None
    assert with_chosen_suffix(tmp_path / "a", "PDF document (*.pdf)") == tmp_path / "a.pdf"
    assert with_chosen_suffix(tmp_path / "a", "") == tmp_path / "a.png"
    assert with_chosen_suffix(tmp_path / "a.svg", "PDF document (*.pdf)") == tmp_path / "a.svg"


def test_opening_a_folder_shows_cores_message(window, qtbot, tmp_path, monkeypatch):
    errors = answer_messages(monkeypatch)
    folder = tmp_path / "a-run"
    folder.mkdir()
    with pytest.raises(CheckpointError) as core:
        read_checkpoint(folder)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(folder), ""))
    window.open_action.trigger()
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert errors == [("Cannot open checkpoint", str(core.value))]
    assert "does not exist" not in errors[0][1] and "folder" in errors[0][1]
    assert window.service.info is None


def test_export_all_into_a_file_says_it_is_not_a_folder(window, tmp_path, monkeypatch):
    errors = message_texts(monkeypatch)
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(a_file))
    window.export_all_action.trigger()
    assert len(errors) == 1
    assert "not a folder" in errors[0] and str(a_file) in errors[0] and "does not exist" not in errors[0]
    assert a_file.read_text() == "root:x:0:0"
    # one figure into a "folder" that is a file
    assert window._export(window.training.plot, a_file / "curve.png") is None
    assert "not a folder" in errors[-1] and "does not exist" not in errors[-1]
    # a folder that really is missing still says so
    assert window.export_all(str(tmp_path / "missing")) == []
    assert "does not exist" in errors[-1]


def test_loaded_message_only_for_a_checkpoint_the_user_opened(window, qtbot, checkpoint):
    """A training run's new best loads in the background: it must not replace a lasting status
    message (say, the queue's summary of diverged rates) with "Loaded ..."."""
    window.statusBar().showMessage("lasting summary")
    with qtbot.waitSignal(window.service.model_loaded, timeout=30_000):
        window.service.load_checkpoint(str(checkpoint))  # as the training queue does
    assert window.statusBar().currentMessage() == "lasting summary"
    with qtbot.waitSignal(window.service.model_loaded, timeout=30_000):
        window.open_checkpoint(str(checkpoint))  # File → Open
    assert window.statusBar().currentMessage() == f"Loaded {checkpoint}"


def test_file_dialogs_open_where_the_user_last_was(window, tmp_path, monkeypatch):
    """Every file dialog opened in the home folder, and the report's did not say what it covers."""
    from pathlib import Path

    asked = []

    def save_dialog(parent, title, start, filters):
        asked.append((title, start))
        return str(tmp_path / "figures" / "plot.png"), filters

    (tmp_path / "figures").mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    window.export_figure(window.training.plot)
    assert Path(asked[0][1]).parent == Path.home()
    window.training.save_curves_csv()
    assert asked[1][1] == str(tmp_path / "figures" / "nll_curves.csv")
    opened = []
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda p, t, start, f: opened.append(start) or ("", "")
    )
    window.open_checkpoint()
    assert opened == [str(tmp_path / "figures")]
    # the report's dialog names the runs it covers
    run = tmp_path / "runs" / "some-run"
    window.queue_dir = run
    run.mkdir(parents=True)
    asked.clear()
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda p, title, start, f: asked.append(title) or ("", "")
    )
    window.export_report()
    assert asked == ["Export a report of 1 run folder: some-run"]


def test_export_all_draws_the_tabs_never_opened(window, qtbot, checkpoint, tmp_path):
    """Open a checkpoint, open no tab, Export all: the figures of the tabs never shown came out as
    their placeholders while the status bar counted them as exported."""
    from PySide6.QtGui import QImage

    window.open_checkpoint(str(checkpoint))
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    assert window.tabs.currentWidget() is window.training
    assert all(panel.stale for panel in window.panels)
    out = tmp_path / "all"
    out.mkdir()
    assert len(window.export_all(str(out))) == 27
    assert window.tabs.currentWidget() is window.training and not any(p.stale for p in window.panels)
    components, interpolation, latent_map = window.panels[1:4]
    assert components.result is not None and latent_map.data is not None and interpolation.result is not None

    def colours(name: str) -> int:
        image = QImage(str(out / name)).convertToFormat(QImage.Format.Format_Grayscale8)
        step = max(1, image.width() // 200)
        return len(
            {
                image.pixelColor(x, y).value()
                for x in range(0, image.width(), step)
                for y in range(0, image.height(), step)
            }
        )

    # a placeholder is a grey field with a line of text: a few dozen shades at most
    for name in ("components.png", "interpolation.png", "latent_map.png", "generated_images.png"):
        assert colours(name) > 60, name
