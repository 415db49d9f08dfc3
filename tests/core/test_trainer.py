"""The training loop: learning, events, early stopping, stop/pause, divergence, checkpoints."""

import math
import threading

import pytest
import torch

from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from vae_explorer.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.model import VAE
from vae_explorer.core.trainer import Trainer, resolve_device

SMALL = ModelConfig(hidden=64, latent_dim=8, components=4)


def config(**train) -> RunConfig:
    return RunConfig(DataConfig(), SMALL, TrainConfig(**{"epochs": 3, **train}))


def test_a_tiny_run_lowers_the_validation_nll(tiny_splits, tmp_path):
    events = []
    done = Trainer(config(epochs=3), tiny_splits, tmp_path, events.append).run()
    vals = [e.val_nll for e in events if isinstance(e, ev.EpochEnd)]
    assert len(vals) == 3 and vals[-1] < vals[0] - 5
    assert done.reason == ev.STOP_MAX_EPOCHS and done.epochs == 3
    assert done.test_nll is not None and math.isfinite(done.test_nll)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    first_epoch_end = kinds.index("EpochEnd")
    assert "BatchProgress" in kinds[:first_epoch_end] and kinds[first_epoch_end + 1] == "NewBest"
    for name in ("config.json", "metrics.csv", "model.pt", "last.pt", "test_loss.txt"):
        assert (tmp_path / name).is_file()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,val_nll,seconds" and len(lines) == 4
    assert float((tmp_path / "test_loss.txt").read_text()) == pytest.approx(done.test_nll, abs=1e-3)


def test_early_stopping_keeps_the_best_model(tiny_splits, tmp_path, monkeypatch):
    import vae_explorer.core.trainer as trainer_mod

    scores = iter([150.0, 140.0, 145.0, 146.0, 147.0, 100.0])
    # five validation scores, then the test score of the best model
    monkeypatch.setattr(trainer_mod, "negative_elbo", lambda model, data: next(scores))
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


def test_divergence_ends_the_run_and_keeps_the_best_checkpoint(tiny_splits, tmp_path, monkeypatch):
    events = []
    t = Trainer(config(epochs=5), tiny_splits, tmp_path, events.append)
    real_forward = VAE.forward

    def forward(self, x, reduction="mean"):
        out = real_forward(self, x, reduction)
        return out * float("nan") if len(t.history) >= 1 and self.training else out

    monkeypatch.setattr(VAE, "forward", forward)
    done = t.run()
    assert done.reason == ev.STOP_DIVERGED and done.best_epoch == 1
    model, _, payload = load_checkpoint(tmp_path / "model.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert payload["metrics"]["epoch"] == 1 and math.isfinite(done.test_nll)


def test_checkpoint_round_trip_and_resume(tiny_splits, tmp_path):
    first = Trainer(config(epochs=2), tiny_splits, tmp_path)
    first.run()
    model, cfg, payload = load_checkpoint(tmp_path / "model.pt")
    assert cfg == first.config
    x = torch.bernoulli(torch.full((4, 784), 0.2))
    torch.manual_seed(0)
    a = model(x, reduction="none")
    torch.manual_seed(0)
    b = first.model.eval()(x, reduction="none")
    torch.testing.assert_close(a, b)
    # weights_only loading of our own files works with plain torch.load
    torch.load(tmp_path / "model.pt", weights_only=True)
    resumed = Trainer(config(epochs=4), tiny_splits, tmp_path, resume_from=tmp_path / "last.pt")
    assert resumed.start_epoch == 3 and len(resumed.optimizer.state) > 0
    done = resumed.run()
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4] and done.epochs == 4


def test_bad_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a vae-explorer checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"layer": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    good = save_checkpoint(tmp_path / "good.pt", VAE(SMALL), config())
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.pt")


def test_atomic_save_leaves_no_temporary_files(tmp_path):
    save_checkpoint(tmp_path / "m.pt", VAE(SMALL), config())
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_config_validation_and_json_round_trip():
    c = RunConfig().with_lr(3e-4)
    assert RunConfig.from_json(c.to_json()) == c
    for bad in (TrainConfig(lr=0), TrainConfig(lr=float("nan")), TrainConfig(batch_size=0),
                TrainConfig(optimizer="adagrad")):
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_smoke(tiny_splits):
    done = Trainer(config(epochs=1, device="cuda"), tiny_splits).run()
    assert done.test_nll is not None and math.isfinite(done.test_nll)
