"""Ctrl-C, SIGTERM and SIGHUP: clean in every command from its first instant, a training run
stopped by any of them saves what it has, and no temporary file outlives a command
(issue 23, items 8 and 9)."""

from __future__ import annotations

import json
import signal
import sys
import time

import pytest
from faulthelpers import FAST, cli

from vae_explorer.core import events as ev
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.session import EndOfRunEvaluation, Session

pytestmark = pytest.mark.slow  # real processes stopped by signals at chosen moments: minutes


# -- 8. Ctrl-C during the end-of-run evaluation ---------------------------------------------------------
def test_a_stop_during_the_end_of_run_evaluation_keeps_the_quick_figures(tmp_path):
    config = RunConfig(
        DataConfig(limit_train=256, limit_val=64, limit_test=256),  # three batches of IW
        ModelConfig(hidden=32, latent_dim=4, components=3),
        TrainConfig(epochs=1, device="cpu"),
    )
    session: Session

    def on_event(event):
        if isinstance(event, ev.EvaluationProgress) and event.stage == "importance sampling":
            session.stop()  # what the first Ctrl-C does

    session = Session([config], tmp_path, on_event, evaluation=EndOfRunEvaluation(iw_samples=5000))
    session.run()
    results = json.loads((tmp_path / "evaluation.json").read_text())
    assert results["neg_elbo"] is not None and results["active_units"] is not None
    assert results["fid"] is not None  # computed before the stop: kept
    assert results["iw_nll"] is None
    assert any("stopped" in note for note in results["notes"]), results["notes"]


def test_ctrl_c_in_the_end_of_run_evaluation_of_the_cli(tmp_path):
    out = tmp_path / "run"
    proc = cli("train", *FAST, "--eval-iw-samples", "5000", "--limit-test", "200", "--out", str(out))
    for line in proc.stdout:
        if line.startswith("finished ("):  # training is over, the evaluation begins
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err, err
    results = json.loads((out / "evaluation.json").read_text())
    assert results["neg_elbo"] is not None and results["iw_nll"] is None


# -- 9. clean from the first instant --------------------------------------------------------------------
def _commands(base_run, tmp_path):
    return {
        "train": ["train", *FAST, "--out", str(tmp_path / "run")],
        "sample": ["sample", str(base_run / "model.pt"), "--out", str(tmp_path / "s.png")],
        "report": ["report", str(base_run), "--out", str(tmp_path / "r.pdf")],
        "evaluate": ["evaluate", str(base_run / "model.pt")],
        "classifier train": ["classifier", "train", "--epochs", "1", "--out", str(tmp_path / "c.pt")],
    }


@pytest.mark.parametrize("command", ["train", "sample", "report", "evaluate", "classifier train"])
def test_ctrl_c_while_starting_up_is_clean(base_run, tmp_path, command):
    proc = cli(*_commands(base_run, tmp_path)[command])
    time.sleep(0.5)  # Python is up; the command is importing its libraries
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".write-test*"))


def test_ctrl_c_while_a_classifier_trains_is_clean(tmp_path):
    proc = cli("classifier", "train", "--epochs", "3", "--out", str(tmp_path / "c.pt"))
    assert proc.stdout.readline().startswith("training a digit classifier")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


SLOW_WRITE = """
import os, sys, time
import vae_explorer.core.atomic as atomic
real_fsync = os.fsync
def slow_fsync(fd):
    print("writing", flush=True)
    time.sleep(60)
    real_fsync(fd)
atomic.os.fsync = slow_fsync
from vae_explorer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["sample", "report"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_mid_write_leaves_no_temporary_file(base_run, tmp_path, command, signum):
    import os
    import subprocess

    args = _commands(base_run, tmp_path)[command]
    script = tmp_path.parent / f"{tmp_path.name}-slow_write.py"  # a file: code of -c has no file name
    script.write_text(SLOW_WRITE)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline() == "writing\n"
    assert list(tmp_path.glob(".*.tmp"))  # the temporary file being written
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(tmp_path, signum):
    out = tmp_path / "run"
    proc = cli("train", *FAST, "--epochs", "500", "--out", str(out))
    for line in proc.stdout:
        if line.startswith("epoch 2 "):
            break
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "FINAL LOSS" in rest
    outcome = json.loads((out / "outcome.json").read_text())
    assert outcome["status"] == "stopped"
    for name in ("model.pt", "real_images.png", "nll_val_curve.pdf", "evaluation.json"):
        assert (out / name).is_file(), name
