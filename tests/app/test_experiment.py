"""Train → New experiment… offscreen: the dialog's plan, a 2-trial sweep on a local Ray instance
whose curves stream in and whose table fills, Stop, and the sweep as one group in the browser."""

from __future__ import annotations

from dataclasses import replace

import pytest
from apphelpers import make_window, tiny_settings
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from vae_explorer.app.experiment_dialog import ExperimentDialog
from vae_explorer.core.checkpoint import load_checkpoint


def test_dialog_says_what_start_does_and_refuses_impossible_settings(qtbot):
    dialog = ExperimentDialog(tiny_settings().config)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.set_axis(0, "components", "4, 16")
    dialog.add_axis("prior-init", "random, kmeans")
    dialog.seeds.setText("0, 1, 2")
    dialog.workers.setValue(2)
    assert dialog.plan.text() == "12 trials = 2 × 2 settings × 3 seeds on 2 workers"
    assert ok.isEnabled()
    dialog.set_axis(0, "components", "4, 0")  # core.config refuses K = 0
    assert not ok.isEnabled() and "components" in dialog.plan.text()
    dialog.set_axis(0, "components", "4, x")
    assert not ok.isEnabled() and "not a whole number" in dialog.plan.text()
    dialog.set_axis(0, "components", "4")
    dialog.seeds.setText("0, 0")
    assert not ok.isEnabled()
    dialog.seeds.setText("0-1")
    dialog.address.setText("127.0.0.1:6379")
    assert dialog.plan.text().startswith("4 trials = 1 × 2 settings × 2 seeds on 2 workers")
    assert dialog.options().address == "127.0.0.1:6379"


@pytest.mark.slow
def test_experiment_streams_fills_its_table_and_stops(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "runs")
    qtbot.addWidget(win, before_close_func=lambda w: w.sweeps.stop_and_wait())
    settings = tiny_settings(epochs=60)
    config = settings.config
    win.settings = replace(
        settings,
        config=replace(config, data=replace(config.data, limit_train=4096, limit_val=64, limit_test=64)),
    )
    dialog = ExperimentDialog(win.settings.config, win)
    qtbot.addWidget(dialog)
    dialog.set_axis(0, "components", "2, 4")
    dialog.seeds.setText("0")
    dialog.workers.setValue(2)
    assert dialog.plan.text() == "2 trials = 2 settings × 1 seed on 2 workers"
    dialog.exec = lambda: QDialog.DialogCode.Accepted
    assert win.new_experiment(dialog)
    panel = win.sweep_panel
    assert win.tabs.currentWidget() is panel and win.sweeps.running
    assert not win.start_action.isEnabled() and win.stop_action.isEnabled()

    qtbot.waitUntil(lambda: len(panel.trials) == 2, timeout=60_000)
    # both curves stream in while the sweep runs
    qtbot.waitUntil(lambda: all(len(t.epochs) >= 2 for t in panel.trials.values()), timeout=240_000)
    for trial in panel.trials.values():
        xs, ys = trial.curve.getData()
        assert list(xs[:2]) == [1, 2] and len(ys) >= 2
    colours = {t.curve.opts["pen"].color().name() for t in panel.trials.values()}
    assert len(colours) == 2  # a colour per setting

    win.stop_action.trigger()  # Stop ends every trial
    qtbot.waitUntil(lambda: not win.sweeps.running, timeout=240_000)
    assert win.start_action.isEnabled() and not win.stop_action.isEnabled()
    for row in range(2):
        cells = panel.row_text(row)
        assert cells[3].startswith("stopped"), cells
        assert float(cells[6]) > 0  # the test nll of its best model
    for trial in panel.trials.values():
        load_checkpoint(trial.folder / "model.pt")
    assert "stopped" in panel.status.text() and "trials.csv" in panel.status.text()

    # the sweep's trials are one group in the run browser, under a heading; double-click explores
    browser = win.browser
    heading = browser.rows.index(None)
    group = browser.rows[heading + 1 : heading + 3]
    assert {r.folder for r in group} == {t.folder for t in panel.trials.values()}
    assert browser.table.item(heading, 1).text() == f"experiment {panel.out_dir.name}: 2 trials"
    assert browser.table.columnSpan(heading, 1) == browser.table.columnCount() - 1
    browser.filter.setText("components=4")  # the heading stays with the trial it shows
    shown = [r for r in range(browser.table.rowCount()) if not browser.table.isRowHidden(r)]
    assert shown == [heading, heading + 1 + [r.folder.name for r in group].index("components=4,seed=0")]
    browser.filter.setText("")
    with qtbot.waitSignal(win.service.model_loaded, timeout=60_000):
        panel.explore_row(0)


def test_a_frozen_bundle_says_experiments_need_the_pip_install(qtbot, tmp_path, monkeypatch):
    import sys

    from apphelpers import answer_messages

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    win = make_window(qtbot, tmp_path / "runs")
    errors = answer_messages(monkeypatch)
    assert win.experiment_action.isEnabled()  # a click is answered with the reason
    assert "install vae-explorer with pip" in win.experiment_action.toolTip()
    assert win.new_experiment() is False
    assert errors and errors[0][0] == "New experiment" and "need a Python interpreter" in errors[0][1]
    assert not list((tmp_path / "runs").glob("*-experiment"))  # no folder made
    assert win.tabs.indexOf(win.sweep_panel) < 0


def test_a_failed_experiment_is_said_in_a_dialog(qtbot, tmp_path, monkeypatch):
    """As a failed training queue: a dialog, not only a line in the tab while the status bar says
    "Ready"."""
    from apphelpers import answer_messages

    from vae_explorer.core.sweep_ray import SweepError, SweepRunner

    def fail(self):
        raise SweepError("Ray could not start: no room in /tmp")

    monkeypatch.setattr(SweepRunner, "run", fail)
    win = make_window(qtbot, tmp_path / "runs")
    said = answer_messages(monkeypatch)
    dialog = ExperimentDialog(win.settings.config, win)
    qtbot.addWidget(dialog)
    dialog.seeds.setText("0")
    dialog.exec = lambda: QDialog.DialogCode.Accepted
    assert win.new_experiment(dialog)
    qtbot.waitUntil(lambda: not win.sweeps.running, timeout=30_000)
    qtbot.waitUntil(lambda: bool(said), timeout=10_000)
    assert said == [("Experiment failed", "The experiment failed: Ray could not start: no room in /tmp")]
    assert "failed" in win.sweep_panel.status.text() and win.start_action.isEnabled()
