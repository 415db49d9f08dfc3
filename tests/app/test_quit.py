"""Quitting ends the process promptly: a relaunch never meets a copy still writing its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow  # the app in a process of its own, closed at each stage

SCRIPT = r"""
import os, sys, time
from PySide6.QtCore import QTimer
from vae_explorer.app import main as app_main
from vae_explorer.app.main_window import MainWindow

original_close = MainWindow.closeEvent


def close_event(self, event):
    print(f"CLOSING {time.time():.4f}", flush=True)
    original_close(self, event)
    print(f"CLOSED {time.time():.4f}", flush=True)


MainWindow.closeEvent = close_event
original_init = MainWindow.__init__


def init(self, *args, **kwargs):
    original_init(self, *args, runs_root=sys.argv[2], **kwargs)
    if sys.argv[1] == "train":
        from PySide6.QtWidgets import QMessageBox
        from vae_explorer.app.settings import TrainingSettings
        from vae_explorer.core.config import DataConfig, RunConfig

        QMessageBox.exec = lambda box: QMessageBox.StandardButton.Yes
        self.settings = TrainingSettings(RunConfig(DataConfig(limit_train=20000, limit_val=200, limit_test=200)))
        QTimer.singleShot(300, self.start_training)
        self.controller.event.connect(
            lambda e: type(e).__name__ == "BatchProgress" and QTimer.singleShot(0, self.close)
        )
    else:
        QTimer.singleShot(500, self.close)


MainWindow.__init__ = init
sys.exit(app_main.run_app([sys.argv[0]]))
"""


def quit_delay(tmp_path, mode: str) -> tuple[float, float]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    ended = time.time()

    def at(word: str) -> float:
        found = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith(word + " ")]
        assert proc.returncode == 0 and found, proc.stderr[-2000:]
        return found[0]

    # from the close request to the end of the process, and the part after the window had closed
    return ended - at("CLOSING"), ended - at("CLOSED")


@pytest.mark.parametrize("mode", ["idle", "train"])
def test_the_process_ends_soon_after_the_window_closes(tmp_path, mode):
    total, after = quit_delay(tmp_path, mode)
    print(f"{mode}: {total:.2f} s from the close request, {after:.2f} s after the window closed")
    # idle: nothing to finish; training: the window closes once the run has stopped after its
    # batch and written its files, and the process then has nothing left to do either
    assert after < 2.0, after
    if mode == "train":
        run = next((tmp_path / "runs").iterdir())  # closed at its first batch: stopped, written
        assert json.loads((run / "outcome.json").read_text())["status"] == "stopped"
