"""One writer per run folder, and nothing of ours left behind by a killed writer: the real CLI in
subprocesses."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from helpers import cli, tiny

from vae_explorer.core.checkpoint import read_checkpoint, run_config_of

pytestmark = pytest.mark.slow  # real processes racing for folders: about two minutes

TINY = tiny(train=320, val=128, test=128, threads=1)


def test_a_second_writer_is_refused_and_the_first_keeps_its_folder(tmp_path):
    out = tmp_path / "run"
    # the first runs until the second has been refused, however fast or loaded the machine (the
    # second's imports alone can take seconds); then Ctrl-C stops it
    first = cli("train", "--epochs", "5000", "--patience", "5000", "--hidden", "64", *TINY, "--out", str(out))
    for line in first.stdout:
        if line.startswith("epoch 1 "):
            break
    second = cli("train", "--epochs", "1", "--hidden", "100", *TINY, "--out", str(out))
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2
    assert err.strip().count("\n") == 0 and f"process {first.pid}" in err and str(out) in err
    assert first.poll() is None
    first.send_signal(signal.SIGINT)
    first.stdout.read()
    assert first.wait(timeout=300) == 130
    # the folder is the first run's alone
    for name in ("model.pt", "last.pt"):
        assert run_config_of(read_checkpoint(out / name), out / name).model.hidden == 64
    assert '"hidden": 64' in (out / "config.json").read_text()
    epochs = [line.split(",")[0] for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == [str(e) for e in range(1, len(epochs) + 1)]


def test_temporaries_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    out = tmp_path / "run"
    proc = cli("train", "--epochs", "50", "--hidden", "64", *TINY, "--out", str(out))
    for line in proc.stdout:
        if line.startswith("epoch 2 "):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # as if the kill had landed inside a checkpoint write (also an lr folder's, one level down)
    (out / ".last.pt.abcd1234.tmp").write_bytes(b"half a checkpoint")
    (out / "lr_0.001").mkdir()
    (out / "lr_0.001" / ".metrics.csv.x1y2z3w4.tmp").write_text("epoch")
    (out / "notes.tmp").write_text("the user's")  # not ours: kept
    done = cli(
        "train", "--epochs", "3", "--resume", str(out / "last.pt"), "--threads", "1", "--out", str(out)
    )
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    left = sorted(p.name for p in Path(out).rglob("*.tmp"))
    assert left == ["notes.tmp"]


def test_overwrite_replaces_a_whole_comparison_and_keeps_the_users_files(tmp_path):
    out = tmp_path / "cmp"
    first = cli(
        "train", "--epochs", "1", "--hidden", "32", *TINY, "--lr", "1e-3", "--lr", "1e-2", "--out", str(out)
    )
    assert first.wait(timeout=300) == 0, first.stderr.read()
    (out / "notes.md").write_text("mine")
    (out / "lr_0.01" / "plot-by-hand.png").write_bytes(b"mine too")
    second = cli(
        "train",
        "--epochs",
        "1",
        "--hidden",
        "32",
        *TINY,
        "--lr",
        "1e-4",
        "--lr",
        "1e-5",
        "--out",
        str(out),
        "--overwrite",
    )
    stdout, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "lr_0.0001",
        "lr_0.01",
        "lr_1e-05",
        "nll_val_curves.pdf",
        "nll_val_curves.png",
        "notes.md",
    ]
    assert [p.name for p in (out / "lr_0.01").iterdir()] == ["plot-by-hand.png"]  # only the user's file stays
    assert "notes.md" in stdout and "plot-by-hand.png" in stdout  # and is named
    single = cli("train", "--epochs", "1", "--hidden", "32", *TINY, "--out", str(out), "--overwrite")
    assert single.wait(timeout=300) == 0
    assert not (out / "lr_0.0001").exists() and not (out / "nll_val_curves.png").exists()
    assert (out / "model.pt").is_file() and (out / "notes.md").read_text() == "mine"


def test_a_comparison_holds_each_of_its_run_folders(tmp_path):
    # the comparison is long enough to be running still when the second process checks the
    # lock, however fast this machine; it is stopped by Ctrl-C once the check is done
    out = tmp_path / "cmp"
    first = cli(
        "train",
        "--epochs",
        "5000",
        "--patience",
        "5000",
        "--hidden",
        "64",
        *TINY,
        "--lr",
        "1e-3",
        "--lr",
        "1e-2",
        "--out",
        str(out),
    )
    for line in first.stdout:
        if line.startswith("epoch 1 "):
            break
    second = cli(
        "train",
        "--epochs",
        "12",
        "--resume",
        str(out / "lr_0.001" / "last.pt"),
        "--out",
        str(out / "lr_0.001"),
    )
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2 and f"process {first.pid}" in err
    assert first.poll() is None  # the refusal came from the lock, not from a finished comparison
    first.send_signal(signal.SIGINT)
    first.stdout.read()
    assert first.wait(timeout=300) == 130
    epochs = [line.split(",")[0] for line in (out / "lr_0.001" / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == [str(e) for e in range(1, len(epochs) + 1)]  # one writer: no epoch twice


def test_resuming_into_a_new_folder_takes_the_best_model_along(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("train", "--epochs", "2", "--hidden", "32", *TINY, "--out", str(a)).wait(timeout=300) == 0
    resumed = cli(
        "train",
        "--epochs",
        "3",
        "--resume",
        str(a / "last.pt"),
        "--lr",
        "10",
        "--optimizer",
        "adamax",
        "--out",
        str(b),
    )
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode in (0, 1), err  # lr 10 may diverge; the best model so far must be there
    from vae_explorer.core.checkpoint import read_checkpoint

    assert read_checkpoint(b / "model.pt")["metrics"]["epoch"] >= 2
    assert len((b / "metrics.csv").read_text().splitlines()) >= 3  # the history came along
