"""Checkpoints: state_dict + JSON config + metrics in one file, written atomically, loaded safely.

Every checkpoint carries a SHA-256 over its whole content (settings, metrics, optimiser and
generator state, weights), checked before anything in it is believed: torch checks no zip CRC,
so a flipped bit would otherwise load as a different learning rate or data set.
"""

from __future__ import annotations

import errno
import hashlib
import io
import math
import os
import pickle
import stat
import struct
import threading
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_bytes
from .config import RunConfig
from .epochlog import OPTIONAL_KEYS, check_optional
from .model import VAE, empty_model
from .schedule import FLOOR

FORMAT = "vae-explorer-checkpoint"
# 2: the checksum covers the whole content. 1: it covered the weights only (or was missing), so
# such files load only when the user accepts that (--accept-unchecked). No single flipped bit
# turns the pickled 2 into 1 (0b10 -> 0b11, 0b00, 0b110 ...).
VERSION = 2
UNCHECKED_VERSION = 1
MAX_DEPTH = 64  # nesting of a payload's containers; ours go 5 deep
# the keys of each `metrics["history"]` entry (the columns of metrics.csv, trainer.METRIC_FIELDS)
HISTORY_FIELDS = ("epoch", "train_loss", "val_nll", "seconds")
HISTORY_KEYS = {*HISTORY_FIELDS, *OPTIONAL_KEYS}  # with the bound's parts and the weights (core.epochlog)
# warnings.catch_warnings swaps process-wide filters; loads that overlap in two threads would
# otherwise restore each other's filters out of order
_LOAD_WARNINGS = threading.Lock()


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or not one of ours."""


class UncheckedCheckpoint(CheckpointError):
    """A checkpoint saved before the whole-content checksum: it loads only when the user accepts
    it unchecked (the CLI's --accept-unchecked, a question in the app)."""


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
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_json(),
        "model": {k: v.detach().cpu() for k, v in weights.items()},
        "metrics": metrics or {},
    }
    if optimizer_state is not None:
        payload["optimizer"] = optimizer_state
    if rng_state is not None:
        payload["rng"] = {k: v.detach().cpu() for k, v in rng_state.items()}
    return atomic_write_bytes(path, serialised(signed(payload)))


