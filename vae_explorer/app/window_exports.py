"""Figure and report export from the main window: File → Export figure, Export all, Export report.

A mixin of MainWindow: the figures are the Training tab's and the explore panels'; a report covers
the runs ticked or selected in the run browser, else the last queue's folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

from . import ask
from .export import FILTER, FORMATS, ExportError, check_folder, export_widget, with_chosen_suffix


class FigureExports:
    """Exports every figure the window shows under the CLI's file names, and writes reports."""

    def figures(self) -> list[tuple[str, str, QWidget]]:
        """(file stem, label, widget) for every exportable figure, the CLI's names first."""
        stem = "nll_val_curves" if len(self.training.plot.runs) > 1 else "nll_val_curve"
        out = [(stem, "Validation nll curves", self.training.plot)]
        out += self.training.epoch_views.figures()  # the bound's parts, the weights per epoch
        for panel in self.panels:
            out.extend((s, label, w) for s, (label, w) in panel.export_targets().items())
        return out

    def _fill_export_menu(self) -> None:
        for action in self.export_menu.actions():  # made here, owned by the window: deleted here
            self.export_menu.removeAction(action)
            action.deleteLater()
        for _, label, widget in self.figures():
            self.export_menu.addAction(
                self._action(f"{label}…", lambda _=False, w=widget: self.export_figure(w))
            )

    def bring_figures_up_to_date(self, timeout_ms: int = 120_000) -> None:
        """Draw every panel that a new model passed by while hidden, each in front while it draws
        (a tab never shown has no layout at the window's size, and its figure would export as
        its placeholder), and wait, the window still responding, until its jobs have reported;
        then the tab in front before comes back."""
        from PySide6.QtCore import QDeadlineTimer, QEventLoop

        current = self.tabs.currentWidget()
        deadline = QDeadlineTimer(timeout_ms)
        for panel in self.panels:
            if not panel.stale:
                continue
            self.tabs.setCurrentWidget(panel)  # shown: it lays out and draws the latest model
            panel.bring_up_to_date()
            while self.service.pending() and not deadline.hasExpired():
                QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            QApplication.processEvents()
        self.tabs.setCurrentWidget(current)

    def export_figure(self, widget: QWidget) -> Path | None:
        """Ask for a file and export `widget` there; the suggested name is the CLI's for it now
        (the curve plot is nll_val_curve or, with several runs, nll_val_curves)."""
        stem = next((s for s, _, w in self.figures() if w is widget), None)
        if stem is None:
            return None
        path, chosen = ask.save_file(self, "Export figure", f"{stem}.png", FILTER)
        if not path:
            return None
        self.bring_figures_up_to_date()
        return self._export(widget, Path(path), chosen)

    def _export(self, widget: QWidget, path: Path, name_filter: str = "") -> Path | None:
        """Export to `path`; a name typed without an extension gets the chosen file type's (else .png)."""
        path = with_chosen_suffix(path, name_filter)
        try:
            export_widget(widget, path)
        except ExportError as exc:
            ask.error(self, "Export failed", str(exc))
            return None
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return path

    def export_all(self, folder: str | None = None) -> list[Path]:
        if not folder:
            folder = ask.choose_folder(self, "Export all figures to")
            if not folder:
                return []
        try:
            check_folder(folder)
        except ExportError as exc:
            ask.error(self, "Export failed", str(exc))
            return []
        existing = [
            Path(folder) / f"{stem}{suffix}"
            for stem, _, _ in self.figures()
            for suffix in FORMATS
            if (Path(folder) / f"{stem}{suffix}").exists()
        ]
        if existing and not self._confirm_replace(folder, existing):
            return []
        self.bring_figures_up_to_date()
        written = []
        for stem, _, widget in self.figures():
            for suffix in FORMATS:
                try:
                    written.append(export_widget(widget, Path(folder) / f"{stem}{suffix}"))
                except ExportError as exc:
                    ask.error(self, "Export failed", str(exc))
                    return written
        self.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 5000)
        return written

    def report_runs(self) -> list[Path]:
        """The run folders a report covers: the runs ticked in the run list, else the one selected
        there, else the last queue's."""
        ticked = [r.folder for r in self.browser.checked_runs()]
        if ticked:
            return ticked
        selected = self.browser.selected()
        if selected is not None:
            return [selected.folder]
        if self.queue_dir is not None and self.queue_dir.is_dir():
            return [self.queue_dir]
        return []

    def export_report(self, path: str | None = None) -> bool:
        """Write the report of `report_runs()` to a .pdf or .html file, on a worker thread."""
        from .report_export import ReportExport

        folders = self.report_runs()
        if not folders:
            ask.inform(
                self,
                "Export report",
                "No runs to report: tick runs in the Training tab's run list (All runs), or train a queue.",
            )
            return False
        if not path:
            names = ", ".join(f.name for f in folders[:3]) + (
                f" and {len(folders) - 3} more" if len(folders) > 3 else ""
            )
            path, chosen = ask.save_file(
                self,
                f"Export a report of {len(folders)} run folder{'s' if len(folders) != 1 else ''}: {names}",
                "report.pdf",
                "PDF report (*.pdf);;HTML report, images embedded (*.html)",
            )
            if not path:
                return False
            if not Path(path).suffix:
                path += ".html" if "html" in chosen else ".pdf"
        if self.reporter is None:
            self.reporter = ReportExport(self)
            self.reporter.finished.connect(self._report_written)
            self.reporter.failed.connect(self._report_failed)
        if self.reporter.running:
            self.statusBar().showMessage("A report is being written already", 5000)
            return False
        self.reporter.start(folders, path, self.browser.colours.colours)  # the curves as the plot shows them
        self.report_action.setEnabled(False)
        self.statusBar().showMessage(f"Writing the report of {len(folders)} folder(s) to {path}…")
        return True

    def _report_failed(self, message: str) -> None:
        self.report_action.setEnabled(True)
        self.statusBar().showMessage("No report", 5000)
        ask.error(self, "Export report", f"No report: {message}")

    def _report_written(self, path: str) -> None:
        self.report_action.setEnabled(True)
        self.statusBar().showMessage(f"Report written: {path}", 8000)

    def _confirm_replace(self, folder: str, existing: list[Path]) -> bool:
        names = ", ".join(p.name for p in existing[:4]) + (" …" if len(existing) > 4 else "")
        return ask.confirm(
            self,
            "Replace figures?",
            f"{len(existing)} of the figure files are in {folder} already ({names}).\n\nReplace them?",
        )
