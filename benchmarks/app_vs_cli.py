"""Seconds per epoch of the same training in the CLI and in the app, as a user runs each.

The CLI: `vae-explorer train` in a subprocess (its engine, its thread count). The app: the real
main window, offscreen, training the same settings from Start, with the Real vs generated,
Components and Latent map tabs each shown once while it trains (they draw the model then) and
the Training tab in front otherwise. Both train the default model on a subset; an epoch's
seconds are those metrics.csv holds (the training steps only: validation and the figures drawn
between epochs are left out), the first epoch left out as warm-up. The last line is `app_cli_epoch_ratio=<app s per epoch / CLI s per epoch>`.

Run: `QT_QPA_PLATFORM=offscreen python benchmarks/app_vs_cli.py [--epochs 5 --limit-train 3000]`.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI and the app set it


def epoch_seconds(run_dir: Path) -> list[float]:
    with open(run_dir / "metrics.csv") as fh:
        return [float(row["seconds"]) for row in csv.DictReader(fh)]


def cli_run(out: Path, args: argparse.Namespace) -> list[float]:
    command = [
        sys.executable,
        "-m",
        "vae_explorer",
        "train",
        "--out",
        str(out),
        "--epochs",
        str(args.epochs),
        "--limit-train",
        str(args.limit_train),
        "--limit-val",
        str(args.limit_val),
        "--limit-test",
        str(args.limit_val),
        "--device",
        "cpu",
        "--patience",
        "1000",
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return epoch_seconds(out)


def app_run(runs_root: Path, args: argparse.Namespace) -> tuple[list[float], int]:
    from dataclasses import replace

    from PySide6.QtCore import QEventLoop, QTimer

    from vae_explorer.app.main import create_application
    from vae_explorer.app.main_window import MainWindow
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.app.training_worker import training_threads
    from vae_explorer.core import events as ev
    from vae_explorer.core.config import RunConfig

    _app = create_application(["app_vs_cli"])  # held: the QApplication must outlive the window
    window = MainWindow(runs_root=runs_root)
    base = RunConfig()
    config = replace(
        base,
        data=replace(
            base.data, limit_train=args.limit_train, limit_val=args.limit_val, limit_test=args.limit_val
        ),
        train=replace(base.train, device="cpu", epochs=args.epochs, patience=1000),
    )
    window.settings = TrainingSettings(config, (config.train.lr,))
    window.resize(1200, 800)
    window.show()
    figure_tabs = [
        i
        for i in range(window.tabs.count())
        if window.tabs.tabText(i) in ("Real vs generated", "Components", "Latent map")
    ]
    assert len(figure_tabs) == 3, [window.tabs.tabText(i) for i in range(window.tabs.count())]
    looked = []

    def on_event(event: object) -> None:
        # at the first new best, look at each figure tab for 0.3 s, then go back to the curve
        if isinstance(event, ev.NewBest) and not looked:
            looked.append(event.epoch)
            for step, index in enumerate([*figure_tabs, 0]):
                QTimer.singleShot(300 * step, lambda i=index: window.tabs.setCurrentIndex(i))

    window.controller.event.connect(on_event)
    loop = QEventLoop()
    window.controller.finished.connect(loop.quit)
    window.start_training()
    loop.exec()
    seconds = epoch_seconds(window.queue_dir)
    window.close()
    return seconds, training_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit-train", type=int, default=3000)
    parser.add_argument("--limit-val", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="vae-explorer-app-vs-cli-"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(scratch / var.lower())
    started = time.monotonic()
    cli = cli_run(scratch / "cli", args)
    app, threads = app_run(scratch / "runs", args)
    cli_s, app_s = statistics.median(cli[1:] or cli), statistics.median(app[1:] or app)
    print(
        f"default model, {args.limit_train} training / {args.limit_val} validation images, {args.epochs} epochs, "
        f"cores={os.cpu_count()} app training threads={threads}, {time.monotonic() - started:.0f} s in all"
    )
    print("cli s/epoch: " + " ".join(f"{s:.2f}" for s in cli))
    print("app s/epoch: " + " ".join(f"{s:.2f}" for s in app))
    print(f"median after the first epoch: cli={cli_s:.3f} app={app_s:.3f}")
    print(f"app_cli_epoch_ratio={app_s / cli_s:.3f}")


if __name__ == "__main__":
    main()
