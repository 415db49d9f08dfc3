"""App fixtures: an isolated QSettings store, the application's names, a window, a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from apphelpers import make_window, tiny_config
from PySide6.QtCore import QSettings

from vae_explorer import ORG_DOMAIN, ORG_NAME


@pytest.fixture(autouse=True)
def no_worker_thread_left(app_env):
    """A test ends with every worker thread joined (windows are closed before this runs): a
    QThread destroyed while it runs aborts the process."""
    yield
    from vae_explorer.app.threads import join_all, running_threads

    left = running_threads()
    if left:
        join_all()
        pytest.fail(f"worker threads still running after the test: {left}")


@pytest.fixture(autouse=True)
def app_env(qapp, tmp_path):
    qapp.setApplicationName("vae-explorer")
    qapp.setOrganizationName(ORG_NAME)
    qapp.setOrganizationDomain(ORG_DOMAIN)
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()
    yield qapp


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window; pytest-qt closes it after the test (training stopped first), which shuts
    its workers down."""
    return make_window(qtbot, tmp_path / "runs", size=(1100, 750))


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A small trained model, made with the core trainer (no GUI)."""
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = tiny_config(epochs=1)
    out = tmp_path / "ckpt"
    Trainer(config, load_splits(config.data), out).run()
    return out / "model.pt"
