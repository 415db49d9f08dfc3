"""One seed, one set of numbers: the CLI, the real window (every panel drawing each new best), and
a CLI run killed with SIGKILL after epoch 2 and resumed give bit-identical validation nll.

All three train with one CPU thread (the app's trainer leaves the other core to the window), so
the same kernels run in the same order; the figures are compared as the strings metrics.csv holds.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
from pathlib import Path

import helpers
import pytest
from apphelpers import show_panels

from vae_explorer.app.settings import TrainingSettings
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

EPOCHS = 4
CONFIG = RunConfig(
    DataConfig(limit_train=600, limit_val=200, limit_test=200),
    ModelConfig(hidden=64, latent_dim=8, components=4),
    TrainConfig(epochs=EPOCHS, seed=3, device="cpu"),
)
CLI_OPTIONS = [
    "--limit-train",
    "600",
    "--limit-val",
    "200",
    "--limit-test",
    "200",
    "--hidden",
    "64",
    "--latent-dim",
    "8",
    "--components",
    "4",
    "--seed",
    "3",
    "--device",
    "cpu",
    "--threads",
    "1",
]


def val_nll(run_dir: Path) -> list[str]:
    with open(run_dir / "metrics.csv") as fh:
        return [row["val_nll"] for row in csv.DictReader(fh)]


def cli(*args: str, **popen) -> subprocess.Popen:
    return helpers.cli("train", *args, *CLI_OPTIONS, **popen)


def run_cli(*args: str) -> str:
    proc = cli(*args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("cli") / "run"
    run_cli("--epochs", str(EPOCHS), "--out", str(out))
    values = val_nll(out)
    assert len(values) == EPOCHS
    return values


def test_a_killed_and_resumed_cli_run_matches_an_uninterrupted_one(cli_reference, tmp_path):
    out = tmp_path / "run"
    proc = cli("--epochs", str(EPOCHS), "--out", str(out))
    for line in proc.stdout:
        if line.startswith("epoch 2 "):
            os.kill(proc.pid, signal.SIGKILL)  # while it writes epoch 2's checkpoints
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run_cli("--epochs", str(EPOCHS), "--resume", str(out / "last.pt"), "--out", str(out))
    assert val_nll(out) == cli_reference
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_the_window_matches_the_cli(window, qtbot, monkeypatch, cli_reference):
    monkeypatch.setattr("vae_explorer.app.training_worker.training_threads", lambda: 1)
    drawn = []

    def draw_everything(info) -> None:  # every tab takes every new best, as if the user watched each
        show_panels(window)
        drawn.append(info.epoch)

    window.service.model_loaded.connect(draw_everything)
    window.settings = TrainingSettings(CONFIG, (CONFIG.train.lr,))
    window.start_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=300_000)
    assert val_nll(window.queue_dir) == cli_reference
    qtbot.waitUntil(lambda: window.service.pending() is False and len(drawn) >= 1, timeout=60_000)
    assert window.panels[2].result is not None and window.panels[3].data is not None  # they did draw
