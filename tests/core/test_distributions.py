"""Log-densities against torch.distributions and hand-written float64 formulas."""

import math

import torch
from torch import distributions as D

from vae_explorer.core.distributions import (
    log_bernoulli_logits,
    log_categorical_logits,
    log_normal_diag,
    log_normal_fixed,
    log_standard_normal,
)


def test_log_normal_diag_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    x, mu = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    log_var = torch.randn(7, 5, generator=g)
    expected = D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), 1).log_prob(x)
    torch.testing.assert_close(log_normal_diag(x, mu, log_var), expected, rtol=1e-5, atol=1e-5)


def test_log_normal_diag_by_hand_float64():
    x, mu, log_var = 0.3, -0.2, math.log(2.5)
    by_hand = -0.5 * math.log(2 * math.pi * 2.5) - (x - mu) ** 2 / (2 * 2.5)
    got = log_normal_diag(
        torch.tensor([[x]], dtype=torch.float64),
        torch.tensor([[mu]], dtype=torch.float64),
        torch.tensor([[log_var]], dtype=torch.float64),
    )
    assert abs(got.item() - by_hand) < 1e-12


def test_log_standard_normal_matches_torch():
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    expected = D.Independent(D.Normal(torch.zeros(3), torch.ones(3)), 1).log_prob(x)
    torch.testing.assert_close(log_standard_normal(x), expected)


def test_log_bernoulli_matches_torch():
    g = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(6, 10, generator=g)
    x = torch.bernoulli(torch.full((6, 10), 0.4), generator=g)
    expected = D.Independent(D.Bernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(log_bernoulli_logits(x, logits), expected, rtol=1e-5, atol=1e-5)


def test_log_categorical_matches_torch():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 9, 256, generator=g)
    x = torch.randint(0, 256, (4, 9), generator=g).float()
    expected = D.Independent(D.Categorical(logits=logits), 1).log_prob(x.long())
    torch.testing.assert_close(log_categorical_logits(x, logits), expected, rtol=1e-5, atol=1e-4)


def test_log_normal_fixed_matches_torch_normal():
    g = torch.Generator().manual_seed(4)
    mu = torch.rand(5, 784, generator=g, dtype=torch.float64)
    x = torch.rand(5, 784, generator=g, dtype=torch.float64)
    for std in (0.1, 1.0, 2.5):
        expected = D.Independent(D.Normal(mu, std), 1).log_prob(x)
        torch.testing.assert_close(log_normal_fixed(x, mu, std), expected)


def test_gaussian_decoder_scores_with_torch_normal_around_its_sigmoid_mean():
    from vae_explorer.core.config import ModelConfig
    from vae_explorer.core.model import GAUSSIAN_STD, new_model

    model = new_model(
        ModelConfig(hidden=16, latent_dim=3, components=2, likelihood="gaussian"), torch.Generator()
    )
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4, 3, generator=g)
    x = torch.rand(4, 784, generator=g)
    with torch.no_grad():
        mean = torch.sigmoid(model.decoder.net(z))
        expected = D.Independent(D.Normal(mean, GAUSSIAN_STD), 1).log_prob(x)
        torch.testing.assert_close(model.decoder.log_prob(x, z), expected, rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(model.decode(z), mean)
        draws = model.decode(z, binary=True, generator=torch.Generator().manual_seed(0))
    assert draws.min() >= 0 and draws.max() <= 1 and not torch.equal(draws, mean)
