"""The report file: a .pdf or a .html of the given runs, written atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from vae_explorer.core.atomic import atomic_write, atomic_write_text
from vae_explorer.core.runs import RunSummary
from vae_explorer.report.document import build_document
from vae_explorer.report.html_writer import html_report
from vae_explorer.report.pdf_writer import write_pdf
from vae_explorer.report.runs import ReportError

SUFFIXES = (".pdf", ".html")


def readable(text: str) -> str:
    """`text` as valid UTF-8: a folder name that is not UTF-8 (its bytes held as surrogate
    escapes) shows its undecodable bytes as U+FFFD, as a browser would."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def write_report(
    runs: Sequence[RunSummary],
    out: str | Path,
    all_runs: bool = False,
    sweeps: Sequence[Path] = (),
    accept_unchecked: bool = False,
    kept_colours: Mapping[str, str] | None = None,
) -> Path:
    """Write the report of `runs` to `out` (.pdf or .html), atomically; returns its path. Each of
    `sweeps` (sweep folders) gets a section of its own. `kept_colours`: the run colours the app
    keeps (core.colours.ColourBook.colours), for the curves."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ReportError(f"a report is a .pdf or .html file, not {out.name!r}")
    blocks = build_document(
        runs, all_runs, sweeps=sweeps, accept_unchecked=accept_unchecked, kept_colours=kept_colours
    )
    if suffix == ".html":
        return atomic_write_text(out, readable(html_report(blocks)))
    return atomic_write(out, lambda fh: write_pdf(blocks, fh))
