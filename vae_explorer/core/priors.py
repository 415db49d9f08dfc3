"""Priors over the latent space: the interface the rest of the package asks of one, and the
standard Gaussian and the learnable mixture of Gaussians.

A prior is offered by registering a `config.PriorKind` (its name, label, factory and which mixture
settings apply); its class implements `LatentPrior`. Nothing else names a prior: the model builds
it with `build_prior`, the trainer places it when its kind is placeable, and the panels read its
components through `component_params`.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from .config import ConfigError, ModelConfig, prior_kind
from .distributions import categorical_draw, log_normal_diag, log_standard_normal, normal_noise


@runtime_checkable
class LatentPrior(Protocol):
    """p(z): what the model, the trainer, evaluation and the panels ask of a prior (an nn.Module)."""

    latent_dim: int

    @property
    def num_components(self) -> int:
        """K: components the panels show and sample from one by one (1 for a single Gaussian)."""
        ...

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z (B, L); returns (B,)."""
        ...

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n draws of z, every draw from `generator`."""
        ...

    def sample_component(
        self, k: int, n: int, generator: torch.Generator, temperature: float = 1.0
    ) -> torch.Tensor:
        """n draws from component k, its spread scaled by `temperature`."""
        ...

    def component_params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weights (K,), means (K, L), log-variances (K, L)) of its Gaussian components, detached."""
        ...

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw its initial parameters from `generator` (a run's seed decides them)."""
        ...

    def fit_to(self, mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Place it on the encoder outputs (mu, log_var) (N, L); returns each code's component.
        Called only for priors whose kind is `placeable`."""
        ...


def build_prior(config: ModelConfig) -> nn.Module:
    """The prior `config.prior` names, built by its registered factory."""
    kind = prior_kind(config.prior)
    factory = kind.factory
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        target = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
        factory = target
    prior = factory(config)
    if not isinstance(prior, nn.Module) or not isinstance(prior, LatentPrior):
        raise ConfigError(f"prior {config.prior!r} does not build a latent prior module")
    return prior


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I); kept as a module so both priors share one interface."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @classmethod
    def from_config(cls, config: ModelConfig) -> StandardNormalPrior:
        return cls(config.latent_dim)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Nothing to draw: it has no parameters."""

    def fit_to(self, mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.zeros(len(mu), dtype=torch.long, device=mu.device)

    @property
    def num_components(self) -> int:
        return 1

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return log_standard_normal(z)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return normal_noise((n, self.latent_dim), generator, self._anchor)

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

    @classmethod
    def from_config(cls, config: ModelConfig) -> MixtureOfGaussiansPrior:
        return cls(config.latent_dim, config.components, learn_weights=config.mixture_weights == "learnable")

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """The course's placement: means drawn from N(0, I), equal weights, unit variances."""
        self.means.copy_(torch.randn(self.means.shape, generator=generator))
        self.logits.zero_()
        self.log_vars.zero_()

    def fit_to(self, mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The components on k-means clusters of the codes (see fit_mixture_to)."""
        return fit_mixture_to(self, mu, log_var, generator)

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
        ks = categorical_draw(weights, n, generator, replacement=True)
        eps = normal_noise((n, self.latent_dim), generator, weights)
        return self.means[ks] + torch.exp(0.5 * self.log_vars[ks]) * eps

    def sample_component(
        self, k: int, n: int, generator: torch.Generator, temperature: float = 1.0
    ) -> torch.Tensor:
        """n samples of z ~ N(mu_k, (temperature * sigma_k)^2) with sigma_k = exp(0.5 log_var_k)."""
        if not 0 <= k < self.num_components:
            raise IndexError(f"component {k} out of range 0..{self.num_components - 1}")
        eps = normal_noise((n, self.latent_dim), generator, self.means)
        return self.means[k] + temperature * torch.exp(0.5 * self.log_vars[k]) * eps

    def component_params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weights (K,), means (K, L), log-variances (K, L)), detached."""
        return (
            torch.softmax(self.logits, 0).detach(),
            self.means.detach(),
            self.log_vars.detach(),
        )


def kmeans(
    points: torch.Tensor, k: int, generator: torch.Generator, iterations: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with k-means++ seeding, every draw from `generator` (on the points' device).

    Returns (centroids (k, L), assignments (N,)). Needs at least k distinct points; a cluster that
    empties keeps its centroid. Stops when no assignment changes.
    """
    n = len(points)
    if n < k:
        raise ValueError(f"k-means with {k} clusters needs at least {k} points, not {n}")
    x = points.double()
    first = torch.randint(n, (1,), generator=generator, device=x.device)
    centroids = [x[first[0]]]
    nearest = ((x - centroids[0]) ** 2).sum(1)
    for _ in range(1, k):
        if float(nearest.sum()) <= 0:  # fewer distinct points than clusters: repeat one
            pick = torch.randint(n, (1,), generator=generator, device=x.device)
        else:
            pick = torch.multinomial(nearest, 1, generator=generator)
        centroids.append(x[pick[0]])
        nearest = torch.minimum(nearest, ((x - centroids[-1]) ** 2).sum(1))
    c = torch.stack(centroids)
    assign = torch.cdist(x, c).argmin(1)
    for _ in range(iterations):
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
        new = torch.cdist(x, c).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    return c.to(points.dtype), assign


@torch.no_grad()
def fit_mixture_to(
    prior: MixtureOfGaussiansPrior, mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Place the components on k-means clusters of encoder outputs (mu, log_var) (N, L): mean_k =
    the cluster's centroid, var_k = the variance of the aggregate posterior over the cluster (the
    spread of its means plus their mean encoder variance), learnable weights = cluster shares.
    Returns the assignments."""
    k = prior.num_components
    centroids, assign = kmeans(mu, k, generator)
    x, enc_var = mu.double(), log_var.double().exp()
    counts = torch.bincount(assign, minlength=k)
    fallback = x.var(0, unbiased=False) + enc_var.mean(0)
    variances = []
    for j in range(k):
        members = assign == j
        if int(counts[j]) < 2:
            variances.append(fallback)
        else:
            variances.append(x[members].var(0, unbiased=False) + enc_var[members].mean(0))
    var = torch.stack(variances).clamp_min(1e-6)
    prior.means.copy_(centroids.to(prior.means.dtype))
    prior.log_vars.copy_(var.log().to(prior.log_vars.dtype))
    if isinstance(prior.logits, nn.Parameter):
        share = counts.clamp_min(1).double() / counts.clamp_min(1).sum()
        prior.logits.copy_(share.log().to(prior.logits.dtype))
    return assign
