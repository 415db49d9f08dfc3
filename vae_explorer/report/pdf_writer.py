"""The report as a multi-page vector PDF drawn on matplotlib pages: text wrapped to the column
and blocks laid down A4 pages, a table split between rows with its header repeated. Text stays
text in embedded TrueType fonts (selectable and searchable; see figures.py)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import IO

from vae_explorer import __version__, figures
from vae_explorer.report.blocks import (
    BODY_W,
    HEADER_FILL,
    HIGHLIGHT,
    LABEL_FILL,
    MARGIN,
    PAGE_H,
    PAGE_W,
    Block,
    Heading,
    OwnFigure,
    PageBreak,
    Paragraph,
    Plot,
    Table,
    Title,
    inset,
)

LINE = 1.4  # line height in font sizes
TOKENS = re.compile(r"[^\s/]*/|[^\s/]+|\s+")  # words and spaces; a path breaks after a slash


@functools.cache
def _text_width(text: str, size: float, bold: bool) -> float:
    """Inches that `text` takes in the report's font, as matplotlib lays it out."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    return _text_to_path().get_text_width_height_descent(text, prop, ismath=False)[0] / 72


@functools.cache
def _text_to_path():
    from matplotlib.textpath import TextToPath

    return TextToPath()


def _wrap(text: str, width_in: float, size: float, bold: bool = False) -> list[str]:
    """Lines of `text` that fit `width_in` inches: broken at spaces (and after a slash in a path),
    inside a word only where a word alone is too wide."""
    width_in *= 0.97  # a margin for the shaping of the PDF backend

    def fits(s: str) -> bool:
        return _text_width(s, size, bold) <= width_in

    def cut(line: str) -> list[str]:  # a word wider than the line is cut where it must be
        out = []
        while line and not fits(line):
            i = max((i for i in range(1, len(line)) if fits(line[:i])), default=1)
            out.append(line[:i])
            line = line[i:]
        return [*out, line]

    lines: list[str] = []
    for part in str(text).split("\n"):
        line = ""
        for token in TOKENS.findall(part):
            if not line or fits((line + token).rstrip()):
                line += token
            else:
                lines += cut(line.rstrip())
                line = token.lstrip()
        lines += cut(line.rstrip())
    return lines


@functools.cache
def _shapes_text() -> bool:
    """Whether matplotlib shapes text (3.11 on), joining "fi" into one ligature glyph."""
    from matplotlib.text import Text

    return hasattr(Text, "set_fontfeatures")


class _PdfLayout:
    """Lays blocks down A4 pages, top to bottom, starting a new page where one does not fit."""

    def __init__(self, pdf) -> None:
        self.pdf = pdf
        self.fig = None
        self.y = MARGIN  # inches from the top of the page
        self.pages = 0
        self.empty = True

    # pages
    def new_page(self, fig=None) -> None:
        """Start a page (on `fig`, resized, when given); an empty page before it is dropped."""
        self.finish()
        if fig is None:
            fig = figures.new_figure((PAGE_W, PAGE_H))
        else:
            fig.set_size_inches(PAGE_W, PAGE_H)
        self.fig, self.y, self.empty = fig, MARGIN, True
        self.pages += 1

    def finish(self) -> None:
        if self.fig is None:
            return
        if self.empty:
            self.pages -= 1
        else:
            self.text(PAGE_W / 2, PAGE_H - MARGIN / 2, f"page {self.pages}", 8, ha="center", color="grey")
            self.pdf.savefig(self.fig)
        self.fig = None

    def room(self) -> float:
        return PAGE_H - MARGIN - self.y

    def need(self, height: float) -> None:
        if self.fig is None or (height > self.room() and not self.empty):
            self.new_page()

    # drawing, in inches from the page's top left corner
    def text(self, x: float, y: float, s: str, size: float, **kw) -> None:
        if _shapes_text():  # "fi" stays two letters for every text extractor (matplotlib >= 3.11 shapes text)
            kw.setdefault("fontfeatures", ("-liga",))
        # parse_math off: run and folder names are the user's text, and "$" in them is a dollar
        self.fig.text(x / PAGE_W, 1 - y / PAGE_H, s, fontsize=size, va="top", parse_math=False, **kw)

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        from matplotlib.patches import Rectangle

        self.fig.add_artist(
            Rectangle(
                (x / PAGE_W, 1 - (y + h) / PAGE_H),
                w / PAGE_W,
                h / PAGE_H,
                transform=self.fig.transFigure,
                facecolor=fill,
                edgecolor="#9ca3af",
                linewidth=0.4,
                zorder=0,
            )
        )

    def box(self, height: float) -> tuple[float, float, float, float]:
        """The body's width and `height` inches below the cursor, in figure fractions."""
        return (MARGIN / PAGE_W, 1 - (self.y + height) / PAGE_H, BODY_W / PAGE_W, height / PAGE_H)

    # blocks
    def lines(self, lines: list[str], size: float, gap: float = 0.08, **kw) -> None:
        step = size * LINE / 72
        self.need(min(len(lines), 3) * step)
        for line in lines:
            self.need(step)
            self.text(MARGIN, self.y, line, size, **kw)
            self.y += step
            self.empty = False
        self.y += gap

    def add_all(self, blocks: Sequence[Block]) -> None:
        for i, block in enumerate(blocks):
            if isinstance(block, Heading):  # kept with its paragraphs and the start of what follows
                height, j = _start_height(block), i + 1
                while j < len(blocks) and isinstance(blocks[j], Paragraph):
                    height += _start_height(blocks[j])
                    j += 1
                if j < len(blocks) and isinstance(blocks[j], (Table, Plot)):
                    height += _start_height(blocks[j])
                self.need(height)
            self.add(block)

    def add(self, block: Block) -> None:
        if isinstance(block, PageBreak):
            if self.fig is not None and not self.empty:
                self.new_page()
        elif isinstance(block, Title):
            self.need(0.9)
            self.lines([block.text], 18, gap=0.02, fontweight="bold")
            if block.subtitle:
                self.lines([block.subtitle], 10, gap=0.15, color="#374151")
        elif isinstance(block, Heading):
            self.need(_start_height(block))
            self.y += 0.08
            self.lines(_wrap(block.text, BODY_W, 12, bold=True), 12, gap=0.06, fontweight="bold")
        elif isinstance(block, Paragraph):
            size = 8 if block.small else 9
            self.lines(_wrap(block.text, BODY_W, size), size)
        elif isinstance(block, Table):
            self.table(block)
        elif isinstance(block, Plot):
            self.need(block.height)
            block.draw(self.fig, self.box(block.height))
            self.y += block.height
            self.empty = False
            if block.caption:
                self.lines(_wrap(block.caption, BODY_W, 8), 8)
        elif isinstance(block, OwnFigure):
            self.new_page(block.make())
            self.lines([block.title], 12, gap=0.06, fontweight="bold")
            ax = self.fig.axes[0]
            ax.set_position(
                inset(self.box(block.height), self.fig, left=0.75, bottom=0.55, right=0.1, top=0.3)
            )
            self.y += block.height
            self.empty = False
            if block.caption:
                self.lines(_wrap(block.caption, BODY_W, 8), 8)
        else:  # pragma: no cover - every block kind is handled above
            raise TypeError(f"unknown block {block!r}")

    def table(self, t: Table) -> None:
        cells = _TableCells(t)
        if cells.total <= PAGE_H - 2 * MARGIN:
            self.need(cells.total)  # whole on the next page rather than split, where it fits on one
        else:
            self.need(cells.start)
        if cells.header:
            self.row(cells, cells.header, -1)
        for index, row in enumerate(cells.rows):
            if cells.height(row) > self.room():
                self.new_page()
                if cells.header:
                    self.row(cells, cells.header, -1)
            self.row(cells, row, index)
        self.y += TABLE_GAP

    def row(self, cells: _TableCells, row: list[list[str]], index: int) -> None:
        t, h, x = cells.table, cells.height(row), MARGIN
        for col, (lines, w) in enumerate(zip(row, cells.widths)):
            bold = cells.bold(index, col)
            if index < 0:
                fill = HEADER_FILL
            else:
                fill = HIGHLIGHT if (index, col) in t.marked else (LABEL_FILL if col == 0 else "white")
            self.rect(x, self.y, w, h, fill)
            for i, line in enumerate(lines):
                self.text(
                    x + CELL_PAD,
                    self.y + CELL_PAD + i * cells.step,
                    line,
                    TABLE_SIZE,
                    fontweight="bold" if bold else "normal",
                )
            x += w
        self.y += h
        self.empty = False


