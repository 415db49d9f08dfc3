"""The Evaluation tab: Evaluate runs in the worker with progress and Cancel, the queue's end-of-run
evaluations appear as rows beside the references, and the table exports as CSV."""

from __future__ import annotations

import csv

import pytest
from apphelpers import answer_messages, open_and_show, tiny_settings


@pytest.fixture(autouse=True)
def quit_answers_yes(monkeypatch):
    answer_messages(monkeypatch)


def cell(panel, row: int, col: int) -> str:
    item = panel.table.item(row, col)
    return item.text() if item else ""


def test_evaluate_the_model_shown(window, qtbot, checkpoint, tmp_path):
    panel = window.evaluation
    open_and_show(window, qtbot, checkpoint)
    window.tabs.setCurrentWidget(panel)
    assert panel.evaluate_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.iw_samples.setValue(8)
    panel.fid.setChecked(False)
    panel.inception.setChecked(False)
    stages = []
    panel.progressed.connect(lambda stage, done, total: stages.append(stage))
    panel.evaluate_button.click()
    assert panel.cancel_button.isEnabled() and not panel.evaluate_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel.rows) == 1, timeout=60_000)
    assert "importance sampling" in stages and panel.progress.text() == "idle"
    results = panel.rows[0].results
    assert results["iw_samples"] == 8 and results["images"] == 128  # the checkpoint's whole test set
    assert cell(panel, 0, 4) == "8" and "±" in cell(panel, 0, 3)
    assert cell(panel, 0, 2) == f"{results['neg_elbo']:.2f}"
    assert cell(panel, 1, 0).startswith("reference:") and "92.07" in [cell(panel, 1, c) for c in range(10)]
    saved = panel.save_csv(tmp_path / "evaluation.csv")
    with open(saved) as fh:
        rows = list(csv.reader(fh))
    assert (
        rows[0][0] == "model" and rows[1][2] == cell(panel, 0, 2) and len(rows) == 1 + panel.table.rowCount()
    )


def test_cancel_stops_an_evaluation(window, qtbot, checkpoint):
    panel = window.evaluation
    open_and_show(window, qtbot, checkpoint)
    window.tabs.setCurrentWidget(panel)
    panel.iw_samples.setValue(5000)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.progress.text().startswith("importance sampling"), timeout=60_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: panel.message.text() == "Evaluation cancelled.", timeout=60_000)
    assert panel.rows == [] and panel.evaluate_button.isEnabled()


def test_end_of_run_evaluations_become_rows(window, qtbot):
    window.settings = tiny_settings(epochs=2, lrs=(1e-3, 3e-3))
    window.start_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=180_000)
    panel = window.evaluation
    assert [r.name for r in panel.rows] == ["run 1: lr=0.001", "run 2: lr=0.003"]
    for record, row in zip(window.training.records, panel.rows):
        assert record.evaluation == row.results and row.results["epoch"] == record.best_epoch
    assert (window.queue_dir / "lr_0.001" / "evaluation.json").is_file()
    window.tabs.setCurrentWidget(panel)
    export = {stem for stem, _, _ in window.figures()}
    assert {"class_histogram", "elbo_vs_iw"} <= export
    # evaluate the first run again, with figures of our choosing: its checkpoint is loaded first
    panel.table.selectRow(0)
    panel.iw_samples.setValue(6)
    panel.fid.setChecked(False)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.rows[-1].results.get("iw_samples") == 6, timeout=60_000)
    assert [r.name for r in panel.rows] == ["run 2: lr=0.003", "run 1: lr=0.001"]
    assert window.service.info.checkpoint == str(window.queue_dir / "lr_0.001" / "model.pt")
    assert panel.rows[-1].results["checkpoint"] == window.service.info.checkpoint


def test_rows_are_one_per_model_across_queues(window):
    panel = window.evaluation
    panel.add_result("run 1: lr=0.001", {"checkpoint": "/q1/model.pt", "neg_elbo": 95.0, "epoch": 3})
    panel.add_result("run 1: lr=0.001", {"checkpoint": "/q2/model.pt", "neg_elbo": 94.0, "epoch": 4})
    assert [r.results["checkpoint"] for r in panel.rows] == ["/q1/model.pt", "/q2/model.pt"]  # a new queue
    panel.add_result("run 1: lr=0.001", {"checkpoint": "/q1/model.pt", "neg_elbo": 93.0, "epoch": 3})
    assert [r.results["neg_elbo"] for r in panel.rows] == [94.0, 93.0]  # the same model, evaluated again
    assert cell(panel, 1, 2) == "93.00" and cell(panel, 1, 3) == "–"
