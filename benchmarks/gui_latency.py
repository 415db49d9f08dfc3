"""How late a 10 ms QTimer fires on the GUI thread while the real window trains at batch size 32.

Run offscreen: `QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py [--seconds 30] [--device cuda]`.
With --device cuda the trainer runs on the GPU (captured steps) and the explore tabs' jobs too.
The last line is `gui_latency_p99_ms=<value> max_ms=<value>`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure")
    parser.add_argument("--limit-train", type=int, default=None, help="training images (default all 50,000)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the trainer runs")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="vae-explorer-latency-"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(scratch / var.lower())

    import torch
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from vae_explorer.app.main import create_application
    from vae_explorer.app.main_window import MainWindow
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.core import events as ev
    from vae_explorer.core.config import RunConfig

    _app = create_application(["gui_latency"])  # held: the QApplication must outlive the window
    window = MainWindow(runs_root=scratch / "runs")
    base = RunConfig()
    config = replace(
        base,
        data=replace(base.data, limit_train=args.limit_train),
        train=replace(base.train, device=args.device, batch_size=32),
    )
    window.settings = TrainingSettings(config, (1e-3,))
    window.resize(1200, 800)
    window.show()

    epochs = []
    window.controller.event.connect(lambda e: epochs.append(e) if isinstance(e, ev.EpochEnd) else None)
    steps = []  # how the run's steps execute (eager or a CUDA graph)
    window.controller.event.connect(lambda e: steps.append(e) if isinstance(e, ev.StepChosen) else None)
    started = []  # every BatchProgress, to know when training is under way and how fast it goes
    window.controller.event.connect(lambda e: started.append(e) if isinstance(e, ev.BatchProgress) else None)
    window.start_training()
    loop = QEventLoop()
    wait = QTimer()
    wait.timeout.connect(lambda: loop.quit() if started else None)
    wait.start(50)
    loop.exec()  # until the first batches have run
    wait.stop()

    lateness: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    tick = QTimer()
    tick.setTimerType(tick.timerType().PreciseTimer)

    def on_tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - 10.0))
        last[0] = now

    tick.timeout.connect(on_tick)
    tick.start(10)
    first = started[-1]
    measure_start = time.monotonic()
    # switch tabs now and then, as a user would, so the panels repaint during the measurement
    flip = QTimer()
    flip.timeout.connect(
        lambda: window.tabs.setCurrentIndex((window.tabs.currentIndex() + 1) % window.tabs.count())
    )
    flip.start(1000)
    # a real event loop, as app.exec() runs it (a Python loop around processEvents() would busy-spin,
    # taking a core and the GIL from the training thread)
    QTimer.singleShot(int(args.seconds * 1000), loop.quit)
    loop.exec()
    tick.stop()
    flip.stop()
    last_seen = started[-1]
    measured = time.monotonic() - measure_start
    batches = (last_seen.epoch - first.epoch) * first.total + last_seen.batch - first.batch
    window.stop_training()
    window.controller.stop_and_wait()
    window.close()

    lat = np.array(lateness)
    print(
        f"torch threads={torch.get_num_threads()} cores={os.cpu_count()} ticks={len(lat)} "
        f"epochs finished={len(epochs)} seconds={args.seconds:.0f} device={args.device} "
        f"explore device={window.service.device}"
    )
    if steps:
        print(f"training step: {steps[0].text()}")
    print(
        f"training meanwhile: {batches} batches of 32 in {measured:.1f} s ({batches / measured:.0f} batches/s)"
    )
    print(
        f"lateness ms: mean={lat.mean():.2f} p50={np.percentile(lat, 50):.2f} "
        f"p90={np.percentile(lat, 90):.2f} p99={np.percentile(lat, 99):.2f} max={lat.max():.2f}"
    )
    print(f"gui_latency_p99_ms={np.percentile(lat, 99):.2f} max_ms={lat.max():.2f}")


if __name__ == "__main__":
    main()
