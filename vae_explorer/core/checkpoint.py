"""Checkpoints: state_dict + JSON config + metrics in one file, written atomically, loaded safely."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, RunConfig
from .model import VAE

FORMAT = "vae-explorer-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or not one of ours."""


def save_checkpoint(
    path: str | os.PathLike,
    model: VAE,
    config: RunConfig,
    metrics: dict[str, Any] | None = None,
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write to a temporary file in the same folder, then rename over `path`."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_json(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": metrics or {},
    }
    if optimizer_state is not None:
        payload["optimizer"] = optimizer_state
    return atomic_torch_save(payload, path)


def atomic_torch_save(payload: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a checkpoint dict (weights_only=True); raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a vae-explorer checkpoint (not a PyTorch file, or truncated)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} is not a vae-explorer checkpoint: it holds objects other than tensors and plain "
            "values, which are not loaded for safety"
        ) from None
    except Exception as exc:  # damaged archive members, truncated records ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is corrupt and cannot be read ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vae-explorer checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')}, expected {VERSION}")
    return payload


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[VAE, RunConfig, dict[str, Any]]:
    """Rebuild the model of a checkpoint; returns (model in eval mode, config, payload)."""
    payload = read_checkpoint(path)
    try:
        config = RunConfig.from_json(payload["config"]).validate()
        model = VAE(config.model)
        model.load_state_dict(payload["model"])
    except (ConfigError, KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path} does not match a vae-explorer model: {exc}") from None
    model.to(device).eval()
    return model, config, payload
