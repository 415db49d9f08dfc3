"""The run browser: every run in the app's runs folder (the app's and the CLI's, this session's and
earlier ones) and every run folder opened by the user, with its curve on request."""

from __future__ import annotations

import math
import os
import shutil
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QFile, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vae_explorer.core.atomic import WriteError
from vae_explorer.core.colours import ColourBook
from vae_explorer.core.runfiles import clean_text
from vae_explorer.core.runlock import RunFolderBusy, RunFolderLock
from vae_explorer.core.runs import UNREADABLE, RunSummary, differing_settings, find_runs, rename_run

from . import ask

COLUMNS = ("", "name", "date", "settings", "status", "best val nll", "test nll")
BEST_BACKGROUND = QColor("#e3f1dc")
GROUP_BACKGROUND = QColor("#eef1f6")
UNREADABLE_COLOUR = QColor("#8a8a8a")
CELL_CHARS = 60  # a name or status longer than this is cut in its cell; the tooltip holds it whole
# name, settings, status: the shares of the width the other columns leave, and their least widths
SHARED_COLUMNS = {1: (0.35, 60), 3: (0.35, 60), 4: (0.30, 60)}


def best_key(runs: list[RunSummary]) -> str | None:
    """The run with the lowest best validation nll among the Bernoulli ones (other likelihoods'
    numbers are not comparable with theirs), or among all when there is none."""
    finite = [r for r in runs if math.isfinite(r.best_val) and r.checkpoint is not None]
    bernoulli = [r for r in finite if r.config is not None and r.config.model.likelihood == "bernoulli"]
    pool = bernoulli or finite
    return min(pool, key=lambda r: r.best_val).key if pool else None


def grouped(runs: list[RunSummary]) -> list[RunSummary | None]:
    """The rows of the list: runs in their order, except that a sweep's trials follow each other
    (at the place of its first, in their folder order) under a heading (None)."""
    keys = [run.group_key for run in runs]  # a real_path each: asked once per run, not per group
    members: dict[str, list[RunSummary]] = {}
    for run, group in zip(runs, keys):
        if group is not None:
            members.setdefault(group, []).append(run)
    rows: list[RunSummary | None] = []
    done: set[str] = set()
    for run, group in zip(runs, keys):
        if group is None:
            rows.append(run)
        elif group not in done:
            done.add(group)
            rows.append(None)
            rows += sorted(members[group], key=lambda r: r.folder.name)
    return rows


