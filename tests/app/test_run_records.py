"""The GUI thread's one copy of the queue's run records: each engine event is applied once, and the
Training tab, the curve plot and the window's best of the queue all read the same record."""

from __future__ import annotations

from apphelpers import tiny_config

from vae_explorer.core import events as ev
from vae_explorer.core.run_history import RunHistory


def test_one_epoch_is_one_row_that_every_view_reads(window, monkeypatch):
    appended = []
    append = RunHistory.append
    monkeypatch.setattr(RunHistory, "append", lambda self, row: (appended.append(row), append(self, row)))
    loaded = []  # the runs whose new best the explore tabs were given
    monkeypatch.setattr(window.service, "load_best", lambda event, name: loaded.append(event.run))
    configs = [tiny_config(epochs=5).with_lr(lr) for lr in (1e-3, 3e-3)]
    window.training.start_queue(configs)
    emit = window.controller.event.emit  # the path the worker's events take to the GUI thread
    emit(ev.RunStarted(0, 1e-3, "cpu", 10, 1, configs[0], None))
    emit(ev.EpochEnd(0, 1, 210.0, 200.0, 1.5, 200.0, 1))
    assert len(appended) == 1  # applied once on this thread, by the queue's records only

    record = window.queue.records[0]
    assert len(record.history) == 1 and record.history.val_nll == [200.0]
    assert window.training.records is window.queue.records
    assert window.training.records[0] is record
    run = window.training.plot.runs[0]
    assert run.record is record and run.epochs is record.history.epoch and run.val is record.history.val_nll
    assert list(window.training.plot.points(0)[1]) == [200.0]
    assert window.training.table.item(0, 3).text() == "200.00"

    emit(ev.NewBest(0, 1, 200.0, configs[0], {}, None))
    assert window.queue_best is record and loaded == [0]
    # a later run's first, worse model does not replace the best of the queue; its better one does
    emit(ev.RunFinished(0, ev.STOP_MAX_EPOCHS, 1, 1, 200.0, 199.0, None))
    emit(ev.RunStarted(1, 3e-3, "cpu", 10, 1, configs[1], None))
    emit(ev.EpochEnd(1, 1, 230.0, 220.0, 1.5, 220.0, 1))
    emit(ev.NewBest(1, 1, 220.0, configs[1], {}, None))
    assert window.queue_best is record and loaded == [0]
    emit(ev.EpochEnd(1, 2, 200.0, 190.0, 1.5, 190.0, 2))
    emit(ev.NewBest(1, 2, 190.0, configs[1], {}, None))
    assert window.queue_best is window.queue.records[1] is window.training.plot.runs[1].record
    assert loaded == [0, 1] and len(appended) == 3


def test_a_resumed_runs_epochs_are_drawn_from_its_record(window):
    config = tiny_config(epochs=5)
    window.training.start_queue([config])
    done = (
        ev.EpochEnd(0, 1, 210.0, 200.0, 1.5, 200.0, 1).record(),
        ev.EpochEnd(0, 2, 200.0, 190.0, 1.5, 190.0, 2).record(),
    )
    window.controller.event.emit(ev.RunStarted(0, config.train.lr, "cpu", 10, 3, config, None, done))
    record = window.queue.records[0]
    assert record.history.rows() == list(done) and (record.best_epoch, record.best_val) == (2, 190.0)
    x, y = window.training.plot.points(0)
    assert list(x) == [1, 2] and list(y) == [200.0, 190.0]