def signed(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with its "checksum": the SHA-256 of everything else in it (`content_checksum`)."""
    unsigned = {k: v for k, v in payload.items() if k != "checksum"}
    return {**unsigned, "checksum": content_checksum(unsigned)}


def content_checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of a canonical encoding of the payload less its "checksum": every value with its
    type, every container with its length, dict entries in the order of their encoded keys, and
    each tensor's dtype, shape, requires_grad and bytes. Two payloads that load as different
    content never encode alike. Raises ValueError for a value no checkpoint holds."""
    digest = hashlib.sha256()
    _encode({k: v for k, v in payload.items() if k != "checksum"}, digest.update, 0)
    return digest.hexdigest()


def _encode(value: Any, out: Callable[[Any], None], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"it nests containers more than {MAX_DEPTH} deep")
    if value is None:
        out(b"N")
    elif isinstance(value, bool):
        out(b"T" if value else b"F")
    elif isinstance(value, int):
        out(b"i%d;" % value)
    elif isinstance(value, float):
        out(b"f" + struct.pack("<d", value))
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        out(b"s%d:" % len(data) + data)
    elif isinstance(value, bytes):
        out(b"b%d:" % len(value) + value)
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        head = f"{t.dtype}:{tuple(value.shape)}:{int(value.requires_grad)}:{t.numel() * t.element_size()}"
        out(b"x" + head.encode() + b";")
        if t.numel():
            out(t.view(torch.uint8).numpy())
    elif isinstance(value, (list, tuple)):
        out(b"%s%d[" % (b"l" if isinstance(value, list) else b"t", len(value)))
        for item in value:
            _encode(item, out, depth + 1)
        out(b"]")
    elif isinstance(value, dict):
        entries = []
        for key, item in value.items():
            entries.append((_key_bytes(key, depth + 1), item))
        entries.sort(key=lambda entry: entry[0])
        out(b"d%d{" % len(entries))
        for key_bytes, item in entries:
            out(key_bytes)
            _encode(item, out, depth + 1)
        out(b"}")
    elif isinstance(value, (torch.dtype, torch.device)):
        text = f"{type(value).__name__}:{value}".encode()
        out(b"o%d:" % len(text) + text)
    else:
        raise ValueError(f"it holds {_kind(value)}, which no vae-explorer checkpoint holds")


def _key_bytes(key: Any, depth: int) -> bytes:
    parts: list[bytes] = []
    _encode(key, lambda b: parts.append(bytes(b)), depth)
    return b"".join(parts)


def weights_checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the weights alone: every tensor's name, dtype, shape and bytes, in name order.
    What checkpoints of version 1 carried; checked when such a file is accepted unchecked."""
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


def read_checkpoint(path: str | os.PathLike, accept_unchecked: bool = False) -> dict[str, Any]:
    """Load and check a checkpoint dict (weights_only=True); raises CheckpointError in one line.

    Its checksum over the whole content must match before anything in it is used. A file saved
    before that checksum existed (version 1) is refused unless `accept_unchecked`; the caller
    then says so (`is_unchecked`)."""
    path = Path(path)
    _check_file(path)
    try:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                f"{path} is not a vae-explorer checkpoint (not a PyTorch file, or truncated)"
            )
        payload = quiet_load(path)
    except CheckpointError:
        raise
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} is not a vae-explorer checkpoint: it holds objects other than tensors and plain "
            "values, which are not loaded for safety"
        ) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {_reason(exc)}") from None
    except Exception as exc:  # damaged archive members, truncated records ...
        raise CheckpointError(f"{path} is corrupt and cannot be read ({first_line(exc)})") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("format"), str)
        or payload["format"] != FORMAT
    ):
        raise CheckpointError(f"{path} is not a vae-explorer checkpoint")
    version = payload.get("version")
    if type(version) is not int or version not in (VERSION, UNCHECKED_VERSION):
        raise CheckpointError(f"{path} has checkpoint version {_short(version)}, expected {VERSION}")
    if version == VERSION:
        _check_content(payload, path)
    elif not accept_unchecked:
        raise UncheckedCheckpoint(
            f"{path} was saved by an older vae-explorer, without a checksum over its settings, metrics "
            "and optimiser state, so a damaged byte there cannot be told; pass --accept-unchecked to "
            "load it anyway"
        )
    validate_payload(payload, path)
    return payload


def quiet_load(path: str | os.PathLike) -> Any:
    """torch.load (weights only, onto the CPU) of a file from disk, without torch's own warnings: a
    damaged or crafted file makes torch warn about its pickle (an unknown protocol ...), and the
    file is then refused in one line or, its content being intact, loaded; either way the warning
    tells the user nothing. Every torch file the package reads (checkpoints, classifiers) comes
    through here."""
    with _LOAD_WARNINGS, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"torch\.")
        return torch.load(path, map_location="cpu", weights_only=True)


def checkpoint_epoch(path: str | os.PathLike) -> int | None:
    """The epoch whose model the checkpoint at `path` holds; None when there is none, or it cannot
    be read (checked as any checkpoint is; one saved before the whole-content checksum counts)."""
    try:
        epoch = read_checkpoint(path, accept_unchecked=True).get("metrics", {}).get("epoch")
    except CheckpointError:
        return None
    return epoch if _is_count(epoch) else None


def is_unchecked(payload: dict[str, Any]) -> bool:
    """Whether a payload read with accept_unchecked=True predates the whole-content checksum."""
    return payload.get("version") == UNCHECKED_VERSION


def _check_content(payload: dict[str, Any], path: Path) -> None:
    stored = payload.get("checksum")
    if stored is None:
        raise CheckpointError(f"{path} is damaged: it has no checksum (a changed or damaged byte)")
    if not isinstance(stored, str):
        raise CheckpointError(
            f"{path} is damaged: its 'checksum' is {_kind(stored)}, expected a SHA-256 in hex"
        )
    try:
        actual = content_checksum(payload)
    except (ValueError, TypeError, RuntimeError, RecursionError) as exc:
        raise CheckpointError(f"{path} is damaged: {first_line(exc)}") from None
    if actual != stored:
        raise CheckpointError(
            f"{path} is damaged: its content does not match its checksum (a changed or damaged byte)"
        )


def _check_file(path: Path) -> None:
    """A readable regular file, or a CheckpointError that says what it is instead."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise CheckpointError(f"checkpoint {path} does not exist") from None
        if exc.errno == errno.ELOOP:
            raise CheckpointError(
                f"checkpoint {path} is a symbolic link that leads back to itself (a loop)"
            ) from None
        raise CheckpointError(f"cannot read checkpoint {path}: {_reason(exc)}") from None
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a checkpoint file (model.pt or last.pt)")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path} is not a regular file, so not a checkpoint")


