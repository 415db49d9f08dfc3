"""Command line: no arguments opens the desktop app; sub-commands drive the core headless.

This module imports next to nothing at its top, so that the handlers of Ctrl-C, SIGTERM and
SIGHUP are in place before anything slow is loaded (see cli.interrupts).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE

if TYPE_CHECKING:
    import argparse


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from vae_explorer import __version__

    from . import evaluation, explore, report, sweep, train

    parser = argparse.ArgumentParser(
        prog="vae-explorer",
        description="Train and explore VAEs with a learnable Mixture-of-Gaussians prior. "
        "With no command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train.add_command(sub)
    explore.add_commands(sub)
    evaluation.add_commands(sub)
    report.add_commands(sub)
    sweep.add_command(sub)
    return parser


def main(argv: list[str] | None = None, restore_signals: bool = True) -> int:
    """Run the command line `argv` (default: the process's); returns the exit code. The process's
    entry points pass restore_signals=False: the process ends when this returns."""
    # Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. When another
    # program held one of two cores, spinning threads made a training epoch 2.6x slower (45.8 s
    # against 17.5 s); sleeping costs about a tenth on an idle machine. OMP_WAIT_POLICY=ACTIVE
    # in the environment keeps spinning.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from vae_explorer.app.main import run_app

        return run_app()
    from .interrupts import interruptible, settle

    # from here on, Ctrl-C, SIGTERM and SIGHUP end the command cleanly
    with interruptible(restore_signals, sys._getframe()) as pending:
        try:
            code: int | None = _run(argv)
            settle()  # inside the try: an interrupt raised up to here is caught below
        except KeyboardInterrupt:
            code = None
            settle()
        if code is None or pending:  # interrupted, or a signal came as the command ended
            with contextlib.suppress(OSError):
                print("\ninterrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        return code


def entry() -> int:
    """The `vae-explorer` command and `python -m vae_explorer`."""
    return main(restore_signals=False)


def _run(argv: list[str]) -> int:
    from .args import UserError, check_path_lengths

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from vae_explorer.core.atomic import WriteError
    from vae_explorer.core.checkpoint import CheckpointError
    from vae_explorer.core.classifier import ClassifierError
    from vae_explorer.core.config import ConfigError
    from vae_explorer.core.data import DataError
    from vae_explorer.core.runlock import RunFolderBusy

    try:
        check_path_lengths(args)
        return args.func(args)
    except ConfigError as exc:
        args.command_parser.error(str(exc))  # the sub-command's usage line, then exit code 2
    except (DataError, CheckpointError, ClassifierError, RunFolderBusy, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WriteError as exc:  # the files saved before it are intact
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a file or folder the system would not read or make: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{(exc.strerror or str(exc)).lower()}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def __getattr__(name: str):
    if name == "UserError":  # imported on first use, with the argument helpers
        from .args import UserError

        return UserError
    raise AttributeError(name)


__all__ = ["EXIT_USAGE", "UserError", "build_parser", "entry", "main"]
