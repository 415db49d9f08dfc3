"""Drive the real main window offscreen: settings, live training, stop/pause, divergence, exports,
checkpoints and closing mid-run."""

from __future__ import annotations

import csv
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from apphelpers import (
    answer_messages,
    feed,
    live_run,
    message_texts,
    open_and_show,
    record_events,
    show_panels,
    tiny_settings,
    wait_for_epoch,
)
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog

import vae_explorer.core.trainer as trainer_mod
from vae_explorer.app.settings import load_settings
from vae_explorer.app.settings_dialog import INVALID_STYLE, SettingsDialog
from vae_explorer.core.checkpoint import load_checkpoint


def finish(qtbot, win, timeout=120_000):
    qtbot.waitUntil(lambda: not win.controller.running, timeout=timeout)


def table_epochs(win, row: int) -> int:
    text = table_text(win, row, 2)
    return int(text) if text.isdigit() else -1


def table_text(win, row: int, col: int) -> str:
    item = win.training.table.item(row, col)
    return item.text() if item else ""


def test_settings_dialog_validates_and_persists(window, qtbot, monkeypatch):
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    for bad in ("abc", "0", "-1e-3", "1e-3, 1e-3", ""):
        dialog.lrs.setText(bad)
        assert not ok.isEnabled() and dialog.lrs.styleSheet() == INVALID_STYLE, bad
    dialog.lrs.setText("1e-3, 3e-3")
    assert ok.isEnabled() and dialog.lrs.styleSheet() == ""
    dialog.source.setCurrentIndex(dialog.source.findData("mnist"))
    dialog.folder.setText("/no/such/folder")
    assert not ok.isEnabled() and "does not exist" in dialog.error.text()
    dialog.source.setCurrentIndex(dialog.source.findData("bundled"))
    assert ok.isEnabled()

    def fill_and_accept(self):
        self.lrs.setText("1e-5, 1e-3, 1e-2")
        self.limit_train.setValue(300)
        self.batch_size.setValue(64)
        self.components.setValue(5)
        self.optimizer.setCurrentIndex(self.optimizer.findData("adam"))
        self.accept()
        return self.result()

    monkeypatch.setattr(SettingsDialog, "exec", fill_and_accept)
    assert window.edit_settings()
    s = window.settings
    assert s.lrs == (1e-5, 1e-3, 1e-2) and s.config.train.batch_size == 64
    assert s.config.model.components == 5 and s.config.data.limit_train == 300
    assert s.config.train.optimizer == "adam"
    assert load_settings(QSettings()) == s  # persisted


