"""The run engine: folder layout, run records and statuses, the event stream, failures, and that
no run draws from (or disturbs) the global random state."""

from __future__ import annotations

import csv
import math
import threading
from dataclasses import replace

import pytest
import torch

from vae_explorer import figures
from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import read_checkpoint
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.data import DataError
from vae_explorer.core.events import RunStatus
from vae_explorer.core.session import RunRecord, Session, best_run, lr_dirname, route, run_dirs

SMALL = ModelConfig(hidden=32, latent_dim=4, components=3)


def config(**train) -> RunConfig:
    return RunConfig(
        DataConfig(limit_train=256, limit_val=128, limit_test=128),
        SMALL,
        TrainConfig(**{"epochs": 2, "device": "cpu", **train}),
    )


@pytest.fixture
def splits(tiny_splits):
    return replace(
        tiny_splits,
        train_images=tiny_splits.train_images[:256],
        val_images=tiny_splits.val_images[:128],
        test_images=tiny_splits.test_images[:128],
    )


def test_one_run_writes_into_the_folder_several_into_lr_folders(tmp_path):
    one, two = [config()], [config(lr=1e-3), config(lr=2e-3)]
    assert run_dirs(tmp_path, one) == [tmp_path]
    assert run_dirs(tmp_path, two) == [tmp_path / "lr_0.001", tmp_path / "lr_0.002"]
    assert run_dirs(None, two) == [None, None]
    assert lr_dirname(0.0010000001) == "lr_0.0010000001"


def test_a_queue_with_a_diverging_rate(splits, tmp_path):
    events = []
    configs = [config(optimizer="sgd", lr=1e6), config(lr=1e-3)]
    session = Session(
        configs,
        tmp_path,
        events.append,
        splits=splits,
        figures=figures.write_run_figures,
        compare=figures.write_comparison,
    )
    records = session.run()
    assert session.error is None
    assert [r.status for r in records] == [RunStatus.DIVERGED, RunStatus.DONE]
    assert records[0].checkpoint is None and records[1].checkpoint == str(tmp_path / "lr_0.001" / "model.pt")
    assert best_run(records) == 1
    assert isinstance(events[0], ev.QueueStarted) and isinstance(events[-1], ev.QueueFinished)
    assert events[-1].best == 1 and not events[-1].stopped and events[-1].failure is None
    assert all(e.run in (0, 1) for e in events[1:-1])
    # the overlaid curves beside the run folders, and the course's figures in the good run's folder
    assert {p.rsplit("/", 1)[-1] for p in events[-1].written} == {"nll_val_curves.png", "nll_val_curves.pdf"}
    for name in figures.RUN_FIGURES:
        assert (tmp_path / "lr_0.001" / f"{name}.png").stat().st_size > 0
    assert not (tmp_path / "lr_1e+06" / "model.pt").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    # a front end's mirror of the records, kept by applying the same events, agrees
    mirror = [RunRecord(i, c) for i, c in enumerate(configs)]
    for event in events:
        route(mirror, event)
    for mine, theirs in zip(mirror, records):
        assert (mine.status, mine.epochs, mine.history, mine.test_nll, mine.checkpoint) == (
            theirs.status,
            theirs.epochs,
            theirs.history,
            theirs.test_nll,
            theirs.checkpoint,
        )


def test_the_writer_keeps_what_the_events_carry(splits, tmp_path):
    events = []
    records = Session([config(epochs=3)], tmp_path, events.append, splits=splits).run()
    best = [e for e in events if isinstance(e, ev.NewBest)][-1]
    saved = read_checkpoint(tmp_path / "model.pt")
    for name, value in best.weights.items():
        assert torch.equal(saved["model"][name], value)
    assert saved["metrics"]["epoch"] == best.epoch == records[0].best_epoch
    last = read_checkpoint(tmp_path / "last.pt")
    assert last["metrics"]["epoch"] == 3 and "optimizer" in last and "train-cpu" in last["rng"]
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["val_nll"]) for r in rows] == [h["val_nll"] for h in records[0].history]
    assert float((tmp_path / "test_loss.txt").read_text()) == pytest.approx(records[0].test_nll, abs=1e-4)
    assert RunConfig.from_json((tmp_path / "config.json").read_text()) == records[0].config


def test_stop_ends_the_queue_and_later_runs_are_not_run(splits):
    events = []
    session = Session([config(epochs=50), config(epochs=50, lr=2e-3)], None, None, splits=splits)

    def on_event(event):
        events.append(event)
        if isinstance(event, ev.EpochEnd) and event.epoch == 2:
            session.stop()

    session.on_event = on_event
    records = session.run()
    assert [r.status for r in records] == [RunStatus.STOPPED, RunStatus.NOT_RUN]
    assert records[0].epochs == 2 and math.isfinite(records[0].test_nll)
    assert events[-1].stopped and events[-1].best == 0


def test_pause_is_reported_by_the_loop(splits):
    events = []
    session = Session([config(epochs=1)], None, None, splits=splits)

    def on_event(event):
        events.append(event)
        if isinstance(event, ev.RunStarted):  # pause before the first batch, resume from a timer
            session.pause()
            threading.Timer(0.3, session.resume).start()

    session.on_event = on_event
    session.run()
    changes = [e.status for e in events if isinstance(e, ev.StatusChanged)]
    assert changes[:2] == [RunStatus.PAUSED, RunStatus.RUNNING]


def test_missing_data_fails_the_queue_with_one_line(tmp_path):
    events = []
    bad = replace(config(), data=DataConfig(root=str(tmp_path / "nowhere")))
    session = Session([bad, bad.with_lr(2e-3)], tmp_path / "out", events.append)
    records = session.run()
    assert isinstance(session.error, DataError)
    assert [r.status for r in records] == [RunStatus.FAILED, RunStatus.FAILED]  # both needed that data
    assert events[-1].failure and "\n" not in events[-1].failure and "nowhere" in events[-1].failure


def test_a_session_leaves_the_global_random_state_alone(splits, tmp_path):
    """Every draw of a run comes from its own generators: training in one thread cannot move the
    numbers of a panel job in another, nor the other way round."""
    state = torch.get_rng_state()
    Session([config()], tmp_path, splits=splits, figures=figures.write_run_figures).run()
    assert torch.equal(torch.get_rng_state(), state)
    first = (tmp_path / "metrics.csv").read_text().splitlines()
    torch.manual_seed(1234)  # the global state must not matter either
    Session([config()], tmp_path / "again", splits=splits).run()
    again = (tmp_path / "again" / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[:3] for line in first] == [line.split(",")[:3] for line in again]
