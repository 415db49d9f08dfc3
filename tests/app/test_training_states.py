"""The main window's training states as the user sees them: a failed start, a pause, a run that
diverges in its first epoch (status bar, Progress box, runs table, plot)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from apphelpers import answer_messages, record_events, tiny_settings, wait_for_epoch


@pytest.fixture(autouse=True)
def quit_answers_yes(monkeypatch):
    """A test that fails while training runs must not hang on the close-while-training question."""
    answer_messages(monkeypatch)


def finish(qtbot, win, timeout=120_000):
    qtbot.waitUntil(lambda: not win.controller.running, timeout=timeout)


def row_status(win, row: int) -> str:
    item = win.training.table.item(row, 1)
    return item.text() if item else ""


def test_a_failed_start_says_training_failed(window, qtbot, monkeypatch, tmp_path):
    """A data folder with an empty MNIST/raw: the dialog said 'Training failed', and then the status
    bar 'Training finished', the Progress box 'Loading data…' over a full bar, the row 'not run'."""
    (tmp_path / "empty" / "MNIST" / "raw").mkdir(parents=True)
    settings = tiny_settings()
    window.settings = replace(
        settings,
        config=replace(settings.config, data=replace(settings.config.data, root=str(tmp_path / "empty"))),
    )

    def shown(title, text):
        # a real dialog runs its own event loop: the queue's end arrives while it is open
        qtbot.waitUntil(lambda: not window.controller.running, timeout=60_000)
        qtbot.wait(50)

    dialogs = answer_messages(monkeypatch, on_show=shown)
    window.start_training()
    finish(qtbot, window)
    qtbot.wait(50)
    assert len(dialogs) == 1 and dialogs[0][0] == "Training failed"
    message = window.statusBar().currentMessage()
    assert message.startswith("Training failed") and "finished" not in message
    panel = window.training
    assert row_status(window, 0) == "failed"
    assert panel.progress.value() == 0 and panel.progress.text() == "failed"
    assert (
        panel.result_label.text().startswith("Training failed")
        and "missing data file" in panel.result_label.text()
    )
    assert window.start_action.isEnabled() and not window.pause_action.isEnabled()
    # the next start is not haunted by the failure
    window.settings = tiny_settings(epochs=1)
    window.start_training()
    finish(qtbot, window)
    assert window.statusBar().currentMessage().startswith("Training finished")
    assert row_status(window, 0) == "done"


def test_pause_is_visible_until_resumed(window, qtbot):
    """Paused, the table said 'running', the label 'Training…', and 'Paused' left the status bar
    after 3 s."""
    seen = record_events(window)
    window.settings = tiny_settings(epochs=1000)
    window.start_training()
    wait_for_epoch(qtbot, seen, 1)
    window.toggle_pause()
    panel = window.training
    qtbot.wait(3500)  # longer than the old message's 3 s
    assert row_status(window, 0) == "paused"
    assert panel.eta_label.text() == "paused" and "paused" in panel.progress.text()
    assert "Paused" in panel.result_label.text()
    assert window.statusBar().currentMessage().startswith("Paused")
    window.toggle_pause()
    assert panel.eta_label.text() != "paused"
    assert panel.result_label.text() == "Training…" and "paused" not in panel.progress.text()
    qtbot.waitUntil(lambda: row_status(window, 0) == "running", timeout=5000)  # the engine went on
    window.toggle_pause()  # stopping while paused
    window.stop_training()
    assert not panel.paused
    finish(qtbot, window)
    assert window.training.table.item(0, 5).text() == "stopped by user"
    assert "paused" not in window.training.progress.text()


def test_first_epoch_divergence_has_no_checkpoint_and_no_point_at_zero(window, qtbot):
    """SGD at lr=1e6 diverges in its first epoch: no point at nll 0 on the plot, its legend entry
    stays first, and the status bar does not claim a best checkpoint was kept."""
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    window.settings = tiny_settings(epochs=2, lrs=(1e6, 1e-3), optimizer="sgd")
    window.start_training()
    finish(qtbot, window)
    qtbot.wait(50)
    plot = window.training.plot
    assert plot.runs[0].diverged and not (window.queue_dir / "lr_1e+06" / "model.pt").exists()
    x, _ = plot.runs[0].end_marker.getData()
    assert x is None or len(x) == 0
    lo, hi = plot.plot.getViewBox().viewRange()[1]
    values = plot.points(1)[1]
    assert lo > 0.5 * min(values) and hi < 2 * max(values), (lo, hi, values)
    assert [label.text for _, label in plot.legend.items] == ["lr=1e+06 (diverged)", "lr=0.001"]
    final = window.statusBar().currentMessage()
    assert "lr=1e+06 (no checkpoint)" in final and "kept" not in final
    during = [m for m in messages if m.startswith("Run 1 diverged")]
    assert during and all("no checkpoint" in m and "kept" not in m for m in during)
    assert "lr=1e+06 (no checkpoint)" in window.training.result_label.text()  # lasting, unlike the status bar
    window.training.log_y.setChecked(True)
    qtbot.wait(50)
    lo, hi = plot.plot.getViewBox().viewRange()[1]
    assert lo > 1.5 and hi < 3.5, (lo, hi)  # log10 of a few hundred nats
