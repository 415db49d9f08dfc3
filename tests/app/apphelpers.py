"""Helpers shared by the app tests (small settings, waiting for epochs)."""

from __future__ import annotations

from vae_explorer.core import events as ev
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

SMALL_MODEL = ModelConfig(hidden=64, latent_dim=8, components=4)


def tiny_config(epochs: int = 2, **train) -> RunConfig:
    data = DataConfig(limit_train=320, limit_val=128, limit_test=128)
    return RunConfig(data, SMALL_MODEL, TrainConfig(epochs=epochs, **train))


def tiny_settings(epochs: int = 2, lrs=(1e-3,), **train):
    from vae_explorer.app.settings import TrainingSettings

    return TrainingSettings(tiny_config(epochs, **train), tuple(lrs))


def make_window(qtbot, runs_root, size: tuple[int, int] | None = None):
    """A shown main window over `runs_root`, closed after the test by pytest-qt. Training is stopped
    before that close, so a test that fails mid-run ends instead of waiting on the "Training is
    running" question."""
    from vae_explorer.app.main_window import MainWindow

    win = MainWindow(runs_root=runs_root)
    qtbot.addWidget(win, before_close_func=lambda w: w.controller.stop_and_wait())
    if size is not None:
        win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    return win


def record_events(win) -> list:
    """Collect (run index, event) pairs the window receives from the training worker."""
    seen: list = []
    win.controller.event.connect(lambda e: seen.append((getattr(e, "run", None), e)))
    return seen


def wait_for_epoch(qtbot, seen: list, epoch: int = 1, run: int = 0, timeout: int = 60_000) -> None:
    def reached() -> bool:
        return any(isinstance(e, ev.EpochEnd) and e.epoch >= epoch and i == run for i, e in seen)

    qtbot.waitUntil(reached, timeout=timeout)


def show_panels(window, panels=None) -> None:
    """Visit the explorer tabs as a user looking at each does: a tab draws the latest model when it
    is shown (hidden tabs wait), so this brings every visited panel up to date."""
    current = window.tabs.currentWidget()
    for panel in panels or window.panels:
        window.tabs.setCurrentWidget(panel)
    window.tabs.setCurrentWidget(current)


def open_and_show(window, qtbot, path, timeout: int = 30_000) -> None:
    """File → Open a checkpoint, wait until the model is in, then visit every explorer tab."""
    window.open_checkpoint(str(path))
    qtbot.waitUntil(
        lambda: window.service.info is not None and window.service.info.checkpoint == str(path),
        timeout=timeout,
    )
    show_panels(window)


def answer_messages(monkeypatch, yes: bool = True, on_show=None) -> list[tuple[str, str]]:
    """Answer every message box of the app (vae_explorer.app.ask) at once instead of showing it:
    Yes or No to a question, OK to the rest. Returns the (title, text) of each, in order;
    `on_show(title, text)` runs as each would be shown (a real box runs its own event loop)."""
    from PySide6.QtWidgets import QMessageBox

    seen: list[tuple[str, str]] = []

    def answer(box) -> int:
        seen.append((box.windowTitle(), box.text()))
        if on_show is not None:
            on_show(box.windowTitle(), box.text())
        if box.standardButtons() & QMessageBox.StandardButton.Yes:
            return QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "exec", answer)
    return seen


def message_texts(monkeypatch, yes: bool = True) -> list[str]:
    """As answer_messages, but the list holds each box's text alone."""
    texts: list[str] = []
    answer_messages(monkeypatch, yes, on_show=lambda _title, text: texts.append(text))
    return texts


def live_run(plot, label: str, key: str | None = None) -> int:
    """A run of a queue on the curve plot `plot`, drawn from a run record of its own (as the
    Training tab's runs are drawn from the queue's records)."""
    from vae_explorer.core.session import RunRecord

    return plot.add_run(label, key, RunRecord(len(plot.runs), RunConfig()))


def feed(
    plot, index: int, epoch: int, train: float, val: float, best_epoch: int, best_val: float, seconds=0.0
):
    """One epoch of the live run `index` of `plot`: into its record, then drawn from there."""
    record = plot.runs[index].record
    record.apply(ev.EpochEnd(record.index, epoch, train, val, seconds, best_val, best_epoch))
    plot.update_run(index)
