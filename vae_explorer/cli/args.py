"""Argument types and shared options of the sub-commands, and the user-error type they raise."""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

from vae_explorer.core.config import DATASETS

from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE  # noqa: F401 (the commands import them here)

MAX_THREADS = 1024  # torch takes more, then crashes in OpenMP when it starts them
PATH_MAX = 4096  # bytes in a path on Linux; a longer one cannot be opened at all
# the arguments that name files or folders, checked for lengths before anything is read or made
PATH_ARGS = ("out", "model", "resume", "data_root", "runs")


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
    """Make the folder `path` (with its parents) and check that a file can be written in it. A
    path that cannot name a folder is bad input (exit code 2); a folder that cannot be made or
    written to for want of room or permission is a WriteError (exit code 1)."""
    make_folder(path)
    probe_writable(path)
    return path


# why mkdir fails when the path itself is wrong (bad input), not the disk or the permissions
_BAD_PATH = (errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP)


def probe_writable(folder: Path) -> None:
    """Write and remove a small file of a name nobody else uses, made with O_EXCL|O_NOFOLLOW: no
    other process's probe is ever removed, and no planted link is followed. WriteError when it
    cannot be written (a full disk, no permission); nothing is left behind."""
    from vae_explorer.core.atomic import WriteError

    probe = folder / f".write-test.{os.getpid()}.{secrets.token_hex(6)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(probe, flags, 0o600)
    except OSError as exc:
        raise WriteError(folder, exc) from None
    try:
        os.write(fd, b"ok")
    except OSError as exc:
        raise WriteError(folder, exc) from None
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(probe)


def make_folder(path: Path) -> list[Path]:
    """mkdir -p `path`; returns the folders it made, outermost first (to remove again, if empty,
    when the command fails). WriteError when it cannot."""
    from vae_explorer.core.atomic import WriteError

    missing = []
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in _BAD_PATH:
            raise UserError(f"cannot write to {path}: {(exc.strerror or str(exc)).lower()}") from None
        raise WriteError(path, exc) from None
    return missing[::-1]


def remove_if_empty(folders: list[Path]) -> None:
    """Remove these folders, innermost first, as long as they are empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def check_path_lengths(args: argparse.Namespace) -> None:
    """Every path argument within the system's limits: each name at most NAME_MAX bytes (255 on
    the usual file systems), the whole at most PATH_MAX; else one line, exit code 2."""
    for attr in PATH_ARGS:
        value = getattr(args, attr, None)
        what = attr.upper() if attr in ("model", "runs") else "--" + attr.replace("_", "-")
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and text:
                check_path_length(text, what)


def check_path_length(text: str, what: str) -> None:
    from vae_explorer.core.atomic import name_max

    path = Path(text).expanduser().absolute()
    size = len(os.fsencode(str(path)))
    if size > PATH_MAX:
        raise UserError(f"{what}: the path is {size:,} bytes long, too long (at most {PATH_MAX})")
    existing = next((p for p in (path, *path.parents) if os.path.isdir(p)), None)
    limit = name_max(existing) if existing is not None else 255
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > limit:
            raise UserError(
                f"{what}: the name {part[:24]}... is {size} bytes long, too long for the file system "
                f"(at most {limit})"
            )


def add_accept_unchecked(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--accept-unchecked",
        action="store_true",
        help="load a checkpoint saved by an older vae-explorer, whose checksum covers its weights "
        "only (or which has none): its settings, metrics and optimiser state cannot be checked",
    )


def warn_unchecked(path: str | os.PathLike) -> None:
    print(
        f"warning: {path} predates checksums over the whole checkpoint; its settings, metrics and "
        "optimiser state were loaded unchecked (--accept-unchecked)",
        file=sys.stderr,
    )


@contextlib.contextmanager
def output_to(path: str, suffixes: tuple[str, ...] = (".png", ".pdf")) -> Iterator[Path]:
    """`with output_to(args.out, SUFFIXES) as out:` the command's output file, its folder made and
    checked for writing first; the folders made for it are removed again, if empty, when the
    command fails (a missing model, no runs), so that a refused command leaves nothing behind."""
    out = Path(path)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name ending in {' or '.join(suffixes)}")
    if out.suffix.lower() not in suffixes:
        raise UserError(f"--out must end in {' or '.join(suffixes)}, not {out.name!r}")
    folder = out.parent if str(out.parent) else Path(".")
    made = make_folder(folder)
    try:
        probe_writable(folder)
        yield out
    except BaseException:
        remove_if_empty(made)
        raise


def load_model(path: str, device: str = "cpu", accept_unchecked: bool = False):
    from vae_explorer.core.checkpoint import is_unchecked, load_checkpoint
    from vae_explorer.core.device import resolve_device

    loaded = load_checkpoint(path, resolve_device(device), accept_unchecked)
    if is_unchecked(loaded[2]):
        warn_unchecked(path)
    return loaded
