"""The training loop: learning, events, early stopping, stop/pause, divergence, checkpoints."""

import math
import threading
import time

import pytest
import torch

from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from vae_explorer.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.control import RunControl
from vae_explorer.core.device import resolve_device
from vae_explorer.core.model import VAE
from vae_explorer.core.trainer import Trainer

SMALL = ModelConfig(hidden=64, latent_dim=8, components=4)


def config(**train) -> RunConfig:
    return RunConfig(DataConfig(), SMALL, TrainConfig(**{"epochs": 3, **train}))


def patch_scores(monkeypatch, trainer_mod, scores) -> None:
    """The run's validation nlls (its validation pass) and then its test nll, from `scores`."""
    monkeypatch.setattr(
        trainer_mod,
        "elbo_terms",
        lambda model, data: {"neg_elbo": next(scores), "reconstruction": math.nan, "kl": math.nan},
    )
    monkeypatch.setattr(trainer_mod, "negative_elbo", lambda model, data: next(scores))


def test_a_tiny_run_lowers_the_validation_nll(tiny_splits, tmp_path):
    events = []
    done = Trainer(config(epochs=3), tiny_splits, tmp_path, events.append).run()
    states = [e for e in events if isinstance(e, ev.TrainingState)]
    assert [s.epoch for s in states] == [1, 2, 3]  # the writer's last.pt after every epoch
    events = [e for e in events if not isinstance(e, ev.TrainingState)]
    vals = [e.val_nll for e in events if isinstance(e, ev.EpochEnd)]
    assert len(vals) == 3 and vals[-1] < vals[0] - 5
    assert done.reason == ev.STOP_MAX_EPOCHS and done.epochs == 3
    assert done.test_nll is not None and math.isfinite(done.test_nll)
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["RunStarted", "StepChosen"] and kinds[-1] == "RunFinished"
    assert kinds.count("RunStarted") == 1 and kinds.count("RunFinished") == 1
    assert kinds.count("StepChosen") == 1
    # within each epoch: BatchProgress 1..total, then EpochEnd, then NewBest exactly when it improved
    total = events[0].batches_per_epoch
    epoch_ends = [i for i, e in enumerate(events) if isinstance(e, ev.EpochEnd)]
    start = 2
    for end in epoch_ends:
        epoch, progress = events[end].epoch, events[start:end]
        assert progress and all(isinstance(e, ev.BatchProgress) and e.epoch == epoch for e in progress)
        batches = [e.batch for e in progress]
        assert batches == sorted(batches) and batches[-1] == total
        improved = events[end].best_epoch == events[end].epoch
        assert isinstance(events[end + 1], ev.NewBest) == improved
        start = end + 1 + improved
    assert start == len(events) - 1
    for name in ("config.json", "metrics.csv", "model.pt", "last.pt", "test_loss.txt"):
        assert (tmp_path / name).is_file()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,val_nll,seconds,val_recon,val_kl" and len(lines) == 4
    assert float((tmp_path / "test_loss.txt").read_text()) == pytest.approx(done.test_nll, abs=1e-3)


def test_early_stopping_keeps_the_best_model(tiny_splits, tmp_path, monkeypatch):
    import vae_explorer.core.trainer as trainer_mod

    scores = iter([150.0, 140.0, 145.0, 146.0, 147.0, 100.0])
    # five validation scores, then the test score of the best model
    patch_scores(monkeypatch, trainer_mod, scores)
    t = Trainer(config(epochs=10, patience=3), tiny_splits, tmp_path)
    done = t.run()
    assert done.reason == ev.STOP_EARLY and done.epochs == 5 and done.best_epoch == 2
    assert read_checkpoint(tmp_path / "model.pt")["metrics"]["epoch"] == 2


def test_stop_from_another_thread(tiny_splits):
    events = []
    t = Trainer(config(epochs=1000), tiny_splits, None, events.append)

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.EpochEnd) and e.epoch == 2:
            threading.Thread(target=t.stop).start()

    t.on_event = on_event
    done = t.run()
    assert done.reason == ev.STOP_USER and done.epochs in (2, 3)
    assert done.test_nll is not None


