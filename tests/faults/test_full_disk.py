"""A disk that fills up mid-checkpoint: one line naming the file and the reason, exit code 1, the
checkpoint saved before intact, no temporary file left; the run resumes once there is room."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from faulthelpers import tmpfs

from vae_explorer.cli import main
from vae_explorer.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # real runs on a full tmpfs

# the default model: model.pt is about 5.4 MB, last.pt (with the optimiser state) about 16 MB
SMALL_DATA = ["--limit-train", "64", "--limit-val", "64", "--limit-test", "64", "--device", "cpu"]


def check_folder(out: Path, err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0] and "last.pt" in lines[0], err
    assert "no space left on device" in lines[0]
    load_checkpoint(out / "model.pt")  # what was saved before is whole
    assert not list(out.rglob("*.tmp"))


@pytest.fixture
def tiny_disk(tmp_path):
    """A 12 MB tmpfs (Linux, as root): room for model.pt, not for last.pt."""
    with tmpfs(tmp_path / "disk", "12m") as disk:
        yield disk


def test_a_real_full_disk(tiny_disk, tmp_path):
    out = tiny_disk / "run"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, "-m", "vae_explorer", "train", "--epochs", "2", *SMALL_DATA, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    check_folder(out, proc.stderr)


def test_a_write_that_fails_with_enospc(tmp_path, capsys, monkeypatch):
    """The same without a small disk: the last step of writing last.pt fails as a full disk does."""
    import vae_explorer.core.atomic as atomic

    real_replace = os.replace

    def full(src, dst):
        if Path(dst).name == "last.pt":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", full)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--hidden", "32", *SMALL_DATA, "--out", str(out)]) == 1
    check_folder(out, capsys.readouterr().err)
    monkeypatch.undo()  # room again: the run goes on from its best model
    assert (
        main(
            [
                "train",
                "--epochs",
                "2",
                "--hidden",
                "32",
                *SMALL_DATA,
                "--resume",
                str(out / "model.pt"),
                "--out",
                str(out),
            ]
        )
        == 0
    )


def test_a_figure_export_to_a_full_disk_fails_and_keeps_the_figure_before(tmp_path, qtbot):
    """SVG and PDF writers report no error of their own: on a full disk they left a truncated file
    and said it was written, and a PNG was overwritten in place. A figure is now drawn in memory
    and written beside its name, then renamed: the export fails in one message and a figure of
    that name from before stays whole."""
    import numpy as np
    import pyqtgraph as pg

    from vae_explorer.app.export import ExportError, export_widget

    plot = pg.PlotWidget(background="w")
    qtbot.addWidget(plot)
    xy = np.random.default_rng(0).normal(size=(2, 4000))
    plot.plot(xy[0], xy[1], pen=None, symbol="o")  # thousands of vector symbols: a large file
    plot.resize(800, 600)
    with tmpfs(tmp_path / "disk", "16k") as disk:
        for name in ("figure.svg", "figure.pdf", "figure.png"):
            before = b"an earlier figure"
            (disk / name).write_bytes(before)
            with pytest.raises(ExportError, match="no space left on device"):
                export_widget(plot, disk / name)
            assert (disk / name).read_bytes() == before
        assert sorted(p.name for p in disk.iterdir()) == ["figure.pdf", "figure.png", "figure.svg"]
    assert export_widget(plot, tmp_path / "figure.svg").stat().st_size > 16 * 1024  # room: written
