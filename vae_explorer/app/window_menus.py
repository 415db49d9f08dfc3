"""The main window's actions, menus, toolbar and keyboard shortcuts, and the Help dialogs they open.

A mixin of MainWindow: it reads the window's controllers (`controller`, `sweeps`, `service`) to
enable its actions, and its `tabs` for the tab shortcuts.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QWidget

from vae_explorer.core.sweep_ray import ray_unavailable

from .about import AboutDialog
from .help import GettingStartedDialog, ShortcutsDialog
from .settings import read_bool


class WindowMenus:
    """File, Edit, Train and Help, the training toolbar, and the actions they share."""

    def _tab_shortcuts(self) -> None:
        """Ctrl+1..9 choose a tab, tabs added later (the Experiment tab) included; Ctrl+PgDown /
        Ctrl+PgUp the next / previous one, wherever the focus is (a focused table or plot would
        otherwise keep the keys)."""
        for i in range(9):
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self, lambda i=i: self._show_tab(i))
        QShortcut(QKeySequence("Ctrl+PgDown"), self, lambda: self.step_tab(1))
        QShortcut(QKeySequence("Ctrl+PgUp"), self, lambda: self.step_tab(-1))
        # tables and spin boxes take Ctrl+PgDown for themselves (the shortcut never fires there):
        # the window sees the key first
        QApplication.instance().installEventFilter(self)

    def _show_tab(self, index: int) -> None:
        if index < self.tabs.count():
            self.tabs.setCurrentIndex(index)

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
        no_ray = ray_unavailable()  # a frozen bundle: the action says why it cannot start one
        self.experiment_action = self._action(
            "New &experiment…",
            self.new_experiment,
            tip=no_ray[0].upper() + no_ray[1:]
            if no_ray
            else "Compare settings across seeds, in parallel on Ray (this machine or a cluster)",
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
