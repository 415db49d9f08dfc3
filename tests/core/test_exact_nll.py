"""The exact NLL of a trained 2-D model (10 epochs on 10,000 images, the first 100 test images
with their fixed binarisation): within 0.05 nats of the independent quadrature of
benchmarks/exact_nll.py (numpy from the weights, Simpson's rule on its own fixed grid), and below
the IW-5000 figure, which is an upper bound on it."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vae_explorer.core.config import DataConfig, RunConfig, apply_preset
from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
from vae_explorer.core.evaluate import negative_elbo
from vae_explorer.core.exact2d import exact_figures
from vae_explorer.core.likelihood import iw_nll
from vae_explorer.core.trainer import Trainer

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "exact_nll.py"


def independent():
    """benchmarks/exact_nll.py as a module: numpy only, none of core/exact2d.py."""
    spec = importlib.util.spec_from_file_location("exact_nll_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.mark.slow  # a 1,600² quadrature and an independent one: minutes on a CPU
def test_the_exact_nll_agrees_with_an_independent_quadrature_and_lies_below_iw5000(trained):
    model, x = trained
    figures = exact_figures(model, x)  # what `evaluate --exact` reports
    assert figures["exact_converged"] and figures["exact_note"] is None, figures["exact_steps"]
    assert figures["exact_change"] < 1e-3 and figures["exact_grid"] == figures["exact_steps"][-1][0]
    nll = figures["exact_nll"]
    check = independent()
    weights = {k: v.double().numpy() for k, v in model.state_dict().items()}
    fine, coarse = check.quadrature(weights, x.double().numpy(), 801)
    assert abs(fine.mean() - coarse.mean()) < 0.01  # the independent quadrature has converged too
    assert abs(nll - float(-fine.mean())) < 0.05, (nll, float(-fine.mean()))
    iw = iw_nll(model, x, 5000, torch.Generator().manual_seed(0))
    bound = negative_elbo(model, x)
    assert nll < iw.mean < bound, (nll, iw.mean, bound)


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
