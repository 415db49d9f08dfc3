"""The encoder's reparameterisation and the negative ELBO's bookkeeping."""

import pytest
import torch

from vae_explorer.core.config import ModelConfig
from vae_explorer.core.model import VAE, Encoder, new_model


def test_reparameterised_samples_have_the_right_moments():
    mu = torch.tensor([[1.5, -2.0, 0.0]]).expand(50_000, 3)
    log_var = torch.log(torch.tensor([[0.25, 4.0, 1.0]])).expand(50_000, 3)
    z = Encoder.sample(mu, log_var, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.03, rtol=0)
    torch.testing.assert_close(z.var(0), log_var[0].exp(), rtol=0.03, atol=0)


def test_reparameterisation_carries_gradients():
    mu = torch.zeros(4, 2, requires_grad=True)
    log_var = torch.zeros(4, 2, requires_grad=True)
    Encoder.sample(mu, log_var, torch.Generator()).sum().backward()
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
    def g(seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    model = new_model(config, g(0))
    if config.likelihood == "categorical":
        x = torch.randint(0, 256, (6, 784), generator=g(5)).float()
    else:
        x = torch.bernoulli(torch.full((6, 784), 0.3), generator=g(5))
    terms = model.elbo_terms(x, g(1))
    by_terms = -(terms["log_px_z"] + terms["log_pz"] - terms["log_qz_x"])
    for reduction, expected in (("none", by_terms), ("sum", by_terms.sum()), ("mean", by_terms.mean())):
        torch.testing.assert_close(model(x, g(1), reduction=reduction), expected)
    assert torch.isfinite(by_terms).all() and by_terms.shape == (6,)
    torch.testing.assert_close(model(x, g(1), reduction="sum"), model(x, g(1), reduction="mean") * len(x))
    assert model.sample(3, g(2)).shape == (3, 784)
    assert torch.equal(model.sample(3, g(2), binary=True), model.sample(3, g(2), binary=True))
    assert model.encode(x).shape == (6, config.latent_dim)
    decoded = model.decode(torch.zeros(2, config.latent_dim), binary=True, generator=g(3))
    assert decoded.shape == (2, 784) and decoded.min() >= 0 and decoded.max() <= 1


def test_terms_are_the_right_densities():
    model = new_model(ModelConfig(latent_dim=3, components=2, hidden=16), torch.Generator().manual_seed(2))
    x = torch.bernoulli(torch.full((5, 784), 0.5), generator=torch.Generator().manual_seed(4))
    t = model.elbo_terms(x, torch.Generator().manual_seed(3))
    mu, log_var = model.encoder(x)
    q = torch.distributions.Independent(torch.distributions.Normal(mu, torch.exp(0.5 * log_var)), 1)
    torch.testing.assert_close(t["log_qz_x"], q.log_prob(t["z"]))
    logits = model.decoder.logits(t["z"])
    p = torch.distributions.Independent(torch.distributions.Bernoulli(logits=logits), 1)
    torch.testing.assert_close(t["log_px_z"], p.log_prob(x))


def test_bad_reduction():
    with pytest.raises(ValueError):
        VAE(ModelConfig(latent_dim=2, hidden=8))(torch.zeros(1, 784), torch.Generator(), reduction="avg")


def test_initial_parameters_come_from_the_generator_alone():
    """Two models from one seed are equal whatever the global random state; torch's default rule:
    Kaiming-uniform weights (a = sqrt(5): bound 1/sqrt(fan_in)) and biases within 1/sqrt(fan_in)."""
    config = ModelConfig(latent_dim=4, components=3, hidden=32)
    state = torch.get_rng_state()
    a = new_model(config, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is not touched
    torch.randn(1000)  # moves the global state, which must not matter
    b = new_model(config, torch.Generator().manual_seed(7))
    c = new_model(config, torch.Generator().manual_seed(8))
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
        if pa.numel() > 1 and "log_vars" not in name and "logits" not in name:
            assert not torch.equal(pa, pc), name
    first = a.encoder.net[0]
    bound = 1 / 784**0.5
    assert first.weight.abs().max() <= bound and first.weight.abs().max() > 0.95 * bound
    assert first.bias.abs().max() <= bound
    assert torch.equal(a.prior.log_vars, torch.zeros(3, 4)) and a.prior.means.std() > 0.5


def test_categorical_draws_follow_the_decoder_probabilities():
    """The decoder's last layer set by hand (zero weights, biases the log of chosen level
    probabilities) so that every z gives known distributions: pixel 0 mostly black with some grey
    and white, pixel 1 uniform over levels 10-19, the rest black. The draws match them."""
    config = ModelConfig(latent_dim=2, hidden=8, likelihood="categorical", components=2)
    model = new_model(config, torch.Generator().manual_seed(0))
    last = [m for m in model.decoder.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    target = torch.full((784, 256), 1e-12)
    target[:, 0] = 1.0
    target[0, 0] = 0.5
    target[0, [128, 255]] = torch.tensor([0.3, 0.2])
    target[1, 0] = 1e-12
    target[1, 10:20] = 0.1
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(target.log().reshape(-1))
    n = 1000
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(2))
    draws = (model.decoder.sample(z, torch.Generator().manual_seed(1)) * 255).round().long()
    for pixel in (0, 1):
        p = target[pixel] / target[pixel].sum()
        freq = torch.bincount(draws[:, pixel], minlength=256).float() / n
        # every level within 5 binomial standard deviations (levels of probability ~0 never drawn)
        assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-9).all(), pixel
    assert (draws[:, 2:] == 0).all()
