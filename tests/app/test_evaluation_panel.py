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


def evaluate_shown_with(window, qtbot, checkpoint, samples: int):
    """Open `checkpoint`, show the Evaluation tab, ask for an IW-NLL of `samples` and no FID or IS."""
    panel = window.evaluation
    open_and_show(window, qtbot, checkpoint)
    window.tabs.setCurrentWidget(panel)
    panel.fid.setChecked(False)
    panel.inception.setChecked(False)
    panel.iw_samples.setValue(samples)
    return panel


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
    assert cell(panel, 0, 3).endswith("(S=8)") and "±" in cell(panel, 0, 3)
    assert cell(panel, 0, 2) == f"{results['neg_elbo']:.2f}"
    assert cell(panel, 1, 0).startswith("course write-up") and "92.07" in [
        cell(panel, 1, c) for c in range(9)
    ]
    saved = panel.save_csv(tmp_path / "evaluation.csv")
    with open(saved) as fh:
        rows = list(csv.DictReader(fh))
    # numbers, each in its own column, with the units in the header
    assert float(rows[0]["neg_elbo (nats)"]) == results["neg_elbo"] and rows[0]["iw_nll_samples"] == "8"
    assert float(rows[0]["iw_nll_stderr (nats)"]) == results["iw_nll_stderr"]
    assert len(rows) == panel.table.rowCount() and rows[1]["neg_elbo (nats)"] == "92.07"


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
    qtbot.waitUntil(
        lambda: 6 in [r["iw_samples"] for r in panel.rows[-1].results.get("iw_runs") or []], timeout=60_000
    )
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
    assert cell(panel, 1, 5) == "?" and cell(panel, 1, 6) == "?"  # FID, IS
    assert cell(panel, 2, 3) == "?"  # IW-NLL
    assert cell(panel, 3, 7) == "?" and cell(panel, 4, 7) == "–" and cell(panel, 4, 8) == "?"
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


def test_evaluations_run_in_the_tab_are_kept_in_the_run_folder(window, qtbot, checkpoint):
    """An S=50 result showed in the table while evaluation.json kept S=10, so the report printed
    the S=10 figure. Now every S is kept, and the largest one is the figure shown everywhere."""
    import json

    from vae_explorer.core.runs import read_run

    panel = window.evaluation
    open_and_show(window, qtbot, checkpoint)
    window.tabs.setCurrentWidget(panel)
    panel.fid.setChecked(False)
    panel.inception.setChecked(False)
    for samples in (12, 5):
        panel.iw_samples.setValue(samples)
        panel.evaluate_button.click()
        qtbot.waitUntil(lambda: panel.message.text().startswith("Evaluated"), timeout=60_000)
        assert "Saved in" in panel.message.text()
        panel.message.setText("")
    saved = json.loads(checkpoint.with_name("evaluation.json").read_text())
    assert saved["iw_samples"] == 12 and [r["iw_samples"] for r in saved["iw_runs"]] == [5, 12]
    assert panel.rows[-1].results["iw_samples"] == 12 and cell(panel, 0, 3).endswith("(S=12)")
    assert read_run(checkpoint.parent).evaluation["iw_samples"] == 12  # what the report reads


def test_names_references_messages_and_bars_read_right(window, qtbot, checkpoint):
    """A renamed run showed as 'lr_0.01/model.pt', the reference labels were cut at 1024 px,
    'Evaluation cancelled.' outlived a change of model, and the bars started near 185."""
    (checkpoint.parent / "name.txt").write_text("my favourite run\n")
    window.resize(1024, 700)
    panel = window.evaluation
    window.tabs.setCurrentWidget(panel)
    panel.message.setText("Evaluation cancelled.")
    window.open_checkpoint(str(checkpoint))
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    assert panel.message.text() == ""
    assert panel._name(window.service.info).startswith("my favourite run (lr=")
    references = [panel.table.item(r, 0) for r in range(panel.table.rowCount())]
    for item in references:
        metrics = panel.table.fontMetrics()
        assert metrics.horizontalAdvance(item.text()) <= panel.table.columnWidth(0), item.text()
        assert "Tomczak" in item.toolTip()
    panel.add_result("a", {"neg_elbo": 188.0, "iw_nll": 185.0})
    low, high = panel.gap_plot.getPlotItem().getViewBox().viewRange()[1]
    assert low <= 0.0 and high >= 188.0


def test_a_long_evaluation_is_credited_to_the_model_it_evaluated(window, qtbot, checkpoint, tmp_path):
    """Run A's evaluation ends after the user has opened run B: its figures name A and go into
    A's evaluation.json, never B's."""
    import json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(checkpoint.parent, other)
    b_saved = (other / "evaluation.json").read_bytes() if (other / "evaluation.json").exists() else None
    panel = evaluate_shown_with(window, qtbot, checkpoint, 5000)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.progress.text().startswith("importance sampling"), timeout=60_000)
    window.open_checkpoint(str(other / "model.pt"))
    qtbot.waitUntil(lambda: window.service.info.checkpoint == str(other / "model.pt"), timeout=30_000)
    assert panel.progress.text().startswith("importance sampling"), "ended before B was shown"
    qtbot.waitUntil(lambda: panel.message.text().startswith("Evaluated"), timeout=240_000)
    row = next(r for r in panel.rows if r.results.get("iw_samples") == 5000)
    assert row.results["checkpoint"] == str(checkpoint) and row.name.startswith("ckpt (")
    assert json.loads(checkpoint.with_name("evaluation.json").read_text())["iw_samples"] == 5000
    after = (other / "evaluation.json").read_bytes() if (other / "evaluation.json").exists() else None
    assert after == b_saved


