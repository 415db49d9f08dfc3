"""Checkpoint files in and out of the main window: File → Open, Open recent, drops, Save as.

A mixin of MainWindow: it loads through the window's `service`, lists the run a checkpoint belongs
to in the window's run `browser`, and fills the Open recent menu that window_menus makes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt

from vae_explorer.core import runfiles as rf
from vae_explorer.core.atomic import WriteError, atomic_copy
from vae_explorer.core.checkpoint import checkpoint_epoch
from vae_explorer.core.runs import RunSummary, read_run, real_path

from . import ask
from .settings import read_texts, save_extra_runs

RECENT_MAX = 8


class CheckpointFiles:
    """Opening a checkpoint from a dialog, the recent list or a drop, and saving a copy of one."""

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

    def open_checkpoint(self, path: str | None = None) -> None:
        if not path:
            path = ask.open_file(self, "Open checkpoint", "Checkpoints (*.pt);;All files (*)", self.runs_root)
            if not path:
                return
        self.statusBar().showMessage(f"Loading {path}…")
        self.pin_while_training()
        self._opened_by_user = str(path)
        self._remember(str(Path(path).absolute()))
        run = read_run(Path(path).parent, self.runs_root)
        if run is not None:  # a run folder: list it with its curve, and name the model after it
            self._list_run(run)
        self.service.load_checkpoint(path, run.name if run is not None else "")

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

    def save_checkpoint_as(self, path: str | None = None) -> Path | None:
        info = self.service.info
        if info is None:
            ask.inform(self, "Save checkpoint", "There is no model yet: train or open one first.")
            return None
        # the copy is of the file the model came from: it must still hold the model shown (a
        # pinned model's run may have written a newer best over it since, or been deleted)
        held = checkpoint_epoch(info.checkpoint) if info.checkpoint else None
        if held != info.epoch:
            now = f"now holds epoch {held}" if held is not None else "is gone or cannot be read"
            ask.inform(
                self,
                "Save checkpoint",
                f"The model shown (epoch {info.epoch}) is no longer in its file: {info.checkpoint or 'it has none'} "
                f"{now}. Open that file to save it, or copy the run folder.",
            )
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
