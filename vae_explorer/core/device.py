"""Where models run: the device a setting names, its description, and how much memory it has."""

from __future__ import annotations

import os

import torch

from .config import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without it is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA device is available")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """The device as a log line names it: "cpu", or "cuda:0 (NVIDIA H200)"."""
    if device.type != "cuda":
        return str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def device_memory(device: torch.device) -> int | None:
    """Bytes of memory on `device` (physical RAM for the CPU), or None where it cannot be told."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def gpu_name() -> str | None:
    """The name of the CUDA device 'auto' would pick, or None when there is none."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
