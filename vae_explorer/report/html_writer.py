"""The report as one self-contained HTML page: the tables as tables, the figures as embedded PNG
images, from the same blocks as the PDF."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

from vae_explorer import __version__, figures
from vae_explorer.report.blocks import (
    BODY_W,
    Block,
    Heading,
    OwnFigure,
    PageBreak,
    Paragraph,
    Plot,
    Table,
    Title,
)

CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 60em; margin: 2em auto;
       padding: 0 1em; color: #111827; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #374151; margin-top: 0; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #d1d5db; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #9ca3af; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #e5e7eb; } td.label { background: #f9fafb; font-weight: 600; }
td.marked { background: #fde68a; font-weight: 700; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption, .small { font-size: 0.85em; color: #374151; }
"""


def _png(fig, **options) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, **options)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(data: str, alt: str, caption: str) -> str:
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">{cap}</figure>'


def html_report(blocks: Sequence[Block], title: str = "Training report") -> str:
    """One self-contained HTML page: the tables as tables, the figures as embedded PNG images."""
    e = html.escape
    body: list[str] = []
    for block in blocks:
        if isinstance(block, PageBreak):
            continue
        if isinstance(block, Title):
            body.append(f"<h1>{e(block.text)}</h1>")
            if block.subtitle:
                body.append(f'<p class="subtitle">{e(block.subtitle)}</p>')
        elif isinstance(block, Heading):
            body.append(f"<h2>{e(block.text)}</h2>")
        elif isinstance(block, Paragraph):
            body.append(f'<p class="small">{e(block.text)}</p>' if block.small else f"<p>{e(block.text)}</p>")
        elif isinstance(block, Table):
            rows = []
            if block.header:
                rows.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in block.header) + "</tr>")
            for i, row in enumerate(block.rows):
                cells = []
                for j, cell in enumerate(row):
                    cls = "marked" if (i, j) in block.marked else ("label" if j == 0 else "")
                    cells.append(f'<td class="{cls}">{e(cell)}</td>' if cls else f"<td>{e(cell)}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            body.append("<table>\n" + "\n".join(rows) + "\n</table>")
        elif isinstance(block, Plot):
            fig = figures.new_figure((BODY_W, block.height))
            block.draw(fig, (0.0, 0.0, 1.0, 1.0))
            body.append(_img(_png(fig, bbox_inches="tight", pad_inches=0.1), "figure", block.caption))
        elif isinstance(block, OwnFigure):
            body.append(f"<h2>{e(block.title)}</h2>")
            fig = block.make()
            fig.set_size_inches(BODY_W, block.height)
            fig.tight_layout()
            body.append(_img(_png(fig), block.title, block.caption))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<title>{e(title)}</title>\n<meta name="generator" content="vae-explorer {e(__version__)}">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
