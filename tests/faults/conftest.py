"""The fault suite's fixtures: a small finished run made once, copied by the tests that change
it, and, for the tests that build the real window, the app's names with an isolated QSettings
store. Its plain helpers are in faulthelpers.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from faulthelpers import BASE

from vae_explorer.cli import main


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
