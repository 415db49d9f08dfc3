"""The teaching lab's screenshots and the search for a test image whose true posterior is far
from Gaussian.

    python benchmarks/lab_screenshots.py scan runs/lab2d/model.pt --images 300
    python benchmarks/lab_screenshots.py shots runs/lab2d/model.pt --image 17 --out packaging/screenshots \
        --weights runs/weights/course runs/weights/kmeans

`scan` puts the first N test images' true posteriors on one grid and prints those with the most
separate modes (local maxima of p(z|x) above 5% of its largest value, at least 0.2 latent units
apart), each with its digit, its share of mass in its second mode and KL(q || p(z|x)).
`shots` opens the real window (offscreen, settings in a temporary folder), loads the model, and
saves the Lab tab at 1024x700 and at 1920x1040 (a maximised window on a 1920x1080 screen) with
test image `--image` picked, and the Training tab's mixture weights of the `--weights` run
folders side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np


def scan(args: argparse.Namespace) -> None:
    import torch

    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.exact2d import log_joint_grid, model_grid, model_log_joint

    model, config, _ = load_checkpoint(args.checkpoint)
    splits = load_splits(config.data.test_only(args.images))
    x = model_input(splits.test_images, config.model.likelihood, TEST_BINARISE_SEED)
    labels = splits.test_labels.numpy()
    grid = model_grid(model, x, n=args.points)
    log_w = log_joint_grid(model_log_joint(model), x, grid).numpy()  # (N, n*n)
    cell = min(grid.hi[0] - grid.lo[0], grid.hi[1] - grid.lo[1]) / grid.n  # the shorter cell side
    with torch.no_grad():
        mu, log_var = (t.double().numpy() for t in model.encoder(x))
    rows = []
    for i in range(len(x)):
        w = log_w[i].reshape(grid.n, grid.n)
        post = np.exp(w - w.max())
        peaks = local_maxima(post, 0.05, max(1, int(0.2 / cell)))
        post /= post.sum()
        second = 0.0
        if len(peaks) > 1:  # the mass nearer the second-highest peak than the highest
            z1, z2 = np.meshgrid(*grid.axes())
            (r0, c0), (r1, c1) = peaks[0], peaks[1]
            d0 = (z1 - z1[r0, c0]) ** 2 + (z2 - z2[r0, c0]) ** 2
            d1 = (z1 - z1[r1, c1]) ** 2 + (z2 - z2[r1, c1]) ** 2
            second = float(post[d1 < d0].sum())
        log_px = np.logaddexp.reduce(log_w[i]) + np.log(grid.cell_area)  # the grid's cells are not square
        z = grid.points().numpy()
        log_q = -0.5 * (
            np.log(2 * np.pi) * 2 + log_var[i].sum() + ((z - mu[i]) ** 2 / np.exp(log_var[i])).sum(1)
        )
        q = np.exp(log_q) * grid.cell_area
        elbo = float((q * (log_w[i] - log_q)).sum() / q.sum())
        rows.append((len(peaks), second, i, int(labels[i]), float(log_px - elbo)))
    rows.sort(key=lambda r: (-min(r[0], 2), -r[1]))
    print("image  digit  modes  second-mode mass  KL(q || p(z|x))")
    for modes, second, i, digit, gap in rows[: args.top]:
        print(f"{i:5d}  {digit:5d}  {modes:5d}  {second:16.3f}  {gap:14.2f}")


def local_maxima(p: np.ndarray, floor: float, apart: int) -> list[tuple[int, int]]:
    """(row, col) of the local maxima of p above floor * max, highest first, `apart` cells apart."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.pad(p, 1, constant_values=-1)
    windows = sliding_window_view(padded, (3, 3))
    is_max = (p >= windows.max(axis=(2, 3))) & (p >= floor * p.max())
    found: list[tuple[int, int]] = []
    for r, c in sorted(zip(*np.nonzero(is_max)), key=lambda rc: -p[rc]):
        if all(max(abs(r - r2), abs(c - c2)) >= apart for r2, c2 in found):
            found.append((int(r), int(c)))
    return found


def shots(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="vae-explorer-lab-shots-"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(home / var.lower())
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from vae_explorer.app.main_window import MainWindow
    from vae_explorer.app.panels.lab import LabPanel

    app = QApplication.instance() or QApplication(sys.argv)
    app.setOrganizationName("vae-explorer-shots")

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def settle(window) -> None:
        wait(300)
        while window.service.pending():
            wait(200)
        wait(500)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(runs_root=home / "runs")
    window.resize(1024, 700)
    window.show()
    window.open_checkpoint(str(args.checkpoint))
    while window.service.info is None:
        wait(200)
    lab = next(p for p in window.panels if isinstance(p, LabPanel))
    window.tabs.setCurrentWidget(lab)
    settle(window)
    lab.pick(args.image)
    settle(window)
    window.grab().save(str(out / "lab-1024x700.png"))
    window.resize(1920, 1040)
    settle(window)
    window.grab().save(str(out / "lab-maximised.png"))
    lab.posterior_plot.grab().save(str(out / f"lab-posterior-{args.image}.png"))
    print(lab.numbers.text())
    if args.weights:
        window.resize(1280, 800)
        window.browser.extra = [Path(f) for f in args.weights]
        window.browser.refresh()
        for folder in args.weights:
            window.browser.set_checked(os.path.realpath(folder), True)
        window.tabs.setCurrentWidget(window.training)
        window.training.curve_tabs.setCurrentWidget(window.training.epoch_views.weights)
        settle(window)
        window.training.epoch_views.weights.grab().save(str(out / "weights-course-vs-kmeans.png"))
    window.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scan")
    s.add_argument("checkpoint")
    s.add_argument("--images", type=int, default=300)
    s.add_argument("--points", type=int, default=300)
    s.add_argument("--top", type=int, default=15)
    t = sub.add_parser("shots")
    t.add_argument("checkpoint")
    t.add_argument("--image", type=int, default=0)
    t.add_argument("--out", default="packaging/screenshots")
    t.add_argument("--weights", nargs="*", help="run folders whose weights to show side by side")
    args = p.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    scan(args) if args.command == "scan" else shots(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
