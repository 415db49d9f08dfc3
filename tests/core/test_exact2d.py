"""Exact 2-D quantities by quadrature, against closed forms and against the IW bound."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from vae_explorer.core.config import ModelConfig
from vae_explorer.core.exact2d import (
    aggregate_posterior_density,
    exact_log_px,
    grid_around,
    log_joint_grid,
    model_grid,
    model_log_joint,
    posterior_density,
)
from vae_explorer.core.likelihood import iw_nll
from vae_explorer.core.model import new_model

W = torch.tensor([[1.2, -0.4], [0.3, 0.9], [-0.7, 0.5]], dtype=torch.float64)
B = torch.tensor([0.2, -0.1, 0.4], dtype=torch.float64)
S = 0.7  # the observation noise's standard deviation


def linear_gaussian(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log N(x | W z + b, S^2 I) + log N(z | 0, I), for every x (N, 3) and z (G, 2)."""
    mean = z.double() @ W.T + B  # (G, 3)
    obs = torch.distributions.Normal(mean[None], S).log_prob(x.double()[:, None]).sum(-1)
    return obs + torch.distributions.Normal(0.0, 1.0).log_prob(z.double()).sum(-1)[None]


def closed_form_posterior(x: torch.Tensor):
    precision = torch.eye(2, dtype=torch.float64) + W.T @ W / S**2
    cov = torch.linalg.inv(precision)
    return (cov @ W.T @ (x.double() - B) / S**2), cov


X = torch.tensor([[0.5, 1.0, -0.3], [2.0, -1.0, 0.8], [-1.5, 0.4, 1.9]], dtype=torch.float64)


def test_quadrature_equals_the_closed_form_marginal():
    marginal = torch.distributions.MultivariateNormal(B, W @ W.T + S**2 * torch.eye(3, dtype=torch.float64))
    means = torch.stack([closed_form_posterior(x)[0] for x in X])
    grid = grid_around(torch.cat([means, torch.zeros(1, 2)]), torch.ones(len(X) + 1, 2), n=50)
    result = exact_log_px(linear_gaussian, X, grid)
    assert result.converged and result.change < 1e-3
    np.testing.assert_allclose(result.log_px, marginal.log_prob(X).numpy(), atol=1e-3)
    assert [n for n, _ in result.steps][:2] == [50, 100]


def test_the_true_posterior_on_the_grid_is_the_closed_form_one():
    x = X[1:2]
    mean, cov = closed_form_posterior(x[0])
    grid = grid_around(torch.stack([mean, torch.zeros(2, dtype=torch.float64)]), torch.ones(2, 2), n=300)
    density = posterior_density(linear_gaussian, x, grid)
    assert density.sum() * grid.cell_area == pytest.approx(1.0, abs=1e-9)  # integrates to 1
    z = grid.points()
    expected = (
        torch.distributions.MultivariateNormal(mean, cov).log_prob(z).exp().view(grid.n, grid.n).numpy()
    )
    assert np.abs(density - expected).max() < 1e-3 * expected.max()
    flat = density.ravel() * grid.cell_area
    np.testing.assert_allclose(flat @ z.numpy(), mean.numpy(), atol=1e-4)  # its mean


@pytest.fixture(scope="module")
def model_2d():
    model = new_model(ModelConfig(hidden=32, latent_dim=2, components=3), torch.Generator().manual_seed(3))
    return model.eval()


def test_the_bernoulli_shortcut_equals_the_decoder(model_2d):
    x = torch.bernoulli(torch.full((4, 784), 0.3), generator=torch.Generator().manual_seed(0))
    grid = model_grid(model_2d, x, n=8)
    fast = log_joint_grid(model_log_joint(model_2d), x, grid)
    z = grid.points().float()
    slow = torch.stack(
        [model_2d.decoder.log_prob(xi.expand(len(z), -1), z) + model_2d.prior.log_prob(z) for xi in x]
    ).double()
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("likelihood", ["gaussian", "categorical"])
def test_every_likelihood_equals_the_decoder_within_bounded_blocks(likelihood, monkeypatch):
    """The Gaussian's expanded square and the categorical's gathered blocks against the decoder's
    own log p(x|z) for each image and point in turn; the blocks made small here so that both
    loops run several times (and nothing of images x points x pixels x levels is made)."""
    import vae_explorer.core.exact2d as exact2d

    monkeypatch.setattr(exact2d, "BLOCK_VALUES", 3 * 784 * 256 if likelihood == "categorical" else 50)
    model = new_model(
        ModelConfig(hidden=16, latent_dim=2, components=3, likelihood=likelihood),
        torch.Generator().manual_seed(2),
    ).eval()
    g = torch.Generator().manual_seed(3)
    if likelihood == "categorical":
        x = torch.randint(0, 256, (7, 784), generator=g).float()
    else:
        x = torch.rand(7, 784, generator=g)
    z = torch.randn(11, 2, generator=g)
    with torch.no_grad():
        fast = exact2d.decoder_log_likelihoods(model.decoder, x, z)
        slow = torch.stack([model.decoder.log_prob(xi.expand(len(z), -1), z) for xi in x])
    assert fast.shape == (7, 11)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-2)


