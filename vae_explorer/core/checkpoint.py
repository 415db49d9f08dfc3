"""Checkpoints: state_dict + JSON config + metrics in one file, written atomically, loaded safely."""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_bytes
from .config import ConfigError, RunConfig
from .model import VAE, empty_model

FORMAT = "vae-explorer-checkpoint"
VERSION = 1
# the keys of each `metrics["history"]` entry (the columns of metrics.csv, trainer.METRIC_FIELDS)
HISTORY_FIELDS = ("epoch", "train_loss", "val_nll", "seconds")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or not one of ours."""


def save_checkpoint(
    path: str | os.PathLike,
    weights: dict[str, torch.Tensor],
    config: RunConfig,
    metrics: dict[str, Any] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    rng_state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint atomically: `weights` is a model's state_dict; `rng_state` maps a name
    ("train") to a torch.Generator state, so that a resumed run draws what it would have drawn."""
    model = {k: v.detach().cpu() for k, v in weights.items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_json(),
        "model": model,
        "checksum": weights_checksum(model),
        "metrics": metrics or {},
    }
    if optimizer_state is not None:
        payload["optimizer"] = optimizer_state
    if rng_state is not None:
        payload["rng"] = {k: v.detach().cpu() for k, v in rng_state.items()}
    return atomic_write_bytes(path, serialised(payload))


def weights_checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the weights: every tensor's name, dtype, shape and bytes, in name order. Stored
    in the checkpoint and checked on load, so that a damaged byte is an error, not a silent change."""
    digest = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def serialised(payload: Any) -> bytes:
    """torch.save into memory: written to disk by plain writes, a full disk is an OSError with its
    reason (torch's own writer reports it as an unexplained RuntimeError)."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a checkpoint dict (weights_only=True); raises CheckpointError."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file (model.pt or last.pt)")
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
        raise CheckpointError(f"{path} is corrupt and cannot be read ({first_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vae-explorer checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')}, expected {VERSION}")
    validate_payload(payload, path)
    return payload


def _kind(value: Any) -> str:
    name = "tensor" if isinstance(value, torch.Tensor) else type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate_payload(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """Check the type of every field that loading or resuming uses; raises CheckpointError.

    config: a JSON string; model: a dict of parameter name -> finite tensor; metrics (optional): a
    dict whose known keys have their saved types; optimizer (optional): a torch optimizer state
    dict ({"state": {index: {name: tensor or number}}, "param_groups": [{"params": [index...]}]}).
    """

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path} is damaged: {what}")

    if "config" not in payload:
        raise bad("it has no run configuration ('config')")
    if not isinstance(payload["config"], str):
        raise bad(f"its 'config' is {_kind(payload['config'])}, expected the run configuration as JSON text")
    if "model" not in payload:
        raise bad("it has no model parameters ('model')")
    validate_model_state(payload["model"], path)
    if "metrics" in payload:
        _validate_metrics(payload["metrics"], bad)
    if "optimizer" in payload:
        _validate_optimizer(payload["optimizer"], bad)
    if "checksum" in payload:
        if not isinstance(payload["checksum"], str):
            raise bad(f"its 'checksum' is {_kind(payload['checksum'])}, expected a SHA-256 in hex")
        if weights_checksum(payload["model"]) != payload["checksum"]:
            raise bad("its weights do not match their checksum (a changed or damaged byte)")
    if "rng" in payload:
        rng = payload["rng"]
        if not (
            isinstance(rng, dict)
            and all(
                isinstance(k, str) and isinstance(v, torch.Tensor) and v.dtype == torch.uint8
                for k, v in rng.items()
            )
        ):
            raise bad(
                f"its 'rng' is {_short(rng)}, expected a dict of names to generator states (uint8 tensors)"
            )


def validate_model_state(state: Any, path: str | os.PathLike) -> None:
    """A state dict of named tensors, with finite floating-point values; raises CheckpointError."""
    if not isinstance(state, dict) or not state:
        what = "an empty dict" if isinstance(state, dict) else _kind(state)
        raise CheckpointError(
            f"{path} is damaged: its 'model' is {what}, expected a dict of parameter names to tensors"
        )
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path} is damaged: its 'model' maps {name!r} to {_kind(value)}, "
                "expected a dict of parameter names to tensors"
            )
    bad = [
        name
        for name, value in state.items()
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all())
    ]
    if bad:
        raise CheckpointError(
            f"{path} holds non-finite model parameters ({_names(bad)}; the run diverged before it was saved?)"
        )