def _reason(exc: OSError) -> str:
    return (exc.strerror or first_line(exc)).lower()


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
    if payload.get("version") == UNCHECKED_VERSION and "checksum" in payload:
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
    for key in ("epoch", "best_epoch", "stale_epochs", "plateau_stale"):
        if key in metrics and not _is_count(metrics[key]):
            raise bad(
                f"metrics[{key!r}] is {_short(metrics[key])}, expected a whole number of epochs (0 or more)"
            )
    if "lr_factor" in metrics:
        factor = metrics["lr_factor"]
        if not _is_number(factor) or not FLOOR <= factor <= 1:
            raise bad(
                f"metrics['lr_factor'] is {_short(factor)}, expected the plateau schedule's factor "
                f"of the learning rate ({FLOOR:g} to 1)"
            )
    if "best_val" in metrics:
        best = metrics["best_val"]
        if not _is_number(best) or math.isnan(best):
            raise bad(f"metrics['best_val'] is {_short(best)}, expected a number (the best validation nll)")
    if "history" in metrics:
        history = metrics["history"]
        if not isinstance(history, list):
            raise bad(f"metrics['history'] is {_kind(history)}, expected a list of per-epoch records")
        for i, entry in enumerate(history):
            if not isinstance(entry, dict) or not set(HISTORY_FIELDS) <= set(entry) <= HISTORY_KEYS:
                raise bad(
                    f"metrics['history'][{i}] is {_short(entry)}, expected a dict with the keys "
                    f"{', '.join(HISTORY_FIELDS)} (and perhaps {', '.join(OPTIONAL_KEYS)})"
                )
            problem = check_optional(entry)
            if problem is not None:
                raise bad(f"metrics['history'][{i}] is {_short(entry)}: {problem}")
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
    """A value for a one-line message: a tensor by its shape, anything else by its repr on one
    line (a tensor inside a list prints over several), cut to `limit` characters."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """model.load_state_dict(state), with a one-line CheckpointError when they do not fit."""
    check_state_fits(model.state_dict(), state, path)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit this model: {first_line(exc)}") from None


def check_state_fits(
    own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: str | os.PathLike
) -> None:
    """The names and shapes of a saved state dict against a model's (which may live on the meta
    device, so that a model is checked before anything of its size is allocated)."""
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
        if value.dtype != own[name].dtype and not (
            value.is_floating_point() and own[name].is_floating_point()
        ):
            raise CheckpointError(
                f"{path} does not fit this model: {name} holds {value.dtype} values, the model {own[name].dtype}"
            )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's are often many), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_config_of(payload: dict[str, Any], path: str | os.PathLike) -> RunConfig:
    """The validated run settings a checkpoint was saved with; raises CheckpointError."""
    try:
        return RunConfig.from_json(payload["config"]).validate()
    except Exception as exc:  # whatever the settings' text holds, the answer is one line
        raise CheckpointError(f"{path} has no valid run settings: {first_line(exc)}") from None


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", accept_unchecked: bool = False
) -> tuple[VAE, RunConfig, dict[str, Any]]:
    """Rebuild the model of a checkpoint; returns (model in eval mode, config, payload). The
    model is built on the meta device and compared with the saved weights before it is
    allocated, so settings that ask for a huge model are an error, not an allocation."""
    payload = read_checkpoint(path, accept_unchecked)
    try:
        config = RunConfig.from_json(payload["config"]).validate()
        with torch.device("meta"):
            skeleton = VAE(config.model)
    except Exception as exc:  # the settings' text is the file's, not ours: any error is one line
        raise CheckpointError(f"{path} does not match a vae-explorer model: {first_line(exc)}") from None
    check_state_fits(skeleton.state_dict(), payload["model"], path)
    try:
        model = empty_model(config.model)
    except (RuntimeError, MemoryError) as exc:
        raise CheckpointError(f"{path} does not match a vae-explorer model: {first_line(exc)}") from None
    load_model_state(model, payload["model"], path)
    model.to(device).eval()
    return model, config, payload
