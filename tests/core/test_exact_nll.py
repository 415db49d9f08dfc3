"""The exact NLL of a trained 2-D model (10 epochs on 10,000 images, the first 100 test images
with their fixed binarisation): within 0.05 nats of an independent quadrature written here in
numpy (the decoder and prior from the saved weights, Simpson's rule on a fixed fine grid), and
below the IW-5000 figure, which is an upper bound on it."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from vae_explorer.core.config import DataConfig, RunConfig, apply_preset
from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
from vae_explorer.core.evaluate import negative_elbo
from vae_explorer.core.exact2d import exact_figures, exact_nll
from vae_explorer.core.likelihood import iw_nll
from vae_explorer.core.trainer import Trainer

SLOPE = 0.01  # torch's LeakyReLU


@pytest.fixture(scope="module")
def trained():
    base = apply_preset("lab2d", RunConfig(DataConfig(limit_train=10_000, limit_val=1_000, limit_test=100)))
    config = replace(base, train=replace(base.train, epochs=10, device="cpu"))
    splits = load_splits(config.data)
    trainer = Trainer(config, splits)
    trainer.run()
    model = trainer.model.eval()  # the best epoch's weights
    x = model_input(splits.test_images, "bernoulli", TEST_BINARISE_SEED)
    assert len(x) == 100
    return model, x


def _mlp(state: dict[str, np.ndarray], prefix: str, h: np.ndarray) -> np.ndarray:
    for i in (0, 2, 4):
        h = h @ state[f"{prefix}.{i}.weight"].T + state[f"{prefix}.{i}.bias"]
        if i < 4:
            h = np.where(h > 0, h, SLOPE * h)
    return h


def independent_log_px(model, x: torch.Tensor, max_nodes: int = 1201) -> np.ndarray:
    """log p(x) per image by Simpson's rule on one fixed grid of nodes, numpy only: the box holds
    every image's q(z|x) +- 8 sigma and every prior component's mean +- 3 sigma; its step is a
    third of the smallest posterior standard deviation (at most `max_nodes` nodes a side)."""
    state = {k: v.double().numpy() for k, v in model.state_dict().items()}
    xs = x.double().numpy()
    enc = _mlp(state, "encoder.net", xs)
    mu, sd = enc[:, :2], np.exp(0.5 * enc[:, 2:])
    means, sd_p = state["prior.means"], np.exp(0.5 * state["prior.log_vars"])
    log_w = state["prior.logits"] - np.logaddexp.reduce(state["prior.logits"])
    lo = np.minimum((mu - 8 * sd).min(0), (means - 3 * sd_p).min(0))
    hi = np.maximum((mu + 8 * sd).max(0), (means + 3 * sd_p).max(0))
    step = sd.min() / 3
    nodes = int(min(max_nodes, math.ceil((hi - lo).max() / step))) | 1  # odd, for Simpson
    axes = [np.linspace(lo[d], hi[d], nodes) for d in range(2)]
    simpson = np.ones(nodes)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    log_weights = [np.log(simpson * (axes[d][1] - axes[d][0]) / 3) for d in range(2)]
    z1, z2 = np.meshgrid(axes[0], axes[1], indexing="ij")
    z = np.stack([z1.ravel(), z2.ravel()], 1)
    lw = (log_weights[0][:, None] + log_weights[1][None, :]).ravel()
    acc = np.full(len(xs), -np.inf)
    w32 = {k: v.astype(np.float32) for k, v in state.items()}
    for start in range(0, len(z), 20_000):
        zc = z[start : start + 20_000]
        logits = _mlp(w32, "decoder.net", zc.astype(np.float32)).astype(np.float64)
        log_px_z = xs @ logits.T - np.logaddexp(0.0, logits).sum(1)[None]
        d = zc[:, None, :] - means[None]
        log_pz = np.logaddexp.reduce(
            log_w - 0.5 * (np.log(2 * np.pi * sd_p**2) + d**2 / sd_p**2).sum(-1), axis=1
        )
        acc = np.logaddexp(
            acc, np.logaddexp.reduce(log_px_z + (log_pz + lw[start : start + 20_000])[None], axis=1)
        )
    return acc


def test_the_exact_nll_agrees_with_an_independent_quadrature_and_lies_below_iw5000(trained):
    model, x = trained
    exact = exact_nll(model, x)
    assert exact.converged, exact.steps
    nll = float(-exact.log_px.mean())
    independent = float(-independent_log_px(model, x).mean())
    assert abs(nll - independent) < 0.05, (nll, independent)
    iw = iw_nll(model, x, 5000, torch.Generator().manual_seed(0))
    bound = negative_elbo(model, x)
    assert nll < iw.mean < bound, (nll, iw.mean, bound)
    # what `evaluate --exact` reports is the same figure
    figures = exact_figures(model, x)
    assert figures["exact_nll"] == pytest.approx(nll) and figures["exact_converged"]
    assert figures["exact_grid"] == exact.grid.n and figures["exact_note"] is None


def test_evaluate_exact_on_the_command_line(tmp_path, capsys):
    from vae_explorer.cli import main
    from vae_explorer.core.config import ModelConfig, TrainConfig

    for latent in (2, 3):
        config = RunConfig(
            DataConfig(limit_train=256, limit_val=64, limit_test=64),
            ModelConfig(hidden=16, latent_dim=latent, components=2),
            TrainConfig(epochs=1, device="cpu"),
        )
        Trainer(config, load_splits(config.data), tmp_path / str(latent)).run()
        ckpt = str(tmp_path / str(latent) / "model.pt")
        assert main(["evaluate", ckpt, "--exact", "--limit-test", "20", "--iw-samples", "50"]) == 0
        out = capsys.readouterr().out
        if latent == 2:
            assert "exact NLL by quadrature (nats)" in out and "grid points a side" in out
            exact = float(out.split("exact NLL by quadrature (nats)")[1].split()[0])
            iw = float(out.split("IW-NLL (nats)")[1].split()[0])
            assert exact < iw
        else:
            assert "the exact NLL needs a 2-D latent space; this model's has 3 dimensions" in out
        assert main(["evaluate", ckpt, "--exact", "--limit-test", "20", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert (result["exact_nll"] is None) == (latent != 2)
