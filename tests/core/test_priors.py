"""The mixture prior against brute force, torch's MixtureSameFamily and sample statistics."""

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from vae_explorer.core.priors import MixtureOfGaussiansPrior, StandardNormalPrior


def _random_mog(k=4, latent=3, seed=0):
    torch.manual_seed(seed)
    prior = MixtureOfGaussiansPrior(latent, k)
    with torch.no_grad():
        prior.logits.copy_(torch.randn(k))
        prior.means.copy_(3 * torch.randn(k, latent))
        prior.log_vars.copy_(0.5 * torch.randn(k, latent))
    return prior


def test_mog_log_prob_equals_brute_force_sum():
    prior = _random_mog()
    z = torch.randn(10, 3, generator=torch.Generator().manual_seed(5))
    w = np.exp(prior.logits.detach().double().numpy())
    w /= w.sum()
    mu, var = prior.means.detach().double().numpy(), np.exp(prior.log_vars.detach().double().numpy())
    for i, zi in enumerate(z.double().numpy()):
        total = 0.0
        for k in range(len(w)):
            dens = 1.0
            for d in range(len(zi)):
                gauss = math.exp(-((zi[d] - mu[k, d]) ** 2) / (2 * var[k, d]))
                dens *= gauss / math.sqrt(2 * math.pi * var[k, d])
            total += w[k] * dens
        assert prior.log_prob(z[i : i + 1]).item() == pytest.approx(math.log(total), rel=1e-5, abs=1e-5)


def test_mog_log_prob_matches_mixture_same_family():
    prior = _random_mog(k=16, latent=40, seed=1)
    mix = D.MixtureSameFamily(
        D.Categorical(logits=prior.logits.detach()),
        D.Independent(D.Normal(prior.means.detach(), torch.exp(0.5 * prior.log_vars.detach())), 1),
    )
    z = mix.sample((64,))
    torch.testing.assert_close(prior.log_prob(z).detach(), mix.log_prob(z), rtol=1e-4, atol=1e-3)


def test_single_component_is_a_gaussian():
    prior = _random_mog(k=1, latent=5, seed=2)
    z = torch.randn(8, 5)
    expected = D.Independent(
        D.Normal(prior.means[0].detach(), torch.exp(0.5 * prior.log_vars[0].detach())), 1
    )
    torch.testing.assert_close(prior.log_prob(z).detach(), expected.log_prob(z), rtol=1e-5, atol=1e-5)


def test_log_prob_is_stable_far_from_every_component():
    prior = _random_mog()
    z = torch.full((2, 3), 1e3)
    assert torch.isfinite(prior.log_prob(z)).all()


def test_sample_frequencies_and_moments_match_parameters():
    prior = _random_mog(k=3, latent=2, seed=3)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-20.0, 0.0], [0.0, 20.0], [20.0, 0.0]]))
        prior.logits.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    n = 60_000
    z = prior.sample(n, generator=torch.Generator().manual_seed(7)).detach()
    # components are far apart, so each sample's component is identifiable
    labels = torch.cdist(z, prior.means.detach()).argmin(1)
    weights = np.array([0.2, 0.3, 0.5])
    freq = np.bincount(labels.numpy(), minlength=3) / n
    assert np.all(np.abs(freq - weights) < 4 * np.sqrt(weights * (1 - weights) / n))
    sigma = torch.exp(0.5 * prior.log_vars.detach())
    for k in range(3):
        zk = z[labels == k]
        se = sigma[k] / math.sqrt(len(zk))
        assert torch.all((zk.mean(0) - prior.means[k].detach()).abs() < 4 * se)
        assert torch.allclose(zk.std(0), sigma[k], rtol=0.05)
    mixture_mean = (torch.tensor(weights, dtype=torch.float32)[:, None] * prior.means.detach()).sum(0)
    assert torch.allclose(z.mean(0), mixture_mean, atol=0.3)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sample_component_uses_exactly_that_component(temperature):
    prior = _random_mog(k=5, latent=4, seed=4)
    k, n = 3, 40_000
    z = prior.sample_component(k, n, torch.Generator().manual_seed(8), temperature).detach()
    sigma = temperature * torch.exp(0.5 * prior.log_vars[k].detach())
    assert torch.all((z.mean(0) - prior.means[k].detach()).abs() < 4 * sigma / math.sqrt(n))
    assert torch.allclose(z.std(0), sigma, rtol=0.03)
    with pytest.raises(IndexError):
        prior.sample_component(5, 1, torch.Generator())


def test_standard_prior():
    prior = StandardNormalPrior(6)
    n = 20_000
    z = prior.sample(n, generator=torch.Generator().manual_seed(9))
    assert z.shape == (n, 6)
    assert torch.all(z.mean(0).abs() < 4 / math.sqrt(n))
    assert torch.allclose(z.std(0), torch.ones(6), rtol=0.03)
    weights, means, log_vars = prior.component_params()
    assert weights.tolist() == [1.0] and means.abs().sum() == 0 and log_vars.abs().sum() == 0
    expected = D.Independent(D.Normal(torch.zeros(6), torch.ones(6)), 1).log_prob(z[:10])
    torch.testing.assert_close(prior.log_prob(z[:10]), expected)


def test_standard_prior_component_temperature():
    prior = StandardNormalPrior(3)
    z = prior.sample_component(0, 20_000, torch.Generator().manual_seed(10), 0.5)
    assert torch.allclose(z.std(0), torch.full((3,), 0.5), rtol=0.03)
    with pytest.raises(IndexError):
        prior.sample_component(1, 1, torch.Generator())
