"""The mixture prior against brute force, torch's MixtureSameFamily and sample statistics."""

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from vae_explorer.core.priors import MixtureOfGaussiansPrior, StandardNormalPrior, fit_mixture_to, kmeans


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


def _blobs(centres, n_each=50, spread=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.tensor(centres, dtype=torch.float64)
    points = torch.cat(
        [ci + spread * torch.randn(n_each, c.shape[1], generator=g, dtype=torch.float64) for ci in c]
    )
    return points, torch.arange(len(c)).repeat_interleave(n_each)


def test_kmeans_finds_separated_blobs_and_is_a_fixed_point():
    points, truth = _blobs([[0, 0], [10, 0], [0, 10], [10, 10]])
    centroids, assign = kmeans(points, 4, torch.Generator().manual_seed(3))
    # each found cluster is one blob (up to relabelling)
    for j in range(4):
        assert len(set(truth[assign == j].tolist())) == 1
    # Lloyd's fixed point, checked by brute force: every point is nearest its own centroid, and
    # every centroid is the mean of its points
    for i, p in enumerate(points):
        distances = [float(((p - c) ** 2).sum()) for c in centroids]
        assert int(assign[i]) == int(np.argmin(distances))
    for j in range(4):
        torch.testing.assert_close(centroids[j], points[assign == j].mean(0))


def test_kmeans_is_reproducible_from_its_generator_and_needs_k_points():
    points, _ = _blobs([[0, 0, 0], [5, 5, 5], [9, 0, 9]], seed=1)
    a = kmeans(points, 5, torch.Generator().manual_seed(7))
    b = kmeans(points, 5, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="at least 5 points"):
        kmeans(points[:4], 5, torch.Generator())


def test_fit_mixture_places_each_component_on_a_cluster():
    centres = [[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]]
    mu, _ = _blobs(centres, n_each=200, spread=0.5, seed=2)
    mu = mu.float()
    mu = torch.cat([mu, mu[:200]])  # the first cluster twice as large
    log_var = torch.full_like(mu, math.log(0.04))  # encoder variance 0.04 everywhere
    prior = MixtureOfGaussiansPrior(2, 3)
    assign = fit_mixture_to(prior, mu, log_var, torch.Generator().manual_seed(0))
    weights, means, log_vars = prior.component_params()
    for j in range(3):
        members = mu[assign == j]
        torch.testing.assert_close(means[j], members.mean(0))
        # aggregate posterior variance: spread of the means (0.25) + encoder variance (0.04)
        expected = members.double().var(0, unbiased=False) + 0.04
        torch.testing.assert_close(log_vars[j].double().exp(), expected, rtol=1e-4, atol=1e-6)
        assert float(weights[j]) == pytest.approx(len(members) / len(mu), rel=1e-5)
    assert sorted(round(float(w), 3) for w in weights) == [0.25, 0.25, 0.5]


def test_fit_mixture_keeps_fixed_weights_uniform():
    mu, _ = _blobs([[0, 0], [8, 0]], n_each=30)
    prior = MixtureOfGaussiansPrior(2, 2, learn_weights=False)
    fit_mixture_to(prior, mu.float()[:40], torch.zeros(40, 2), torch.Generator())
    assert torch.equal(prior.component_params()[0], torch.full((2,), 0.5))