def test_live_training_two_learning_rates(window, qtbot):
    seen = record_events(window)
    window.settings = tiny_settings(epochs=2, lrs=(1e-3, 3e-3))
    window.start_training()
    assert window.controller.running and not window.start_action.isEnabled()
    wait_for_epoch(qtbot, seen, 1)
    assert len(window.training.plot.points(0)[0]) >= 1  # points appear while it trains
    finish(qtbot, window)
    plot = window.training.plot
    assert len(plot.runs) == 2 and [r.label for r in plot.runs] == ["lr=0.001", "lr=0.003"]
    for index, lr in enumerate(("0.001", "0.003")):
        x, y = plot.points(index)
        with open(window.queue_dir / f"lr_{lr}" / "metrics.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert list(x) == [1, 2]
        assert list(y) == pytest.approx([float(r["val_nll"]) for r in rows])
        assert table_text(window, index, 5) == "max epochs"
        assert table_text(window, index, 4) not in ("", "–")
    assert len(plot.legend.items) == 2
    panel = window.panels[0]
    # the last run's best model arrives from its event's weights, without a checkpoint being read
    qtbot.waitUntil(
        lambda: (
            window.service.info is not None
            and window.service.info.config.train.lr == 3e-3
            and window.service.info.epoch == table_epochs(window, 1)
        ),
        timeout=30_000,
    )
    assert panel.generated_view.image() is None  # hidden tabs wait until they are shown
    show_panels(window)
    qtbot.waitUntil(lambda: panel.generated_view.image() is not None, timeout=30_000)
    assert panel.real_view.image().shape == panel.generated_view.image().shape
    components, interpolation, latent_map = window.panels[1:4]
    qtbot.waitUntil(
        lambda: (
            bool(components.row_images())
            and all(i is not None for i in components.row_images())
            and interpolation.result is not None
            and latent_map.data is not None
        ),
        timeout=60_000,
    )


def test_pause_resume_and_stop(window, qtbot):
    seen = record_events(window)
    window.settings = tiny_settings(epochs=1000)
    window.start_training()
    wait_for_epoch(qtbot, seen, 1)
    window.toggle_pause()
    assert window.pause_action.text() == "&Resume"
    qtbot.wait(300)
    count = sum(1 for _, e in seen if type(e).__name__ == "EpochEnd")
    qtbot.wait(1500)
    assert sum(1 for _, e in seen if type(e).__name__ == "EpochEnd") <= count + 1
    window.toggle_pause()
    wait_for_epoch(qtbot, seen, count + 1)
    window.stop_training()
    finish(qtbot, window)
    assert table_text(window, 0, 5) == "stopped by user"
    assert window.start_action.isEnabled()


def test_diverging_run_is_marked_and_the_queue_goes_on(window, qtbot, monkeypatch):
    """The first learning rate's weights turn to NaN in its second epoch; the second lr still runs."""
    real_step = trainer_mod.Trainer.train_step

    def poisoned(self, x):
        if self.config.train.lr == 1e-3 and len(self.history) >= 1:
            with torch.no_grad():
                for p in self.model.parameters():
                    p.fill_(float("nan"))
        return real_step(self, x)

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", poisoned)
    window.settings = tiny_settings(epochs=2, lrs=(1e-3, 2e-3))
    window.start_training()
    finish(qtbot, window)
    plot = window.training.plot
    assert plot.runs[0].diverged and not plot.runs[1].diverged
    assert table_text(window, 0, 1) == "diverged" and table_text(window, 1, 1) == "done"
    model, _, payload = load_checkpoint(window.queue_dir / "lr_0.001" / "model.pt")
    assert payload["metrics"]["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len(plot.points(1)[0]) == 2
    assert (
        "diverged" in window.statusBar().currentMessage()
        and "lr=0.001" in window.statusBar().currentMessage()
    )


def test_export_every_figure(window, qtbot, tmp_path):
    window.settings = tiny_settings(epochs=2)
    window.start_training()
    finish(qtbot, window)
    qtbot.waitUntil(
        lambda: window.service.info is not None and window.service.info.epoch >= 1, timeout=30_000
    )
    out = tmp_path / "figures"
    out.mkdir()
    assert window.panels[0].generated_view.image() is None  # never shown: not drawn yet
    written = window.export_all(str(out))
    assert window.panels[0].generated_view.image() is not None  # export all drew it first
    names = {p.name for p in written}
    for stem in ("nll_val_curve", "real_images", "generated_images"):
        for suffix in (".png", ".svg", ".pdf"):
            assert f"{stem}{suffix}" in names
    for path in written:
        if path.suffix == ".png":
            image = QImage(str(path))
            assert not image.isNull() and image.width() > 100
        elif path.suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF")
        else:
            root = ET.parse(path).getroot()
            assert root.tag.endswith("svg")
    curve = ET.parse(out / "nll_val_curve.svg").getroot()
    paths = [el for el in curve.iter() if el.tag.endswith(("path", "polyline"))]
    assert len(paths) > 5


def test_unwritable_export_path(window, monkeypatch, tmp_path):
    errors = message_texts(monkeypatch)
    assert window._export(window.training.plot, tmp_path / "missing" / "plot.png") is None
    assert errors and "does not exist" in errors[0]
    assert window._export(window.training.plot, tmp_path / "plot.bmp") is None
    assert "png" in errors[-1]


def test_open_and_save_checkpoint_without_training(window, qtbot, checkpoint, tmp_path):
    open_and_show(window, qtbot, checkpoint)
    panel = window.panels[0]
    qtbot.waitUntil(lambda: panel.generated_view.image() is not None, timeout=30_000)
    assert window.save_action.isEnabled()
    first = panel.generated_view.image().copy()
    panel.on_resample()
    qtbot.waitUntil(lambda: (panel.generated_view.image() != first).any(), timeout=30_000)
    saved = window.save_checkpoint_as(str(tmp_path / "copy.pt"))
    assert saved is not None
    load_checkpoint(saved)


def test_save_as_refuses_when_the_file_no_longer_holds_the_model_shown(
    window, qtbot, checkpoint, tmp_path, monkeypatch
):
    """Save checkpoint as copies the model's file: once its run wrote a newer best over it (the
    model shown was pinned) or it was deleted, the copy would not be the model shown."""
    import shutil

    from apphelpers import tiny_config

    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    run = tmp_path / "run"
    shutil.copytree(checkpoint.parent, run)
    open_and_show(window, qtbot, run / "model.pt")
    assert window.service.info.epoch == 1
    config = tiny_config(epochs=3)
    Trainer(config, load_splits(config.data), tmp_path / "later").run()
    shutil.copy(tmp_path / "later" / "model.pt", run / "model.pt")  # a later epoch's best
    said = message_texts(monkeypatch)
    assert window.save_checkpoint_as(str(tmp_path / "copy.pt")) is None
    assert "no longer in its file" in said[-1] and "now holds epoch" in said[-1]
    (run / "model.pt").unlink()
    assert window.save_checkpoint_as(str(tmp_path / "copy.pt")) is None
    assert "is gone or cannot be read" in said[-1] and not (tmp_path / "copy.pt").exists()


def test_corrupt_checkpoint_shows_an_error(window, qtbot, monkeypatch, tmp_path):
    errors = message_texts(monkeypatch)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    window.open_checkpoint(str(bad))
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert "bad.pt" in errors[0]
    assert window.service.info is None


def test_close_during_training_stops_cleanly(window, qtbot, monkeypatch):
    seen = record_events(window)
    window.settings = tiny_settings(epochs=1000)
    window.start_training()
    wait_for_epoch(qtbot, seen, 1)
    asked = answer_messages(monkeypatch, yes=True)
    thread = window.controller._thread
    started = time.monotonic()
    assert window.close()
    assert time.monotonic() - started < 20
    assert asked and not window.controller.running
    assert thread.isFinished()
    assert (window.queue_dir / "model.pt").is_file()  # one run: its folder is the queue's, as in the CLI
    load_checkpoint(window.queue_dir / "model.pt")


def test_close_can_be_cancelled(window, qtbot, monkeypatch):
    seen = record_events(window)
    window.settings = tiny_settings(epochs=1000)
    window.start_training()
    wait_for_epoch(qtbot, seen, 1)
    answer_messages(monkeypatch, yes=False)
    assert not window.close()
    assert window.controller.running
    window.stop_training()
    finish(qtbot, window)


def test_settings_isolated_in_tmp(tmp_path):
    assert QSettings().fileName().startswith(str(tmp_path))


def test_settings_through_the_toolbar_action(window, qtbot):
    """The real modal dialog, opened by its action and accepted with a click on OK."""
    seen = {}

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        try:
            seen["dialog"] = isinstance(dialog, SettingsDialog)
            dialog.lrs.setText("abc")
            seen["ok_on_bad"] = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
            dialog.lrs.setText("2e-3 5e-4")
            dialog.epochs.setValue(3)
            qtbot.mouseClick(
                dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
            )
        finally:
            if dialog is not None and dialog.isVisible():
                dialog.reject()

    QTimer.singleShot(0, fill)
    window.settings_action.trigger()
    assert seen == {"dialog": True, "ok_on_bad": False}
    assert window.settings.lrs == (2e-3, 5e-4) and window.settings.config.train.epochs == 3
    assert load_settings(QSettings()).lrs == (2e-3, 5e-4)


def test_absurd_learning_rate_diverges_and_the_next_one_runs(window, qtbot):
    """SGD at lr=1e6 blows up in its first epoch: no best model, marked diverged; lr=1e-3 still trains."""
    window.settings = tiny_settings(epochs=1, lrs=(1e6, 1e-3), optimizer="sgd")
    window.start_training()
    finish(qtbot, window)
    plot = window.training.plot
    assert plot.runs[0].diverged and len(plot.points(0)[0]) == 0
    assert table_text(window, 0, 1) == "diverged" and table_text(window, 0, 5) == "diverged (NaN)"
    assert (window.queue_dir / "lr_1e+06" / "config.json").is_file()
    assert not (window.queue_dir / "lr_1e+06" / "model.pt").exists()
    assert table_text(window, 1, 1) == "done" and len(plot.points(1)[0]) == 1
    assert (window.queue_dir / "lr_0.001" / "model.pt").is_file()
    legend = [label.text for _, label in plot.legend.items]
    assert "lr=1e+06 (diverged)" in legend


def test_open_checkpoint_from_the_file_menu(window, qtbot, checkpoint, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(checkpoint), ""))
    window.open_action.trigger()
    panel = window.panels[0]
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(
        lambda: panel.real_view.image() is not None and panel.generated_view.image() is not None,
        timeout=30_000,
    )
    assert window.service.info.checkpoint == str(checkpoint)
    assert not window.controller.running


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_export_figure_from_the_menu(window, qtbot, tmp_path, monkeypatch, suffix):
    plot = window.training.plot
    for lr, start in (("lr=0.001", 180.0), ("lr=0.01", 170.0)):
        run = live_run(plot, lr)
        for epoch, value in enumerate((start, start - 30, start - 40), 1):
            feed(plot, run, epoch, value + 3, value, epoch, value)
    target = tmp_path / f"curve{suffix}"
    suggested = []

    def save_dialog(parent, caption, default, *rest, **kw):
        suggested.append(Path(default).name)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    action = next(a for a in window.export_menu.actions() if a.text() == "Validation nll curves…")
    action.trigger()
    assert suggested == ["nll_val_curves.png"]  # two runs: the CLI's name for overlaid curves
    assert target.is_file()
    data = target.read_bytes()
    if suffix == ".png":
        assert not QImage(str(target)).isNull()
    elif suffix == ".pdf":
        assert data.startswith(b"%PDF")
    else:
        assert any(el.tag.endswith(("path", "polyline")) for el in ET.fromstring(data).iter())


def test_export_errors_are_reported_once(window, monkeypatch, tmp_path):
    errors = message_texts(monkeypatch)
    assert window.export_all(str(tmp_path / "no" / "such")) == []
    assert len(errors) == 1 and "does not exist" in errors[0]
    (tmp_path / "dir.png").mkdir()
    assert window._export(window.training.plot, tmp_path / "dir.png") is None
    assert "dir.png" in errors[-1]


def test_start_with_an_unusable_runs_folder(window, monkeypatch, tmp_path):
    errors = message_texts(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    window.runs_root = blocker
    window.settings = tiny_settings()
    window.start_training()
    assert errors and "Cannot create" in errors[0]
    assert not window.controller.running and window.start_action.isEnabled()


def test_settings_dialog_round_trip_and_restore_defaults(qtbot):
    from dataclasses import replace

    from apphelpers import tiny_settings

    from vae_explorer.app.settings import TrainingSettings

    chosen = tiny_settings(
        epochs=7, lrs=(1e-3, 1e-5), optimizer="rmsprop", batch_size=16, seed=3, kl_warmup=5
    )
    chosen = replace(
        chosen, config=replace(chosen.config, model=replace(chosen.config.model, mixture_weights="uniform"))
    )
    dialog = SettingsDialog(chosen)
    qtbot.addWidget(dialog)
    assert dialog.settings() == chosen  # the fields show exactly what was given
    assert dialog.mixture_weights.currentData() == "uniform" and dialog.kl_warmup.value() == 5
    dialog.restore_defaults()
    assert dialog.settings() == TrainingSettings()
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_runs_go_to_the_user_data_folder_and_earlier_runs_stay_where_they_are(qapp, isolated_user_dirs):
    from vae_explorer.app.main_window import default_runs_root

    data = isolated_user_dirs / "xdg_data_home"
    assert default_runs_root() == data / "vae-explorer" / "runs"
    # where Qt's AppDataLocation put them (the app's name twice): used there, never moved
    earlier = data / "vae-explorer" / "vae-explorer" / "runs"
    (earlier / "20260101-120000").mkdir(parents=True)
    assert default_runs_root() == earlier
    assert sorted(p.name for p in earlier.iterdir()) == ["20260101-120000"]
    (data / "vae-explorer" / "runs").mkdir()
    assert default_runs_root() == data / "vae-explorer" / "runs"


def test_two_starts_in_one_second_get_folders_of_their_own(window, qtbot, monkeypatch):
    """Queue folders are named by the second: a second Start in the same second wrote into the
    first queue's folder and replaced its run. It now gets the name with -2."""
    import datetime as real

    from apphelpers import record_events

    from vae_explorer.app import main_window
    from vae_explorer.core import events as ev

    class Frozen(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 12, 6, 12, 0, 0)

    monkeypatch.setattr(main_window, "datetime", Frozen)
    seen = record_events(window)
    folders = []
    for _ in range(2):
        window.settings = tiny_settings(epochs=1)
        seen.clear()
        window.start_training()
        folders.append(window.queue_dir)
        qtbot.waitUntil(lambda: any(isinstance(e, ev.QueueFinished) for _, e in seen), timeout=120_000)
        qtbot.waitUntil(lambda: not window.controller.running, timeout=30_000)  # Start is free again
    assert [f.name for f in folders] == ["20261206-120000", "20261206-120000-2"]
    assert all((f / "metrics.csv").is_file() and (f / "model.pt").is_file() for f in folders)


def test_start_with_a_gpu_that_is_not_here_says_so_and_makes_no_folder(window, monkeypatch, tmp_path):
    """Settings restored from a machine with a GPU ask for CUDA; Start failed in the queue and
    left an empty folder. It is said before any folder is made."""
    from dataclasses import replace

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    errors = message_texts(monkeypatch)
    window.runs_root = tmp_path / "runs"
    settings = tiny_settings()
    window.settings = replace(
        settings, config=replace(settings.config, train=replace(settings.config.train, device="cuda"))
    )
    window.start_training()
    assert errors and "no CUDA device is available" in errors[0] and "Settings" in errors[0]
    assert not window.controller.running and not (tmp_path / "runs").exists()
