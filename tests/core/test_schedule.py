"""Learning-rate schedules, validation every k epochs and a throttled last.pt: the factors against
their closed forms, the rate the optimiser really uses, and exact resumes with each schedule."""

from __future__ import annotations

import math

import pytest
import torch

from vae_explorer.core import events as ev
from vae_explorer.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.schedule import FLOOR, PLATEAU_PATIENCE, Plateau, cosine_factor
from vae_explorer.core.trainer import Trainer

SMALL = ModelConfig(hidden=32, latent_dim=4, components=3)


def config(**train) -> RunConfig:
    return RunConfig(DataConfig(), SMALL, TrainConfig(**{"epochs": 4, **train}))


def test_cosine_factor_against_its_closed_form():
    steps, epochs, warm = 10, 6, 2
    # the warm-up rises linearly, reaching 1 at its last step
    assert [cosine_factor(s, steps, epochs, warm) for s in (0, 9, 19)] == pytest.approx([0.05, 0.5, 1.0])
    # then 1 at the start of the decay, (1 + FLOOR) / 2 halfway, FLOOR at the end and beyond
    assert cosine_factor(20, steps, epochs, warm) == pytest.approx(1.0)
    assert cosine_factor(40, steps, epochs, warm) == pytest.approx((1 + FLOOR) / 2)
    assert cosine_factor(60, steps, epochs, warm) == pytest.approx(FLOOR)
    assert cosine_factor(90, steps, epochs, warm) == pytest.approx(FLOOR)
    s = 33  # anywhere: FLOOR + (1 - FLOOR) (1 + cos(pi t)) / 2 with t the decay's progress
    t = (s - 20) / 40
    assert cosine_factor(s, steps, epochs, warm) == pytest.approx(
        FLOOR + (1 - FLOOR) * (1 + math.cos(math.pi * t)) / 2
    )


def test_plateau_halves_after_its_patience_and_stops_at_the_floor():
    p = Plateau()
    for _ in range(PLATEAU_PATIENCE - 1):
        p.after_validation(False, 1)
    assert p.factor == 1.0
    p.after_validation(False, 1)
    assert p.factor == 0.5 and p.stale == 0
    p.after_validation(True, 1)
    p.after_validation(False, PLATEAU_PATIENCE)
    assert p.factor == 0.25
    for _ in range(100):
        p.after_validation(False, PLATEAU_PATIENCE)
    assert p.factor == FLOOR


def test_the_optimiser_takes_the_scheduled_rate(tiny_splits):
    t = Trainer(config(schedule="cosine", warmup_epochs=1, lr=2e-3, epochs=3), tiny_splits)
    rates = []
    step = t.train_step

    def recording(x):
        loss = step(x)
        rates.append(t.optimizer.param_groups[0]["lr"])
        return loss

    t.train_step = recording
    t.run()
    per_epoch = len(t.batches)
    expected = [2e-3 * cosine_factor(s, per_epoch, 3, 1) for s in range(3 * per_epoch)]
    assert rates == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "train", [{"schedule": "cosine", "warmup_epochs": 1}, {"schedule": "plateau", "patience": 50}]
)
def test_a_resumed_run_continues_exactly(train, tiny_splits, tmp_path):
    whole = Trainer(config(epochs=6, **train), tiny_splits, tmp_path / "whole")
    whole.run()
    part = Trainer(config(epochs=6, **train), tiny_splits, tmp_path / "part")

    def stop_after_three(event):  # as a kill after epoch 3 would leave it: last.pt of epoch 3
        if isinstance(event, ev.EpochEnd) and event.epoch == 3:
            part.stop()

    part.on_event = lambda e, chained=part.on_event: (chained(e), stop_after_three(e))
    part.run()
    assert [h["epoch"] for h in part.history] == [1, 2, 3]
    resumed = Trainer(
        config(epochs=6, **train), tiny_splits, tmp_path / "part", resume_from=tmp_path / "part" / "last.pt"
    )
    resumed.run()
    assert [h["val_nll"] for h in resumed.history] == [h["val_nll"] for h in whole.history]
    assert resumed.plateau == whole.plateau


