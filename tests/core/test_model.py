"""The encoder's reparameterisation and the negative ELBO's bookkeeping."""

import pytest
import torch

from vae_explorer.core.config import ModelConfig
from vae_explorer.core.model import VAE, Encoder


def test_reparameterised_samples_have_the_right_moments():
    mu = torch.tensor([[1.5, -2.0, 0.0]]).expand(50_000, 3)
    log_var = torch.log(torch.tensor([[0.25, 4.0, 1.0]])).expand(50_000, 3)
    torch.manual_seed(0)
    z = Encoder.sample(mu, log_var)
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.03, rtol=0)
    torch.testing.assert_close(z.var(0), log_var[0].exp(), rtol=0.03, atol=0)


def test_reparameterisation_carries_gradients():
    mu = torch.zeros(4, 2, requires_grad=True)
    log_var = torch.zeros(4, 2, requires_grad=True)
    Encoder.sample(mu, log_var).sum().backward()
    assert torch.all(mu.grad == 1) and log_var.grad is not None


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(arch="conv", latent_dim=8, components=4, hidden=64),
        ModelConfig(prior="standard", latent_dim=5, hidden=32),
        ModelConfig(likelihood="categorical", latent_dim=4, hidden=16, components=3),
        ModelConfig(arch="conv", likelihood="categorical", prior="standard", latent_dim=4, hidden=16),
    ],
    ids=["mlp-mog", "conv", "standard", "categorical", "conv-categorical-standard"],
)
def test_negative_elbo_equals_its_terms(config):
    torch.manual_seed(0)
    model = VAE(config)
    if config.likelihood == "categorical":
        x = torch.randint(0, 256, (6, 784)).float()
    else:
        x = torch.bernoulli(torch.full((6, 784), 0.3))
    torch.manual_seed(1)
    terms = model.elbo_terms(x)
    by_terms = -(terms["log_px_z"] + terms["log_pz"] - terms["log_qz_x"])
    for reduction, expected in (("none", by_terms), ("sum", by_terms.sum()), ("mean", by_terms.mean())):
        torch.manual_seed(1)
        torch.testing.assert_close(model(x, reduction=reduction), expected)
    assert torch.isfinite(by_terms).all() and by_terms.shape == (6,)
    torch.manual_seed(1)
    total = model(x, reduction="sum")
    torch.manual_seed(1)
    torch.testing.assert_close(total, model(x, reduction="mean") * len(x))
    assert model.sample(3).shape == (3, 784)
    assert model.encode(x).shape == (6, config.latent_dim)
    decoded = model.decode(torch.zeros(2, config.latent_dim), binary=True)
    assert decoded.shape == (2, 784) and decoded.min() >= 0 and decoded.max() <= 1


def test_terms_are_the_right_densities():
    torch.manual_seed(2)
    model = VAE(ModelConfig(latent_dim=3, components=2, hidden=16))
    x = torch.bernoulli(torch.full((5, 784), 0.5))
    torch.manual_seed(3)
    t = model.elbo_terms(x)
    mu, log_var = model.encoder(x)
    q = torch.distributions.Independent(torch.distributions.Normal(mu, torch.exp(0.5 * log_var)), 1)
    torch.testing.assert_close(t["log_qz_x"], q.log_prob(t["z"]))
    logits = model.decoder.logits(t["z"])
    p = torch.distributions.Independent(torch.distributions.Bernoulli(logits=logits), 1)
    torch.testing.assert_close(t["log_px_z"], p.log_prob(x))


def test_bad_reduction():
    with pytest.raises(ValueError):
        VAE(ModelConfig(latent_dim=2, hidden=8))(torch.zeros(1, 784), reduction="avg")
