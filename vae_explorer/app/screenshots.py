"""Offscreen screenshots of the app: `python -m vae_explorer.app.screenshots OUTDIR [--checkpoint CKPT]`.

Trains a few epochs on a subset of MNIST in the real window (settings kept in a temporary folder),
then saves PNGs of the main window on every tab, of the settings dialog and of the About box.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

SCRATCH_PREFIX = "vae-explorer-shots-"
_USER_DIRS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")


def _wait(ms: int) -> None:
    """Let the event loop run for `ms` milliseconds (plots redraw, panels refresh)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _terminated(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks, which stop training and clean up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--checkpoint", help="show this model in the panels instead of the subset run's")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--limit-train", type=int, default=3000)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    saved_env = {var: os.environ.get(var) for var in _USER_DIRS}
    scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
    try:
        previous_term = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread: leave SIGTERM alone
        previous_term = None
    try:
        for var in _USER_DIRS:
            os.environ[var] = os.path.join(scratch, var.lower())
        return _shoot(args, Path(scratch))
    finally:
        # the scratch folder holds the settings and every checkpoint of the subset run (~60 MB)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        shutil.rmtree(scratch, ignore_errors=True)


def _shoot(args: argparse.Namespace, scratch: Path) -> int:
    from dataclasses import replace

    from vae_explorer.app.main import create_application
    from vae_explorer.app.main_window import MainWindow
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.app.settings_dialog import SettingsDialog

    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    app = create_application([sys.argv[0]])
    window = MainWindow(runs_root=scratch / "runs")
    try:
        base = window.settings.config
        config = replace(
            base,
            data=replace(base.data, limit_train=args.limit_train, limit_val=1000, limit_test=1000),
            train=replace(base.train, epochs=args.epochs),
        )
        window.settings = TrainingSettings(config, (1e-3, 3e-3))
        window.resize(1280, 860)
        window.show()

        window.start_training()
        while window.controller.running:
            _wait(200)
        if args.checkpoint:
            window.open_checkpoint(args.checkpoint)
        _wait(2500)
        for i in range(window.tabs.count()):
            window.tabs.setCurrentIndex(i)
            _wait(1500)
            name = window.tabs.tabText(i).lower().replace(" ", "_")
            window.grab().save(str(out / f"main_window_{i}_{name}.png"))
        dialog = SettingsDialog(window.settings, window)
        dialog.show()
        _wait(300)
        dialog.grab().save(str(out / "settings_dialog.png"))
        dialog.close()
        about = getattr(window, "about_dialog", None)
        if about is not None:
            box = about()
            box.show()
            _wait(300)
            box.grab().save(str(out / "about_dialog.png"))
            box.close()
    finally:
        # stop the trainer thread first (closing mid-run would ask a question nobody can answer), so
        # that nothing writes into the scratch folder while it is removed
        window.controller.stop_and_wait()
        window.close()
        app.processEvents()
    print(f"screenshots written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
