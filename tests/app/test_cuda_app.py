"""The app on a GPU: the trainer and the explore tabs on CUDA, and closing the window mid-run.
Marked `cuda`: skipped where torch sees no CUDA device."""

from __future__ import annotations

import time

import pytest
from apphelpers import answer_messages, record_events, show_panels, tiny_settings, wait_for_epoch

from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.cuda


def test_the_window_trains_on_cuda_explores_there_and_closes_mid_run(window, qtbot, monkeypatch):
    seen = record_events(window)
    window.settings = tiny_settings(epochs=1000, device="cuda")
    window.start_training()
    wait_for_epoch(qtbot, seen, 2)
    started = [e for _, e in seen if isinstance(e, ev.RunStarted)]
    chosen = [e for _, e in seen if isinstance(e, ev.StepChosen)]
    assert started[0].device.startswith("cuda")
    assert chosen and chosen[0].mode == ev.STEP_CUDA_GRAPH, chosen
    assert "CUDA-graph steps" in window.training.run_label.text()
    # the explore tabs draw the new best models on the GPU (their worker's own stream) meanwhile
    assert window.service.device.type == "cuda"
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=60_000)
    # every job's outcome, from the workers themselves: the panels take failures in (each shows
    # its own message), so the service's job_failed would stay silent
    results, failures = [], []
    for worker in window.service._workers:
        worker.result.connect(lambda job_id, out: results.append(job_id))
        worker.failed.connect(lambda job_id, message: failures.append(message))
        worker.load_failed.connect(lambda path, message: failures.append(message))
    show_panels(window)
    qtbot.waitUntil(lambda: bool(results) and not window.service.pending(), timeout=120_000)
    assert not failures
    for panel in window.panels:
        assert panel.notice_text() == "", type(panel).__name__
    answer_messages(monkeypatch)
    thread = window.controller._thread
    clock = time.monotonic()
    assert window.close()
    assert time.monotonic() - clock < 20
    assert not window.controller.running and thread.isFinished()
    model, config, _ = load_checkpoint(window.queue_dir / "model.pt")
    assert config.train.device == "cuda" and next(model.parameters()).device.type == "cpu"
