"""A report of training runs in one file: a multi-page vector PDF or a self-contained HTML page
(`vae-explorer report`, File → Export report).

The report holds, for the runs it is given: a title block (date, version, data, device, time), the
settings of every run side by side with the differing ones highlighted, the validation and training
curves overlaid with the best epochs marked, a table of each run's figures (from metrics.csv,
outcome.json and evaluation.json), a paragraph of facts read from them, and for the best run (or
every run with a model) real against generated images, the mixture components, an interpolation
strip and the latent map. A run with no model, no evaluation or no finished epoch leaves its parts
out and says so instead.

The modules, by job:
  runs         the runs of the folders given, which can be used, the best one
  content      what is said of them: formatting, the settings and results tables, the facts
  sweep        what is said of a sweep (its table and comparison)
  blocks       the document's blocks (Title, Heading, Paragraph, Table, Plot, ...)
  document     the whole list of blocks, from the content and the views
  curves, epochs, model_views   the figures, as matplotlib Figure objects, never the state machine
  pdf_writer, html_writer       the two formats, from one list of blocks so they say the same
  write        the report file, written atomically
"""

from vae_explorer.report.blocks import (
    Block,
    Heading,
    OwnFigure,
    PageBreak,
    Paragraph,
    Plot,
    Table,
    Title,
)
from vae_explorer.report.content import run_label
from vae_explorer.report.curves import curves_maker
from vae_explorer.report.document import build_document
from vae_explorer.report.html_writer import html_report
from vae_explorer.report.model_views import ModelFigures, model_figures
from vae_explorer.report.pdf_writer import write_pdf
from vae_explorer.report.runs import (
    ReportError,
    best_run,
    collect_runs,
    readable_runs,
    unreadable_text,
)
from vae_explorer.report.write import SUFFIXES, write_report

__all__ = [
    "SUFFIXES",
    "Block",
    "Heading",
    "ModelFigures",
    "OwnFigure",
    "PageBreak",
    "Paragraph",
    "Plot",
    "ReportError",
    "Table",
    "Title",
    "best_run",
    "build_document",
    "collect_runs",
    "curves_maker",
    "html_report",
    "model_figures",
    "readable_runs",
    "run_label",
    "unreadable_text",
    "write_pdf",
    "write_report",
]
