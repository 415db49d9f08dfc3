"""How long the run list takes to read, and the plot to draw, runs with many epochs.

Writes runs of 1,000 to 1,000,000 epochs (metrics.csv only, beside a real config.json), then times
reading each (core.runs.read_run), ticking it in the real run list (one curve drawn from its
history) and, with forty 1,000-epoch runs ticked, ticking one more (only that run is drawn).
Run offscreen: `QT_QPA_PLATFORM=offscreen python benchmarks/long_curves.py`.
The last line is `tick_1e6_epochs_s=<seconds> tick_41st_run_s=<seconds>`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def write_run(folder: Path, epochs: int, template: Path) -> None:
    folder.mkdir(parents=True)
    shutil.copy(template / "config.json", folder / "config.json")
    with open(folder / "metrics.csv", "w") as fh:
        fh.write("epoch,train_loss,val_nll,seconds\n")
        fh.writelines(f"{e},{200 + 100 / e:.6f},{201 + 100 / e:.6f},1.25\n" for e in range(1, epochs + 1))


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="vae-explorer-curves-"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(scratch / var.lower())
    from PySide6.QtWidgets import QApplication

    from vae_explorer.app.training_panel import TrainingPanel
    from vae_explorer.core.config import RunConfig
    from vae_explorer.core.runs import read_run

    app = QApplication.instance() or QApplication(["long_curves"])
    template = scratch / "template"
    template.mkdir()
    (template / "config.json").write_text(RunConfig().to_json())
    root = scratch / "runs"
    sizes = (1_000, 4_000, 10_000, 100_000, 1_000_000)
    for n in sizes:
        write_run(root / f"epochs-{n}", n, template)
    for i in range(40):
        write_run(root / "many" / f"run-{i:02d}", 1_000, template)
    write_run(root / "many" / "run-40", 1_000, template)

    panel = TrainingPanel(root)
    panel.resize(1200, 800)
    panel.show()
    app.processEvents()
    browser = panel.browser
    started = time.perf_counter()
    browser.refresh()
    print(
        f"listing {len(browser.runs)} runs ({sum(r.epochs for r in browser.runs):,} epochs): {time.perf_counter() - started:.2f} s"
    )
    print(f"{'epochs':>10} {'read s':>8} {'tick s':>8} {'points drawn':>12}")
    tick_1e6 = 0.0
    for n in sizes:
        folder = root / f"epochs-{n}"
        started = time.perf_counter()
        run = read_run(folder, root)
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        browser.set_checked(run.key, True)
        app.processEvents()
        tick_s = time.perf_counter() - started
        drawn = len(panel.plot.runs[-1].epochs)
        print(f"{n:>10,} {read_s:>8.3f} {tick_s:>8.3f} {drawn:>12,}")
        browser.set_checked(run.key, False)
        tick_1e6 = tick_s
    many = [r for r in browser.runs if r.folder.parent.name == "many"]
    for run in many[:40]:
        browser.set_checked(run.key, True)
    app.processEvents()
    started = time.perf_counter()
    browser.set_checked(many[40].key, True)
    app.processEvents()
    tick_41 = time.perf_counter() - started
    print(f"41st run ticked beside 40 of 1,000 epochs: {tick_41:.3f} s")
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"tick_1e6_epochs_s={tick_1e6:.3f} tick_41st_run_s={tick_41:.3f}")


if __name__ == "__main__":
    main()
