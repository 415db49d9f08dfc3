"""The VampPrior: its log-density against a direct computation, its initialisation, its samples,
and a model with it that trains, saves, loads and resumes like the others."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_explorer.core.checkpoint import load_checkpoint
from vae_explorer.core.config import PRIOR_KINDS, DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.model import model_for, new_model
from vae_explorer.core.priors import LatentPrior
from vae_explorer.core.trainer import Trainer
from vae_explorer.core.vampprior import INIT_MEAN, INIT_STD, VampPrior

CONFIG = ModelConfig(prior="vampprior", components=6, latent_dim=3, hidden=24)


@pytest.fixture(scope="module")
def model():
    m = new_model(CONFIG, torch.Generator().manual_seed(1))
    with torch.no_grad():  # pseudo-inputs that differ, as after training (some clipped)
        m.prior.pseudo.copy_(
            torch.rand(m.prior.pseudo.shape, generator=torch.Generator().manual_seed(2)) * 1.4 - 0.2
        )
    return m.eval()


def direct_log_prior(model, z: torch.Tensor) -> np.ndarray:
    """log (1/K) sum_k prod_d N(z_d | mu_kd, var_kd), with each u_k put through the encoder one at
    a time and the sum done in float64 numpy, term by term."""
    u = model.prior.pseudo.detach().double().clamp(0.0, 1.0)
    out = []
    for zi in z.double().numpy():
        total = 0.0
        for k in range(len(u)):
            with torch.no_grad():
                mu, log_var = model.encoder(u[k : k + 1].float())
            mu, var = mu[0].double().numpy(), np.exp(log_var[0].double().numpy())
            dens = np.prod(np.exp(-((zi - mu) ** 2) / (2 * var)) / np.sqrt(2 * math.pi * var))
            total += dens / len(u)
        out.append(math.log(total))
    return np.array(out)


def test_it_is_registered_and_a_latent_prior(model):
    kind = PRIOR_KINDS["vampprior"]
    assert kind.components and not kind.placeable and not kind.weights_option
    assert isinstance(model.prior, VampPrior) and isinstance(model.prior, LatentPrior)
    assert model.prior.num_components == 6
    # the encoder is bound, not owned: its weights are saved once, under encoder.
    assert {k for k in model.state_dict() if k.startswith("prior.")} == {"prior.pseudo"}


def test_log_prob_equals_a_direct_computation(model):
    z = torch.randn(7, 3, generator=torch.Generator().manual_seed(3)) * 1.5
    with torch.no_grad():
        got = model.prior.log_prob(z).double().numpy()
    np.testing.assert_allclose(got, direct_log_prior(model, z), rtol=1e-5, atol=1e-4)
    # with autograd (training) the same numbers, computed afresh
    np.testing.assert_allclose(model.prior.log_prob(z).detach().double().numpy(), got, rtol=1e-6, atol=1e-5)


def test_log_prob_matches_torch_mixture(model):
    w, means, log_vars = model.prior.component_params()
    assert torch.allclose(w, torch.full((6,), 1 / 6))
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(probs=w),
        torch.distributions.Independent(torch.distributions.Normal(means, torch.exp(0.5 * log_vars)), 1),
    )
    z = mix.sample((50,))
    with torch.no_grad():
        torch.testing.assert_close(model.prior.log_prob(z), mix.log_prob(z), rtol=1e-5, atol=1e-4)


def test_the_cached_components_follow_a_change_of_weights():
    m = new_model(CONFIG, torch.Generator().manual_seed(4)).eval()
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = m.prior.log_prob(z)
        m.encoder.net[0].weight.mul_(1.5)  # an optimiser step changes the encoder in place
        after = m.prior.log_prob(z)
        m.prior.pseudo.add_(0.3)
        again = m.prior.log_prob(z)
    assert not torch.allclose(before, after) and not torch.allclose(after, again)
    np.testing.assert_allclose(again.double().numpy(), direct_log_prior(m, z), rtol=1e-5, atol=1e-4)


def test_forgotten_components_follow_a_change_autograd_does_not_see():
    """A CUDA graph's replayed step writes the weights without bumping their version counters,
    as a write through .data does here: the kept components are then stale until forgotten."""
    m = new_model(CONFIG, torch.Generator().manual_seed(4)).eval()
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = m.prior.log_prob(z)
        m.encoder.net[0].weight.data.mul_(1.5)
        assert torch.equal(m.prior.log_prob(z), before)  # what a replay leaves behind
        m.prior.forget_components()
        after = m.prior.log_prob(z)
    assert not torch.allclose(before, after)
    np.testing.assert_allclose(after.double().numpy(), direct_log_prior(m, z), rtol=1e-5, atol=1e-4)


def test_the_papers_initialisation_from_the_runs_generator():
    a = new_model(CONFIG, torch.Generator().manual_seed(7)).prior.pseudo.detach()
    b = new_model(CONFIG, torch.Generator().manual_seed(7)).prior.pseudo.detach()
    c = new_model(CONFIG, torch.Generator().manual_seed(8)).prior.pseudo.detach()
    assert torch.equal(a, b) and not torch.equal(a, c)
    big = new_model(ModelConfig(prior="vampprior", components=200, latent_dim=2, hidden=8), torch.Generator())
    p = big.prior.pseudo.detach()
    assert abs(float(p.mean()) - INIT_MEAN) < 1e-3 and abs(float(p.std()) - INIT_STD) < 1e-3
    u = big.prior.pseudo_inputs().detach()
    assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0


def test_samples_follow_the_components(model):
    _, means, log_vars = model.prior.component_params()
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        z = model.prior.sample_component(2, 20_000, g)
    np.testing.assert_allclose(z.mean(0).numpy(), means[2].numpy(), atol=0.05)
    np.testing.assert_allclose(z.var(0).numpy(), log_vars[2].exp().numpy(), rtol=0.05)
    with torch.no_grad():
        draws = model.prior.sample(6_000, torch.Generator().manual_seed(10))
    # the mixture's mean is the mean of the component means (equal weights)
    np.testing.assert_allclose(draws.mean(0).numpy(), means.mean(0).numpy(), atol=0.1)
    with pytest.raises(IndexError):
        model.prior.sample_component(6, 1, g)


def test_the_model_loads_with_its_encoder_bound(model):
    loaded = model_for(CONFIG, model.state_dict())
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        torch.testing.assert_close(loaded.prior.log_prob(z), model.prior.log_prob(z))
    assert loaded.prior.encoder is loaded.encoder


def test_a_vampprior_run_trains_saves_and_resumes_exactly(tiny_splits, tmp_path):
    def config(epochs):
        return RunConfig(
            DataConfig(limit_train=512, limit_val=256, limit_test=256),
            CONFIG,
            TrainConfig(epochs=epochs, batch_size=64, device="cpu", patience=100),
        )

    straight = Trainer(config(3), tiny_splits, tmp_path / "a").run()
    Trainer(config(2), tiny_splits, tmp_path / "b").run()
    resumed = Trainer(config(3), tiny_splits, tmp_path / "b", resume_from=tmp_path / "b" / "last.pt").run()
    assert resumed.best_val == straight.best_val
    model, _, _ = load_checkpoint(tmp_path / "a" / "model.pt")
    start = new_model(CONFIG, torch.Generator().manual_seed(0)).prior.pseudo
    assert not torch.equal(model.prior.pseudo, start)  # the pseudo-inputs are learned
    assert math.isfinite(straight.test_nll)
