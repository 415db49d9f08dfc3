"""SIGKILL at random moments: every run is resumed (or, killed before its first checkpoint,
started again) and ends with every checkpoint loadable, no temporary file, and whole metrics."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time

from vae_explorer.core.checkpoint import load_checkpoint

RUNS = 20
EPOCHS = 4
TINY = [
    "--limit-train",
    "320",
    "--limit-val",
    "64",
    "--limit-test",
    "64",
    "--hidden",
    "32",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--eval-budget",
    "0",
]


def cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.Popen(
        [sys.executable, "-m", "vae_explorer", "train", *args, *TINY],
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_runs_killed_at_random_moments_resume_whole(tmp_path):
    rng = random.Random(20261201)
    resumed = restarted = checked = 0
    for i in range(RUNS):
        out = tmp_path / f"run{i}"
        proc = cli("--epochs", str(EPOCHS), "--out", str(out))
        time.sleep(rng.uniform(1.0, 5.0))  # from start-up to the end of training and its figures
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        if (out / "last.pt").exists():
            again, resumed = (
                cli("--epochs", str(EPOCHS), "--resume", str(out / "last.pt"), "--out", str(out)),
                resumed + 1,
            )
        else:  # killed before its first checkpoint: nothing to resume
            again, restarted = cli("--epochs", str(EPOCHS), "--overwrite", "--out", str(out)), restarted + 1
        _, err = again.communicate(timeout=300)
        assert again.returncode == 0, (i, err)
        for path in out.glob("*.pt"):
            load_checkpoint(path)
            checked += 1
        assert not list(out.rglob("*.tmp")), i
        with open(out / "metrics.csv") as fh:
            assert [int(row["epoch"]) for row in csv.DictReader(fh)] == list(range(1, EPOCHS + 1)), i
        assert load_checkpoint(out / "last.pt")[2]["metrics"]["epoch"] == EPOCHS
    print(f"{RUNS} runs killed: {resumed} resumed, {restarted} started again, {checked} checkpoints loaded")
    assert resumed >= RUNS // 2  # most kills land after the first checkpoint
