"""Locate the shipped resources (bundled MNIST, icons), installed as the package vae_explorer.resources."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """Return the folder holding the shipped resources.

    Installed wheels carry them as the package `vae_explorer.resources`; a source checkout keeps
    them in the top-level `resources/`; a PyInstaller bundle unpacks them under `sys._MEIPASS`.
    """
    candidates: list[Path] = []
    try:
        from importlib.resources import files

        candidates.append(Path(str(files("vae_explorer.resources"))))
    except (ModuleNotFoundError, TypeError):
        pass
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "vae_explorer" / "resources")
    candidates.append(Path(__file__).resolve().parent.parent / "resources")
    for cand in candidates:
        if (cand / "MNIST").is_dir():
            return cand
    return candidates[-1]


def bundled_data_root() -> Path:
    """The torchvision-layout root of the bundled MNIST (`<root>/MNIST/raw/*.gz`)."""
    return resources_dir()


def icon_path(size: int | None = None) -> Path:
    """Path of the application icon: the SVG, or the PNG of the given pixel size."""
    name = "vae-explorer.svg" if size is None else f"vae-explorer-{size}.png"
    return resources_dir() / "icons" / name
