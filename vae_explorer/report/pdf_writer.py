"""The report as a multi-page vector PDF, laid out by reportlab's Platypus.

Platypus wraps the text to the column and lays the blocks down A4 pages: a heading stays with what
follows it, a table that fits on a page moves whole to the next one rather than split, and a longer
one splits between rows with its header repeated. Text stays text in embedded TrueType fonts
(DejaVu Sans, the font of the figures), so it can be selected and searched. Each figure is drawn
by matplotlib to a PDF page of its own size, which is then laid onto its place in the report as
vector content (pypdf), so figures keep their vectors and their own embedded fonts.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

import matplotlib
from pypdf import PdfReader, PdfWriter, Transformation
from pypdf.generic import DictionaryObject, NameObject
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageBreakIfNotEmpty,
    PageTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Paragraph as Para
from reportlab.platypus import Table as Grid

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

PT = 72.0  # points per inch
FRAME_H = (PAGE_H - 2 * MARGIN) * PT  # the height of the body on a page
FONT, BOLD = "ReportSans", "ReportSans-Bold"
LINE = 1.4  # line height in font sizes
TABLE_SIZE = 7.5
CELL_PAD = 0.035  # inches
TABLE_GAP = 0.15  # inches below a table
GRID = "#9ca3af"


@functools.cache
def _fonts() -> tuple[str, str]:
    """Register DejaVu Sans (shipped with matplotlib, so always there) with reportlab, once."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    # asciiReadable off: no character gets a control code, which some text extractors (Ghostscript's)
    # drop whatever the font's ToUnicode map says; every one is found through that map
    for name, file in ((FONT, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(folder / file), asciiReadable=False))
    return FONT, BOLD


@functools.cache
def _styles() -> dict[str, object]:
    _fonts()

    def style(name: str, size: float, bold: bool = False, **kw) -> ParagraphStyle:
        kw.setdefault("leading", size * LINE)
        return ParagraphStyle(name, fontName=BOLD if bold else FONT, fontSize=size, bulletFontName=FONT, **kw)

    return {
        "title": style("title", 18, True, spaceAfter=0.02 * PT),
        "subtitle": style("subtitle", 10, textColor="#374151", spaceAfter=0.15 * PT),
        "heading": style("heading", 12, True, spaceBefore=0.08 * PT, spaceAfter=0.06 * PT),
        "body": style("body", 9, spaceAfter=0.08 * PT),
        "small": style("small", 8, spaceAfter=0.08 * PT),
        "cell": style("cell", TABLE_SIZE, leading=TABLE_SIZE * 1.3),
        "cell bold": style("cell bold", TABLE_SIZE, True, leading=TABLE_SIZE * 1.3),
    }


def _para(text: str, style: str) -> Para:
    """The user's text as a Platypus paragraph: nothing in it is markup; a newline breaks the line."""
    return Para(escape(str(text)).replace("\n", "<br/>"), _styles()[style])


@dataclass
class _Placed:
    """A figure's PDF page, and where it goes: the report's page (from 0) and its lower left corner."""

    page: int
    x: float
    y: float
    pdf: bytes


class _FigureSpace(Flowable):
    """The place of a figure, `width` x `height` inches: drawing it draws `make()` (a matplotlib
    Figure of that size) to PDF and notes where it goes; `_lay_figures` lays it on afterwards."""

    def __init__(self, width: float, height: float, make, placed: list[_Placed]) -> None:
        super().__init__()
        self.size, self.make, self.placed = (width * PT, height * PT), make, placed

    def wrap(self, available_width, available_height):
        return self.size

    def draw(self) -> None:
        buf = io.BytesIO()
        self.make().savefig(buf, format="pdf")
        x, y = self.canv.absolutePosition(0, 0)
        self.placed.append(_Placed(self.canv.getPageNumber() - 1, x, y, buf.getvalue()))


def _plot_figure(block: Plot):
    fig = figures.new_figure((BODY_W, block.height))
    block.draw(fig, (0.0, 0.0, 1.0, 1.0))
    return fig


def _own_figure(block: OwnFigure):
    fig = block.make()
    fig.set_size_inches(BODY_W, block.height)
    fig.axes[0].set_position(inset((0.0, 0.0, 1.0, 1.0), fig, left=0.75, bottom=0.55, right=0.1, top=0.3))
    return fig


def _table(t: Table):
    """The table as a Platypus table: cells wrapped to the column widths, the header repeated on
    each page it spans, marked cells highlighted."""
    ncols = len(t.rows[0]) if t.rows else len(t.header or [""])
    rest = BODY_W - t.label_width
    width = rest if t.wide_values else min(rest / max(1, ncols - 1), 2.2)
    widths = [t.label_width * PT] + [width * PT] * (ncols - 1)
    head = 1 if t.header else 0

    def cell(text: str, bold: bool):
        return _para(text, "cell bold" if bold else "cell")

    data = [[cell(c, True) for c in t.header]] if t.header else []
    for i, row in enumerate(t.rows):
        data.append([cell(c, (i, j) in t.marked or (j == 0 and t.header is None)) for j, c in enumerate(row)])
    pad = CELL_PAD * PT
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("FONTNAME", (0, 0), (-1, -1), FONT),  # the table's own font: the embedded one, too
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), pad),
        ("RIGHTPADDING", (0, 0), (-1, -1), pad),
        ("TOPPADDING", (0, 0), (-1, -1), pad),
        ("BOTTOMPADDING", (0, 0), (-1, -1), pad + 1),
        ("BACKGROUND", (0, head), (0, -1), LABEL_FILL),
    ]
    if head:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL))
    commands += [("BACKGROUND", (j, i + head), (j, i + head), HIGHLIGHT) for i, j in sorted(t.marked)]
    return Grid(data, colWidths=widths, repeatRows=head, style=TableStyle(commands), hAlign="LEFT")


