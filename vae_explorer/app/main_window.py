"""The main window: tabs of panels and a status bar; it wires the workers to the widgets.

Its menus and toolbar (window_menus), checkpoint files (window_files) and exports (window_exports)
are mixins of their own modules; here are the tabs, the session state, the model the explore tabs
show, the training queue and experiments."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QTabWidget,
    QWidget,
)

from vae_explorer.core import events as ev
from vae_explorer.core import sweep_events as se
from vae_explorer.core.config import ConfigError, format_lr
from vae_explorer.core.device import gpu_name, resolve_device
from vae_explorer.core.runs import RunSummary, real_path
from vae_explorer.core.session import RunRecord, run_dirs
from vae_explorer.core.sweep_ray import ray_unavailable
from vae_explorer.core.userdata import user_data_dir

from . import ask
from .experiment_dialog import ExperimentDialog
from .inference import InferenceService, ModelInfo
from .panels.components import ComponentsPanel
from .panels.evaluation import EvaluationPanel
from .panels.interpolation import InterpolationPanel
from .panels.lab import LabPanel
from .panels.latent_map import LatentMapPanel
from .panels.real_vs_generated import RealVsGeneratedPanel
from .run_records import QueueRecords
from .settings import (
    TrainingSettings,
    load_extra_runs,
    load_settings,
    read_bool,
    read_bytes,
    read_int,
    read_texts,
    save_settings,
)
from .settings_dialog import SettingsDialog
from .sweep_panel import SweepPanel
from .sweep_worker import SweepController
from .training_panel import TrainingPanel
from .training_worker import TrainingController
from .window_exports import FigureExports
from .window_files import CheckpointFiles
from .window_menus import WindowMenus

PANEL_CLASSES: list[type] = [
    RealVsGeneratedPanel,
    ComponentsPanel,
    InterpolationPanel,
    LatentMapPanel,
    EvaluationPanel,
    LabPanel,
]


def default_runs_root() -> Path:
    """`runs` in the user data folder, beside the run colours and classifiers. Runs that an
    earlier vae-explorer made under Qt's AppDataLocation (which names the app twice:
    ~/.local/share/vae-explorer/vae-explorer/runs) stay where they are, and in use, for as long
    as no runs folder exists at the new place: nothing is moved, so nothing can be lost."""
    runs = user_data_dir() / "runs"
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    earlier = Path(base) / "runs" if base else None
    if earlier is not None and earlier != runs and earlier.is_dir() and not runs.exists():
        return earlier
    return runs


def device_description() -> str:
    name = gpu_name()
    return f"GPU: {name}" if name is not None else "CPU (no CUDA GPU found)"


class MainWindow(WindowMenus, CheckpointFiles, FigureExports, QMainWindow):
    def __init__(self, runs_root: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("VAE Explorer")
        self.resize(1200, 800)
        self.runs_root = Path(runs_root) if runs_root else default_runs_root()
        self.settings: TrainingSettings = load_settings()
        self.queue_dir: Path | None = None
        self.reporter = None  # File → Export report's worker, made at its first use

        self.service = InferenceService(self)
        self.service.load_failed.connect(self._on_load_failed)
        self.service.load_unchecked.connect(self._on_load_unchecked)
        self.service.model_loaded.connect(self._on_model_loaded)
        self.service.job_failed.connect(lambda key, msg: self.statusBar().showMessage(f"{key}: {msg}", 8000))
        # a model the user chose while a queue trains is pinned until that queue ends (new bests
        # would replace it within an epoch); a pin the user sets stays until the user lifts it
        self._pinned_for_queue = False
        self.service.pinned_changed.connect(self._on_pinned_changed)
        self.controller = TrainingController(self)
        self._opened_by_user: str | None = None  # the checkpoint File → Open is loading
        # the queue's run records on this thread: each event is applied there once, and the
        # Training tab (connected first) and this window react to the change
        self.queue = QueueRecords(self)
        self.controller.event.connect(self.queue.apply)
        self.controller.finished.connect(self._update_actions)
        # experiments: a sweep's driver on a thread of its own, shown in a tab added at its first start
        self.sweeps = SweepController(self)
        self.sweep_panel = SweepPanel()
        self.sweeps.event.connect(self.sweep_panel.on_event)
        self.sweeps.event.connect(self._on_sweep_event)
        self.sweeps.finished.connect(self._on_sweep_finished)
        self._sweep_failure: str | None = None
        self.sweep_panel.explore_requested.connect(self.explore_run)
        self.sweep_panel.stop_requested.connect(self.stop_experiment)

        self.training = TrainingPanel(self.runs_root, queue=self.queue)
        self.queue.changed.connect(self._on_change)
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

    # -- settings and the explore tabs ---------------------------------------------------------
    def edit_settings(self) -> bool:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return False
        self.settings = dialog.settings()
        save_settings(self.settings)
        self.show_plan()
        self.statusBar().showMessage("Settings saved", 3000)
        return True

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

    def pin_while_training(self) -> None:
        """Keep the model the user is about to load in the explore tabs while the queue trains."""
        if self.controller.running and not self.service.pinned:
            self.service.set_pinned(True)
            self._pinned_for_queue = True

    def _on_pinned_changed(self, on: bool) -> None:
        if not on:
            self._pinned_for_queue = False

    def explore_run(self, run: RunSummary) -> None:
        """Load `run`'s best model into the explore tabs; while a queue trains, pin it there."""
        if run.checkpoint is None:
            return
        self.pin_while_training()
        self.statusBar().showMessage(
            f"Exploring {run.name}" + (" (pinned while training goes on)" if self.controller.running else ""),
            8000,
        )
        self.service.load_checkpoint(str(run.checkpoint), run.name)
        self.tabs.setCurrentWidget(self.panels[0])  # the user asked to see it: show it

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
            why = getattr(panel, "why_not", None)  # the reason for this model, where the panel says
            tip = (why(info) if why is not None else None) or getattr(panel, "not_applicable", "")
            self.tabs.setTabToolTip(index, "" if ok else tip)

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
            self._unpin_after_no_load()
            self.statusBar().showMessage("Checkpoint not loaded", 5000)

    @Slot(str, str)
    def _on_load_failed(self, path: str, message: str) -> None:
        self._unpin_after_no_load()
        ask.error(self, "Cannot open checkpoint", message)
        self.statusBar().showMessage("Checkpoint not loaded", 5000)

    def _unpin_after_no_load(self) -> None:
        """A model chosen during training that did not load leaves the tabs following the queue."""
        if self._pinned_for_queue:
            self.service.set_pinned(False)

    # -- training ------------------------------------------------------------------------------
    def _new_folder(self, suffix: str = "") -> Path | None:
        """Create a new queue's or experiment's folder in the runs folder, named by the time of day
        (and -2, -3 … after a name a start in the same second took: never an earlier run's); where
        it cannot be made, say why and return None."""
        stem = datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            self.runs_root.mkdir(parents=True, exist_ok=True)
            for n in range(1, 1000):
                folder = self.runs_root / (stem + (f"-{n}" if n > 1 else "") + suffix)
                try:
                    folder.mkdir()
                    return folder
                except FileExistsError:
                    continue
            raise FileExistsError(f"{stem}{suffix} and 998 more are taken")
        except OSError as exc:
            where = self.runs_root / (stem + suffix)
            ask.error(self, "Cannot start", f"Cannot create {where}: {exc.strerror or exc}")
            return None

    def start_training(self) -> None:
        if self.controller.running:
            return
        configs = self.settings.configs()
        try:  # settings restored from a machine with a GPU: said before a folder is made
            resolve_device(configs[0].train.device)
        except ConfigError as exc:
            ask.error(self, "Cannot start", f"{exc}: choose another device in Settings.")
            return
        folder = self._new_folder()
        if folder is None:
            return
        self.queue_dir = folder
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

    @property
    def queue_best(self) -> RunRecord | None:
        """The queue's best run so far (lowest validation nll, with a model), from its records."""
        return self.queue.best()

    @Slot(object, object)
    def _on_change(self, run: int | None, event: object) -> None:
        """An engine event, applied to the queue's records (and shown by the Training tab)."""
        if isinstance(event, ev.NewBest):
            # the explore tabs show the queue's best model so far: a later run's early, worse
            # models do not replace a good one (the header says which run is shown)
            best = self.queue_best
            if best is not None and best.index == event.run and not self.service.pinned:
                self.service.load_best(event, self._queue_run_name(event.run))
        elif isinstance(event, ev.RunFinished) and event.reason == ev.STOP_DIVERGED:
            kept = (
                "its best checkpoint is kept"
                if event.checkpoint
                else "no checkpoint (no epoch with a finite loss)"
            )
            self.statusBar().showMessage(f"Run {event.run + 1} diverged (non-finite loss); {kept}", 10000)
        elif isinstance(event, ev.Evaluated):
            record = self.queue.records[event.run]
            self.evaluation.add_result(f"run {event.run + 1}: {record.label}", event.results)
        elif isinstance(event, ev.QueueFinished):
            self._on_queue_finished(event)

    def _queue_run_name(self, index: int) -> str:
        records = self.queue.records
        lr = format_lr(records[index].config.train.lr)
        folder = self.queue_dir.name if self.queue_dir is not None else "this queue"
        return f"run {index + 1} of {len(records)} of {folder} (lr={lr})" if len(records) > 1 else folder

    def _show_best_of_queue(self) -> None:
        """After a queue, the explore tabs show its best run (unless pinned)."""
        record = self.queue_best
        if record is None or self.service.pinned:
            return
        if record.checkpoint and Path(record.checkpoint).is_file():
            name = self._queue_run_name(record.index)
            if len(self.queue.records) > 1:
                name += ", the best of the queue"
            self.service.load_checkpoint(record.checkpoint, name)

    def _on_queue_finished(self, event: ev.QueueFinished) -> None:
        self.queue_label.setText("")
        self._show_best_of_queue()
        if self._pinned_for_queue:  # the model chosen stays shown; the next queue's bests show again
            self.service.set_pinned(False)
        self.evaluation.save_pending()  # evaluations of this queue's runs, held until it ended
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
            failed = next((r for r in self.queue.records if r.message), None)
            ask.error(self, "Training failed", failed.message if failed else event.failure)

    # -- experiments -------------------------------------------------------------------------------
    def new_experiment(self, dialog: ExperimentDialog | None = None) -> bool:
        """Train → New experiment…: a sweep over the current settings into a new folder of the runs
        folder (each trial a run there, listed in the run browser as one group)."""
        if self.controller.running or self.sweeps.running:
            return False
        if (reason := ray_unavailable()) is not None:
            ask.error(self, "New experiment", reason[0].upper() + reason[1:] + ".")
            return False
        dialog = dialog or ExperimentDialog(self.settings.config, self)
        if dialog.exec() != ExperimentDialog.DialogCode.Accepted:
            return False
        folder = self._new_folder("-experiment")
        if folder is None:
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

    def _on_sweep_event(self, event: object) -> None:
        if isinstance(event, se.SweepFinished) and event.failure:
            self._sweep_failure = event.failure

    def _on_sweep_finished(self) -> None:
        self.queue_label.setText("")
        self.browser.refresh()
        self._update_actions()
        failure, self._sweep_failure = self._sweep_failure, None
        if failure:  # as a failed training queue: said where it cannot be missed
            self.statusBar().showMessage("The experiment failed", 10000)
            ask.error(self, "Experiment failed", f"The experiment failed: {failure}")

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
