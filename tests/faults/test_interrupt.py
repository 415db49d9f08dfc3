"""Ctrl-C: once stops after the batch, keeps the best model and the figures, exits 130; twice
ends at once, without a traceback, leaving every file whole."""

from __future__ import annotations

import signal
import subprocess

import pytest
from helpers import cli, tiny

from vae_explorer.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # real processes stopped by Ctrl-C

TINY = tiny(train=640, val=128, test=128, hidden=64, threads=1)


def start(out) -> subprocess.Popen:
    proc = cli("train", "--epochs", "200", *TINY, "--out", str(out))
    for line in proc.stdout:
        if line.startswith("epoch 2 "):
            return proc
    raise AssertionError(proc.stderr.read())


def test_one_ctrl_c_stops_keeps_the_model_and_exits_130(tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopping after this batch" in err
    assert "FINAL LOSS" in rest and "finished (stopped)" in rest
    load_checkpoint(out / "model.pt")
    for name in ("real_images.png", "generated_images.pdf", "nll_val_curve.png", "evaluation.json"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.rglob("*.tmp"))


def test_two_ctrl_c_end_at_once_without_a_traceback(tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    proc.send_signal(signal.SIGINT)
    seen = ""
    while "stopping after this batch" not in seen:  # the first one was taken: the second aborts
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = seen + err
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "aborted" in err
    load_checkpoint(out / "model.pt")  # files are replaced whole or not at all
    load_checkpoint(out / "last.pt")