def _validate_metrics(metrics: Any, bad) -> None:
    if not isinstance(metrics, dict):
        raise bad(f"its 'metrics' is {_kind(metrics)}, expected a dict of training metrics")
    for key in ("epoch", "best_epoch", "stale_epochs"):
        if key in metrics and not _is_count(metrics[key]):
            raise bad(f"metrics[{key!r}] is {metrics[key]!r}, expected a whole number of epochs (0 or more)")
    if "best_val" in metrics:
        best = metrics["best_val"]
        if not _is_number(best) or math.isnan(best):
            raise bad(f"metrics['best_val'] is {_short(best)}, expected a number (the best validation nll)")
    if "history" in metrics:
        history = metrics["history"]
        if not isinstance(history, list):
            raise bad(f"metrics['history'] is {_kind(history)}, expected a list of per-epoch records")
        for i, entry in enumerate(history):
            if not isinstance(entry, dict) or set(entry) != set(HISTORY_FIELDS):
                raise bad(
                    f"metrics['history'][{i}] is {_short(entry)}, expected a dict with the keys "
                    f"{', '.join(HISTORY_FIELDS)}"
                )
            if not (_is_count(entry["epoch"]) and all(_is_number(entry[k]) for k in HISTORY_FIELDS[1:])):
                raise bad(
                    f"metrics['history'][{i}] is {_short(entry)}, expected a whole epoch number "
                    "and numbers for the rest"
                )


def _validate_optimizer(state: Any, bad) -> None:
    expected = "expected a PyTorch optimizer state dict"
    if not isinstance(state, dict):
        raise bad(f"its 'optimizer' is {_kind(state)}, {expected}")
    if not isinstance(state.get("state"), dict) or not isinstance(state.get("param_groups"), list):
        raise bad(f"its 'optimizer' lacks a 'state' dict and a 'param_groups' list, {expected}")
    for group in state["param_groups"]:
        if not (
            isinstance(group, dict)
            and isinstance(group.get("params"), list)
            and all(_is_count(i) for i in group["params"])
        ):
            raise bad(
                f"its optimizer has a parameter group {_short(group)}, expected a dict with a "
                "'params' list of parameter indices"
            )
    for index, per_param in state["state"].items():
        if not (
            _is_count(index)
            and isinstance(per_param, dict)
            and all(
                isinstance(k, str) and (v is None or _is_number(v) or isinstance(v, (bool, torch.Tensor)))
                for k, v in per_param.items()
            )
        ):
            raise bad(
                f"its optimizer state for parameter {index!r} is {_short(per_param)}, expected a dict "
                "of names to tensors or numbers"
            )
        for name, value in per_param.items():
            finite = (
                bool(torch.isfinite(value).all())
                if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex())
                else not (isinstance(value, float) and not math.isfinite(value))
            )
            if not finite:
                raise bad(
                    f"its optimizer state {name!r} of parameter {index} holds non-finite values "
                    "(the run diverged before it was saved?)"
                )


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """model.load_state_dict(state), with a one-line CheckpointError when they do not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {_names(missing)}")
        if extra:
            parts.append(f"has unknown {_names(extra)}")
        raise CheckpointError(f"{path} does not fit this model: its parameters {' and '.join(parts)}")
    for name, value in state.items():
        if tuple(value.shape) != tuple(own[name].shape):
            raise CheckpointError(
                f"{path} does not fit this model: {name} has shape {tuple(value.shape)} in the checkpoint, "
                f"{tuple(own[name].shape)} in the model (were the model settings changed?)"
            )
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit this model: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's are often many), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_config_of(payload: dict[str, Any], path: str | os.PathLike) -> RunConfig:
    """The validated run settings a checkpoint was saved with; raises CheckpointError."""
    try:
        return RunConfig.from_json(payload["config"]).validate()
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has no valid run settings: {exc}") from None


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[VAE, RunConfig, dict[str, Any]]:
    """Rebuild the model of a checkpoint; returns (model in eval mode, config, payload)."""
    payload = read_checkpoint(path)
    try:
        config = RunConfig.from_json(payload["config"]).validate()
        model = empty_model(config.model)
    except (ConfigError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} does not match a vae-explorer model: {first_line(exc)}") from None
    load_model_state(model, payload["model"], path)
    model.to(device).eval()
    return model, config, payload
