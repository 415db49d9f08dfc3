"""The Training tab's Progress box: every label gets the height its text needs."""

from __future__ import annotations

import pytest
from apphelpers import message_texts
from PySide6.QtWidgets import QGroupBox, QLabel

from vae_explorer.app.training_panel import WrappedLabel, format_duration

RESULT = "lr=0.003: max epochs after 4 epochs; test nll 169.59 nats (best model, epoch 4)."


def fill(panel) -> None:
    panel.run_label.setText("2 of 2: lr=0.003, adamax, batch 32")
    panel.epoch_label.setText("4 (max 4)")
    panel.best_label.setText("174.06 (epoch 4)")
    panel.speed_label.setText("1.1")
    panel.eta_label.setText("0:03")
    panel.result_label.setText(RESULT)


def progress_box(panel) -> QGroupBox:
    box = panel.epoch_label.parentWidget()
    assert isinstance(box, QGroupBox) and box.title() == "Progress"
    return box


@pytest.mark.parametrize("size", [(1280, 860), (1100, 750), (800, 600)])
def test_progress_labels_are_not_cut(window, qtbot, size):
    """The wrapped result line used to take its second line's height from the form rows above it,
    cutting "Epoch" and "(epoch 4)" to 11 of 14 pixels (their descenders gone)."""
    panel = window.training
    fill(panel)
    window.resize(*size)
    qtbot.wait(50)
    box = progress_box(panel)
    labels = [lab for lab in box.findChildren(QLabel) if lab.isVisible()]
    assert len(labels) == 14  # six rows of two, the plan and the result line
    for lab in labels:
        need = lab.heightForWidth(lab.width()) if lab.wordWrap() else lab.sizeHint().height()
        assert lab.height() >= need, (lab.text(), lab.height(), need, size)
        assert lab.height() >= lab.fontMetrics().height()
    assert panel.result_label.height() >= 2 * panel.result_label.fontMetrics().lineSpacing()  # two lines


def test_wrapped_label_minimum_height_follows_its_width(qtbot):
    label = WrappedLabel(RESULT)
    qtbot.addWidget(label)
    label.resize(600, 20)
    one_line = label.minimumSizeHint().height()
    label.resize(150, 20)
    assert label.minimumSizeHint().height() > one_line
    assert label.minimumSizeHint().height() == label.heightForWidth(150)


# -- run states: paused, failed, diverged --------------------------------------------------------


