"""The curve plot's legend: beside the view box in as many columns as it needs, with samples drawn
from each curve's own style and run names shown as plain text."""

from __future__ import annotations

import html
import math

import pyqtgraph as pg
from pyqtgraph.graphicsItems.LegendItem import ItemSample
from pyqtgraph.graphicsItems.ScatterPlotItem import drawSymbol
from PySide6.QtCore import QSizeF, Qt
from PySide6.QtWidgets import QGraphicsLayoutItem, QSizePolicy

LEGEND_ROW = 20  # pixels per legend entry (pyqtgraph's samples are 20 x 20)
COMPACT_AFTER = 12  # more runs than this: a smaller, denser legend
LABEL_CHARS = 60  # a run's name in the legend is cut to this many characters


def legend_text(label: str, note: str = "") -> str:
    """A run's name (and a `note` after it) as the legend shows it: pyqtgraph renders legend
    labels as rich text, so the name (the user's, from name.txt) is made one line, cut to fit
    LABEL_CHARS with the note, and escaped, never interpreted."""
    name = " ".join("".join(c if c.isprintable() else " " for c in label).split())
    room = max(12, LABEL_CHARS - len(note))
    if len(name) > room:
        name = name[: room - 1] + "…"
    return html.escape(name + note, quote=False)


class RunSample(ItemSample):
    """A legend sample drawn from the curve's own style. pyqtgraph's takes the marker's size and
    colour from the curve's scatter item, which keeps its defaults until the curve has points: a
    queued run showed a big blue-grey dot beside its orange line."""

    def paint(self, p, *args) -> None:
        opts = self.item.opts
        if not self.item.isVisible():
            super().paint(p, *args)  # pyqtgraph's "hidden" eye
            return
        p.setRenderHint(p.RenderHint.Antialiasing)
        if opts.get("pen") is not None:
            p.setPen(pg.mkPen(opts["pen"]))
            p.drawLine(0, 11, 20, 11)
        if opts.get("symbol") is not None:
            p.translate(10, 11)
            drawSymbol(
                p,
                opts["symbol"],
                opts["symbolSize"],
                pg.mkPen(opts["symbolPen"]),
                pg.mkBrush(opts["symbolBrush"]),
            )


class SideLegend(pg.LegendItem):
    """A legend that sits in the plot's grid to the right of the view box, so it never covers a
    curve, and fills as many columns (top to bottom, then the next) as its height allows.

    pyqtgraph's legend floats over the data; with thirty runs it ran off the bottom of the plot and
    hid the right end of every curve.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(offset=None, sampleType=RunSample, **kwargs)
        self.rows_per_column = 10_000
        self.compact = self._laid_out_compact = False
        self.layout.setContentsMargins(4, 2, 6, 2)
        # no minimum height of its own: a legend taller than the view box would stretch the plot's
        # row, and the columns are what make it fit the view box's height
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Maximum)
        self.setMinimumHeight(0)

    def _addItemToLayout(self, sample, label) -> None:
        index = next(i for i, (s, _) in enumerate(self.items) if s is sample)
        row, col = index % self.rows_per_column, 2 * (index // self.rows_per_column)
        self.layout.addItem(sample, row, col, alignment=Qt.AlignmentFlag.AlignVCenter)
        self.layout.addItem(label, row, col + 1)

    def fit(self, height: float) -> None:
        """As many rows per column as `height` (the view box's) holds; past COMPACT_AFTER entries
        the labels get smaller and the rows closer, so that thirty runs take two columns, not four."""
        compact = len(self.items) > COMPACT_AFTER
        if compact != self.compact:
            self.compact = compact
            self.opts["labelTextSize"] = "8pt" if compact else "9pt"
            for _, label in self.items:
                label.setText(label.text, size=self.opts["labelTextSize"])
            self.layout.setVerticalSpacing(-4 if compact else 0)
        row = (
            max(
                [LEGEND_ROW]
                + [
                    QGraphicsLayoutItem.effectiveSizeHint(label, Qt.SizeHint.PreferredSize).height()
                    for _, label in self.items
                ]
            )
            + self.layout.verticalSpacing()
        )
        _, top, _, bottom = self.layout.getContentsMargins()
        rows = max(1, int((height - top - bottom) // row))
        if rows != self.rows_per_column or compact != self._laid_out_compact:
            self.rows_per_column, self._laid_out_compact = rows, compact
            self.relayout()

    def relayout(self) -> None:
        for i in range(self.layout.count() - 1, -1, -1):
            self.layout.removeAt(i)
        for sample, label in self.items:
            self._addItemToLayout(sample, label)
        self.updateSize()

    @property
    def columns(self) -> int:
        return math.ceil(len(self.items) / self.rows_per_column) if self.items else 0

    def updateSize(self) -> None:
        # the plot's grid places and sizes it; pyqtgraph's version would move it to (0, 0)
        self.layout.invalidate()
        self.updateGeometry()

    def sizeHint(self, which, constraint=QSizeF()):  # noqa: B008 (Qt names)
        if not self.items:  # no empty box beside the plot before the first run
            return QSizeF(0, 0)
        return super().sizeHint(which, constraint)

    def paint(self, p, *args) -> None:
        if self.items:
            super().paint(p, *args)
