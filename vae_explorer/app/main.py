"""Start the desktop app."""

from __future__ import annotations

import os
import sys

from vae_explorer import APP_NAME, ORG_DOMAIN, ORG_NAME, __version__


def create_application(argv: list[str] | None = None, plots: bool = True):
    """The QApplication with name, organisation, version and icon set (QSettings use them);
    with `plots`, pyqtgraph configured too (its import takes a second: run_app does it after the
    first paint)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("vae-explorer")
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setOrganizationDomain(ORG_DOMAIN)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("io.github.vae_explorer.VaeExplorer")
    app.setWindowIcon(app_icon())
    if plots:
        configure_plots()
    return app


def configure_plots() -> None:
    """pyqtgraph's options, and garbage collection on the GUI thread (pyqtgraph's collector; before
    any worker thread starts)."""
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    collect_garbage_on_gui_thread()


_collector = None  # the one GarbageCollector of the process, once installed


def collect_garbage_on_gui_thread():
    """Run Python's cyclic garbage collector only on the GUI thread (pyqtgraph's GarbageCollector:
    automatic collection off, a GUI-thread timer collects each second).

    An automatic collection runs on whichever thread happens to allocate past the threshold: the
    training, figure or report thread. A Qt object it frees there (a closed window's widgets, a
    QThread, a timer) is destroyed off the GUI thread while the GUI thread uses Qt, which can
    crash. Needs a QApplication; installing it again returns the one already installed."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=1.0)
    return _collector


FRAME_ROOM = (16, 48)  # pixels of width and height left for a title bar and borders


def loading_window():
    """What shows while the engine (PyTorch, pyqtgraph, the panels) loads: a plain window with the
    app's title, where the main window will be, saying what is happening."""
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QLabel, QMainWindow

    window = QMainWindow()
    window.setWindowTitle(APP_NAME)
    label = QLabel("Loading the training engine (PyTorch) and the plots…")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("color: #555; font-size: 12pt;")
    window.setCentralWidget(label)
    from vae_explorer.app.settings import read_bytes

    geometry = read_bytes(QSettings(), "window/geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        # the main window's own first size, within the screen's free area less room for the
        # window manager's frame (known only once shown): on a 1024x700 screen a 1200x800 window
        # had its right edge and its status bar cut off
        screen = window.screen().availableGeometry()
        window.resize(min(1200, screen.width() - FRAME_ROOM[0]), min(800, screen.height() - FRAME_ROOM[1]))
    return window


def app_icon():
    """The application icon from the shipped PNG sizes ."""
    from PySide6.QtGui import QIcon

    from vae_explorer.assets import icon_path

    icon = QIcon()
    for size in (16, 32, 48, 64, 128, 256):
        path = icon_path(size)
        if path.is_file():
            icon.addFile(str(path))
    return icon


NO_DISPLAY = (
    "error: no display found (DISPLAY and WAYLAND_DISPLAY are unset); "
    "the command line works without one: vae-explorer --help"
)


def missing_display() -> bool:
    """True on Linux and the BSDs (X11 or Wayland) when no display is set and no Qt platform is
    chosen: Qt would abort the process there ("no Qt platform plugin could be initialized")."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly")):
        return False  # macOS and Windows always have their own platform plugin
    if os.environ.get("QT_QPA_PLATFORM"):
        return False  # e.g. offscreen, vnc, eglfs: the user chose
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# the system libraries Qt's xcb platform plugin loads and that minimal Linux systems lack, with
# the Debian/Ubuntu package of each
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def missing_xcb_libraries() -> list[str]:
    """The packages to install before Qt's xcb plugin can load, where it is the one Qt will use
    (an X display on Linux, no other platform chosen); Qt itself names only the first it misses."""
    if not sys.platform.startswith("linux"):
        return []
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb" or not os.environ.get("DISPLAY"):
        return []
    if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        return []  # Qt picks its Wayland plugin there
    import ctypes

    missing = []
    for library, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(package)
    return missing


def paint_now(app, window, wait: float = 1.0) -> None:
    """Return once `window` is on screen and painted (the window manager maps it a moment after
    show(), and the imports that follow would keep it black until they end), or after `wait` s."""
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        app.processEvents()
        handle = window.windowHandle()
        if handle is not None and handle.isExposed():
            window.repaint()
            app.processEvents()
            return
        time.sleep(0.005)


def run_app(argv: list[str] | None = None) -> int:
    if missing_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    missing = missing_xcb_libraries()
    if missing:
        print(
            f"error: the window needs system libraries that are missing: {', '.join(missing)}; on "
            f"Debian or Ubuntu: sudo apt-get install {' '.join(missing)} (the command line works "
            "without them: vae-explorer --help)",
            file=sys.stderr,
        )
        return 2
    app = create_application(argv, plots=False)
    # on screen first, then the heavy imports: the window appears in a fraction of the time
    loading = loading_window()
    loading.show()
    paint_now(app, loading)
    configure_plots()
    from vae_explorer.app.main_window import MainWindow

    window = MainWindow()
    app.processEvents()  # the window manager's placement of the loading window is known now
    window.setGeometry(loading.geometry())  # where the user already sees the app
    window.show()
    loading.close()
    window.show_getting_started_once()
    code = app.exec()
    # Everything is on disk by now (run files are written atomically, the settings synced on
    # close): end the process at once rather than after seconds of interpreter teardown (torch,
    # Qt and the worker threads' objects), so that a relaunch never meets a half-ended copy.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