def test_a_model_that_cannot_be_loaded_for_evaluation_is_not_stood_in_for(
    window, qtbot, checkpoint, tmp_path
):
    """The evaluation worker loads the model shown when asked; if that fails (its file was
    deleted since), the model it held before must not be evaluated under the new one's name."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(checkpoint.parent, other)
    panel = window.evaluation
    panel.iw_samples.setValue(5)
    open_and_show(window, qtbot, checkpoint)
    held = []  # a job in the evaluation worker: it now holds the first model
    window.service.submit("evaluation", lambda ctx: ctx.checkpoint, held.append)
    qtbot.waitUntil(lambda: held == [str(checkpoint)], timeout=30_000)
    open_and_show(window, qtbot, other / "model.pt")
    window.tabs.setCurrentWidget(panel)
    assert panel.rows == []  # so Evaluate means the model shown
    shutil.rmtree(other)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.message.text().startswith("Evaluation failed"), timeout=60_000)
    assert "could not be loaded" in panel.message.text() and panel.rows == []


def test_evaluate_means_the_model_shown_once_another_is_opened(window, qtbot, checkpoint, tmp_path):
    """After A's row was evaluated (and selected), opening B, which has no saved evaluation, makes
    Evaluate evaluate B: A's row must not stay selected and pull A back into the window."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(checkpoint.parent, other)
    (other / "evaluation.json").unlink(missing_ok=True)
    panel = window.evaluation
    panel.fid.setChecked(False)
    panel.inception.setChecked(False)
    panel.iw_samples.setValue(4)
    open_and_show(window, qtbot, checkpoint)
    window.tabs.setCurrentWidget(panel)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.message.text().startswith("Evaluated"), timeout=60_000)
    assert len(panel.rows) == 1 and panel._selected() is panel.rows[0]
    open_and_show(window, qtbot, other / "model.pt")
    assert not panel.table.selectionModel().selectedRows()  # A's row no longer stands for Evaluate
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.message.text().startswith("Evaluated other"), timeout=60_000)
    assert window.service.info.checkpoint == str(other / "model.pt")
    assert [r.results["checkpoint"] for r in panel.rows] == [str(checkpoint), str(other / "model.pt")]
    # choosing A's row again evaluates A, and brings A into the window
    panel.table.selectRow(0)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: window.service.info.checkpoint == str(checkpoint), timeout=60_000)
    qtbot.waitUntil(lambda: panel.message.text().startswith("Evaluated ckpt"), timeout=60_000)


def test_a_saved_evaluation_naming_its_model_relatively_or_before_a_move_is_shown(
    window, qtbot, checkpoint, tmp_path
):
    """`train --out relrun` writes evaluation.json naming "relrun/model.pt"; a folder moved since
    names its old place. Opening that model.pt shows its saved figures; a saved evaluation of
    another epoch (an older best) is not shown as this model's."""
    import json
    import shutil

    from vae_explorer.core.checkpoint import checkpoint_epoch

    epoch = checkpoint_epoch(checkpoint)
    saved = {"checkpoint": "relrun/model.pt", "epoch": epoch, "images": 128, "neg_elbo": 123.25}
    moved = tmp_path / "moved"
    shutil.copytree(checkpoint.parent, moved)
    (moved / "evaluation.json").write_text(json.dumps(saved))
    panel = window.evaluation
    open_and_show(window, qtbot, moved / "model.pt")
    assert [r.results["checkpoint"] for r in panel.rows] == [str(moved / "model.pt")]
    assert panel.rows[0].results["neg_elbo"] == 123.25 and cell(panel, 0, 2) == "123.25"
    older = tmp_path / "older"
    shutil.copytree(checkpoint.parent, older)
    (older / "evaluation.json").write_text(json.dumps({**saved, "epoch": epoch + 5}))
    open_and_show(window, qtbot, older / "model.pt")
    assert [r.results["checkpoint"] for r in panel.rows] == [str(moved / "model.pt")]


def test_an_evaluation_of_a_held_run_folder_is_kept_and_saved_when_training_ends(window, qtbot, checkpoint):
    """A queue holds its runs' folders until it ends: evaluating a finished run of a queue still
    training said "being written by another process" and threw the figures away. They are kept
    and saved once the folder is free (tried every 5 s, and when the window's training ends)."""
    import json

    from vae_explorer.core.runlock import RunFolderLock

    panel = evaluate_shown_with(window, qtbot, checkpoint, 6)
    saved = checkpoint.with_name("evaluation.json")
    before = saved.read_bytes() if saved.exists() else None
    with RunFolderLock(checkpoint.parent):  # as the training queue holds it
        panel.evaluate_button.click()
        qtbot.waitUntil(lambda: panel.message.text().startswith("Evaluated"), timeout=60_000)
        message = panel.message.text()
        assert "Not saved yet" in message and "as soon as the folder is free" in message
        qtbot.wait(6000)  # a retry while the folder is still held saves nothing
        assert (saved.read_bytes() if saved.exists() else None) == before
    # freed: the next retry (every 5 s) saves it, with no click
    qtbot.waitUntil(lambda: panel.message.text().startswith("Saved in"), timeout=15_000)
    assert json.loads(saved.read_text())["iw_samples"] == 6 and not panel._retry.isActive()