class Clock:
    """A stand-in for time.monotonic that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def panel(qtbot, monkeypatch):
    from apphelpers import tiny_config

    from vae_explorer.app import training_panel
    from vae_explorer.app.training_panel import TrainingPanel

    clock = Clock()
    monkeypatch.setattr(training_panel.time, "monotonic", clock)
    p = TrainingPanel()
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    configs = [tiny_config(epochs=5).with_lr(lr) for lr in (1e-3, 3e-3)]
    p.start_queue(configs)
    p.clock, p.configs = clock, configs
    return p


def status(panel, row: int) -> str:
    item = panel.table.item(row, 1)
    return item.text() if item else ""


def started(panel, run: int) -> None:
    from vae_explorer.core import events as ev

    config = panel.configs[run]
    panel.on_event(ev.RunStarted(run, config.train.lr, "cpu", 10, 1, config, None))


def test_pause_is_shown_until_resumed_and_left_out_of_the_eta(panel):
    """Paused, the row still said 'running', the label 'Training…' and the ETA froze; after
    resuming, the ETA counted the pause as time the epoch had taken."""
    from vae_explorer.core import events as ev

    started(panel, 0)
    panel.clock.now += 2.0
    panel.on_event(ev.BatchProgress(0, 1, 2, 10))
    assert panel.eta_label.text() == "0:08"  # 1 s a batch, 8 batches left
    panel.set_paused(True)
    assert panel.eta_label.text() == "paused"
    assert "paused" in panel.result_label.text().lower() and "paused" in panel.progress.text()
    panel.clock.now += 300.0
    panel.on_event(ev.BatchProgress(0, 1, 3, 10))  # the batch under way when Pause was pressed
    panel.on_event(ev.StatusChanged(0, ev.RunStatus.PAUSED))  # the engine reached its pause
    assert status(panel, 0) == "paused" and panel.eta_label.text() == "paused"
    panel.set_paused(False)
    panel.on_event(ev.StatusChanged(0, ev.RunStatus.RUNNING))
    assert status(panel, 0) == "running" and panel.result_label.text() == "Training…"
    assert "paused" not in panel.progress.text()
    panel.clock.now += 2.0
    panel.on_event(ev.BatchProgress(0, 1, 4, 10))
    assert panel.eta_label.text() == "0:06"  # 4 s of training for 4 batches; the 300 s paused left out
    # a pause across the queue's next run: the new run starts paused
    panel.set_paused(True)
    panel.on_event(ev.RunFinished(0, ev.STOP_MAX_EPOCHS, 5, 5, 100.0, 99.0, "/x/model.pt"))
    started(panel, 1)
    panel.on_event(ev.StatusChanged(1, ev.RunStatus.PAUSED))
    assert status(panel, 0) == "done" and status(panel, 1) == "paused"
    assert panel.result_label.text().startswith("Paused")
    panel.on_event(ev.QueueFinished(stopped=True, best=0))
    assert status(panel, 1) == "stopped" and panel.eta_label.text() == "–"
    assert not panel.paused and "paused" not in panel.progress.text()


def test_a_failed_start_marks_the_runs_failed_and_resets_the_progress(panel):
    """The queue failed while loading data: the rows said 'not run' and the Progress box kept
    'Loading data…' with a full bar."""
    from vae_explorer.core import events as ev

    assert panel.result_label.text() == "Loading data…"
    panel.on_event(
        ev.QueueFinished(
            stopped=False,
            best=None,
            failure="missing data file: expected /x/MNIST/raw/train-images-idx3-ubyte.gz",
        )
    )
    assert [status(panel, r) for r in range(2)] == ["failed", "failed"]  # both needed that data
    assert panel.table.item(0, 5).text() == "error"
    assert panel.progress.value() == 0 and panel.progress.text() == "failed"
    assert (
        panel.result_label.text() == "Training failed: missing data file: expected "
        "/x/MNIST/raw/train-images-idx3-ubyte.gz"
    )


def test_a_run_that_fails_midway_is_failed_and_the_rest_not_run(panel):
    from vae_explorer.core import events as ev

    started(panel, 0)
    panel.on_event(ev.BatchProgress(0, 1, 5, 10))
    panel.on_event(ev.RunFailed(0, "RuntimeError: boom"))
    panel.on_event(ev.QueueFinished(stopped=False, best=None, failure="RuntimeError: boom"))
    assert [status(panel, r) for r in range(2)] == ["failed", "not run"]
    assert panel.records[0].message == "RuntimeError: boom"
    assert panel.progress.value() == 0


def test_a_first_epoch_divergence_says_there_is_no_checkpoint(panel):
    from vae_explorer.core import events as ev

    started(panel, 0)
    panel.on_event(ev.RunFinished(0, ev.STOP_DIVERGED, 0, 0, float("inf"), None, None))
    assert status(panel, 0) == "diverged"
    assert panel.diverged == [("lr=0.001", False)]
    assert "no checkpoint" in panel.result_label.text() and "best model" not in panel.result_label.text()
    assert len(panel.plot.runs[0].end_marker.getData()[0] or []) == 0  # no cross at nll = 0
    panel.on_event(ev.QueueFinished(stopped=False, best=None))
    assert panel.result_label.text().lower().count("diverged") == 1  # said once, not twice


def test_a_divergence_before_the_last_run_is_still_named_at_the_end(panel):
    from vae_explorer.core import events as ev

    started(panel, 0)
    panel.on_event(ev.EpochEnd(0, 1, 300.0, 250.0, 1.5, 250.0, 1))
    panel.on_event(ev.RunFinished(0, ev.STOP_DIVERGED, 1, 1, 250.0, 240.0, "/x/model.pt"))
    started(panel, 1)
    panel.on_event(ev.EpochEnd(1, 1, 300.0, 200.0, 1.5, 200.0, 1))
    panel.on_event(ev.RunFinished(1, ev.STOP_MAX_EPOCHS, 1, 1, 200.0, 190.0, "/y/model.pt"))
    panel.on_event(ev.QueueFinished(stopped=False, best=1))
    text = panel.result_label.text()
    assert text.startswith("lr=0.003: max epochs") and text.count("diverged") == 1
    assert "Also diverged (non-finite loss): lr=0.001 (best checkpoint kept)." in text


def test_a_new_run_clears_the_previous_runs_progress(panel):
    """After a diverged run, the Progress box showed the previous run's best nll and seconds per
    epoch beside 'Run 2 of 2'."""
    from vae_explorer.core import events as ev

    started(panel, 0)
    panel.on_event(ev.EpochEnd(0, 1, 300.0, 250.0, 1.5, 250.0, 1))
    assert panel.best_label.text().startswith("250.00") and panel.speed_label.text() == "1.5"
    panel.on_event(ev.RunFinished(0, ev.STOP_DIVERGED, 1, 1, 250.0, 240.0, "/x/model.pt"))
    started(panel, 1)
    assert panel.run_label.text().startswith("2 of 2")
    assert panel.best_label.text() == "–" and panel.speed_label.text() == "–"


def test_a_stop_before_the_first_run_says_so(panel):
    from vae_explorer.core import events as ev

    panel.on_event(ev.QueueFinished(stopped=True, best=None))
    assert [status(panel, r) for r in range(2)] == ["not run", "not run"]
    assert panel.result_label.text() == "Stopped before the first run."


def test_the_bar_shows_the_epoch_again_after_the_evaluation(panel):
    from vae_explorer.core import events as ev

    started(panel, 0)
    panel.on_event(ev.BatchProgress(0, 1, 10, 10))
    panel.on_event(ev.EvaluationProgress(0, "importance sampling", 300, 1000))
    assert panel.progress.text().startswith("evaluating the best model: importance sampling")
    panel.on_event(ev.Evaluated(0, {"neg_elbo": 100.0}))
    assert panel.progress.text() == "batch 10 / 10"


def test_a_gaussian_models_curve_says_its_nll_is_continuous(panel):
    from dataclasses import replace

    left = panel.plot.plot.getAxis("left")
    assert left.labelText == "nll (nats)"
    gaussian = [replace(c, model=replace(c.model, likelihood="gaussian")) for c in panel.configs]
    panel.start_queue(gaussian)
    assert "continuous" in left.labelText and "not comparable with binarised" in left.labelText
    panel.plot.set_log_y(True)
    assert left.labelText.endswith("log scale") and "continuous" in left.labelText
    panel.plot.set_log_y(False)
    panel.start_queue(panel.configs)
    assert left.labelText == "nll (nats)"


def test_the_queue_eta_bounds_the_time_left_and_the_plan_says_what_start_does(panel):
    from vae_explorer.app.settings import TrainingSettings
    from vae_explorer.core import events as ev

    started(panel, 0)  # two runs of at most 5 epochs
    panel.clock.now += 2.0  # an epoch's wall time, its validation included
    panel.on_event(ev.EpochEnd(0, 1, 300.0, 250.0, 1.5, 250.0, 1))
    assert panel.queue_eta_label.text() == "at most 0:18"  # 4 + 5 epochs of 2 s
    plan = TrainingSettings(lrs=(1e-3, 1e-2)).plan("the CPU")
    assert plan.startswith("Start trains 2 runs (lr 0.001, 0.01)")
    assert "50,000/10,000/10,000" in plan and "up to 1,000 epochs" in plan and "the CPU" in plan
    assert "the recommended preset" in TrainingSettings().plan("the GPU")


def test_the_curves_save_as_csv_and_an_unwritable_path_says_why(panel, tmp_path, monkeypatch):
    from vae_explorer.core import events as ev

    started(panel, 0)
    panel.on_event(ev.EpochEnd(0, 1, 300.0, 250.0, 2.0, 250.0, 1))
    out = panel.save_curves_csv(str(tmp_path / "curves.csv"))
    assert out.read_text().splitlines()[1].startswith("lr=0.001,1,0.0333,300.0,250.0")
    errors = message_texts(monkeypatch)
    assert panel.save_curves_csv(str(tmp_path / "absent" / "curves.csv")) is None
    assert errors and "Cannot write" in errors[0]


@pytest.mark.parametrize(
    ("step", "shown"),
    [
        (
            ("CUDA graph", "captured in 0.41 s; the last, smaller batch runs eagerly", True),
            "CUDA-graph steps",
        ),
        (("eager", "the CUDA graph capture failed: RuntimeError: x", True), "eager steps"),
        (("eager", "on the CPU each parameter is updated inside backward", False), None),
    ],
)
def test_the_progress_box_says_how_a_gpu_run_steps(panel, step, shown):
    from vae_explorer.core import events as ev

    started(panel, 0)
    before = panel.run_label.text()
    panel.on_event(ev.StepChosen(0, *step))
    if shown is None:  # a CPU run: always eager, nothing added
        assert panel.run_label.text() == before
    else:
        assert panel.run_label.text() == f"{before}; {shown}"
    assert panel.run_label.toolTip() == f"Training step: {step[0]} ({step[1]})"


def test_the_progress_never_contradicts_itself(panel):
    """The queue's bound was below the epoch's own ETA, a stopped epoch read 'batch 10 / 10' after
    its evaluation, and a run that diverged at once kept 'Epoch 1 (max 5)'."""
    from vae_explorer.core import events as ev

    started(panel, 0)
    for batch in range(1, 10):
        panel.clock.now += 1.5
        panel.on_event(ev.BatchProgress(0, 1, batch, 10))
        epoch_left = (10 - batch) * 1.5
        queue = panel.queue_eta_label.text().removeprefix("at most ").split(":")
        assert int(queue[0]) * 60 + int(queue[1]) >= round(epoch_left)
    panel.clock.now += 20.0  # the last batch and the validation
    panel.on_event(ev.EpochEnd(0, 1, 300.0, 290.0, 14.0, 290.0, 1))
    # 4 epochs of this run at 33.5 s (its wall time), then 5 of the next
    assert panel.queue_eta_label.text() == f"at most {format_duration(9 * 33.5)}"
    panel.clock.now += 3.0
    panel.on_event(ev.BatchProgress(0, 2, 4, 10))
    panel.on_event(ev.RunFinished(0, ev.STOP_USER, 1, 1, 290.0, 280.0, "/x/model.pt"))
    panel.on_event(ev.Evaluated(0, {"neg_elbo": 280.0}))
    assert panel.progress.text() == "stopped at batch 4 / 10"
    assert panel.epoch_label.text() == "1 completed (max 5)" and panel.eta_label.text() == "–"
    started(panel, 1)
    panel.on_event(ev.BatchProgress(1, 1, 1, 10))
    panel.on_event(ev.RunFinished(1, ev.STOP_DIVERGED, 0, 0, float("inf"), None, None))
    assert panel.epoch_label.text() == "0 completed; diverged in epoch 1 (max 5)"
