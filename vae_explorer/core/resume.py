"""Whether a checkpoint fits the run that resumes from it: the same model settings and optimiser, and
an optimiser state of the same shape, so that a crafted or mismatched file fails with a message
before the first step rather than in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .checkpoint import CheckpointError, run_config_of
from .config import RunConfig


def check_resumable(config: RunConfig, path: str | Path, payload: dict[str, Any]) -> None:
    """The checkpoint's model and optimiser must be `config`'s: say which setting differs."""
    saved = run_config_of(payload, path)
    pairs = [
        (f"model {name}", getattr(saved.model, name), getattr(config.model, name))
        for name in saved.model.__dataclass_fields__
    ]
    pairs.append(("optimizer", saved.train.optimizer, config.train.optimizer))
    differ = [f"{name} {old!r} -> {new!r}" for name, old, new in pairs if old != new]
    if differ:
        raise CheckpointError(
            f"cannot resume from {path}: this run changes the checkpoint's " + ", ".join(differ)
        )


def _shape_of(value: Any) -> Any:
    """The kind of an optimiser option: a flag (True, False or None: torch's "not set"), a
    number, text, or a tuple of those."""
    if isinstance(value, bool) or value is None:
        return "flag"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return tuple(_shape_of(v) for v in value)
    return type(value).__name__


def check_optimizer_options(optimizer: torch.optim.Optimizer, saved: dict[str, Any], path) -> None:
    """The saved parameter groups have this optimiser's options, each of the same kind (a number,
    a flag, a pair of numbers ...), so that a crafted file cannot make the first step fail."""
    groups = saved["param_groups"]
    if len(groups) != len(optimizer.param_groups):
        raise CheckpointError(
            f"{path} does not fit this configuration: its optimiser has {len(groups)} parameter "
            f"groups, this run's {len(optimizer.param_groups)}"
        )
    for own, theirs in zip(optimizer.param_groups, groups):
        for name, value in own.items():
            if name in ("params", "lr") or name not in theirs:
                continue
            if _shape_of(theirs[name]) != _shape_of(value):
                raise CheckpointError(
                    f"{path} does not fit this configuration: its optimiser option {name!r} is "
                    f"{theirs[name]!r}, where {type(optimizer).__name__} takes a value like {value!r}"
                )
        if len(theirs["params"]) != len(own["params"]):
            raise CheckpointError(
                f"{path} does not fit this configuration: its optimiser holds {len(theirs['params'])} "
                f"parameters in a group of this run's {len(own['params'])}"
            )
        for index, param in zip(theirs["params"], own["params"]):
            for name, value in saved["state"].get(index, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise CheckpointError(
                        f"{path} does not fit this configuration: its optimiser state {name!r} has shape "
                        f"{tuple(value.shape)} for a parameter of shape {tuple(param.shape)}"
                    )
