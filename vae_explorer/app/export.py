"""Export any widget as PNG (raster, 2x), SVG (QSvgGenerator) or PDF (QPdfWriter)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPoint, QRect, QSize, QSizeF
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from vae_explorer.core.atomic import WriteError, atomic_write_bytes

FORMATS = (".png", ".svg", ".pdf")
FILTER = "PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"


class ExportError(RuntimeError):
    """The figure could not be written; the message says where and why."""


def filter_suffix(name_filter: str) -> str | None:
    """The extension a file dialog's name filter stands for: "SVG vector image (*.svg)" -> ".svg"."""
    match = re.search(r"\*(\.[A-Za-z0-9]+)", name_filter or "")
    return match.group(1).lower() if match and match.group(1).lower() in FORMATS else None


def with_chosen_suffix(path: str | Path, name_filter: str = "") -> Path:
    """`path` as typed in a save dialog: without an extension it gets the chosen filter's (else .png)."""
    path = Path(path)
    if path.suffix:
        return path
    return path.with_name(path.name + (filter_suffix(name_filter) or ".png"))


def check_folder(folder: str | Path) -> Path:
    """`folder` if figures can be written into it; else ExportError saying what it is instead."""
    folder = Path(folder)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise ExportError(f"cannot export to {folder}: it is a file, not a folder")
    raise ExportError(f"cannot export to {folder}: folder {folder} does not exist")


def export_widget(widget: QWidget, path: str | Path, title: str = "") -> Path:
    """Write `widget` as it looks on screen to `path`; the format follows the extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"cannot export to {path.name!r}: use a .png, .svg or .pdf file name")
    _check_writable(path)
    size = widget.size()
    if size.width() < 2 or size.height() < 2:
        widget.resize(widget.sizeHint())
        size = widget.size()
    # drawn in memory, then written whole beside the target and renamed over it: a full disk or a
    # failed write leaves an earlier figure of that name as it was, never a truncated file
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    with _vector_items(widget):
        if suffix == ".png":
            _export_png(widget, buffer, size)
        elif suffix == ".svg":
            _export_svg(widget, buffer, size, title)
        else:
            _export_pdf(widget, buffer, size, title)
    buffer.close()
    if data.isEmpty():
        raise ExportError(f"nothing was drawn for {path}")
    try:
        atomic_write_bytes(path, bytes(data.data()))
    except WriteError as exc:
        raise ExportError(f"cannot write {path}: {exc}") from None
    return path


@contextmanager
def _vector_items(widget: QWidget) -> Iterator[None]:
    """Put the pyqtgraph items inside `widget` in export mode while it is drawn.

    Outside export mode a ScatterPlotItem blits symbols from a cached pixmap atlas, which SVG and
    PDF painters turn into broken bitmaps; in export mode it draws every symbol as a vector path
    (and plots hide their auto-range buttons), as pyqtgraph's own exporters arrange.
    """
    import pyqtgraph as pg

    views = [widget] if isinstance(widget, pg.GraphicsView) else []
    views += widget.findChildren(pg.GraphicsView)
    scene_items = [item for view in views for item in view.scene().items()]
    items = [item for item in scene_items if hasattr(item, "setExportMode")]
    # marks that belong to the screen (a selection, a hover box) stay out of figures
    hidden = [item for item in scene_items if getattr(item, "screen_only", False) and item.isVisible()]
    opts = {"antialias": True, "background": None, "resolutionScale": 1.0}
    for item in items:
        item.setExportMode(True, opts)
    for item in hidden:
        item.setVisible(False)
    try:
        yield
    finally:
        for item in items:
            item.setExportMode(False)
        for item in hidden:
            item.setVisible(True)


def _check_writable(path: Path) -> None:
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder, not a file")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ExportError(f"cannot write {path}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise ExportError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):  # the new file is made there, then renamed
        raise ExportError(f"cannot write {path}: folder {parent} is not writable")


def _export_png(widget: QWidget, out: QBuffer, size: QSize, scale: int = 2) -> None:
    image = QImage(size * scale, QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    image.fill(widget.palette().window().color())
    painter = QPainter(image)
    QWidget.render(widget, painter, QPoint())  # QGraphicsView overrides render() with another signature
    painter.end()
    if not image.save(out, "PNG"):
        raise ExportError("cannot encode the PNG image")


def _export_svg(widget: QWidget, out: QBuffer, size: QSize, title: str) -> None:
    gen = QSvgGenerator()
    gen.setOutputDevice(out)
    gen.setSize(size)
    gen.setViewBox(QRect(QPoint(), size))
    gen.setTitle(title or widget.windowTitle() or "vae-explorer figure")
    gen.setDescription("exported by vae-explorer")
    painter = QPainter()
    if not painter.begin(gen):
        raise ExportError("cannot draw the SVG image")
    QWidget.render(widget, painter, QPoint())  # QGraphicsView overrides render() with another signature
    painter.end()


def _export_pdf(widget: QWidget, out: QBuffer, size: QSize, title: str) -> None:
    writer = QPdfWriter(out)
    writer.setTitle(title or widget.windowTitle() or "vae-explorer figure")
    writer.setCreator("vae-explorer")
    writer.setResolution(96)
    page = QPageSize(
        QSizeF(size.width() * 0.75, size.height() * 0.75),
        QPageSize.Unit.Point,
        "figure",
        QPageSize.SizeMatchPolicy.ExactMatch,
    )
    writer.setPageLayout(QPageLayout(page, QPageLayout.Orientation.Portrait, QMarginsF()))
    painter = QPainter()
    if not painter.begin(writer):
        raise ExportError("cannot draw the PDF document")
    target = painter.viewport()
    sx, sy = target.width() / size.width(), target.height() / size.height()
    painter.scale(min(sx, sy), min(sx, sy))
    QWidget.render(widget, painter, QPoint())  # QGraphicsView overrides render() with another signature
    painter.end()