def test_plateau_state_goes_into_last_pt(tiny_splits, tmp_path):
    t = Trainer(config(schedule="plateau", epochs=2), tiny_splits, tmp_path)
    t.plateau = Plateau(0.25, 3)
    t.run()
    from vae_explorer.core.checkpoint import read_checkpoint

    metrics = read_checkpoint(tmp_path / "last.pt")["metrics"]
    assert (metrics["lr_factor"], metrics["plateau_stale"]) == (t.plateau.factor, t.plateau.stale)


def test_validation_every_k_epochs(tiny_splits):
    events = []
    t = Trainer(config(epochs=7, val_every=3, patience=100), tiny_splits, on_event=events.append)
    done = t.run()
    ends = [e for e in events if isinstance(e, ev.EpochEnd)]
    assert [e.epoch for e in ends] == [3, 6, 7]  # and always the last epoch
    assert [e.epoch for e in events if isinstance(e, ev.TrainingState)] == [3, 6, 7]
    assert done.epochs == 7 and all(e.seconds > 0 for e in ends)
    assert t.best_epoch in (3, 6, 7)


def test_early_stopping_counts_epochs_not_validations(tiny_splits):
    t = Trainer(config(epochs=30, val_every=2, patience=4, lr=1e-9), tiny_splits)  # barely learns
    t.best_val = -math.inf  # nothing ever improves on this
    done = t.run()
    assert done.reason == ev.STOP_EARLY and done.epochs == 4  # two validations of 2 epochs each


def test_last_pt_is_throttled_but_the_final_state_is_written(tiny_splits):
    events = []
    t = Trainer(config(epochs=4, checkpoint_seconds=3600), tiny_splits, on_event=events.append)
    t.best_val = -math.inf  # no epoch improves on this: the first state (due) and the last
    t.run()
    assert [e.epoch for e in events if isinstance(e, ev.TrainingState)] == [1, 4]


class Killed(Exception):
    """The process dying at this point: nothing after it is written."""


@pytest.mark.parametrize(
    "when", ["after model.pt", "between last.pt and model.pt", "last.pt cannot be written"]
)
def test_a_throttled_run_killed_after_a_new_best_resumes_exactly(when, tiny_splits, tmp_path):
    """With last.pt throttled, an improved epoch still writes it, before model.pt. A kill at either
    point, or a last.pt that cannot be written (model.pt is still tried), leaves a folder that
    resumes from last.pt; model.pt is brought up to last.pt's best, or kept when it is later; and
    the resumed run ends with the uninterrupted run's numbers and best model.pt."""
    from vae_explorer.core.checkpoint import checkpoint_epoch, read_checkpoint

    train = {"epochs": 5, "checkpoint_seconds": 3600}
    events = []
    whole = Trainer(config(**train), tiny_splits, tmp_path / "whole", on_event=events.append)
    whole.run()
    order = [(type(e).__name__, e.epoch) for e in events if isinstance(e, (ev.TrainingState, ev.NewBest))]
    bests = [epoch for kind, epoch in order if kind == "NewBest"]
    for epoch in bests:  # each new best's state comes first
        assert order[order.index(("NewBest", epoch)) - 1] == ("TrainingState", epoch)
    kill_at = bests[1]  # a new best after the first epoch, between throttled writes

    part = Trainer(config(**train), tiny_splits, tmp_path / "part")
    kind = ev.TrainingState if when == "last.pt cannot be written" else ev.NewBest

    def kill(event):
        if isinstance(event, kind) and event.epoch == kill_at:
            raise Killed

    writer = part.on_event
    if when == "after model.pt":
        part.on_event = lambda e: (writer(e), kill(e))
    else:
        part.on_event = lambda e: (kill(e), writer(e))
    with pytest.raises(Killed):
        part.run()
    folder = tmp_path / "part"
    last_epoch = bests[0] if when == "last.pt cannot be written" else kill_at
    assert checkpoint_epoch(folder / "last.pt") == last_epoch
    assert checkpoint_epoch(folder / "model.pt") == (bests[0] if when.startswith("between") else kill_at)

    resumed = Trainer(config(**train), tiny_splits, folder, resume_from=folder / "last.pt")
    held = []
    chained = resumed.on_event
    resumed.on_event = lambda e: (
        chained(e),
        held.append(checkpoint_epoch(folder / "model.pt")) if isinstance(e, ev.RunStarted) else None,
    )
    resumed.run()
    assert held == [kill_at]  # brought up to last.pt's best, or the later one kept
    assert [h["val_nll"] for h in resumed.history] == [h["val_nll"] for h in whole.history]
    best, reference = read_checkpoint(folder / "model.pt"), read_checkpoint(tmp_path / "whole" / "model.pt")
    assert best["metrics"]["epoch"] == reference["metrics"]["epoch"] == whole.best_epoch
    assert all(torch.equal(best["model"][k], reference["model"][k]) for k in reference["model"])