TABLE_SIZE = 7.5
CELL_PAD = 0.035
TABLE_GAP = 0.15


class _TableCells:
    """A table's cells wrapped to its column widths, and the heights of its rows, in inches."""

    def __init__(self, t: Table) -> None:
        self.table = t
        self.step = TABLE_SIZE * 1.3 / 72
        ncols = len(t.rows[0]) if t.rows else len(t.header or [""])
        rest = BODY_W - t.label_width
        width = rest if t.wide_values else min(rest / max(1, ncols - 1), 2.2)
        self.widths = [t.label_width] + [width] * (ncols - 1)
        self.header = self.wrap(t.header, -1) if t.header else None
        self.rows = [self.wrap(row, i) for i, row in enumerate(t.rows)]
        head = self.height(self.header) if self.header else 0.0
        self.start = head + (self.height(self.rows[0]) if self.rows else 0.0)
        self.total = head + sum(self.height(r) for r in self.rows) + TABLE_GAP

    def bold(self, index: int, col: int) -> bool:
        t = self.table
        return index < 0 or (index, col) in t.marked or (col == 0 and t.header is None)

    def wrap(self, row: list[str], index: int) -> list[list[str]]:
        return [
            _wrap(cell, w - 2 * CELL_PAD, TABLE_SIZE, self.bold(index, col))
            for col, (cell, w) in enumerate(zip(row, self.widths))
        ]

    def height(self, row: list[list[str]]) -> float:
        return max(len(c) for c in row) * self.step + 2 * CELL_PAD


def _start_height(block: Block) -> float:
    """The height a block needs on the page it starts on (a table split over pages: its first row)."""
    if isinstance(block, Heading):
        return 0.14 + len(_wrap(block.text, BODY_W, 12, bold=True)) * 12 * LINE / 72
    if isinstance(block, Paragraph):
        size = 8 if block.small else 9
        return 0.08 + len(_wrap(block.text, BODY_W, size)) * size * LINE / 72
    if isinstance(block, Table):
        cells = _TableCells(block)
        return cells.total if cells.total <= PAGE_H - 2 * MARGIN else cells.start
    if isinstance(block, Plot):
        return block.height
    return 0.0


def write_pdf(blocks: Sequence[Block], fh: IO[bytes], title: str = "Training report") -> int:
    """Render `blocks` into a PDF written to `fh`; returns the number of pages. Text is kept as text,
    in embedded TrueType fonts (selectable and searchable; see figures.py)."""
    from matplotlib.backends.backend_pdf import PdfPages

    metadata = {"Title": title, "Creator": f"vae-explorer {__version__}"}
    with PdfPages(fh, metadata=metadata) as pdf:
        layout = _PdfLayout(pdf)
        layout.add_all(blocks)
        layout.finish()
    return layout.pages
