"""The per-user data folder: files the app makes for its user (trained classifiers, run colours),
never inside the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    """Per-user folder for files the app makes (trained classifiers); never inside the package."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "vae-explorer"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "vae-explorer"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "vae-explorer"
