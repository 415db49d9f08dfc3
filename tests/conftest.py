"""Shared test set-up: offscreen Qt, user folders in a temporary place, a tiny MNIST subset."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

from vae_explorer.core.config import DataConfig
from vae_explorer.core.data import load_splits


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` are skipped where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """QSettings, QStandardPaths and any user data go to a fresh temporary folder per test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    yield home


@pytest.fixture(scope="session")
def tiny_splits():
    """512 training, 256 validation and 256 test images of the bundled MNIST."""
    return load_splits(DataConfig(limit_train=512, limit_val=256, limit_test=256))
