"""What the fault suite's tests share: the options of its two small runs, the real command line
(helpers.cli), and helpers to look at a folder and at what a command printed. A module of its own
name, so that no test imports `conftest` (another folder's conftest may hold that name)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import (
    cli,  # noqa: F401  (re-exported: the fault tests take it from here)
    tiny,
)

from vae_explorer.core.runlock import LOCK_NAME

# the run of the hostile pass: small enough to train in seconds, every kind of file a run writes
BASE = tiny(2000, 300, 300, hidden=64, latent_dim=8, components=4, epochs=2, eval_budget=0)
# a quicker run, for the tests that only need a run to start (or to be refused)
FAST = tiny(256, 64, 64, hidden=32, latent_dim=4, components=3, epochs=1, eval_budget=0)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (not following links) with its bytes; the lock file left out."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != LOCK_NAME
    }


def one_line_error(err: str) -> str:
    """The single line a refused command prints (asserting it is one line, with no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` ("1m") mounted on `folder` (made here), unmounted afterwards; the test is
    skipped where that cannot be done (not Linux, not root, or mount refused)."""
    folder.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs Linux and root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def same(a, b) -> bool:
    """Whether two loaded payloads hold the same content: types, keys, values, and each tensor's
    dtype, shape, requires_grad and bytes (NaN or not)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and a.requires_grad == b.requires_grad
            and a.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            == b.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a.hex() == b.hex()
    return a == b
