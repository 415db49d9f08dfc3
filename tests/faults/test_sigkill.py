"""SIGKILL at random moments: every run is resumed (or, killed before its first checkpoint,
started again) and ends with every checkpoint loadable, no temporary file, and whole metrics."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import helpers
import pytest
from helpers import tiny

from vae_explorer.core.checkpoint import load_checkpoint

RUNS = 20
EPOCHS = 4
pytestmark = pytest.mark.slow  # twenty runs killed and resumed: minutes

TINY = tiny(train=320, val=64, test=64, hidden=32, threads=1, eval_budget=0)


def cli(*args: str) -> subprocess.Popen:
    return helpers.cli("train", *args, *TINY, stdout=subprocess.DEVNULL)


def kill_and_finish(i: int, out) -> tuple[str, int]:
    """Start run `i`, kill it, then resume it (or start it again) to the end; check what it left.
    Returns ("resumed" or "restarted", the number of checkpoints loaded)."""
    rng = random.Random(20261201 + i)
    proc = cli("--epochs", str(EPOCHS), "--out", str(out))
    # from the moment the run has started (its config.json is written: the imports and the data
    # loading, whose time depends on the machine's load, are behind it) to the end of training and
    # its figures
    deadline = time.monotonic() + 60
    while not (out / "config.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # every fifth at once, before the first checkpoint: that run starts again from nothing; every
    # fifth a little later, in its first epochs (where it lands depends on the load); the rest
    # after the first checkpoint, anywhere in the later epochs and the figures, so that a loaded
    # machine, slow to start, still gives the resumes this test is about
    if i % 5 >= 2:
        while not (out / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    time.sleep(0.0 if i % 5 == 0 else rng.uniform(0.02, 0.3) if i % 5 == 1 else rng.uniform(0.0, 1.5))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    if (out / "last.pt").exists():
        how, again = (
            "resumed",
            cli("--epochs", str(EPOCHS), "--resume", str(out / "last.pt"), "--out", str(out)),
        )
    else:  # killed before its first checkpoint: nothing to resume
        how, again = "restarted", cli("--epochs", str(EPOCHS), "--overwrite", "--out", str(out))
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, (i, err)
    checked = 0
    for path in out.glob("*.pt"):
        load_checkpoint(path)
        checked += 1
    assert not list(out.rglob("*.tmp")), i
    with open(out / "metrics.csv") as fh:
        assert [int(row["epoch"]) for row in csv.DictReader(fh)] == list(range(1, EPOCHS + 1)), i
    assert load_checkpoint(out / "last.pt")[2]["metrics"]["epoch"] == EPOCHS
    return how, checked


def test_runs_killed_at_random_moments_resume_whole(tmp_path):
    # two runs at a time, each on one thread: the kill points wait on the run's own files, so the
    # load the other run adds moves no kill to another stage
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda i: kill_and_finish(i, tmp_path / f"run{i}"), range(RUNS)))
    resumed = sum(how == "resumed" for how, _ in outcomes)
    restarted = RUNS - resumed
    checked = sum(n for _, n in outcomes)
    print(f"{RUNS} runs killed: {resumed} resumed, {restarted} started again, {checked} checkpoints loaded")
    assert resumed >= RUNS // 2  # most kills land after the first checkpoint
    assert restarted >= 1  # and some before it
