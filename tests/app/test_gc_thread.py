"""Python's cyclic collector runs on the GUI thread only: Qt objects it frees are destroyed
there, never on the training, figure or report thread beside it."""

from __future__ import annotations

import gc
import threading

from apphelpers import answer_messages, record_events, tiny_settings, wait_for_epoch
from pyqtgraph.util.garbage_collector import GarbageCollector

from vae_explorer.app.main import collect_garbage_on_gui_thread, create_application


def test_the_app_installs_the_gui_thread_collector(qapp):
    assert create_application() is qapp
    collector = collect_garbage_on_gui_thread()
    assert isinstance(collector, GarbageCollector) and collector is collect_garbage_on_gui_thread()
    assert not gc.isenabled()  # no automatic collection on whichever thread allocates
    assert collector.timer.isActive()


def test_collections_happen_on_the_gui_thread_while_training_and_drawing(window, qtbot, monkeypatch):
    answer_messages(monkeypatch)
    threads: list[str] = []

    def seen(phase, info):
        if phase == "start":
            threads.append(threading.current_thread().name)

    gc.callbacks.append(seen)
    try:
        window.settings = tiny_settings(epochs=2)
        events = record_events(window)
        window.start_training()
        wait_for_epoch(qtbot, events, 1)
        window.tabs.setCurrentWidget(window.panels[1])  # a figure job on the inference thread
        qtbot.waitUntil(lambda: not window.controller.running, timeout=120_000)
        qtbot.wait(1500)  # at least one tick of the collector's timer
    finally:
        gc.callbacks.remove(seen)
    assert threads and set(threads) == {threading.main_thread().name}, set(threads)
