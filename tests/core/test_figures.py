"""The report figures: the nll curve's epoch axis has whole-number ticks, also for a single epoch;
figures are objects of their own, registered nowhere, whether their write succeeds or not."""

from __future__ import annotations

import errno
import gc
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from vae_explorer import figures


def visible_xticks(ax) -> list[float]:
    low, high = sorted(ax.get_xlim())
    return [t for t in ax.get_xticks() if low - 1e-9 <= t <= high + 1e-9]


def tick_labels(fig, ax) -> list[str]:
    fig.canvas.draw()
    low, high = sorted(ax.get_xlim())
    return [
        lab.get_text().replace("\u2212", "-")
        for lab in ax.get_xticklabels()
        if low - 1e-9 <= lab.get_position()[0] <= high + 1e-9
    ]


def history(epochs: int, start: float = 200.0) -> list[tuple[int, float]]:
    return [(e, start - 3.0 * e) for e in range(1, epochs + 1)]


@pytest.mark.parametrize("epochs", [1, 2, 7, 150])
def test_curve_epoch_ticks_are_whole_numbers(epochs):
    fig = figures.curves_figure({"validation": history(epochs)})
    try:
        ax = fig.axes[0]
        ticks = visible_xticks(ax)
        assert ticks, "no epoch ticks at all"
        assert all(float(t).is_integer() for t in ticks), ticks
        labels = tick_labels(fig, ax)
        assert labels and all(lab.lstrip("-").isdigit() for lab in labels), labels
        assert min(ticks) >= 0
    finally:
        fig.clear()


def test_single_epoch_curve_is_a_visible_point_at_epoch_one():
    fig = figures.curves_figure({"validation": [(1, 180.5)]})
    try:
        ax = fig.axes[0]
        assert visible_xticks(ax) == [1.0]
        low, high = ax.get_xlim()
        assert high - low >= 0.5  # not matplotlib's 0.96..1.04 for a single x
        (line,) = ax.get_lines()
        assert line.get_marker() not in (None, "", "None", " ")
        assert line.get_markersize() >= 5
    finally:
        fig.clear()


def test_overlaid_curves_of_different_lengths_have_whole_number_ticks():
    curves = {"lr=0.001": history(7), "lr=0.01": history(1, 210.0), "lr=1e+30": []}
    fig = figures.curves_figure(curves)
    try:
        ax = fig.axes[0]
        ticks = visible_xticks(ax)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert 1.0 in ticks and 7.0 in ticks
        assert ax.get_legend() is not None
    finally:
        fig.clear()


def test_save_curves_writes_png_and_pdf(tmp_path):
    paths = [tmp_path / "nll_val_curve.png", tmp_path / "nll_val_curve.pdf"]
    figures.save_curves({"validation": history(1)}, paths)
    assert Image.open(paths[0]).size[0] > 100
    assert paths[1].read_bytes().startswith(b"%PDF")


def test_run_figures_label_a_gaussian_models_nll_as_continuous(tmp_path, monkeypatch):
    import torch

    from vae_explorer.core.config import ModelConfig, RunConfig
    from vae_explorer.core.model import new_model

    labels = []
    monkeypatch.setattr(
        figures, "save_curves", lambda curves, paths, ylabel="nll", log_y=False: labels.append(ylabel)
    )
    for likelihood in ("bernoulli", "gaussian"):
        config = RunConfig(model=ModelConfig(hidden=8, latent_dim=2, components=2, likelihood=likelihood))
        weights = new_model(config.model, torch.Generator()).state_dict()
        images = torch.zeros(16, 784, dtype=torch.uint8)
        figures.write_run_figures(tmp_path, config, weights, images, [{"epoch": 1, "val_nll": 100.0}])
        figures.write_comparison(tmp_path, {"a": [(1, 1.0)]}, figures.nll_label(likelihood))
    assert labels[:2] == ["nll (nats)"] * 2
    assert all("continuous" in label and "not comparable" in label for label in labels[2:])


def live_figures() -> int:
    gc.collect()
    return sum(type(o) is Figure for o in gc.get_objects())


def test_a_failed_write_leaves_no_figure_behind(tmp_path, monkeypatch):
    """A full disk in the middle of savefig: the error reaches the caller and the figure is freed
    with the call (there is no registry to leave it in)."""

    class FullDisk(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full(path, write, *args, **kwargs):
        write(FullDisk())

    monkeypatch.setattr(figures, "atomic_write", full)
    before = live_figures()
    images = np.zeros((16, 784))
    for draw in (
        lambda: figures.save_image_grid(images, [tmp_path / "grid.png"]),
        lambda: figures.save_curves({"validation": history(3)}, [tmp_path / "curve.pdf"]),
        lambda: figures.save_strip(images[:5], tmp_path / "strip.png"),
        lambda: figures.save_component_rows(images.reshape(4, 4, 784), list("abcd"), tmp_path / "c.pdf"),
    ):
        with pytest.raises(OSError):
            draw()
    assert live_figures() == before
    assert not list(tmp_path.iterdir())


SCRIPT = r"""
import sys
from pathlib import Path
import numpy as np
from vae_explorer import figures, report

out = Path(sys.argv[1])
images = np.zeros((16, 784))
figures.save_image_grid(images, [out / "grid.png", out / "grid.pdf"])
figures.save_curves({"a": [(1, 2.0), (2, 1.0)], "b": [(1, 3.0)]}, [out / "curves.pdf"])
blocks = [report.Title("t", "s"), report.Paragraph("p"), report.OwnFigure(
    lambda: figures.curves_figure({"v": [(1, 2.0)]}), 3.0, "curves")]
with open(out / "r.pdf", "wb") as fh:
    report.write_pdf(blocks, fh)
(out / "r.html").write_text(report.html_report(blocks))
print("STATE", "matplotlib.pyplot" in sys.modules)
"""


def test_drawing_loads_no_state_machine_and_writes_truetype_pdfs(tmp_path):
    """The figures and the report draw without matplotlib's figure registry ever being loaded,
    and every PDF they write embeds TrueType fonts."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "STATE False" in proc.stdout
    for name in ("curves.pdf", "r.pdf"):  # the grid has no text
        data = (tmp_path / name).read_bytes()
        assert b"/FontFile2" in data and b"/Type3" not in data, name


def test_the_package_never_uses_the_state_machine():
    package = Path(figures.__file__).parent
    words = ("py" + "plot", "matplotlib.use(", "rc_" + "context")
    found = [
        f"{path.relative_to(package)}: {word}"
        for path in package.rglob("*.py")
        for word in words
        if word in path.read_text()
    ]
    assert found == []
