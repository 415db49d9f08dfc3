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
