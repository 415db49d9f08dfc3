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


DAMAGED = {
    "neg-elbo-text": ('{"neg_elbo": "x"}', "neg_elbo"),
    "fid-text": ('{"fid": "z"}', "fid"),
    "iw-nll-a-list": ('{"iw_nll": [1]}', "iw_nll"),
    "components-text": ('{"components": "abc"}', "components"),
}


@pytest.mark.parametrize("name", list(DAMAGED))
def test_a_damaged_evaluation_json_is_named_when_the_tab_comes_to_the_front(window, qtbot, checkpoint, name):
    """These files once killed the app (SIGSEGV, SIGABRT) as the tab was shown: the model arrives
    while another tab is in front, and the Evaluation tab draws it in its showEvent."""
    content, key = DAMAGED[name]
    checkpoint.with_name("evaluation.json").write_text(content)
    window.tabs.setCurrentWidget(window.training)
    window.open_checkpoint(str(checkpoint))
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    panel = window.evaluation
    assert panel._stale  # drawn when shown, not before
    window.tabs.setCurrentWidget(panel)
    shown = panel.notice_text()
    assert shown.startswith("The saved evaluation is not shown: evaluation.json: "), shown
    assert key in shown and panel.rows == []
    assert panel.evaluate_button.isEnabled()  # the tab goes on working
    window.tabs.setCurrentIndex(1)
    window.tabs.setCurrentWidget(panel)


ODD_RESULTS = [
    {"neg_elbo": "x", "epoch": None},
    {"fid": "z", "fid_floor": [1], "inception_score": {}, "inception_score_std": "s"},
    {"iw_nll": [1], "iw_nll_stderr": "e", "iw_samples": 2.5},
    {"components": "abc", "components_in_use": "all"},
    {"components": [{"x": 1}], "latent_dim": "eight", "active_units": None},
    {"class_histogram": "x", "notes": "one note"},
    {"class_histogram": [1, 2, "3"], "notes": [1, None]},
    {"iw_nll": float("nan"), "neg_elbo": 90.0, "gap": True, "checkpoint": ["not", "a", "path"]},
    {},
]


def test_results_of_any_shape_are_shown_never_raised(window):
    panel = window.evaluation
    window.tabs.setCurrentWidget(panel)
    for i, results in enumerate(ODD_RESULTS):
        panel.add_result(f"odd {i}", results)
    assert len(panel.rows) == len(ODD_RESULTS)
    assert cell(panel, 0, 2) == "?" and cell(panel, 0, 1) == "–"
    assert cell(panel, 1, 6) == "? (?)" and cell(panel, 1, 7) == "? ± ?"
    assert cell(panel, 2, 3) == "? ± ?" and cell(panel, 2, 4) == "?"
    assert cell(panel, 3, 8) == "–" and cell(panel, 4, 8) == "– of 1" and cell(panel, 4, 9) == "– of ?"
    for row in range(len(ODD_RESULTS)):
        panel.table.selectRow(row)  # the histogram of each, drawn or "not shown"
    panel.evaluate_shown()  # a selected row whose checkpoint is not a path: the model shown, or nothing
    panel.cancel()
    assert panel.bound_bars.opts["height"] == []  # no pair of finite numbers to compare


def test_an_error_while_drawing_is_shown_in_the_tab(window, qtbot, checkpoint, monkeypatch):
    """The mechanism of those crashes: an error that C code raised (a format code on text) must
    not leave the tab's showEvent, where PySide6 6.11 turns it into a segmentation fault."""
    from vae_explorer.app.panels.evaluation import EvaluationPanel

    def broken(self, info):
        return f"{'text':.2f}"

    monkeypatch.setattr(EvaluationPanel, "on_model_loaded", broken)
    window.tabs.setCurrentWidget(window.training)
    window.open_checkpoint(str(checkpoint))
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    window.tabs.setCurrentWidget(window.evaluation)
    shown = window.evaluation.notice_text()
    assert shown.startswith("This tab cannot show the model: ValueError: Unknown format code"), shown
    window.tabs.setCurrentIndex(0)
