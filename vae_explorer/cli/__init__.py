"""Command line: no arguments opens the desktop app; sub-commands drive the core headless."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from vae_explorer import __version__

from .args import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UserError, check_path_lengths


def build_parser() -> argparse.ArgumentParser:
    from . import evaluation, explore, report, train

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
    from .interrupts import interruptible

    # from here on, Ctrl-C, SIGTERM and SIGHUP end the command cleanly
    with interruptible(restore_signals, sys._getframe()) as pending:
        try:
            code = _run(argv)
        except KeyboardInterrupt:
            pending.append(0)
        if pending:  # interrupted, or a signal came as the command finished: said either way
            with contextlib.suppress(OSError):
                print("\ninterrupted", file=sys.stderr)
            pending.clear()
            return EXIT_INTERRUPTED
        return code


def entry() -> int:
    """The `vae-explorer` command and `python -m vae_explorer`."""
    return main(restore_signals=False)


def _run(argv: list[str]) -> int:
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


__all__ = ["EXIT_USAGE", "UserError", "build_parser", "entry", "main"]
