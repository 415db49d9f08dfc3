"""Shared test set-up: offscreen Qt, user folders in a temporary place, a tiny MNIST subset."""

from __future__ import annotations

import os
import signal
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

from vae_explorer.core.config import DataConfig
from vae_explorer.core.data import load_splits


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` are skipped where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """QSettings, QStandardPaths and any user data go to a fresh temporary folder per test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    yield home


@pytest.fixture(scope="session")
def gc_on_the_gui_thread(qapp):
    """Python's cyclic collector runs on the GUI thread's timer, as in the app (pytest-qt
    processes events around every test, which fires it): never on a worker thread."""
    from vae_explorer.app.main import collect_garbage_on_gui_thread

    return collect_garbage_on_gui_thread()


_terminal: int | None = None  # the real stderr, for Qt's fatal messages
_session_dirs: list[str] = []


def pytest_configure(config):
    global _terminal
    _terminal = os.dup(2)  # output capture is suspended while plugins are configured
    _foreground_signals()
    _isolate_the_session()


def _isolate_the_session() -> None:
    """The user's folders and Ray's temporary folder, for the whole session, before any fixture:
    fixtures of module or session scope are set up before `isolated_user_dirs`, so without this
    they read the user's classifier and write ~/.ray and ~/.cache; and every local Ray instance
    leaves its session folder in /tmp/ray. Ray's socket paths must stay short (about 107 bytes),
    hence a short folder of its own; both are removed at the end."""
    import tempfile

    home = tempfile.mkdtemp(prefix="vae-explorer-tests-home-")
    ray = tempfile.mkdtemp(prefix="vr", dir="/tmp" if os.path.isdir("/tmp") else None)
    _session_dirs.extend([home, ray])
    os.environ["HOME"] = home
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        os.environ[var] = os.path.join(home, var.lower())
    os.environ["RAY_TMPDIR"] = ray
    try:  # Hypothesis keeps no example database in the working folder
        from hypothesis import settings

        settings.register_profile("vae-explorer-tests", database=None)
        settings.load_profile("vae-explorer-tests")
    except ImportError:
        pass


def pytest_unconfigure(config):
    import shutil

    for folder in _session_dirs:
        shutil.rmtree(folder, ignore_errors=True)


def _foreground_signals() -> None:
    """The commands the tests start behave as in a terminal's foreground, where Ctrl-C, SIGTERM
    and SIGHUP are not ignored. A runner that starts pytest in the background (`&` in a script,
    nohup) has them ignored, the children would inherit that, and a command keeps an ignored
    signal ignored: reset here, so that the tests' signals reach the commands."""
    for name, handler in (
        ("SIGINT", signal.default_int_handler),
        ("SIGTERM", signal.SIG_DFL),
        ("SIGHUP", signal.SIG_DFL),
    ):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is signal.SIG_IGN:
            signal.signal(sig, handler)


@pytest.fixture(autouse=True)
def _qt_session(request):
    """Every test that has a QApplication collects garbage on the GUI thread only, and a fatal
    Qt message ("QThread: Destroyed while thread … is still running") reaches the terminal
    before Qt aborts: pytest-qt keeps the test's Qt messages and fd capture the rest, both lost
    in an abort, and CI looks for that line."""
    if "qapp" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("gc_on_the_gui_thread")
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind, context, message):
        if kind == QtMsgType.QtFatalMsg and _terminal is not None:
            os.write(_terminal, f"Qt fatal message: {message}\n".encode(errors="replace"))
        if previous is not None:
            previous(kind, context, message)
        else:
            print(message, file=sys.stderr)

    previous = qInstallMessageHandler(handler)
    yield
    qInstallMessageHandler(previous)


@pytest.fixture(scope="session")
def tiny_splits():
    """512 training, 256 validation and 256 test images of the bundled MNIST."""
    return load_splits(DataConfig(limit_train=512, limit_val=256, limit_test=256))