def _height(flowable) -> float:
    """Points that a flowable takes in the body, with the space above and below it."""
    return flowable.wrap(BODY_W * PT, FRAME_H)[1] + flowable.getSpaceBefore() + flowable.getSpaceAfter()


def _table_start(table) -> float:
    """Points a table needs where it starts: all of it when it fits on a page (it is not split
    then), else its header and first row."""
    total = _height(table)
    if total <= FRAME_H:
        return total
    return sum(table._rowHeights[: 1 + min(1, table.repeatRows)])


def _story(blocks: Sequence[Block], placed: list[_Placed]) -> list:
    """The blocks as Platypus flowables, each block's own list."""
    parts: list[list] = []
    starts: dict[int, float] = {}  # the points each table needs on the page it starts on
    for i, block in enumerate(blocks):
        if isinstance(block, PageBreak):
            part = [PageBreakIfNotEmpty()]
        elif isinstance(block, Title):
            part = [_para(block.text, "title")]
            if block.subtitle:
                part.append(_para(block.subtitle, "subtitle"))
        elif isinstance(block, Heading):
            part = [_para(block.text, "heading")]
        elif isinstance(block, Paragraph):
            part = [_para(block.text, "small" if block.small else "body")]
        elif isinstance(block, Table):
            table = _table(block)
            # whole on the next page rather than split, where it fits on one page
            part = [KeepTogether([table]) if _height(table) <= FRAME_H else table, Spacer(0, TABLE_GAP * PT)]
            starts[i] = _table_start(table)
        elif isinstance(block, Plot):
            part = [_FigureSpace(BODY_W, block.height, functools.partial(_plot_figure, block), placed)]
            if block.caption:
                part.append(_para(block.caption, "small"))
        elif isinstance(block, OwnFigure):
            figure = _FigureSpace(BODY_W, block.height, functools.partial(_own_figure, block), placed)
            part = [PageBreakIfNotEmpty(), _para(block.title, "heading"), figure]
            if block.caption:
                part.append(_para(block.caption, "small"))
        else:  # pragma: no cover - every block kind is handled above
            raise TypeError(f"unknown block {block!r}")
        parts.append(part)
    return _keep_headings(blocks, parts, starts)


def _keep_headings(blocks: Sequence[Block], parts: list[list], starts: dict[int, float]) -> list:
    """The flowables of `parts`, a heading preceded by a conditional page break so that it starts
    on the page that also holds its paragraphs and the start of the table or figure after them."""
    story: list = []
    for i, (block, part) in enumerate(zip(blocks, parts)):
        if isinstance(block, Heading):
            need, j = _height(part[0]), i + 1
            while j < len(blocks) and isinstance(blocks[j], Paragraph):
                need += _height(parts[j][0])
                j += 1
            if j < len(blocks) and isinstance(blocks[j], Table):
                need += starts[j]
            elif j < len(blocks) and isinstance(blocks[j], Plot):
                need += _height(parts[j][0])
            story.append(CondPageBreak(min(need, FRAME_H)))
        story += part
    return story


def _page_number(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 8)
    canvas.setFillColor("grey")
    canvas.drawCentredString(PAGE_W * PT / 2, MARGIN / 2 * PT - 8, f"page {doc.page}")
    canvas.restoreState()


def _lay_figures(report: bytes, placed: list[_Placed], fh: IO[bytes]) -> int:
    """Lay each figure's page onto its place in the report; write the result to `fh`."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(report)))
    own: set[int] = set()
    for p in placed:
        page = writer.pages[p.page]
        if p.page not in own:  # reportlab's pages share one resource dictionary: each gets its own
            shared = page["/Resources"].get_object()
            resources = DictionaryObject()
            for key, value in shared.items():
                value = value.get_object()
                resources[key] = DictionaryObject(value) if isinstance(value, DictionaryObject) else value
            page[NameObject("/Resources")] = resources
            own.add(p.page)
        figure = PdfReader(io.BytesIO(p.pdf)).pages[0]
        page.merge_transformed_page(figure, Transformation().translate(p.x, p.y))
    writer.compress_identical_objects()  # figures with the same text share their font subsets
    writer.write(fh)
    return len(writer.pages)


def write_pdf(blocks: Sequence[Block], fh: IO[bytes], title: str = "Training report") -> int:
    """Render `blocks` into a PDF written to `fh`; returns the number of pages."""
    font, _ = _fonts()
    placed: list[_Placed] = []
    buf = io.BytesIO()
    no_padding = {f"{side}Padding": 0 for side in ("left", "right", "top", "bottom")}
    body = Frame(MARGIN * PT, MARGIN * PT, BODY_W * PT, FRAME_H, **no_padding)
    doc = BaseDocTemplate(
        buf,
        pagesize=(PAGE_W * PT, PAGE_H * PT),
        pageTemplates=[PageTemplate("page", [body], onPage=_page_number)],
        initialFontName=font,  # so that no page names a font it does not embed
        title=title,
        creator=f"vae-explorer {__version__}",
    )
    doc.build(_story(blocks, placed))
    return _lay_figures(buf.getvalue(), placed, fh)