def test_stop_mid_epoch_from_a_timer_thread(tiny_splits, tmp_path):
    t = Trainer(config(epochs=1000), tiny_splits, tmp_path)

    def on_event(e):
        if isinstance(e, ev.BatchProgress) and e.batch == 3:
            timer = threading.Timer(0.01, t.stop)
            timer.start()
            timer.join()  # the stop request lands before the next batch

    t.on_event = on_event
    done = t.run()
    assert done.reason == ev.STOP_USER and done.epochs == 0 and not t.history
    assert done.test_nll is None and done.checkpoint is None and not (tmp_path / "model.pt").exists()


def test_pause_blocks_and_resume_continues(tiny_splits):
    t = Trainer(config(epochs=2), tiny_splits)
    t.pause()
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("done", t.run()))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and not t.history  # paused before the first batch
    t.resume()
    worker.join(60)
    assert not worker.is_alive() and result["done"].epochs == 2


def test_time_spent_paused_is_not_training_time(tiny_splits):
    t = Trainer(config(epochs=1), tiny_splits)
    paused = threading.Event()

    def on_event(event):
        if isinstance(event, ev.BatchProgress) and not paused.is_set():
            t.pause()  # from within the epoch, as the GUI's Pause button does
            paused.set()

    t.on_event = on_event
    worker = threading.Thread(target=t.run)
    started = time.perf_counter()
    worker.start()
    assert paused.wait(60)
    time.sleep(1.5)
    t.resume()
    worker.join(60)
    wall = time.perf_counter() - started
    assert wall > 1.5 and t.history[0]["seconds"] < wall - 1.4


