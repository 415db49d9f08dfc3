"""The headless command line: outputs, several learning rates, sample/evaluate, and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from vae_explorer.cli import main

TINY = [
    "--limit-train",
    "300",
    "--limit-val",
    "100",
    "--limit-test",
    "100",
    "--hidden",
    "64",
    "--latent-dim",
    "8",
    "--components",
    "4",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "2", *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_every_output(trained, capsys):
    for name in (
        "config.json",
        "metrics.csv",
        "model.pt",
        "real_images.png",
        "real_images.pdf",
        "generated_images.png",
        "generated_images.pdf",
        "nll_val_curve.png",
        "nll_val_curve.pdf",
        "test_loss.txt",
    ):
        assert (trained / name).stat().st_size > 0, name
    for name in ("real_images.png", "generated_images.png", "nll_val_curve.png"):
        with Image.open(trained / name) as im:
            im.verify()
    for name in ("real_images.pdf", "generated_images.pdf", "nll_val_curve.pdf"):
        assert (trained / name).read_bytes().startswith(b"%PDF")
    assert json.loads((trained / "config.json").read_text())["train"]["lr"] == 1e-3


def test_train_output_lines(tmp_path, capsys):
    assert main(["train", "--epochs", "2", *TINY, "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("FINAL LOSS: nll=")
    nll = float(lines[-1].split("=")[1])
    assert nll == pytest.approx(float((tmp_path / "test_loss.txt").read_text()), abs=1e-3)
    assert any(line.startswith("epoch 2  val nll=") and "best=" in line for line in lines)


def test_several_learning_rates(tmp_path, capsys):
    assert (
        main(["train", "--epochs", "1", *TINY, "--lr", "1e-3", "--lr", "1e-2", "--out", str(tmp_path)]) == 0
    )
    for sub in ("lr_0.001", "lr_0.01"):
        assert (tmp_path / sub / "model.pt").is_file() and (tmp_path / sub / "nll_val_curve.png").is_file()
    assert (tmp_path / "nll_val_curves.png").is_file()
    assert (tmp_path / "nll_val_curves.pdf").read_bytes().startswith(b"%PDF")
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("FINAL LOSS: nll=")


def test_sample_and_evaluate(trained, tmp_path, capsys):
    assert main(["sample", str(trained / "model.pt"), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    with Image.open(tmp_path / "s.png") as im:
        im.verify()
    assert (
        main(
            [
                "sample",
                str(trained / "model.pt"),
                "--component",
                "2",
                "--n",
                "8",
                "--out",
                str(tmp_path / "c.pdf"),
            ]
        )
        == 0
    )
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    assert (
        main(["sample", str(trained / "model.pt"), "--component", "9", "--out", str(tmp_path / "x.png")]) == 2
    )
    capsys.readouterr()
    assert main(["evaluate", str(trained / "model.pt"), "--limit-test", "100"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 100
    assert report["test_nll"] == pytest.approx(float((trained / "test_loss.txt").read_text()), abs=1e-2)


@pytest.mark.parametrize(
    "args",
    [
        ["--lr", "0"],
        ["--lr", "-1"],
        ["--lr", "nan"],
        ["--lr", "abc"],
        ["--batch-size", "0"],
        ["--components", "0"],
        ["--optimizer", "foo"],
        ["--epochs", "0"],
    ],
)
def test_impossible_settings_are_usage_errors(args, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", *args, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "model.pt").exists()


def test_missing_data_root(tmp_path, capsys):
    assert main(["train", "--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "none") in err and "Traceback" not in err


def test_unwritable_out_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", *TINY, "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr()
    assert "cannot write" in err.err and "epoch" not in err.out


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    assert main(["sample", str(bad), "--out", str(tmp_path / "s.png")]) == 2
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.pt" in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["train", *TINY, "--device", "cuda", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_module_entry_point_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vae_explorer", "train", "--epochs", "1", *TINY, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("FINAL LOSS: nll=")
    bad = subprocess.run(
        [sys.executable, "-m", "vae_explorer", "evaluate", str(tmp_path / "nope.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_diverged_run_is_an_error_without_a_model(tmp_path, capsys):
    assert (
        main(["train", *TINY, "--epochs", "2", "--optimizer", "sgd", "--lr", "1e6", "--out", str(tmp_path)])
        == 1
    )
    captured = capsys.readouterr()
    assert "diverged" in captured.err and "FINAL LOSS" not in captured.out
    assert not (tmp_path / "model.pt").exists()


def test_console_script(tmp_path):
    script = Path(sys.executable).with_name("vae-explorer")
    if not script.is_file():
        pytest.skip("the vae-explorer console script is not installed beside this interpreter")
    proc = subprocess.run(
        [str(script), "train", "--data-root", str(tmp_path / "absent"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert str(tmp_path / "absent") in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_when_idle_unless_told_otherwise(tmp_path, given, expected):
    """The CLI sets OMP_WAIT_POLICY before torch (and with it OpenMP) is loaded; a user's value wins."""
    code = (
        "import os, sys\n"
        "from vae_explorer.cli import main\n"
        "assert 'torch' not in sys.modules\n"
        f"main(['evaluate', {str(tmp_path / 'nope.pt')!r}])\n"
        "assert 'torch' in sys.modules\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == expected
