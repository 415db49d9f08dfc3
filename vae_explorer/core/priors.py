"""Priors over the latent space: the standard Gaussian and a learnable mixture of Gaussians."""

from __future__ import annotations

import torch
from torch import nn

from .distributions import log_normal_diag, log_standard_normal


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I); kept as a module so both priors share one interface."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @property
    def num_components(self) -> int:
        return 1

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return log_standard_normal(z)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=self._anchor.device)

    def sample_component(
        self, k: int, n: int, generator: torch.Generator, temperature: float = 1.0
    ) -> torch.Tensor:
        if k != 0:
            raise IndexError(f"the standard prior has one component, not {k + 1}")
        return temperature * self.sample(n, generator)

    def component_params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weights (K,), means (K, L), log-variances (K, L)), detached."""
        zeros = torch.zeros(1, self.latent_dim, device=self._anchor.device)
        return torch.ones(1, device=zeros.device), zeros, zeros.clone()


class MixtureOfGaussiansPrior(nn.Module):
    """p(z) = sum_k w_k N(z | mu_k, diag(exp(log_var_k))) with w = softmax(logits), all learnable."""

    def __init__(
        self,
        latent_dim: int,
        num_components: int,
        generator: torch.Generator | None = None,
        learn_weights: bool = True,
    ):
        """With learn_weights=False the logits are a buffer of zeros: the weights stay exactly 1/K."""
        super().__init__()
        self.latent_dim = latent_dim
        if learn_weights:
            self.logits = nn.Parameter(torch.zeros(num_components))
        else:
            self.register_buffer("logits", torch.zeros(num_components))
        self.means = nn.Parameter(torch.randn(num_components, latent_dim, generator=generator))
        self.log_vars = nn.Parameter(torch.zeros(num_components, latent_dim))

    @property
    def num_components(self) -> int:
        return self.logits.shape[0]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z (B, L), by log-sum-exp over the K components; returns (B,)."""
        log_w = torch.log_softmax(self.logits, dim=0)  # (K,)
        per_component = log_normal_diag(z.unsqueeze(-2), self.means, self.log_vars)  # (B, K)
        return torch.logsumexp(per_component + log_w, dim=-1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n samples: components drawn by weight, then one Gaussian draw each, all vectorised."""
        weights = torch.softmax(self.logits, dim=0)
        ks = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=weights.device)
        return self.means[ks] + torch.exp(0.5 * self.log_vars[ks]) * eps

    def sample_component(
        self, k: int, n: int, generator: torch.Generator, temperature: float = 1.0
    ) -> torch.Tensor:
        """n samples of z ~ N(mu_k, (temperature * sigma_k)^2) with sigma_k = exp(0.5 log_var_k)."""
        if not 0 <= k < self.num_components:
            raise IndexError(f"component {k} out of range 0..{self.num_components - 1}")
        eps = torch.randn(n, self.latent_dim, generator=generator, device=self.means.device)
        return self.means[k] + temperature * torch.exp(0.5 * self.log_vars[k]) * eps

    def component_params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weights (K,), means (K, L), log-variances (K, L)), detached."""
        return (
            torch.softmax(self.logits, 0).detach(),
            self.means.detach(),
            self.log_vars.detach(),
        )


def make_prior(kind: str, latent_dim: int, components: int, mixture_weights: str = "learnable") -> nn.Module:
    if kind == "mog":
        return MixtureOfGaussiansPrior(latent_dim, components, learn_weights=mixture_weights == "learnable")
    if kind == "standard":
        return StandardNormalPrior(latent_dim)
    raise ValueError(f"unknown prior {kind!r}")
