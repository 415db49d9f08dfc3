"""What the test folders share: the real command line in a process of its own, and the options
of a tiny run. (pytest puts this folder on the import path: `from helpers import cli`.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tiny(train: int = 320, val: int = 128, test: int = 128, **options: object) -> list[str]:
    """Options of a run on a few images, on the CPU; `options` add more (`hidden=64` gives
    `--hidden 64`, `eval_budget=0` gives `--eval-budget 0`)."""
    args = [
        "--limit-train",
        str(train),
        "--limit-val",
        str(val),
        "--limit-test",
        str(test),
        "--device",
        "cpu",
    ]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def cli(*args: str, **popen) -> subprocess.Popen:
    """`vae-explorer ARGS` as a user runs it (python -m vae_explorer), with its output in pipes
    as text unless `popen` says otherwise; idle OpenMP threads sleep, as the command sets."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **popen.pop("env", {})}
    options = {"text": True, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, "-m", "vae_explorer", *args], env=env, **options)


def old_checkpoint(checkpoint: Path, target: Path) -> Path:
    """`checkpoint` rewritten as vae-explorer wrote it before the whole-content checksum: version
    1, a checksum over the weights only."""
    import torch

    from vae_explorer.core.checkpoint import weights_checksum

    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    payload["version"] = 1
    payload["checksum"] = weights_checksum(payload["model"])
    torch.save(payload, target)
    return target


def trainer_checkpoint(path: Path, config, generators: bool = False) -> Path:
    """A checkpoint as the trainer writes it: weights after one optimiser step, metrics with a
    history and the optimiser's state; with `generators`, the training generator's state too, as
    in last.pt."""
    import torch

    from vae_explorer.core.checkpoint import save_checkpoint
    from vae_explorer.core.model import new_model

    model = new_model(config.model, torch.Generator().manual_seed(0))
    opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    model(torch.bernoulli(torch.full((4, 784), 0.3), generator=g), g).backward()
    opt.step()
    metrics = {
        "history": [{"epoch": 1, "train_loss": 200.0, "val_nll": 190.0, "seconds": 1.5}],
        "best_val": 190.0,
        "best_epoch": 1,
        "stale_epochs": 0,
        "epoch": 1,
    }
    rng = {"train-cpu": g.get_state()} if generators else None
    return save_checkpoint(path, model.state_dict(), config, metrics, opt.state_dict(), rng)
