"""The lab's figures of a 2-D model: the focused posterior grid against the global quadrature, the
IW-k curve below log p(x) and rising towards it, and the manifold's densities and levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_explorer.core.config import ModelConfig
from vae_explorer.core.exact2d import exact_log_px, model_grid, model_log_joint
from vae_explorer.core.lab import manifold, mass_levels, posterior_view
from vae_explorer.core.model import new_model


@pytest.fixture(scope="module")
def model_2d():
    return new_model(
        ModelConfig(hidden=32, latent_dim=2, components=3), torch.Generator().manual_seed(3)
    ).eval()


@pytest.fixture(scope="module")
def images():
    return torch.bernoulli(torch.full((40, 784), 0.12), generator=torch.Generator().manual_seed(4))


@pytest.fixture(scope="module")
def view(model_2d, images):
    return posterior_view(model_2d, images[5:6], 5, 28, torch.Generator().manual_seed(0))


def test_the_focused_grid_gives_the_global_quadratures_log_px(model_2d, images, view):
    x1 = images[5:6]
    exact = exact_log_px(model_log_joint(model_2d), x1, model_grid(model_2d, x1))
    assert view.converged and exact.converged
    assert view.log_px == pytest.approx(float(exact.log_px[0]), abs=2e-3)


def test_the_heat_map_holds_the_posterior(view):
    lo1, hi1, lo2, hi2 = view.extent
    n = view.density.shape[0]
    mass = view.density.sum() * (hi1 - lo1) * (hi2 - lo2) / n**2
    assert mass == pytest.approx(1.0, abs=1e-3)  # all of it inside the view, integrating to 1
    assert lo1 < view.post_mean[0] < hi1 and lo2 < view.post_mean[1] < hi2
    assert np.all(np.linalg.eigvalsh(view.post_cov) > 0)


def test_the_bound_rises_with_k_towards_log_px(view):
    bounds = view.iw_bounds
    assert next(iter(view.ks)) == 1 and list(view.ks)[-1] == 5000
    assert view.iw(1) == pytest.approx(view.elbo)  # IW-1 is the ELBO
    # non-decreasing in k (as estimates of expectations: up to their noise), never above log p(x)
    assert all(
        b >= a - 3 * max(ea, eb, 1e-3)
        for a, b, ea, eb in zip(bounds, bounds[1:], view.iw_stderr, view.iw_stderr[1:])
    )
    assert np.all(bounds <= view.log_px + 0.05)
    assert view.gap > 0 and view.log_px - bounds[-1] < 0.2 * view.gap + 0.02


def test_mass_levels_of_a_gaussian():
    axis = np.linspace(-8, 8, 801)
    z1, z2 = np.meshgrid(axis, axis)
    density = np.exp(-(z1**2 + z2**2) / 2) / (2 * math.pi)
    levels = mass_levels(density, (0.5, 0.9))
    # the region {p > l} of a standard 2-D Gaussian holding share s has l = (1 - s) / (2 pi)
    np.testing.assert_allclose(levels, [0.5 / (2 * math.pi), 0.1 / (2 * math.pi)], rtol=0.02)


def test_the_manifold(model_2d, images):
    m = manifold(model_2d, images, 28, images_side=5)
    assert m.tiles.shape == (140, 140) and m.tiles.min() >= 0 and m.tiles.max() <= 1
    lo1, hi1, lo2, hi2 = m.extent
    assert hi1 - lo1 == pytest.approx(hi2 - lo2)  # square
    n = m.aggregate.shape[0]
    cell = (hi1 - lo1) * (hi2 - lo2) / n**2
    assert 0.9 < m.aggregate.sum() * cell <= 1.0 + 1e-6  # the codes' mass is (nearly) all inside
    assert 0 < m.prior.sum() * cell <= 1.0 + 1e-6
    for levels in (m.prior_levels, m.aggregate_levels):
        assert levels[0] > levels[1] > 0
    # the top-left tile is the decoded point of smallest z1 and largest z2
    corner = torch.tensor([[lo1 + (hi1 - lo1) / 10, hi2 - (hi2 - lo2) / 10]])
    with torch.no_grad():
        expected = model_2d.decoder.mean(corner.float())[0].numpy().reshape(28, 28)
    np.testing.assert_allclose(m.tiles[:28, :28], expected, atol=1e-5)


def test_the_lab_refuses_a_model_that_is_not_2d(images):
    model = new_model(ModelConfig(hidden=16, latent_dim=3, components=2), torch.Generator())
    with pytest.raises(ValueError, match="2-D"):
        posterior_view(model, images[:1], 0, 28, torch.Generator())


def test_the_image_shown_is_in_zero_to_one_for_every_likelihood():
    from vae_explorer.core.data import grey_input
    from vae_explorer.core.lab import shown_image

    pixels = torch.arange(784).remainder(256).to(torch.uint8)
    for likelihood in ("categorical", "gaussian"):
        shown = shown_image(grey_input(pixels[None], likelihood)[0], likelihood, 28)
        np.testing.assert_allclose(shown.ravel(), pixels.numpy() / 255.0, rtol=1e-6)
    binary = torch.bernoulli(torch.full((784,), 0.5), generator=torch.Generator().manual_seed(1))
    assert np.array_equal(shown_image(binary, "bernoulli", 28).ravel(), binary.numpy())