def test_the_iw_bound_tightens_towards_the_exact_value(model_2d):
    x = torch.bernoulli(torch.full((6, 784), 0.15), generator=torch.Generator().manual_seed(1))
    exact = exact_log_px(model_log_joint(model_2d), x, model_grid(model_2d, x), tolerance=1e-3)
    assert exact.converged
    exact_nll = -exact.log_px.mean()
    means = []
    for k in (1, 10, 100, 1000):
        runs = [
            iw_nll(model_2d, x, k, torch.Generator().manual_seed(seed)).per_image.mean() for seed in range(6)
        ]
        means.append(float(np.mean(runs)))
    # non-increasing in expectation (averaged over draws), and every bound above the exact value
    assert all(a >= b - 0.05 for a, b in itertools.pairwise(means)), means
    assert means[0] - means[-1] > 0.5
    assert min(means) >= exact_nll - 0.05
    assert means[-1] - exact_nll < 0.3 * (means[0] - exact_nll) + 0.05
    assert math.isfinite(exact_nll)


class FixedEncoder(torch.nn.Module):
    """An encoder that gives image i the code N(MU[i], diag(exp(LOG_VAR[i])))."""

    def forward(self, x):
        i = x[:, 0].long()
        return MU[i], LOG_VAR[i]


MU = torch.tensor([[0.3, -0.2], [-1.1, 0.7], [0.05, 0.05]])
LOG_VAR = torch.tensor([[-6.0, -5.0], [-1.0, -2.0], [-3.0, -7.0]])  # two far narrower than a cell


def test_the_aggregate_posterior_is_the_cell_average_of_the_codes():
    model = torch.nn.Module()
    model.encoder = FixedEncoder()
    x = torch.arange(3, dtype=torch.float32)[:, None]
    grid = grid_around(torch.zeros(1, 2), torch.full((1, 2), 0.5), n=16, margin=8.0)  # cells of 0.5
    density = aggregate_posterior_density(model, x, grid)
    # brute force: each cell's average of the mixture's density over 200 x 200 points inside it
    sub = 200
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(3, dtype=torch.float64)),
        torch.distributions.Independent(
            torch.distributions.Normal(MU.double(), (0.5 * LOG_VAR.double()).exp()), 1
        ),
    )
    w1 = (grid.hi[0] - grid.lo[0]) / grid.n
    w2 = (grid.hi[1] - grid.lo[1]) / grid.n
    offsets = (torch.arange(sub, dtype=torch.float64) + 0.5) / sub
    expected = np.zeros((grid.n, grid.n))
    for r in range(grid.n):
        z2 = grid.lo[1] + (r + offsets) * w2
        for c in range(grid.n):
            z1 = grid.lo[0] + (c + offsets) * w1
            zz = torch.stack(torch.meshgrid(z1, z2, indexing="ij"), -1).reshape(-1, 2)
            expected[r, c] = mix.log_prob(zz).exp().mean()
    np.testing.assert_allclose(density, expected, atol=2e-3 * expected.max())
    assert density.sum() * grid.cell_area == pytest.approx(1.0, abs=1e-6)  # all the codes inside the box


def test_a_grid_that_cuts_off_the_posterior_is_widened_until_it_holds_it():
    """A grid drawn around q(z|x) and the prior can miss a posterior that lies beyond both (a model
    early in training): the quadrature then converged on the truncated integral and said so. Here
    log p(x, z) is a unit Gaussian bump of mass 1 centred at (9, -7), outside the [-3, 3]^2 grid:
    the grid is widened until its border holds nothing, and log p(x) is 0."""
    from vae_explorer.core.exact2d import Grid, exact_log_px, holding_grid

    centre = torch.tensor([9.0, -7.0], dtype=torch.float64)

    def bump(x, z):
        z = z.double()
        return (-0.5 * ((z - centre) ** 2).sum(1) - math.log(2 * math.pi)).expand(len(x), -1)

    x = torch.zeros(1, 4)
    start = Grid((-3.0, -3.0), (3.0, 3.0), 64)
    grid, held = holding_grid(bump, x, start)
    assert held and grid.lo[0] == -3.0 and grid.hi[1] == 3.0  # widened only towards the bump
    assert grid.lo[0] < 9 - 7.7 and grid.hi[0] > 9 + 7.7 and grid.lo[1] < -7 - 7.7  # 30 nats: 7.7 sd
    quad = exact_log_px(bump, x, grid)
    assert quad.converged and abs(quad.log_px[0]) < 1e-3
    truncated = exact_log_px(bump, x, start)
    assert truncated.log_px[0] < -20  # what the grid as drawn gave
