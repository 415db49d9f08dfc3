"""Requests past the caps are refused before anything is allocated, and a damaged checkpoint is
refused, each in one line, by the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from vae_explorer.core.checkpoint import save_checkpoint
from vae_explorer.core.config import ModelConfig, RunConfig
from vae_explorer.core.model import new_model

pytestmark = pytest.mark.slow  # real processes at the size limits of every command


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = RunConfig(model=ModelConfig(hidden=16, latent_dim=4, components=3))
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, new_model(config.model, torch.Generator().manual_seed(0)).state_dict(), config)
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run(
        [sys.executable, "-m", "vae_explorer", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    ("command", "cap"),
    [
        (["sample", "{ckpt}", "--n", "100000000", "--out", "{out}/s.png"], "at most 1024"),
        (["components", "{ckpt}", "--n", "1000", "--out", "{out}/c.png"], "at most 32"),
        (
            [
                "interpolate",
                "{ckpt}",
                "--from",
                "0",
                "--to",
                "1",
                "--steps",
                "100000",
                "--out",
                "{out}/i.png",
            ],
            "at most 40",
        ),
    ],
    ids=["sample", "components", "interpolate"],
)
def test_caps_are_refused_in_one_line(checkpoint, tmp_path, command, cap):
    proc = run(*[part.format(ckpt=checkpoint, out=tmp_path) for part in command])
    assert proc.returncode == 2 and cap in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_the_largest_sample_is_drawn_in_batches(checkpoint, tmp_path):
    proc = run("sample", str(checkpoint), "--n", "1024", "--out", str(tmp_path / "s.svg"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_a_flipped_byte_is_refused_by_every_command(checkpoint, tmp_path):
    payload = torch.load(checkpoint, weights_only=True)
    weight = payload["model"]["decoder.net.4.weight"].contiguous().view(torch.uint8).numpy().tobytes()
    blob = bytearray(checkpoint.read_bytes())
    at = blob.find(weight[:64])
    blob[at + 33] ^= 0x10
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(blob))
    for command in (
        ["sample", str(damaged), "--out", str(tmp_path / "s.png")],
        ["evaluate", str(damaged)],
        ["train", "--resume", str(damaged), "--out", str(tmp_path / "r")],
    ):
        proc = run(*command)
        assert proc.returncode == 2, command
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "does not match its checksum" in lines[0], proc.stderr