class RunBrowser(QWidget):
    """Lists runs; emits explore_requested(run) and curves_changed() (the checked runs changed)."""

    explore_requested = Signal(object)  # RunSummary
    curves_changed = Signal()
    deleted = Signal(str)  # the key of a run that was moved to the trash or deleted

    def __init__(
        self, root: Path | None, extra: list[Path] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.root = Path(root) if root is not None else None
        self.extra: list[Path] = list(extra or [])
        self.runs: list[RunSummary] = []
        self.rows: list[RunSummary | None] = []  # the run in each table row (None: a sweep's heading)
        self.checked: set[str] = set()
        self.busy: set[str] = set()  # runs this app is training now (not to be deleted)
        self.colours = ColourBook()  # the window gives it the one it shares with the plot
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name, settings or status")
        self.filter.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        # the tick, date and nll columns fit their contents; the name, settings and status share
        # what is left (cut with "…", whole in their tooltips), so nothing needs a scrollbar
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in SHARED_COLUMNS:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setToolTip("Double-click a run to explore its best model; tick it to show its curve")
        self.explore_button = QPushButton("Explore this run")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip("Show the run's folder in the file manager")
        self.refresh_button = QPushButton("Refresh")
        self.count_label = QLabel()
        self.count_label.setStyleSheet("color: #555;")
        bar = QHBoxLayout()
        bar.addWidget(self.filter, 1)
        bar.addWidget(self.refresh_button)
        buttons = QHBoxLayout()
        for b in (self.explore_button, self.rename_button, self.delete_button, self.open_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.filter.textChanged.connect(self._apply_filter)
        self.refresh_button.clicked.connect(self.refresh)
        self.explore_button.clicked.connect(self._explore_selected)
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.open_button.clicked.connect(self.open_selected_folder)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._explore_row(row))
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    # -- contents ---------------------------------------------------------------------------------
    def add_folder(self, folder: Path) -> None:
        """List `folder` (a run folder opened by the user) even when it is outside the runs root."""
        folder = Path(folder)
        if all(folder.resolve() != f.resolve() for f in self.extra):
            self.extra.append(folder)
        self.refresh()

    def refresh(self) -> None:
        """Read the runs from disk again; ticks and the selection stay with their runs."""
        selected = self.selected()
        self.runs = find_runs(self.root, self.extra) if self.root is not None else []
        keys = {r.key for r in self.runs}
        self.checked &= {r.key for r in self.runs if r.readable}
        settings = differing_settings(self.runs)
        best = best_key(self.runs)
        self.rows = grouped(self.runs)
        self.table.blockSignals(True)
        self.table.clearSpans()
        self.table.setRowCount(len(self.rows))
        with self.colours.batch():  # a new sweep's thousands of runs: the colours file written once
            for row, run in enumerate(self.rows):
                if run is None:
                    self._group_row(row)
                    continue
                for col, value in enumerate(self._cells(run, settings)):
                    item = QTableWidgetItem(value)
                    if not run.readable:
                        self._grey(item, run)
                    elif col == 0:
                        item.setFlags(
                            Qt.ItemFlag.ItemIsUserCheckable
                            | Qt.ItemFlag.ItemIsEnabled
                            | Qt.ItemFlag.ItemIsSelectable
                        )
                        item.setCheckState(
                            Qt.CheckState.Checked if run.key in self.checked else Qt.CheckState.Unchecked
                        )
                        item.setBackground(QBrush(QColor(self.colours.colour(run.key))))
                        item.setToolTip("show this run's curves on the plot")
                    elif col == 1:
                        item.setToolTip(ask.plain_tooltip(f"{run.name}\n{run.folder}"))
                    elif col == 3 and value:
                        item.setToolTip(ask.plain_tooltip(value.replace(", ", "\n")))
                    elif col == 4 and run.reason:
                        item.setToolTip(ask.plain_tooltip(f"{run.status}: {run.reason}"))
                    if run.key == best:
                        if col:
                            item.setBackground(BEST_BACKGROUND)
                        font = QFont(item.font())
                        font.setBold(True)
                        item.setFont(font)
                        if col == 1:
                            item.setToolTip(
                                ask.plain_tooltip(
                                    f"{run.name}\n{run.folder}\nthe lowest validation nll of the runs listed"
                                )
                            )
                    self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        self.fit_columns()
        self._apply_filter()
        if selected is not None and selected.key in keys:
            self.select(selected.key)
        self._update_buttons()

    def _group_row(self, row: int) -> None:
        """The heading of a sweep's trials (listed below it): its folder and how many trials."""
        members = [r for r in self.rows[row + 1 :] if r is not None]
        first = members[0]
        count = 0
        for r in members:
            if r.group_key != first.group_key:
                break
            count += 1
        assert first.group is not None
        text = f"experiment {first.group.name}: {count} trial{'s' if count != 1 else ''}"
        tip = ask.plain_tooltip(f"a sweep (vae-explorer sweep or Train → New experiment…)\n{first.group}")
        for col in range(len(COLUMNS)):
            item = QTableWidgetItem(clean_text(text, 2 * CELL_CHARS) if col == 1 else "")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item.setBackground(GROUP_BACKGROUND)
            font = QFont(item.font())
            font.setBold(True)
            item.setFont(font)
            item.setToolTip(tip)
            self.table.setItem(row, col, item)
        # the text spans from the name column on (the tick column keeps its own width)
        self.table.setSpan(row, 1, 1, len(COLUMNS) - 1)

    @staticmethod
    def _cells(run: RunSummary, settings: dict[str, str]) -> tuple[str, ...]:
        """The row's texts: plain text, each one line (QTableWidgetItem never renders markup)."""
        try:
            date = datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M")
        except (OverflowError, OSError, ValueError):  # a time stamp no calendar holds
            date = "–"
        name = clean_text(run.name, CELL_CHARS)
        if not run.readable:
            return ("", name, date, "", clean_text(f"{UNREADABLE}: {run.problem}", CELL_CHARS), "–", "–")
        status = run.status + (f" ({run.reason})" if run.reason and run.reason not in run.status else "")
        status = clean_text(status, CELL_CHARS)
        best_val = f"{run.best_val:.2f} (ep. {run.best_epoch})" if math.isfinite(run.best_val) else "–"
        test = f"{run.test_nll:.2f}" if run.test_nll is not None else "–"
        return ("", name, date, settings.get(run.key, ""), status, best_val, test)

    @staticmethod
    def _grey(item: QTableWidgetItem, run: RunSummary) -> None:
        """An unreadable run's cell: grey, not tickable, the reason in its tooltip."""
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        item.setForeground(QBrush(UNREADABLE_COLOUR))
        item.setToolTip(
            ask.plain_tooltip(
                f"{run.folder}\n{UNREADABLE}: {run.problem}\n"
                "Its files cannot be used: Open folder to look at them, or Delete it."
            )
        )

    def fit_columns(self) -> None:
        """Give the name, settings and status columns their shares of the width left over."""
        table = self.table
        fixed = sum(table.columnWidth(c) for c in range(table.columnCount()) if c not in SHARED_COLUMNS)
        free = max(0, table.viewport().width() - fixed)
        for col, (share, least) in SHARED_COLUMNS.items():
            natural = table.sizeHintForColumn(col) + 12
            table.setColumnWidth(col, max(least, min(int(free * share), max(natural, least))))
        spare = free - sum(table.columnWidth(c) for c in SHARED_COLUMNS)
        if spare > 0:  # short names and statuses: the settings take the rest
            table.setColumnWidth(3, table.columnWidth(3) + spare)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def run_of(self, key: str) -> RunSummary | None:
        return next((r for r in self.runs if r.key == key), None)

    def row_of(self, key: str) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r is not None and r.key == key), None)

    def select(self, key: str) -> None:
        row = self.row_of(key)
        if row is not None:
            self.table.selectRow(row)

    def selected(self) -> RunSummary | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if len(rows) != 1:
            return None
        row = rows.pop()
        return self.rows[row] if row < len(self.rows) else None

    def checked_runs(self) -> list[RunSummary]:
        return [r for r in self.runs if r.key in self.checked]

    def set_checked(self, key: str, on: bool) -> None:
        row = self.row_of(key)
        if row is not None and self.rows[row] is not None and self.rows[row].readable:
            # an unreadable run cannot be ticked (a tick remembered from a session when it was
            # readable would stay on a row whose tick the user cannot take off)
            self.table.item(row, 0).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        # the row's run, kept here: a key handed to Qt would lose a name that is not UTF-8
        # (its surrogate escapes), and the tick would name no run
        run = self.rows[item.row()] if 0 <= item.row() < len(self.rows) else None
        if run is None:
            return
        key = run.key
        was = key in self.checked
        if item.checkState() == Qt.CheckState.Checked:
            self.checked.add(key)
        else:
            self.checked.discard(key)
        if was != (key in self.checked):
            self.curves_changed.emit()

    def _apply_filter(self) -> None:
        words = self.filter.text().lower().split()
        shown = 0
        heading = None  # the row of the sweep heading above, shown while one of its trials is
        for row in range(self.table.rowCount()):
            if row >= len(self.rows) or self.rows[row] is None:
                heading = row
                self.table.setRowHidden(row, True)
                continue
            text = " ".join(self.table.item(row, col).text().lower() for col in range(1, len(COLUMNS)))
            hide = any(w not in text for w in words)
            self.table.setRowHidden(row, hide)
            shown += not hide
            group = self.rows[row].group_key
            if heading is not None and not hide and group is not None:
                self.table.setRowHidden(heading, False)
            if group is None:
                heading = None
        total = len(self.runs)
        noun = "run" if total == 1 else "runs"
        self.count_label.setText(f"{shown} of {total} {noun}" if words else f"{total} {noun}")
        self.count_label.setToolTip(f"the runs in {self.root} and the run folders you opened")

    def _update_buttons(self) -> None:
        run = self.selected()
        self.explore_button.setEnabled(run is not None and run.checkpoint is not None)
        self.rename_button.setEnabled(run is not None and run.readable)
        self.open_button.setEnabled(run is not None)
        self.delete_button.setEnabled(
            run is not None and run.key not in self.busy and run.status != "running"
        )

    # -- actions ------------------------------------------------------------------------------------
    def _explore_row(self, row: int) -> None:
        if 0 <= row < len(self.rows) and self.rows[row] is not None:
            self.explore(self.rows[row])

    def _explore_selected(self) -> None:
        run = self.selected()
        if run is not None:
            self.explore(run)

    def explore(self, run: RunSummary) -> None:
        if not run.readable:
            ask.inform(self, "Explore run", f"{run.name} cannot be explored: {run.problem}")
            return
        if run.checkpoint is None:
            why = (
                "it diverged before its first validated epoch ended"
                if run.status == "diverged"
                else "it has not finished a validated epoch yet"
                if run.status == "running"
                else "no validated epoch of it finished"
            )
            ask.inform(self, "Explore run", f"{run.name} has no model: {why}.")
            return
        self.explore_requested.emit(run)

    def rename_selected(self, name: str | None = None) -> None:
        run = self.selected()
        if run is None:
            return
        if run.problem is not None:
            return
        if name is None or not isinstance(name, str):
            dialog = QInputDialog(self)
            dialog.setWindowTitle("Rename run")
            dialog.setLabelText(f"Name of {run.folder}\n(empty: the folder's name)")
            dialog.setTextValue(run.name)
            label = dialog.findChild(QLabel)
            if label is not None:
                label.setTextFormat(Qt.TextFormat.PlainText)
            if not dialog.exec():
                return
            name = dialog.textValue()
        try:
            rename_run(run, name)
        except (OSError, WriteError) as exc:  # WriteError: name.txt could not be written
            ask.error(self, "Rename run", str(exc))
            return
        self.refresh()
        self.curves_changed.emit()  # the legend names the run

    def open_selected_folder(self) -> None:
        """Show the selected run's folder in the system's file manager."""
        run = self.selected()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.folder)))

    def _written_now(self, run: RunSummary) -> bool:
        """Whether a process writes `run`'s folder at this moment (the list may be older than the
        question just answered: `train --resume` may have started since); says so if it does."""
        try:
            RunFolderLock(run.folder).acquire().release()
        except RunFolderBusy:
            ask.inform(
                self,
                "Delete run",
                f"{run.name} is being written by another process (a run resumed or evaluated there); "
                "delete it once that has ended.",
            )
            self.refresh()
            return True
        except OSError:
            pass  # a folder that cannot take a lock: the move says what is wrong
        return False

    def delete_selected(self, confirmed: bool = False) -> bool:
        """Move the selected run's folder to the system trash (or, where there is none, delete it
        after a second question); asks first."""
        run = self.selected()
        if run is None or run.key in self.busy or run.status == "running":
            return False
        if not confirmed:
            if os.path.islink(run.folder):
                question = (
                    f"Remove the link “{run.folder}”?\n\nIt points to {os.path.realpath(run.folder)}, "
                    "which stays as it is."
                )
            else:
                question = (
                    f"Move the run “{run.name}” to the trash?\n\n{run.folder}\n\n"
                    "Its model, metrics and figures go with it."
                )
            if not ask.confirm(self, "Delete run", question):
                return False
        if not os.path.islink(run.folder) and self._written_now(run):
            return False
        if os.path.islink(run.folder):
            # a run opened through a link: the link goes, the folder it points to stays
            try:
                os.unlink(run.folder)
            except OSError as exc:
                ask.error(self, "Delete run", f"Cannot remove the link {run.folder}: {exc.strerror or exc}")
                return False
        elif not QFile.moveToTrash(str(run.folder)):
            if not ask.confirm(
                self, "Delete run", f"{run.folder} cannot be moved to a trash here. Delete it for good?"
            ):
                return False
            try:
                shutil.rmtree(run.folder)
            except OSError as exc:
                ask.error(self, "Delete run", f"Cannot delete {run.folder}: {exc.strerror or exc}")
                return False
        self.checked.discard(run.key)
        self.extra = [f for f in self.extra if f.exists()]
        self.deleted.emit(run.key)
        self.refresh()
        self.curves_changed.emit()
        return True
