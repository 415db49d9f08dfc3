"""`vae-explorer report`: one PDF or HTML file that reports on training runs."""

from __future__ import annotations

import argparse

from .args import UserError, add_accept_unchecked, output_to
from .console import warn


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "report",
        help="a PDF or HTML report of runs: settings, curves, results, samples, components, latent map",
    )
    r.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="a run folder (config.json with metrics.csv or model.pt), a queue folder whose lr_* "
        "folders are runs, or a sweep folder (its trials, and a section with its summary, curves "
        "by setting and comparison)",
    )
    r.add_argument("--out", required=True, metavar="FILE", help="report.pdf or report.html")
    r.add_argument(
        "--all-runs",
        action="store_true",
        help="draw the samples, components, interpolation and latent map of every run with a model.pt "
        "(default: of the best run only)",
    )
    add_accept_unchecked(r)
    r.set_defaults(func=cmd_report, command_parser=r)


def cmd_report(args: argparse.Namespace) -> int:
    from vae_explorer.core.colours import ColourBook, colours_file
    from vae_explorer.report import (
        SUFFIXES,
        ReportError,
        collect_runs,
        readable_runs,
        unreadable_text,
        write_report,
    )
    from vae_explorer.report.sweep import sweep_folders

    try:
        runs = collect_runs(args.runs)
    except ReportError as exc:
        raise UserError(str(exc)) from None
    with output_to(args.out, SUFFIXES) as out:
        readable, unreadable = readable_runs(runs)
        for run in unreadable:
            warn(f"warning: left out {unreadable_text(run)}")
        try:
            write_report(
                runs,
                out,
                all_runs=args.all_runs,
                sweeps=sweep_folders(args.runs),
                accept_unchecked=args.accept_unchecked,
                kept_colours=ColourBook(colours_file()).colours,  # the curves in the colours the app shows
            )
        except ReportError as exc:  # a WriteError goes on: exit code 1, like every write error
            raise UserError(str(exc)) from None
        n = len(readable)
        left_out = f", {len(unreadable)} unreadable left out" if unreadable else ""
        print(f"wrote {out} ({n} run{'s' if n != 1 else ''}{left_out})")
        return 0
