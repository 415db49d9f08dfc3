"""Adding a prior is one class and its registration: a toy prior, registered here and nowhere
else, trains, samples, evaluates and explores through the CLI and the window."""

from __future__ import annotations

import math

import pytest
import torch
from apphelpers import open_and_show
from torch import nn

from vae_explorer.cli import main
from vae_explorer.core.config import PRIOR_KINDS, PriorKind, register_prior
from vae_explorer.core.priors import LatentPrior, build_prior


class IsotropicGaussianPrior(nn.Module):
    """p(z) = N(0, s^2 I) with a learnable scale s = exp(log_scale): one component."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.log_scale = nn.Parameter(torch.zeros(()))

    @classmethod
    def from_config(cls, config) -> IsotropicGaussianPrior:
        return cls(config.latent_dim)

    @property
    def num_components(self) -> int:
        return 1

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        var = torch.exp(2 * self.log_scale)
        return -0.5 * (z.pow(2).sum(-1) / var + z.shape[-1] * (math.log(2 * math.pi) + 2 * self.log_scale))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        eps = torch.randn((n, self.latent_dim), generator=generator).to(self.log_scale.device)
        return eps * torch.exp(self.log_scale)

    def sample_component(self, k, n, generator, temperature=1.0):
        if k != 0:
            raise IndexError(f"one component, not {k + 1}")
        return temperature * self.sample(n, generator)

    def component_params(self):
        zeros = torch.zeros(1, self.latent_dim, device=self.log_scale.device)
        return torch.ones(1, device=zeros.device), zeros, (zeros + 2 * self.log_scale).detach()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        self.log_scale.fill_(0.5)

    def fit_to(self, mu, log_var, generator):
        raise AssertionError("not placeable: the trainer must not ask")


@pytest.fixture
def toy_prior():
    register_prior(PriorKind("isotropic", "Isotropic Gaussian (toy)", IsotropicGaussianPrior.from_config))
    yield "isotropic"
    del PRIOR_KINDS["isotropic"]


def test_the_toy_prior_is_a_latent_prior_with_the_right_density(toy_prior):
    from vae_explorer.core.config import ModelConfig

    prior = build_prior(ModelConfig(prior=toy_prior, latent_dim=3))
    assert isinstance(prior, LatentPrior)
    prior.reset_parameters(torch.Generator())
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    expected = torch.distributions.Normal(0.0, math.exp(0.5)).log_prob(z).sum(-1)
    torch.testing.assert_close(prior.log_prob(z), expected)


def test_the_toy_prior_through_the_cli_and_the_window(toy_prior, tmp_path, window, qtbot):
    out = tmp_path / "run"
    tiny = ["--limit-train", "320", "--limit-val", "128", "--limit-test", "128", "--hidden", "32"]
    args = ["train", "--prior", toy_prior, "--latent-dim", "4", "--epochs", "2", *tiny, "--out", str(out)]
    assert main([*args, "--eval-budget", "0"]) == 0
    ckpt = out / "model.pt"
    state = torch.load(ckpt, weights_only=True)["model"]
    assert "prior.log_scale" in state and float(state["prior.log_scale"]) != 0.5  # learned
    for command in (
        ["sample", str(ckpt), "--n", "8", "--out", str(tmp_path / "s.png")],
        ["components", str(ckpt), "--out", str(tmp_path / "c.png")],
        ["interpolate", str(ckpt), "--from", "0", "--to", "1", "--out", str(tmp_path / "i.png")],
        ["evaluate", str(ckpt), "--limit-test", "64", "--iw-samples", "5"],
    ):
        assert main(command) == 0, command
        assert command[0] == "evaluate" or (tmp_path / command[-1].rsplit("/", 1)[-1]).stat().st_size > 0
    failures = []
    window.service.job_failed.connect(lambda key, msg: failures.append((key, msg)))
    open_and_show(window, qtbot, ckpt)
    qtbot.waitUntil(lambda: not window.service.pending(), timeout=60_000)
    assert not failures
    for panel in window.panels:
        assert panel.notice_text() == "", type(panel).__name__
    from vae_explorer.app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.settings, window)
    index = dialog.prior.findData(toy_prior)
    assert index >= 0 and dialog.prior.itemText(index) == "Isotropic Gaussian (toy)"
    dialog.prior.setCurrentIndex(index)
    dialog.validate()
    assert not dialog.components.isEnabled() and not dialog.prior_init.isEnabled()