@pytest.mark.parametrize(
    "train",
    [
        {"schedule": "linear"},
        {"warmup_epochs": 2},
        {"val_every": 0},
        {"checkpoint_seconds": -1},
        {"checkpoint_seconds": True},
    ],
)
def test_impossible_schedule_settings(train):
    with pytest.raises(ConfigError):
        config(**train).validate()


def test_the_fast_preset_from_the_cli_and_its_settings(tmp_path):
    from vae_explorer.cli import main
    from vae_explorer.core.config import PRESETS, apply_preset, preset_of
    from vae_explorer.core.runs import read_run

    fast = apply_preset("fast", RunConfig())
    assert preset_of(fast) == "fast"
    assert (fast.train.batch_size, fast.train.schedule, fast.train.prior_init) == (256, "cosine", "kmeans")
    assert fast.model == apply_preset("recommended", RunConfig()).model
    tiny = ["--limit-train", "600", "--limit-val", "100", "--limit-test", "100", "--eval-budget", "0"]
    out = tmp_path / "run"
    assert (
        main(["train", "--preset", "fast", "--epochs", "3", "--hidden", "32", *tiny, "--out", str(out)]) == 0
    )
    config = read_run(out).config
    assert config.train == fast.train.__class__(
        **{**PRESETS["fast"]["train"], "epochs": 3, "seed": 0, "device": "auto"}
    )


@pytest.mark.parametrize("warmup", [4, 9])
def test_a_warm_up_as_long_as_the_run_is_refused_for_a_new_run_only(warmup, tmp_path):
    """The rate would never reach the one set: refused when a run is asked for (train, the
    settings dialog, a new sweep), but a run saved before the rule (`--preset fast --epochs 2`
    was accepted) still opens, samples and evaluates."""
    from vae_explorer.core.config import check_new_run
    from vae_explorer.core.runs import read_run
    from vae_explorer.core.trainer import Trainer

    cfg = config(schedule="cosine", warmup_epochs=warmup)  # 4 epochs
    cfg.validate()  # a saved run's settings: readable
    with pytest.raises(ConfigError, match="must be shorter than the run"):
        check_new_run(cfg)
    with pytest.raises(ConfigError, match="must be shorter than the run"):
        check_new_run(config(schedule="cosine", warmup_epochs=warmup, epochs=warmup))
    check_new_run(config(schedule="cosine", warmup_epochs=3))
    from dataclasses import replace

    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.config import DataConfig
    from vae_explorer.core.data import load_splits

    small = replace(cfg, data=DataConfig(limit_train=64, limit_val=32, limit_test=32))
    small = replace(small, train=replace(small.train, epochs=1, warmup_epochs=1))
    Trainer(small, load_splits(small.data), tmp_path / "old").run()  # as the old code trained it
    run = read_run(tmp_path / "old")
    assert run.readable and run.config.train.warmup_epochs == run.config.train.epochs == 1
    load_checkpoint(tmp_path / "old" / "model.pt")