def test_divergence_ends_the_run_and_keeps_the_best_checkpoint(tiny_splits, tmp_path, monkeypatch):
    events = []
    t = Trainer(config(epochs=5), tiny_splits, tmp_path, events.append)
    real_forward = VAE.forward

    def forward(self, x, generator, reduction="mean", kl_weight=1.0, eps=None):
        out = real_forward(self, x, generator, reduction, kl_weight, eps)
        return out * float("nan") if len(t.history) >= 1 and self.training else out

    monkeypatch.setattr(VAE, "forward", forward)
    done = t.run()
    assert done.reason == ev.STOP_DIVERGED and done.best_epoch == 1
    model, _, payload = load_checkpoint(tmp_path / "model.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert payload["metrics"]["epoch"] == 1 and math.isfinite(done.test_nll)


def test_real_divergence_before_any_epoch(tiny_splits, tmp_path):
    events = []
    done = Trainer(config(optimizer="sgd", lr=1e6), tiny_splits, tmp_path, events.append).run()
    assert done.reason == ev.STOP_DIVERGED and done.epochs == 0 and done.test_nll is None
    assert isinstance(events[-1], ev.RunFinished) and not any(isinstance(e, ev.NewBest) for e in events)
    assert not (tmp_path / "model.pt").exists()


def test_checkpoint_round_trip_and_resume(tiny_splits, tmp_path):
    first = Trainer(config(epochs=2), tiny_splits, tmp_path)
    first.run()
    model, cfg, _payload = load_checkpoint(tmp_path / "model.pt")
    assert cfg == first.config
    x = torch.bernoulli(torch.full((4, 784), 0.2), generator=torch.Generator().manual_seed(1))
    a = model(x, torch.Generator().manual_seed(0), reduction="none")
    b = first.model.eval()(x, torch.Generator().manual_seed(0), reduction="none")
    torch.testing.assert_close(a, b)
    # weights_only loading of our own files works with plain torch.load
    torch.load(tmp_path / "model.pt", weights_only=True)
    resumed = Trainer(config(epochs=4), tiny_splits, tmp_path, resume_from=tmp_path / "last.pt")
    assert resumed.start_epoch == 3 and len(resumed.optimizer.state) > 0
    saved = torch.load(tmp_path / "last.pt", weights_only=True)["optimizer"]["state"]
    for key, state in resumed.optimizer.state_dict()["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(value, saved[key][name])
        torch.testing.assert_close(state["exp_avg"], first.optimizer.state_dict()["state"][key]["exp_avg"])
    done = resumed.run()
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4] and done.epochs == 4


def test_bad_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a vae-explorer checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"layer": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    good = save_checkpoint(tmp_path / "good.pt", VAE(SMALL).state_dict(), config())
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.pt")


def test_atomic_save_leaves_no_temporary_files(tmp_path):
    save_checkpoint(tmp_path / "m.pt", VAE(SMALL).state_dict(), config())
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_config_validation_and_json_round_trip():
    c = RunConfig().with_lr(3e-4)
    assert RunConfig.from_json(c.to_json()) == c
    for bad in (
        TrainConfig(lr=0),
        TrainConfig(lr=float("nan")),
        TrainConfig(batch_size=0),
        TrainConfig(optimizer="adagrad"),
    ):
        with pytest.raises(ConfigError):
            bad.validate()
    with pytest.raises(ConfigError):
        ModelConfig(components=0).validate()
    with pytest.raises(ConfigError):
        RunConfig.from_json('{"train": {"learning_rate": 1}}')


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_request_without_cuda():
    with pytest.raises(ConfigError, match="CUDA"):
        resolve_device("cuda")


def test_uniform_mixture_weights_stay_exactly_equal(tiny_splits, tmp_path):
    from dataclasses import replace

    cfg = replace(config(epochs=2), model=replace(SMALL, mixture_weights="uniform"))
    t = Trainer(cfg, tiny_splits, tmp_path)
    assert "prior.logits" not in dict(t.model.named_parameters())  # nothing to learn
    means = t.model.prior.means.detach().clone()
    t.run()
    weights, _, _ = t.model.prior.component_params()
    assert torch.equal(weights, torch.full((4,), 0.25))
    assert not torch.equal(t.model.prior.means.detach(), means)  # the means still learn
    model, saved, _ = load_checkpoint(tmp_path / "model.pt")
    assert saved.model.mixture_weights == "uniform" and torch.equal(
        model.prior.component_params()[0], weights
    )


def test_kl_warmup_rises_from_zero_to_one_and_validation_ignores_it(tiny_splits, monkeypatch):
    import vae_explorer.core.trainer as trainer_mod

    t = Trainer(config(epochs=3, kl_warmup=2), tiny_splits)
    per_epoch = len(t.batches)
    weights, vals = [], []
    real_step, real_nelbo, real_terms = Trainer.train_step, trainer_mod.negative_elbo, trainer_mod.elbo_terms

    def step(self, x):
        weights.append(self.kl_weight())
        return real_step(self, x)

    def nelbo(model, data):
        value = real_nelbo(model, data)
        with torch.no_grad():  # weight 1
            full = float(model(data, torch.Generator().manual_seed(0), reduction="mean"))
        vals.append((value, full))
        return value

    def terms(model, data):  # the validation pass: the nll and its parts
        out = real_terms(model, data)
        with torch.no_grad():
            full = float(model(data, torch.Generator().manual_seed(0), reduction="mean"))
        vals.append((out["neg_elbo"], full))
        return out

    monkeypatch.setattr(Trainer, "train_step", step)
    monkeypatch.setattr(trainer_mod, "negative_elbo", nelbo)
    monkeypatch.setattr(trainer_mod, "elbo_terms", terms)
    t.run()
    assert weights[0] == 0.0 and weights[per_epoch] == pytest.approx(0.5)
    assert weights[2 * per_epoch - 1] < 1.0 and all(w == 1.0 for w in weights[2 * per_epoch :])
    assert len(vals) == 4  # three epochs and the test figure: each the full negative ELBO
    for value, full in vals:
        assert value == pytest.approx(full, rel=1e-5)


def test_resume_refuses_a_last_state_whose_best_model_is_missing(tiny_splits, tmp_path, monkeypatch):
    import vae_explorer.core.trainer as trainer_mod

    scores = iter([150.0, 160.0, 140.0])  # epoch 1 is the best; then the test figure
    patch_scores(monkeypatch, trainer_mod, scores)
    Trainer(config(epochs=2), tiny_splits, tmp_path).run()
    (tmp_path / "model.pt").unlink()
    with pytest.raises(CheckpointError, match=r"best model \(epoch 1\).*model\.pt, which is missing"):
        Trainer(config(epochs=4), tiny_splits, tmp_path, resume_from=tmp_path / "last.pt")


def test_kmeans_prior_init_refits_the_mixture_after_the_first_epoch(tiny_splits, monkeypatch):
    t = Trainer(config(epochs=2, prior_init="kmeans"), tiny_splits)
    fits = []
    real_fit = Trainer.fit_prior_to_data

    def fit(self, *args, **kwargs):
        before = self.model.prior.means.detach().clone()
        real_fit(self, *args, **kwargs)
        fits.append(len(self.history))
        assert not torch.equal(before, self.model.prior.means)
        for p in self.model.prior.parameters():  # the optimiser's moments start afresh
            state = self.optimizer.state[p]
            assert float(state["step"]) > 0
            assert not state["exp_avg"].any() and not state["exp_inf"].any()
        # every component mean is a centroid of training images' encoder means: inside their range
        with torch.no_grad():
            mu = self.model.encoder(self.batches.inputs(torch.arange(len(self.batches.images))))[0]
        means = self.model.prior.means.detach()
        assert (means >= mu.min(0).values - 1e-6).all() and (means <= mu.max(0).values + 1e-6).all()

    monkeypatch.setattr(Trainer, "fit_prior_to_data", fit)
    t.run()
    assert fits == [0]  # once, after epoch 1's training and before its validation


def test_kmeans_prior_init_is_reproducible_and_leaves_a_standard_prior_alone(tiny_splits):
    from dataclasses import replace

    a = Trainer(config(epochs=1, prior_init="kmeans"), tiny_splits)
    a.run()
    b = Trainer(config(epochs=1, prior_init="kmeans"), tiny_splits)
    b.run()
    assert torch.equal(a.model.prior.means, b.model.prior.means)
    standard = replace(config(epochs=1, prior_init="kmeans"), model=replace(SMALL, prior="standard"))
    assert math.isfinite(Trainer(standard, tiny_splits).run().best_val)
    assert TrainConfig().prior_init == "kmeans"  # the default, after the mixture study


def test_gaussian_likelihood_trains_on_intensities_in_the_unit_interval(tiny_splits):
    from dataclasses import replace

    t = Trainer(replace(config(epochs=2), model=replace(SMALL, likelihood="gaussian")), tiny_splits)
    x = next(iter(t.batches))
    assert x.min() >= 0 and x.max() <= 1 and ((x > 0) & (x < 1)).any()  # grey levels, not binary
    done = t.run()
    assert done.test_nll is not None and math.isfinite(done.test_nll)
    assert t.history[1]["val_nll"] < t.history[0]["val_nll"]


def test_settings_saved_before_the_kmeans_default_read_back_as_they_ran():
    import json

    saved = json.loads(RunConfig().to_json())
    del saved["train"]["prior_init"]  # as written before the setting existed
    assert RunConfig.from_dict(saved).train.prior_init == "random"
    assert RunConfig.from_json(RunConfig().to_json()).train.prior_init == "kmeans"


def test_a_run_resumed_after_its_early_stop_ends_at_once(tiny_splits, tmp_path, monkeypatch):
    """Killed after its early stop (before outcome.json), or resumed with `--resume`: the run ends
    as it did, with no epoch more; a raised patience lets it go on."""
    import vae_explorer.core.trainer as trainer_mod

    patch_scores(monkeypatch, trainer_mod, iter([150.0, 140.0, 145.0, 146.0, 147.0, 100.0]))
    assert Trainer(config(epochs=10, patience=3), tiny_splits, tmp_path).run().epochs == 5
    patch_scores(monkeypatch, trainer_mod, iter([100.0]))  # the test figure only
    events = []
    done = Trainer(
        config(epochs=10, patience=3), tiny_splits, tmp_path, events.append, resume_from=tmp_path / "last.pt"
    ).run()
    assert (done.reason, done.epochs, done.best_epoch, done.test_nll) == (ev.STOP_EARLY, 5, 2, 100.0)
    assert not any(isinstance(e, (ev.BatchProgress, ev.EpochEnd, ev.TrainingState)) for e in events)
    patch_scores(monkeypatch, trainer_mod, iter([139.0, 100.0]))
    longer = Trainer(config(epochs=6, patience=5), tiny_splits, tmp_path, resume_from=tmp_path / "last.pt")
    assert longer.run().epochs == 6 and longer.best_epoch == 6


def test_a_stop_after_a_throttled_epoch_writes_that_epochs_state(tiny_splits, tmp_path, monkeypatch):
    """With last.pt throttled (checkpoint_seconds), epoch 2 (no better) is not written when it
    ends; a stop in epoch 3 still leaves last.pt at epoch 2, the epoch the run reports, and the
    resumed run goes on from there as the uninterrupted one."""
    import vae_explorer.core.trainer as trainer_mod

    throttled = config(epochs=4, checkpoint_seconds=3600)
    patch_scores(monkeypatch, trainer_mod, iter([150.0, 160.0, 170.0, 180.0, 100.0]))
    whole = Trainer(throttled, tiny_splits, tmp_path / "whole")
    whole.run()

    patch_scores(monkeypatch, trainer_mod, iter([150.0, 160.0, 100.0]))
    control = RunControl()

    def on_event(e):
        if isinstance(e, ev.BatchProgress) and e.epoch == 3 and e.batch == 2:
            control.stop()

    done = Trainer(throttled, tiny_splits, tmp_path / "cut", on_event, control=control).run()
    assert done.epochs == 2 and read_checkpoint(tmp_path / "cut" / "last.pt")["metrics"]["epoch"] == 2
    patch_scores(monkeypatch, trainer_mod, iter([170.0, 180.0, 100.0]))
    events = []
    resumed = Trainer(
        throttled, tiny_splits, tmp_path / "cut", events.append, resume_from=tmp_path / "cut" / "last.pt"
    )
    resumed.run()
    assert [e.epoch for e in events if isinstance(e, ev.EpochEnd)] == [3, 4]
    untimed = [
        [{k: v for k, v in h.items() if k != "seconds"} for h in hs]
        for hs in (resumed.history, whole.history)
    ]
    assert untimed[0] == untimed[1]
    state, reference = resumed.model.state_dict(), whole.model.state_dict()
    assert all(torch.equal(state[k], reference[k]) for k in reference)


def test_divergence_with_sparse_validation_reports_the_last_validated_epoch(
    tiny_splits, tmp_path, monkeypatch
):
    """Validated every 3 epochs and diverging in epoch 5: the run keeps epoch 3, and says so."""
    real_forward = VAE.forward
    now = {"epoch": 0}

    def on_event(e):
        if isinstance(e, ev.BatchProgress):
            now["epoch"] = e.epoch

    def forward(self, x, generator, reduction="mean", kl_weight=1.0, eps=None):
        out = real_forward(self, x, generator, reduction, kl_weight, eps)
        return out * float("nan") if now["epoch"] >= 5 and self.training else out

    monkeypatch.setattr(VAE, "forward", forward)
    done = Trainer(config(epochs=9, val_every=3), tiny_splits, tmp_path, on_event).run()
    assert (done.reason, done.epochs, done.best_epoch) == (ev.STOP_DIVERGED, 3, 3)
    assert read_checkpoint(tmp_path / "last.pt")["metrics"]["epoch"] == 3


def test_placing_the_mixture_restarts_adams_steps_with_its_moments(tiny_splits):
    """Adam's first step after the k-means placement moves each of the prior's means by the rate
    (step 1 of Adam: lr * g / (|g| + eps)), as for a fresh optimiser, not by several times it, as
    zeroed moments under an old step count would."""
    lr = 1e-3
    t = Trainer(config(epochs=1, optimizer="adam", lr=lr, prior_init="kmeans"), tiny_splits)
    t.run()  # epoch 1, then the placement, then its validation
    for p in t.model.prior.parameters():
        state = t.optimizer.state[p]
        assert float(state["step"]) == 0 and not state["exp_avg"].any() and not state["exp_avg_sq"].any()
    t.model.train()
    before = t.model.prior.means.detach().clone()
    t.train_step(next(iter(t.batches)))
    moved = (t.model.prior.means.detach() - before).abs()
    assert float(moved.max()) <= lr * (1 + 1e-4) and float(moved.median()) > 0.9 * lr
