"""Starting the app: without a display on Linux/BSD it says so and exits 2 instead of Qt aborting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vae_explorer.app import main as app_main

DISPLAY_VARS = ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")


class Started(Exception):
    """Raised by the stand-in create_application: run_app went on to make the QApplication."""


@pytest.fixture
def no_qt(monkeypatch):
    def create_application(argv=None, plots=True):
        raise Started

    monkeypatch.setattr(app_main, "create_application", create_application)


@pytest.fixture
def headless(monkeypatch, no_qt):
    for var in DISPLAY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("platform", ["linux", "freebsd14", "openbsd7", "netbsd10"])
def test_no_display_is_a_one_line_error(headless, monkeypatch, capsys, platform):
    monkeypatch.setattr(sys, "platform", platform)
    assert app_main.run_app() == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: no display found")
    assert "DISPLAY" in err and "WAYLAND_DISPLAY" in err and "vae-explorer --help" in err


@pytest.mark.parametrize("var", ["DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"])
def test_a_display_or_a_chosen_platform_starts_the_app(headless, monkeypatch, var):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(app_main, "missing_xcb_libraries", lambda: [])  # as on a desktop
    monkeypatch.setenv(var, {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}.get(var, "offscreen"))
    with pytest.raises(Started):
        app_main.run_app()


def test_empty_display_counts_as_unset(headless, monkeypatch, capsys):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", "")
    assert app_main.run_app() == 2
    assert "no display" in capsys.readouterr().err


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_macos_and_windows_need_no_display_variable(headless, monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    with pytest.raises(Started):
        app_main.run_app()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland only")
def test_vae_explorer_without_arguments_and_display_exits_2():
    """The real command (`vae-explorer` with no arguments) in a process with no display: Qt used to
    abort it (exit 134) with "no Qt platform plugin could be initialized"."""
    env = {k: v for k, v in os.environ.items() if k not in DISPLAY_VARS}
    proc = subprocess.run(
        [sys.executable, "-c", "from vae_explorer.cli import main; raise SystemExit(main([]))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == app_main.NO_DISPLAY


def test_missing_xcb_libraries_are_named_with_their_packages(headless, monkeypatch, capsys):
    """Qt's xcb plugin names only the first library it misses (xcb-cursor), and aborts."""
    import ctypes

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    present = {"libxcb-cursor.so.0"}

    def cdll(name, *args, **kwargs):
        if name not in present:
            raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert app_main.run_app() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "libxcb-icccm4, libxcb-keysyms1, libxkbcommon-x11-0" in err and "libxcb-cursor0" not in err
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in err
    present.update(app_main.XCB_LIBRARIES)
    with pytest.raises(Started):
        app_main.run_app()
    # another platform chosen, or Wayland: Qt does not load the xcb plugin, nothing is checked
    present.clear()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert app_main.missing_xcb_libraries() == []


def test_the_first_window_fits_the_screen(qapp):
    # a first launch (no saved geometry): the window is 1200x800 where the screen has room, and on
    # a smaller screen it keeps inside its free area with room for the window manager's frame
    window = app_main.loading_window()
    free = window.screen().availableGeometry()
    room_w, room_h = app_main.FRAME_ROOM
    assert window.width() == min(1200, free.width() - room_w)
    assert window.height() == min(800, free.height() - room_h)
    assert window.width() + room_w <= free.width() and window.height() + room_h <= free.height()
    window.deleteLater()
