"""The report's PDF writer, read back with pypdf: text is text in embedded fonts, a table longer
than a page repeats its header, a heading starts on the page of what follows it, and a figure is
vector drawing with its own text, no picture of it."""

from __future__ import annotations

import io
import re

import pytest

pypdf = pytest.importorskip("pypdf")

from vae_explorer import figures  # noqa: E402
from vae_explorer.report import Heading, OwnFigure, Paragraph, Plot, Table, Title, write_pdf  # noqa: E402


def render(blocks) -> tuple[int, list[str], object]:
    buf = io.BytesIO()
    pages = write_pdf(blocks, buf)
    reader = pypdf.PdfReader(io.BytesIO(buf.getvalue()))
    return pages, [page.extract_text() for page in reader.pages], reader


def flat(text: str) -> str:
    return "".join(text.split())


def test_a_table_longer_than_a_page_repeats_its_header_and_loses_no_row():
    rows = [[f"row {i:03d}", f"value {i}"] for i in range(150)]
    pages, texts, _ = render([Title("T"), Table(["setting", "the only run"], rows)])
    assert pages == len(texts) >= 3
    for text in texts:
        assert "the only run" in text  # the header on every page the table spans
    found = [int(n) for text in texts for n in re.findall(r"row (\d{3})", text)]
    assert found == list(range(150))  # each row once, in order
    assert all(f"page {n}" in text for n, text in enumerate(texts, 1))


def test_text_is_selectable_in_embedded_fonts_with_its_unicode_and_long_words_wrapped():
    word = "/runs/" + "a-very-long-run-name_" * 12  # no space anywhere: cut where it must be
    text = "σ ± − fi: the bound's gap ≥ 0, and a $ in a name is a dollar <b>not markup</b> & more"
    pages, texts, reader = render([Title("Training report"), Paragraph(text), Paragraph(word)])
    assert pages == 1
    assert flat(text) in flat(texts[0])
    assert flat(word) in flat(texts[0])
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert fonts
    for ref in fonts.values():
        font = ref.get_object()
        if font["/Subtype"] == "/Type0":
            font = font["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in font["/FontDescriptor"].get_object(), font["/BaseFont"]
        assert "/ToUnicode" in ref.get_object()


def test_a_heading_starts_on_the_page_of_its_table():
    table = Table(["setting", "run"], [[f"row {i}", "x"] for i in range(20)])
    for lines in range(28, 42):  # the heading falls at every height near the foot of the page
        filler = [Paragraph(f"filler line {i}") for i in range(lines)]
        blocks = [*filler, Heading("Settings of the runs"), Paragraph("Marked: differing."), table]
        pages, texts, _ = render(blocks)
        heading = next(i for i, t in enumerate(texts) if "Settings of the runs" in t)
        assert "Marked: differing." in texts[heading], lines
        assert "row 0" in texts[heading] and "row 19" in texts[heading], lines  # fits a page: whole
        assert pages == heading + 1


def test_figures_are_vector_with_their_text():
    def draw(fig, box):
        ax = fig.add_axes(box)
        ax.plot([1, 2, 3], [3.0, 1.0, 2.0])
        ax.set_xlabel("epochs of σ")

    curves = OwnFigure(lambda: figures.curves_figure({"v": [(1, 2.0), (2, 1.0)]}), 4.0, "Validation curves")
    pages, texts, reader = render([Title("T"), Plot(draw, 3.0, "a caption"), curves])
    assert pages == 2  # the own figure starts a page
    assert "epochs of σ" in texts[0] and "a caption" in texts[0]
    assert "Validation curves" in texts[1] and "epochs" in texts[1]
    for page in reader.pages:
        assert not page.images  # drawn, not pasted as pictures
