"""Argument types and shared options of the sub-commands, and the user-error type they raise."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from vae_explorer.core.config import DATASETS

EXIT_FAILED = 1  # a run failed (diverged, or a file could not be written)
EXIT_USAGE = 2  # bad input
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C, as shells report SIGINT


class UserError(Exception):
    """A problem the user can fix; printed as one line on stderr, exit code 2."""


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, 0 or more")
    return value


def int_at_least(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} must be at most {maximum}")
        return value

    parse.__name__ = f"integer >= {minimum}" if maximum is None else f"integer in {minimum}..{maximum}"
    return parse


SEED = int_at_least(0, 2**63 - 1)  # what torch.Generator.manual_seed takes


def data_root(text: str) -> str:
    """An absolute path, so that a checkpoint still finds its data from another folder."""
    return str(Path(text).expanduser().absolute())


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="mnist (bundled) or fashion-mnist (needs --data-root or --download)",
    )
    p.add_argument(
        "--data-root",
        type=data_root,
        metavar="DIR",
        help="a torchvision-layout root holding MNIST/raw or FashionMNIST/raw",
    )
    p.add_argument("--download", action="store_true", help="let torchvision fetch the data (online)")
    p.add_argument("--limit-test", type=int_at_least(1), metavar="N", help="use the first N test images")


def ensure_writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path


def output_file(path: str, suffixes: tuple[str, ...] = (".png", ".pdf")) -> Path:
    out = Path(path)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name ending in {' or '.join(suffixes)}")
    if out.suffix.lower() not in suffixes:
        raise UserError(f"--out must end in {' or '.join(suffixes)}, not {out.name!r}")
    ensure_writable_dir(out.parent if str(out.parent) else Path("."))
    return out


def load_model(path: str, device: str = "cpu"):
    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.device import resolve_device

    return load_checkpoint(path, resolve_device(device))
