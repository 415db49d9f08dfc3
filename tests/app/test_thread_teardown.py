"""Threads end before their owners: a window closed, or destroyed without being closed, while its
evaluation, report or training runs joins those threads first. Qt aborts the process when a
running QThread is destroyed ("QThread: Destroyed while thread 'evaluation' is still running")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from apphelpers import answer_messages, open_and_show, tiny_settings

from vae_explorer.app.threads import running_threads

DESTROYED = "QThread: Destroyed while thread"

pytestmark = pytest.mark.slow  # windows torn down in the middle of each kind of job


@pytest.fixture(autouse=True)
def quit_answers_yes(monkeypatch):
    answer_messages(monkeypatch)


def start_long_evaluation(window, qtbot) -> None:
    panel = window.evaluation
    window.tabs.setCurrentWidget(panel)
    panel.iw_samples.setValue(5000)  # minutes on the CPU: it is still running when the window goes
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.progress.text().startswith("importance sampling"), timeout=60_000)


def test_closing_while_evaluating_joins_the_evaluation(window, qtbot, checkpoint):
    """The explore sequence that once crashed at teardown: open a checkpoint, visit the tabs,
    Evaluate, switch to another tab while it runs, close the window."""
    open_and_show(window, qtbot, checkpoint)
    start_long_evaluation(window, qtbot)
    assert "evaluation" in running_threads()
    window.tabs.setCurrentIndex(1)
    window.tabs.setCurrentWidget(window.evaluation)
    window.tabs.setCurrentIndex(0)
    assert window.close()
    assert running_threads() == []  # joined by the close, not left to the window's destruction


SCRIPT = r"""
import sys, time
from pathlib import Path
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QMessageBox
from vae_explorer.app.main import create_application
from vae_explorer.app.main_window import MainWindow
from vae_explorer.app.threads import running_threads

mode, checkpoint, root = sys.argv[1], sys.argv[2], Path(sys.argv[3])
QMessageBox.exec = lambda box: QMessageBox.StandardButton.Yes  # no box waits for an answer
app = create_application([sys.argv[0]])


def until(condition, seconds=120):
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        app.processEvents()
        time.sleep(0.01)


window = MainWindow(runs_root=root / "runs")
window.show()
if mode == "training":
    sys.path.insert(0, sys.argv[4])
    from apphelpers import tiny_settings

    window.settings = tiny_settings(epochs=50)
    seen = []
    window.controller.event.connect(lambda e: seen.append(type(e).__name__))
    window.start_training()
    until(lambda: "BatchProgress" in seen)
else:
    window.open_checkpoint(checkpoint)
    until(lambda: window.service.info is not None)
    panel = window.evaluation
    window.tabs.setCurrentWidget(panel)
    panel.iw_samples.setValue(5000)
    panel.evaluate_button.click()
    until(lambda: panel.progress.text().startswith("importance sampling"))
    window.export_report(str(root / "report.html"))  # the report thread runs beside it
    window.tabs.setCurrentIndex(1)
print("RUNNING", sorted(running_threads()), flush=True)
# destroyed without being closed: no closeEvent, no shutdown() called by the window
window.deleteLater()
QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
del window
print("LEFT", running_threads(), flush=True)
"""


@pytest.mark.parametrize("mode", ["evaluating", "training"])
def test_a_window_destroyed_without_closing_joins_its_threads(mode, checkpoint, tmp_path):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    tests_app = os.path.dirname(__file__)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(checkpoint), str(tmp_path), tests_app],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert DESTROYED not in proc.stderr
    running = next(line for line in proc.stdout.splitlines() if line.startswith("RUNNING"))
    expected = "'training'" if mode == "training" else "'evaluation'"
    assert expected in running, running
    assert "LEFT []" in proc.stdout
    if mode == "evaluating":  # the report under way was finished, not cut off
        assert (tmp_path / "report.html").is_file()


def test_closing_while_training_joins_the_training(window, qtbot):
    window.settings = tiny_settings(epochs=50)
    seen = []
    window.controller.event.connect(lambda e: seen.append(type(e).__name__))
    window.start_training()
    qtbot.waitUntil(lambda: "BatchProgress" in seen, timeout=60_000)
    assert "training" in running_threads()
    assert window.close()
    assert running_threads() == []
