"""Start the desktop app."""

from __future__ import annotations

import sys

from vae_explorer import APP_NAME, ORG_DOMAIN, ORG_NAME, __version__


def create_application(argv: list[str] | None = None):
    """The QApplication with name, organisation, version and icon set (QSettings use them)."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("vae-explorer")
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setOrganizationDomain(ORG_DOMAIN)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("io.github.vae_explorer.VaeExplorer")
    app.setWindowIcon(app_icon())
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    return app


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


def run_app(argv: list[str] | None = None) -> int:
    app = create_application(argv)
    from vae_explorer.app.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
