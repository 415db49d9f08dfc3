"""The main window: toolbar, menus, tabs of panels, status bar; it wires workers to widgets."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QTabWidget,
    QWidget,
)

from vae_explorer.core import events as ev
from vae_explorer.core import runfiles as rf
from vae_explorer.core.atomic import WriteError, atomic_copy
from vae_explorer.core.config import format_lr
from vae_explorer.core.device import gpu_name
from vae_explorer.core.runs import RunSummary, read_run, real_path
from vae_explorer.core.session import best_run, run_dirs

from . import ask
from .about import AboutDialog
from .experiment_dialog import ExperimentDialog
from .export import FILTER, ExportError, export_widget
from .help import GettingStartedDialog, ShortcutsDialog
from .inference import InferenceService, ModelInfo
from .panels.components import ComponentsPanel
from .panels.evaluation import EvaluationPanel
from .panels.interpolation import InterpolationPanel
from .panels.lab import LabPanel
from .panels.latent_map import LatentMapPanel
from .panels.real_vs_generated import RealVsGeneratedPanel
from .settings import (
    TrainingSettings,
    load_extra_runs,
    load_settings,
    read_bool,
    read_bytes,
    read_int,
    read_texts,
    save_extra_runs,
    save_settings,
)
from .settings_dialog import SettingsDialog
from .sweep_panel import SweepPanel
from .sweep_worker import SweepController
from .training_panel import TrainingPanel
from .training_worker import TrainingController

RECENT_MAX = 8


PANEL_CLASSES: list[type] = [
    RealVsGeneratedPanel,
    ComponentsPanel,
    InterpolationPanel,
    LatentMapPanel,
    EvaluationPanel,
    LabPanel,
]


def default_runs_root() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or tempfile.gettempdir()) / "runs"


def device_description() -> str:
    name = gpu_name()
    return f"GPU: {name}" if name is not None else "CPU (no CUDA GPU found)"


class MainWindow(QMainWindow):
    def __init__(self, runs_root: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("VAE Explorer")
        self.resize(1200, 800)
        self.runs_root = Path(runs_root) if runs_root else default_runs_root()
        self.settings: TrainingSettings = load_settings()
        self.queue_dir: Path | None = None
        self._queue_best: tuple[int, float] | None = None  # (run, validation nll) shown in the tabs
        self.reporter = None  # File → Export report's worker, made at its first use

        self.service = InferenceService(self)
        self.service.load_failed.connect(self._on_load_failed)
        self.service.load_unchecked.connect(self._on_load_unchecked)
        self.service.model_loaded.connect(self._on_model_loaded)
        self.service.job_failed.connect(lambda key, msg: self.statusBar().showMessage(f"{key}: {msg}", 8000))
        self.controller = TrainingController(self)
        self._opened_by_user: str | None = None  # the checkpoint File → Open is loading
        self.controller.event.connect(self._on_event)
        self.controller.finished.connect(self._update_actions)
        # experiments: a sweep's driver on a thread of its own, shown in a tab added at its first start
        self.sweeps = SweepController(self)
        self.sweep_panel = SweepPanel()
        self.sweeps.event.connect(self.sweep_panel.on_event)
        self.sweeps.finished.connect(self._on_sweep_finished)
        self.sweep_panel.explore_requested.connect(self.explore_run)
        self.sweep_panel.stop_requested.connect(self.stop_experiment)

        self.training = TrainingPanel(self.runs_root)
        self.browser = self.training.browser
        self.browser.extra = load_extra_runs()
        self.browser.explore_requested.connect(self.explore_run)
        self.browser.deleted.connect(self._run_deleted)
        self.browser.refresh()
        self.panels = [cls(self.service) for cls in PANEL_CLASSES]
        self.evaluation = next(p for p in self.panels if isinstance(p, EvaluationPanel))
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.training, self.training.title)
        for panel in self.panels:
            self.tabs.addTab(panel, panel.title)
        self.setCentralWidget(self.tabs)

        self.device_label = QLabel(device_description())
        # where the queue writes, for as long as it trains: a status message would give way to the
        # status tips of the menus under the mouse
        self.queue_label = QLabel()
        self.queue_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addPermanentWidget(self.queue_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self._make_actions()
        self._tab_shortcuts()
        self._update_actions()
        self.setAcceptDrops(True)
        self.show_plan()
        self.restore_state()
        self.statusBar().showMessage("Ready: press Start (F5) to train on the bundled MNIST.")

    # -- session state -------------------------------------------------------------------------
    def _tab_shortcuts(self) -> None:
        """Ctrl+1..9 choose a tab; Ctrl+PgDown / Ctrl+PgUp the next / previous one, wherever the
        focus is (a focused table or plot would otherwise keep the keys)."""
        for i in range(min(self.tabs.count(), 9)):
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self, lambda i=i: self.tabs.setCurrentIndex(i))
        QShortcut(QKeySequence("Ctrl+PgDown"), self, lambda: self.step_tab(1))
        QShortcut(QKeySequence("Ctrl+PgUp"), self, lambda: self.step_tab(-1))
        # tables and spin boxes take Ctrl+PgDown for themselves (the shortcut never fires there):
        # the window sees the key first
        QApplication.instance().installEventFilter(self)

    def step_tab(self, step: int) -> None:
        self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())

    def eventFilter(self, watched, event) -> bool:
        from PySide6.QtCore import QEvent

        if (
            event.type() == QEvent.Type.KeyPress
            and event.modifiers() == Qt.KeyboardModifier.ControlModifier
            and event.key() in (Qt.Key.Key_PageDown, Qt.Key.Key_PageUp)
            and isinstance(watched, QWidget)
            and watched.window() is self
        ):
            self.step_tab(1 if event.key() == Qt.Key.Key_PageDown else -1)
            return True
        return super().eventFilter(watched, event)

    def show_plan(self) -> None:
        device = self.settings.config.train.device
        if device == "auto":
            device = "the GPU" if gpu_name() is not None else "the CPU"
        else:
            device = "the GPU" if device == "cuda" else "the CPU"
        self.training.set_plan(self.settings.plan(device))

    def save_state(self) -> None:
        """Window geometry, splitters, view toggles and the current tab, for the next start."""
        store = QSettings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/tab", self.tabs.currentIndex())
        for name, splitter in self._splitters().items():
            store.setValue(f"splitters/{name}", splitter.saveState())
        store.setValue("view/show_train", self.training.show_train.isChecked())
        store.setValue("view/log_y", self.training.log_y.isChecked())
        store.setValue("view/smoothing", self.training.smoothing.value())
        store.setValue("view/x_time", self.training.x_axis.currentIndex())
        store.setValue("runs/checked", sorted(self.browser.checked))
        store.sync()

    def restore_state(self) -> None:
        """What save_state kept; a value of the wrong type (a hand-edited or damaged settings
        file) is passed over, never raised."""
        store = QSettings()
        geometry = read_bytes(store, "window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._splitters_restored = False
        self.training.show_train.setChecked(read_bool(store, "view/show_train", True))
        self.training.log_y.setChecked(read_bool(store, "view/log_y", False))
        slider = self.training.smoothing
        self.training.smoothing.setValue(
            read_int(store, "view/smoothing", 0, slider.minimum(), slider.maximum())
        )
        axis = self.training.x_axis
        axis.setCurrentIndex(read_int(store, "view/x_time", 0, 0, axis.count() - 1))
        for key in read_texts(store, "runs/checked"):
            self.browser.set_checked(key, True)
        self.tabs.setCurrentIndex(read_int(store, "window/tab", 0, 0, self.tabs.count() - 1))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._splitters_restored:
            # once the window has its size: a splitter restored before would share out its
            # saved sizes again when the window is laid out
            self._splitters_restored = True
            self.restore_splitters()

    def restore_splitters(self) -> None:
        store = QSettings()
        for name, splitter in self._splitters().items():
            state = read_bytes(store, f"splitters/{name}")
            if state is not None:
                splitter.restoreState(state)

    def _splitters(self) -> dict[str, QWidget]:
        from PySide6.QtWidgets import QSplitter

        out = {"training": self.training.splitter}
        for panel in self.panels:
            split = panel.findChild(QSplitter)
            if split is not None:
                out[type(panel).__name__] = split
        return out

    # -- recent files and drops ----------------------------------------------------------------
    def recent(self) -> list[str]:
        return read_texts(QSettings(), "recent", RECENT_MAX)

    def _remember(self, path: str) -> None:
        items = [p for p in self.recent() if p != path]
        QSettings().setValue("recent", [path, *items][:RECENT_MAX])
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self.recent()
        for path in items:
            self.recent_menu.addAction(self._action(path, lambda _=False, p=path: self.open_checkpoint(p)))
        if items:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(self._action("Clear the list", self._clear_recent))
        self.recent_menu.setEnabled(bool(items))

    def _clear_recent(self) -> None:
        QSettings().setValue("recent", [])
        self._fill_recent_menu()

    @staticmethod
    def _dropped_path(event) -> Path | None:
        """The one local file or folder a drag carries, if that is what it carries."""
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if len(urls) != 1 or not urls[0].isLocalFile():
            return None
        return Path(urls[0].toLocalFile())

    @classmethod
    def _dropped_checkpoint(cls, event) -> str | None:
        """The checkpoint a drag carries: a .pt file, or a run folder's model.pt."""
        path = cls._dropped_path(event)
        if path is None:
            return None
        if path.is_dir() and (path / rf.MODEL).is_file():
            return str(path / rf.MODEL)
        if path.suffix == ".pt" and path.is_file():
            return str(path)
        return None

    @staticmethod
    def _accept_without_moving(event) -> None:
        """Take a drop as a copy or a link, never a move: a file manager that honours the action
        it proposed could otherwise move the user's run folder into the app."""
        for action in (Qt.DropAction.CopyAction, Qt.DropAction.LinkAction):
            if event.possibleActions() & action:
                event.setDropAction(action)
                event.accept()
                return
        event.ignore()

    def dragEnterEvent(self, event) -> None:
        # any one local file or folder: the drop says why it cannot open one that is no checkpoint
        if self._dropped_path(event) is not None:
            self._accept_without_moving(event)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        path = self._dropped_path(event)
        if path is None:
            event.ignore()
            return
        self._accept_without_moving(event)
        checkpoint = self._dropped_checkpoint(event)
        if checkpoint:
            self.open_checkpoint(checkpoint)
            return
        if path.is_dir():
            run = read_run(path, self.runs_root)
            why = (
                f"it is a run that cannot be read ({run.problem})"
                if run is not None and not run.readable
                else "its run has no model.pt yet (no epoch finished)"
                if run is not None
                else "it is not a run folder (it has no config.json and model.pt)"
            )
        else:
            why = "it is not a checkpoint (a .pt file such as a run's model.pt)"
        self.statusBar().showMessage(f"Not opened: {path.name}", 8000)
        ask.inform(self, "Open", f"{path} cannot be opened: {why}.")

    # -- actions -----------------------------------------------------------------------------
    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})" if shortcut else tip)
        action.triggered.connect(slot)
        return action

    def _make_actions(self) -> None:
        self.start_action = self._action("&Start", self.start_training, "F5", "Start training")
        self.pause_action = self._action("&Pause", self.toggle_pause, "F6", "Pause or resume training")
        self.stop_action = self._action("S&top", self.stop_training, "Shift+F5", "Stop training")
        self.experiment_action = self._action(
            "New &experiment…",
            self.new_experiment,
            tip="Compare settings across seeds, in parallel on Ray (this machine or a cluster)",
        )
        self.settings_action = self._action(
            "&Settings…", self.edit_settings, "Ctrl+,", "Edit the training settings"
        )
        self.open_action = self._action(
            "&Open checkpoint…", self.open_checkpoint, QKeySequence.StandardKey.Open, "Open a saved model"
        )
        self.save_action = self._action(
            "Save checkpoint &as…",
            self.save_checkpoint_as,
            QKeySequence.StandardKey.SaveAs,
            "Save the current model",
        )
        self.export_all_action = self._action(
            "Export &all figures…", self.export_all, "Ctrl+E", "Export every figure to a folder"
        )
        self.report_action = self._action(
            "Export &report…",
            self.export_report,
            "Ctrl+R",
            "A PDF or HTML report of the runs ticked in the run list (or the selected run, or the last queue)",
        )
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._fill_recent_menu()
        file_menu.addAction(self.save_action)
        file_menu.addSeparator()
        self.export_menu = file_menu.addMenu("&Export figure")
        self._fill_export_menu()
        # the figures on offer change with the model (the Lab's, 2-D only) and the runs (the
        # Training tab's per-epoch views, once drawn)
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        file_menu.addAction(self.export_all_action)
        file_menu.addAction(self.report_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.settings_action)
        train_menu = self.menuBar().addMenu("&Train")
        for a in (self.start_action, self.pause_action, self.stop_action):
            train_menu.addAction(a)
        train_menu.addSeparator()
        train_menu.addAction(self.experiment_action)
        self.help_menu = self.menuBar().addMenu("&Help")
        self.help_menu.addAction(self._action("&Getting started", self.show_getting_started, "F1"))
        self.help_menu.addAction(self._action("&Keyboard shortcuts", lambda: ShortcutsDialog(self).exec()))
        self.help_menu.addSeparator()
        self.help_menu.addAction(self._action("&About VAE Explorer", lambda: self.about_dialog().exec()))
        self.help_menu.addAction(self._action("About &Qt", QApplication.aboutQt))

        toolbar = self.addToolBar("Training")
        toolbar.setObjectName("training-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.setMovable(False)
        for a in (self.start_action, self.pause_action, self.stop_action):
            toolbar.addAction(a)
        # one width for Pause and Resume, so the buttons after it stay put when the text changes
        pause_button = toolbar.widgetForAction(self.pause_action)
        if pause_button is not None:
            metrics = pause_button.fontMetrics()
            widest = max(metrics.horizontalAdvance(t) for t in ("Pause", "Resume"))
            pause_button.setMinimumWidth(
                widest + pause_button.sizeHint().width() - metrics.horizontalAdvance("Pause")
            )
        toolbar.addSeparator()
        toolbar.addAction(self.settings_action)
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.export_all_action)

    @property
    def paused(self) -> bool:
        return self.controller.paused

    @property
    def stop_requested(self) -> bool:
        return self.controller.stop_requested

    def _update_actions(self) -> None:
        running = self.controller.running
        sweeping = self.sweeps.running
        self.start_action.setEnabled(not running and not sweeping)
        self.experiment_action.setEnabled(not running and not sweeping)
        self.pause_action.setEnabled(running and not self.stop_requested)
        self.stop_action.setEnabled(
            (running and not self.stop_requested) or (sweeping and not self.sweeps.stop_requested)
        )
        self.pause_action.setText("&Resume" if self.paused else "&Pause")
        self.settings_action.setEnabled(not running)
        self.save_action.setEnabled(self.service.info is not None)

    def show_getting_started(self) -> GettingStartedDialog:
        """The Getting started page, not modal: the window stays usable beside it."""
        dialog = GettingStartedDialog(self.runs_root, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_getting_started_once(self) -> None:
        """On the first launch, the Getting started page (Help shows it again)."""
        store = QSettings()
        if not read_bool(store, "help/getting_started_shown", False):
            store.setValue("help/getting_started_shown", True)
            self.show_getting_started()

    def about_dialog(self) -> AboutDialog:
        return AboutDialog(self)

    # -- figures -------------------------------------------------------------------------------
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
        from .export import with_chosen_suffix

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
        from .export import check_folder

        try:
            check_folder(folder)
        except ExportError as exc:
            ask.error(self, "Export failed", str(exc))
            return []
        existing = [
            Path(folder) / f"{stem}{suffix}"
            for stem, _, _ in self.figures()
            for suffix in (".png", ".svg", ".pdf")
            if (Path(folder) / f"{stem}{suffix}").exists()
        ]
        if existing and not self._confirm_replace(folder, existing):
            return []
        self.bring_figures_up_to_date()
        written = []
        for stem, _, widget in self.figures():
            for suffix in (".png", ".svg", ".pdf"):
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
        self.reporter.start(folders, path)
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

    # -- settings and checkpoints ------------------------------------------------------------
    def edit_settings(self) -> bool:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return False
        self.settings = dialog.settings()
        save_settings(self.settings)
        self.show_plan()
        self.statusBar().showMessage("Settings saved", 3000)
        return True

    def open_checkpoint(self, path: str | None = None) -> None:
        if not path:
            path = ask.open_file(self, "Open checkpoint", "Checkpoints (*.pt);;All files (*)", self.runs_root)
            if not path:
                return
        self.statusBar().showMessage(f"Loading {path}…")
        self._opened_by_user = str(path)
        self._remember(str(Path(path).absolute()))
        run = read_run(Path(path).parent, self.runs_root)
        if run is not None:  # a run folder: list it with its curve, and name the model after it
            self._list_run(run)
        self.service.load_checkpoint(path, run.name if run is not None else "")

    def _run_deleted(self, key: str) -> None:
        """The run the explore tabs show was deleted: they say so (their figures stay on show)."""
        info = self.service.info
        if info is None or not info.checkpoint or real_path(Path(info.checkpoint).parent) != key:
            return
        for panel in self.panels:
            panel.set_notice(
                "<b>The run shown here was deleted.</b> Its figures stay until you explore another "
                "run or open a checkpoint."
            )

    def _list_run(self, run: RunSummary) -> None:
        """Show `run` in the browser (remembered across sessions when outside the runs folder),
        selected and with its curve."""
        inside = Path(real_path(run.folder)).is_relative_to(real_path(self.runs_root))
        if not inside:
            self.browser.add_folder(run.folder)
            save_extra_runs(self.browser.extra)
        else:
            self.browser.refresh()
        self.browser.set_checked(run.key, True)
        self.browser.select(run.key)
        self.training.run_tabs.setCurrentWidget(self.browser)

    def explore_run(self, run: RunSummary) -> None:
        """Load `run`'s best model into the explore tabs; while a queue trains, pin it there."""
        if run.checkpoint is None:
            return
        if self.controller.running:
            self.service.set_pinned(True)
        self.statusBar().showMessage(
            f"Exploring {run.name}" + (" (pinned while training goes on)" if self.controller.running else ""),
            8000,
        )
        self.service.load_checkpoint(str(run.checkpoint), run.name)
        self.tabs.setCurrentWidget(self.panels[0])  # the user asked to see it: show it

    def save_checkpoint_as(self, path: str | None = None) -> Path | None:
        info = self.service.info
        if info is None:
            ask.inform(self, "Save checkpoint", "There is no model yet: train or open one first.")
            return None
        if not path:
            path, _ = ask.save_file(self, "Save checkpoint as", rf.MODEL, "Checkpoints (*.pt)")
            if not path:
                return None
        target = Path(path)
        try:
            atomic_copy(info.checkpoint, target)
        except WriteError as exc:
            ask.error(self, "Save checkpoint", f"Cannot save {target}: {exc}")
            return None
        except OSError as exc:
            ask.error(self, "Save checkpoint", f"Cannot save {target}: {exc.strerror or exc}")
            return None
        self.statusBar().showMessage(f"Saved {target}", 5000)
        return target

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self._update_actions()
        self._enable_tabs(info)
        opened, self._opened_by_user = self._opened_by_user == str(info.checkpoint), None
        if info.data_error is None:
            # only for File → Open: a training run's new best would replace the lasting summary
            # of the queue (diverged rates, a failure) in the status bar
            if opened:
                self.statusBar().showMessage(f"Loaded {info.checkpoint}", 5000)
            return
        # the model works, its test images do not: say so once here (the panels that need them say
        # so in place of their figures), and how to fix it
        folder = info.data_folder or "the data folder it was trained on"
        where = f" ({info.data_folder})" if info.data_folder else ""
        self.statusBar().showMessage(
            f"Loaded {info.checkpoint} without its test images: data not found{where}"
        )  # lasting, until the next message
        if self.controller.running:
            return
        text = (
            f"The model {info.checkpoint} is loaded, but its test images cannot be read:\n\n"
            f"{info.data_error}.\n\n"
            "Generated samples, the mixture components and interpolations between component means "
            "or prior samples are shown. The real test images, interpolations between test images "
            f"and the latent map need them: restore {folder} (for example move the folder back) and "
            "open the checkpoint again."
        )
        from PySide6.QtCore import QTimer

        # after the panels have taken the new model, so the dialog is not shown over stale figures
        QTimer.singleShot(0, self, lambda: ask.warn(self, "Test images not found", text))

    def _enable_tabs(self, info: ModelInfo) -> None:
        """A panel with `applies_to` (the Lab: 2-D models) is a tab only for the models it draws."""
        for panel in self.panels:
            applies = getattr(panel, "applies_to", None)
            if applies is None:
                continue
            index = self.tabs.indexOf(panel)
            ok = applies(info)
            if not ok and self.tabs.currentIndex() == index:
                self.tabs.setCurrentWidget(self.panels[0])
            self.tabs.setTabEnabled(index, ok)
            self.tabs.setTabToolTip(index, "" if ok else getattr(panel, "not_applicable", ""))

    @Slot(str, str)
    def _on_load_unchecked(self, path: str, name: str) -> None:
        """A checkpoint saved by a vae-explorer from before the whole-content checksum: the user
        decides whether to open it unchecked (a damaged byte in it could not be told)."""
        text = (
            f"{path} was saved by an earlier version of vae-explorer, before checkpoints carried a "
            "checksum of their whole content, so a damaged byte in it cannot be detected.\n\n"
            "Open it anyway? (The file is not changed.)"
        )
        if ask.confirm(self, "Checkpoint without a checksum", text):
            self.service.load_checkpoint(path, name, accept_unchecked=True)
        else:
            self.statusBar().showMessage("Checkpoint not loaded", 5000)

    @Slot(str, str)
    def _on_load_failed(self, path: str, message: str) -> None:
        ask.error(self, "Cannot open checkpoint", message)
        self.statusBar().showMessage("Checkpoint not loaded", 5000)

    # -- training ------------------------------------------------------------------------------
    def start_training(self) -> None:
        if self.controller.running:
            return
        configs = self.settings.configs()
        self.queue_dir = self.runs_root / datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            self.queue_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            ask.error(self, "Cannot start", f"Cannot create {self.queue_dir}: {exc.strerror or exc}")
            return
        self._queue_best = None
        self.training.start_queue(configs, run_dirs(self.queue_dir, configs))
        self.tabs.setCurrentWidget(self.training)
        self.controller.start(configs, self.queue_dir)
        self._update_actions()
        self.statusBar().showMessage(f"Training {len(configs)} run(s)", 5000)
        self.queue_label.setText(f"checkpoints: {self.queue_dir}")
        self.queue_label.setToolTip(f"this queue's runs are written to {self.queue_dir}")

    def toggle_pause(self) -> None:
        if not self.controller.running:
            return
        self.controller.set_paused(not self.controller.paused)
        self.training.set_paused(self.paused)
        if self.paused:  # lasting, like the panel's paused state, until resumed
            self.statusBar().showMessage("Paused: press Resume (F6) to go on")
        else:
            self.statusBar().showMessage("Resumed", 3000)
        self._update_actions()

    def stop_training(self) -> None:
        if self.sweeps.running:
            self.stop_experiment()
        if not self.controller.running:
            return
        self.controller.stop()
        self.training.set_paused(False)
        self.statusBar().showMessage("Stopping after the current batch…")
        self._update_actions()

    @Slot(object)
    def _on_event(self, event: object) -> None:
        self.training.on_event(event)
        if isinstance(event, ev.NewBest):
            # the explore tabs show the queue's best model so far: a later run's early, worse
            # models do not replace a good one (the header says which run is shown)
            shown = self._queue_best
            better = shown is None or event.run == shown[0] or event.val_nll < shown[1]
            if better:
                self._queue_best = (event.run, event.val_nll)
            if better and not self.service.pinned:
                self.service.load_best(event, self._queue_run_name(event.run))
        elif isinstance(event, ev.RunFinished) and event.reason == ev.STOP_DIVERGED:
            kept = (
                "its best checkpoint is kept"
                if event.checkpoint
                else "no checkpoint (no epoch with a finite loss)"
            )
            self.statusBar().showMessage(f"Run {event.run + 1} diverged (non-finite loss); {kept}", 10000)
        elif isinstance(event, ev.Evaluated):
            record = self.training.records[event.run]
            self.evaluation.add_result(f"run {event.run + 1}: {record.label}", event.results)
        elif isinstance(event, ev.QueueFinished):
            self._on_queue_finished(event)

    def _queue_run_name(self, index: int) -> str:
        records = self.training.records
        lr = format_lr(records[index].config.train.lr)
        folder = self.queue_dir.name if self.queue_dir is not None else "this queue"
        return f"run {index + 1} of {len(records)} of {folder} (lr={lr})" if len(records) > 1 else folder

    def _show_best_of_queue(self) -> None:
        """After a queue, the explore tabs show its best run (unless pinned)."""
        index = best_run(self.training.records)
        if index is None or self.service.pinned:
            return
        record = self.training.records[index]
        if record.checkpoint and Path(record.checkpoint).is_file():
            name = self._queue_run_name(index)
            if len(self.training.records) > 1:
                name += ", the best of the queue"
            self.service.load_checkpoint(record.checkpoint, name)

    def _on_queue_finished(self, event: ev.QueueFinished) -> None:
        self.queue_label.setText("")
        self._show_best_of_queue()
        if event.failure is not None:
            message = f"Training failed: {event.failure}"
        else:
            message = "Training stopped" if event.stopped else "Training finished"
        diverged = [
            f"{label} ({'best checkpoint kept' if kept else 'no checkpoint'})"
            for label, kept in self.training.diverged
        ]
        if diverged:  # keep the divergence visible after the queue ends
            message += f"; diverged (non-finite loss): {', '.join(diverged)}"
        lasting = event.failure is not None or bool(diverged)
        self.statusBar().showMessage(message, 0 if lasting else 8000)
        self._update_actions()
        if event.failure is not None:
            failed = next((r for r in self.training.records if r.message), None)
            ask.error(self, "Training failed", failed.message if failed else event.failure)

    # -- experiments -------------------------------------------------------------------------------
    def new_experiment(self, dialog: ExperimentDialog | None = None) -> bool:
        """Train → New experiment…: a sweep over the current settings into a new folder of the runs
        folder (each trial a run there, listed in the run browser as one group)."""
        if self.controller.running or self.sweeps.running:
            return False
        dialog = dialog or ExperimentDialog(self.settings.config, self)
        if dialog.exec() != ExperimentDialog.DialogCode.Accepted:
            return False
        folder = self.runs_root / (datetime.now().strftime("%Y%m%d-%H%M%S") + "-experiment")
        try:
            folder.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            ask.error(self, "Cannot start", f"Cannot create {folder}: {exc.strerror or exc}")
            return False
        if self.tabs.indexOf(self.sweep_panel) < 0:
            self.tabs.addTab(self.sweep_panel, self.sweep_panel.title)
        self.tabs.setCurrentWidget(self.sweep_panel)
        self.sweeps.start(dialog.spec(), folder, dialog.options())
        self.queue_label.setText(f"experiment: {folder}")
        self._update_actions()
        return True

    def stop_experiment(self) -> None:
        if self.sweeps.running and not self.sweeps.stop_requested:
            self.sweeps.stop()
            self.sweep_panel.set_stopping()
            self.statusBar().showMessage("Stopping every trial after its current batch…")
        self._update_actions()

    def _on_sweep_finished(self) -> None:
        self.queue_label.setText("")
        self.browser.refresh()
        self._update_actions()

    # -- closing -------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.sweeps.running:
            if not ask.confirm(self, "Experiment is running", "An experiment is running. Stop it and quit?"):
                event.ignore()
                return
            self.sweeps.stop_and_wait()
        if self.controller.running:
            if not ask.confirm(
                self,
                "Training is running",
                "Training is still running. Stop it and quit?\n\n"
                f"The best checkpoint so far is kept in {self.queue_dir}.",
            ):
                event.ignore()
                return
            self.statusBar().showMessage("Stopping training…")
        try:
            self.save_state()
        finally:  # the workers end before the window, whatever saving the state met
            QApplication.instance().removeEventFilter(self)
            self.controller.stop_and_wait()
            self.evaluation.cancel()  # an evaluation under way ends at its next chunk
            if self.reporter is not None:
                self.reporter.wait()
            self.service.shutdown()
        event.accept()
