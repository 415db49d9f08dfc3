"""`python -m vae_explorer.app.screenshots`: it writes the PNGs and leaves no scratch folder behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from vae_explorer.app import screenshots
from vae_explorer.app.main_window import MainWindow


@pytest.fixture
def scratch_dirs(tmp_path, monkeypatch):
    """Temporary folders go under tmp_path/tmp; the list collects the scratch folders made."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        path = real_mkdtemp(*args, **kwargs)
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    return tmp, made


def leftovers(tmp) -> list[str]:
    return [p.name for p in tmp.iterdir() if p.name.startswith(screenshots.SCRATCH_PREFIX)]


def main_windows() -> list[MainWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def test_screenshots_written_and_scratch_removed(tmp_path, scratch_dirs, monkeypatch):
    tmp, made = scratch_dirs
    real_wait = screenshots._wait
    monkeypatch.setattr(screenshots, "_wait", lambda ms: real_wait(max(ms // 10, 20)))
    env_before = {var: os.environ.get(var) for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME")}
    saw_checkpoint: list[bool] = []
    real_close = MainWindow.close

    def close_and_look(self):
        saw_checkpoint.append(any(p.suffix == ".pt" for p in Path(made[0]).rglob("*")))
        return real_close(self)

    monkeypatch.setattr(MainWindow, "close", close_and_look)
    out = tmp_path / "shots"
    assert screenshots.main([str(out), "--epochs", "1", "--limit-train", "200"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "main_window_0_training.png" in names and "settings_dialog.png" in names
    assert len(made) == 1 and saw_checkpoint == [True]  # the run did write checkpoints there
    assert not os.path.exists(made[0]) and leftovers(tmp) == []
    assert {var: os.environ.get(var) for var in env_before} == env_before
    for win in main_windows():
        assert not win.controller.running
        win.deleteLater()


def test_scratch_removed_when_it_fails(tmp_path, scratch_dirs, monkeypatch):
    tmp, made = scratch_dirs

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(MainWindow, "start_training", broken)
    with pytest.raises(RuntimeError, match="boom"):
        screenshots.main([str(tmp_path / "shots"), "--epochs", "1", "--limit-train", "200"])
    assert len(made) == 1 and not os.path.exists(made[0]) and leftovers(tmp) == []
    for win in main_windows():
        assert not win.controller.running and not win.service.running
        win.deleteLater()
