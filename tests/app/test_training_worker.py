"""The training controller on its own: a tiny queue in its QThread, events, thread joined, CPU threads."""

from __future__ import annotations

from apphelpers import tiny_config

from vae_explorer.app.training_worker import TrainingController, training_threads
from vae_explorer.core import events as ev
from vae_explorer.core.session import lr_dirname


def test_training_threads_leave_a_core_to_the_gui(monkeypatch):
    monkeypatch.setattr("torch.get_num_threads", lambda: 8)
    assert training_threads(1) == 1
    assert training_threads(2) == 1
    assert training_threads(4) == 3
    assert training_threads(64) == 8  # never more than torch would use anyway


def test_controller_runs_a_queue_and_joins_its_thread(qtbot, tmp_path):
    controller = TrainingController()
    seen = []
    controller.event.connect(lambda e: seen.append((getattr(e, "run", None), type(e).__name__)))
    configs = [tiny_config(epochs=1).with_lr(lr) for lr in (1e-3, 2e-3)]
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.start(configs, tmp_path)
        assert controller.running
    assert not controller.running
    assert [i for i, name in seen if name == "RunFinished"] == [0, 1]
    assert next(name for i, name in seen if i == 0) == ev.RunStarted.__name__
    for config in configs:
        assert (tmp_path / lr_dirname(config.train.lr) / "model.pt").is_file()
    assert (tmp_path / "nll_val_curves.png").is_file()  # the comparison, as the CLI writes it
    assert not any(name == "TrainingState" for _, name in seen)  # live tensors stay in the worker
    assert controller.stop_and_wait()  # nothing left to wait for


def test_progress_reaches_the_gui_at_most_every_50_ms_and_each_epoch_end_always(monkeypatch):
    """A GPU reports a hundred batches an epoch many times a second; the GUI gets a sample."""
    from types import SimpleNamespace

    from vae_explorer.app import training_worker as tw

    clock = [100.0]
    monkeypatch.setattr(tw.time, "monotonic", lambda: clock[0])
    worker = tw.TrainingWorker(SimpleNamespace(on_event=None))
    sent = []
    worker.event.connect(sent.append)
    for epoch in (1, 2):
        for batch in range(1, 101):
            clock[0] += 0.002  # 100 reports in 0.2 s: an epoch of a fast GPU
            worker._forward(ev.BatchProgress(0, epoch, batch, 100))
    batches = [(e.epoch, e.batch) for e in sent]
    assert (1, 100) in batches and (2, 100) in batches  # every epoch's end
    assert len(batches) <= 2 * (0.2 / tw.PROGRESS_INTERVAL + 2)
    assert batches == sorted(batches)
    worker._forward(ev.EpochEnd(0, 2, 1.0, 1.0, 0.2, 1.0, 2))
    assert isinstance(sent[-1], ev.EpochEnd)  # other events are never held back
