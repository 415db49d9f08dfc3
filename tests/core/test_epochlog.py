"""Per-epoch parts of the bound and the prior's weights: recorded from the validation pass, in
metrics.csv and weights.csv, exact across a resume, and old files still read."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.data import VAL_BINARISE_SEED, model_input
from vae_explorer.core.epochlog import WeightsHistory, parse_weights, weights_csv
from vae_explorer.core.evaluate import negative_elbo
from vae_explorer.core.runfiles import FileProblem, read_history, read_weights
from vae_explorer.core.trainer import Trainer


def config(epochs: int, prior: str = "mog") -> RunConfig:
    model = ModelConfig(hidden=48, latent_dim=4, components=5, prior=prior)
    return RunConfig(
        DataConfig(), model, TrainConfig(epochs=epochs, batch_size=64, patience=100, device="cpu")
    )


def test_the_parts_add_up_to_the_nll_and_the_weights_are_recorded(tiny_splits, tmp_path):
    events: list = []
    Trainer(config(3), tiny_splits, tmp_path, events.append).run()
    ends = [e for e in events if isinstance(e, ev.EpochEnd)]
    for end in ends:
        assert end.val_recon + end.val_kl == pytest.approx(end.val_nll, abs=1e-3)
        assert end.val_kl > 0 and end.val_recon > 0
        assert len(end.weights) == 5 and sum(end.weights) == pytest.approx(1.0, abs=1e-6)
    history = read_history(tmp_path / "metrics.csv")
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == (
        "epoch,train_loss,val_nll,seconds,val_recon,val_kl"
    )
    np.testing.assert_allclose(history.val_recon, [e.val_recon for e in ends])
    np.testing.assert_allclose(history.val_kl, [e.val_kl for e in ends])
    weights = read_weights(tmp_path / "weights.csv")
    assert list(weights.epoch) == [1, 2, 3] and weights.components == 5
    np.testing.assert_allclose(weights.weights, [e.weights for e in ends], rtol=1e-5)
    # the k-means placement after epoch 1 moved the weights off 1/K
    assert np.abs(weights.weights[0] - 0.2).max() > 1e-3
    # the nll is the one the validation pass always gave: the best model scores it again
    model, _, payload = load_checkpoint(tmp_path / "model.pt")
    val = model_input(tiny_splits.val_images, "bernoulli", VAL_BINARISE_SEED)
    best = payload["metrics"]["best_epoch"]
    assert negative_elbo(model, val) == next(e.val_nll for e in ends if e.epoch == best)


@pytest.mark.parametrize("prior", ["standard", "vampprior"])
def test_priors_without_changing_weights_record_parts_and_no_weights(tiny_splits, tmp_path, prior):
    Trainer(config(1, prior), tiny_splits, tmp_path).run()
    assert read_history(tmp_path / "metrics.csv").has_parts
    assert not (tmp_path / "weights.csv").exists()


def test_a_resumed_run_writes_the_same_parts_and_weights(tiny_splits, tmp_path):
    Trainer(config(3), tiny_splits, tmp_path / "straight").run()
    Trainer(config(2), tiny_splits, tmp_path / "resumed").run()
    Trainer(config(3), tiny_splits, tmp_path / "resumed", resume_from=tmp_path / "resumed" / "last.pt").run()
    for name in ("metrics.csv", "weights.csv"):
        a = (tmp_path / "straight" / name).read_text().splitlines()
        b = (tmp_path / "resumed" / name).read_text().splitlines()
        assert len(a) == len(b) == 4
        # the same columns and values but the seconds
        strip = lambda lines: [",".join(v for i, v in enumerate(line.split(",")) if i != 3) for line in lines]  # noqa: E731
        assert (strip(a) if name == "metrics.csv" else a) == (strip(b) if name == "metrics.csv" else b)
    saved = read_checkpoint(tmp_path / "resumed" / "last.pt")["metrics"]["history"]
    assert [len(h["weights"]) for h in saved] == [5, 5, 5]


def test_old_files_and_checkpoints_still_read(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,val_nll,seconds\n1,100.0,99.0,2.5\n")
    history = read_history(tmp_path / "metrics.csv")
    assert not history.has_parts and math.isnan(history.val_recon[0])
    assert len(read_weights(tmp_path / "weights.csv")) == 0  # none: an empty record
    from vae_explorer.core.model import new_model

    run = config(1)
    weights = new_model(run.model, torch.Generator().manual_seed(0)).state_dict()
    old = {"epoch": 1, "train_loss": 100.0, "val_nll": 99.0, "seconds": 2.5}
    new = {**old, "val_recon": 80.0, "val_kl": 19.0, "weights": [0.2] * 5}
    for rows in ([old], [new], [old, {**new, "epoch": 2}]):
        save_checkpoint(tmp_path / "c.pt", weights, run, {"history": rows, "epoch": len(rows)})
        assert read_checkpoint(tmp_path / "c.pt")["metrics"]["history"] == rows


@pytest.mark.parametrize(
    "row",
    [
        {"val_recon": "80"},
        {"weights": [0.5, 1.5]},
        {"weights": "0.2"},
        {"other": 1.0},
    ],
)
def test_a_checkpoint_with_a_bad_optional_entry_is_refused(tmp_path, row):
    from vae_explorer.core.checkpoint import CheckpointError
    from vae_explorer.core.model import new_model

    run = config(1)
    weights = new_model(run.model, torch.Generator().manual_seed(0)).state_dict()
    entry = {"epoch": 1, "train_loss": 100.0, "val_nll": 99.0, "seconds": 2.5, **row}
    save_checkpoint(tmp_path / "c.pt", weights, run, {"history": [entry]})
    with pytest.raises(CheckpointError, match="history"):
        read_checkpoint(tmp_path / "c.pt")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("epoch,w0\n1,0.5\n", "header"),
        ("epoch,weight_0,weight_1\n1,0.5\n", "values"),
        ("epoch,weight_0\n2,0.5\n1,0.5\n", "increase"),
        ("epoch,weight_0\n1,1.5\n", "outside"),
        ("epoch,weight_0\n1.5,0.5\n", "whole"),
        ("epoch\n1\n2\n", "header"),  # no component at all
        ("epoch,weight_0,weight_1\n1,0.5,0.5\n1e300,0.5,0.5\n", "from 0 to 10,000,000"),  # no int64 wrap
    ],
)
def test_a_damaged_weights_file_is_a_file_problem(tmp_path, text, problem):
    (tmp_path / "weights.csv").write_text(text)
    with pytest.raises(FileProblem, match=problem):
        read_weights(tmp_path / "weights.csv")


def test_weights_round_trip_through_the_file():
    rows = [{"epoch": e, "weights": [0.1 * e, 1 - 0.1 * e]} for e in (1, 3, 4)]
    parsed = parse_weights(weights_csv(rows))
    expected = WeightsHistory.from_rows(rows)
    assert list(parsed.epoch) == [1, 3, 4]
    np.testing.assert_allclose(parsed.weights, expected.weights)
    assert weights_csv([{"epoch": 1}]) is None
