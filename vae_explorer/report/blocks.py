"""The report as a list of blocks (title, heading, paragraph, table, plot, page break) that the PDF
and the HTML writer both lay out, so that the two formats say the same; sizes are for an A4 page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAGE_W, PAGE_H = 8.27, 11.69  # A4 portrait, inches
MARGIN = 0.6
BODY_W = PAGE_W - 2 * MARGIN
HIGHLIGHT = "#fde68a"  # a marked table cell
HEADER_FILL = "#e5e7eb"
LABEL_FILL = "#f9fafb"  # the first column of a table


@dataclass
class Title:
    text: str
    subtitle: str = ""


@dataclass
class Heading:
    text: str


@dataclass
class Paragraph:
    text: str
    small: bool = False


@dataclass
class Table:
    """Rows of cells; `header` is the first row (None: a key-value table); `marked` the (row, col)
    cells drawn highlighted; the first column names the rows."""

    header: list[str] | None
    rows: list[list[str]]
    marked: set[tuple[int, int]] = field(default_factory=set)
    label_width: float = 1.9  # inches of the first column in the PDF
    wide_values: bool = False  # a key-value table: the values take the rest of the line


@dataclass
class Plot:
    """A figure drawn by draw(fig, box): box = (left, bottom, width, height) in figure fractions."""

    draw: Callable[[Any, tuple[float, float, float, float]], None]
    height: float  # inches
    caption: str = ""


@dataclass
class OwnFigure:
    """A figure that makes its own matplotlib figure with one main axes (figures.curves_figure);
    the PDF gives it a new page whose top it fills."""

    make: Callable[[], Any]
    height: float
    title: str
    caption: str = ""


@dataclass
class PageBreak:
    pass


Block = Title | Heading | Paragraph | Table | Plot | OwnFigure | PageBreak


def inset(box, fig, left=0.0, bottom=0.0, right=0.0, top=0.0):
    """`box` (figure fractions) less margins given in inches."""
    w, h = fig.get_size_inches()
    x, y, bw, bh = box
    return (x + left / w, y + bottom / h, bw - (left + right) / w, bh - (bottom + top) / h)
