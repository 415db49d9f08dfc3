"""Shared pieces of the fault suite: a small finished run made once, copied by the tests that
change it, helpers to look at a folder and at what a command printed, and, for the tests that
build the real window, the app's names with an isolated QSettings store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vae_explorer.cli import main
from vae_explorer.core.runlock import LOCK_NAME

# the run of the hostile pass: small enough to train in seconds, every kind of file a run writes
BASE = [
    "--hidden",
    "64",
    "--latent-dim",
    "8",
    "--components",
    "4",
    "--limit-train",
    "2000",
    "--limit-val",
    "300",
    "--limit-test",
    "300",
    "--epochs",
    "2",
    "--eval-budget",
    "0",
    "--device",
    "cpu",
]
# a quicker run, for the tests that only need a run to start (or to be refused)
FAST = [
    "--hidden",
    "32",
    "--latent-dim",
    "4",
    "--components",
    "3",
    "--limit-train",
    "256",
    "--limit-val",
    "64",
    "--limit-test",
    "64",
    "--epochs",
    "1",
    "--eval-budget",
    "0",
    "--device",
    "cpu",
]


@pytest.fixture(scope="session")
def base_run(tmp_path_factory) -> Path:
    """A finished run (config, metrics, model.pt, last.pt, outcome, evaluation, figures), made once;
    tests that change a run work on a copy."""
    out = tmp_path_factory.mktemp("base") / "base"
    assert main(["train", *BASE, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(base_run, tmp_path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(base_run, target, symlinks=True)
    return target


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


def cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **kwargs.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "vae_explorer", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


@pytest.fixture
def app_settings(qapp, tmp_path):
    """The application's names, with QSettings in a fresh temporary folder."""
    from PySide6.QtCore import QSettings

    from vae_explorer import ORG_DOMAIN, ORG_NAME

    qapp.setApplicationName("vae-explorer")
    qapp.setOrganizationName(ORG_NAME)
    qapp.setOrganizationDomain(ORG_DOMAIN)
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()
    return qapp
