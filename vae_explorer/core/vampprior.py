"""The VampPrior (Tomczak & Welling 2018): p(z) = (1/K) sum_k q(z | u_k), the mixture of the
encoder's own posteriors at K learned pseudo-inputs u_k.

The pseudo-inputs are images, u = hardtanh(P) clipped to [0, 1] (the input scale of the data),
with P a free (K, pixels) parameter drawn from N(0.05, 0.01^2): the paper's code's initialisation
for MNIST. The prior holds no encoder of its own: the model binds its encoder after building both
(`bind_encoder`), so that the prior's components move with every step of the encoder and the
encoder's weights are saved once, under `encoder.`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .distributions import categorical_draw, log_normal_diag, normal_noise

INIT_MEAN = 0.05  # the pseudo-inputs' initial grey level (the paper's code, MNIST)
INIT_STD = 0.01


class VampPrior(nn.Module):
    """A mixture of K equally weighted Gaussians q(z | u_k), u_k = hardtanh(P_k) in [0, 1]."""

    def __init__(self, latent_dim: int, num_components: int, pixels: int, input_range: float = 1.0) -> None:
        """`input_range`: what a pixel of value 1 is in the encoder's input (255 for grey levels)."""
        super().__init__()
        self.latent_dim = latent_dim
        self.pixels = pixels
        self.input_range = input_range
        self.pseudo = nn.Parameter(torch.full((num_components, pixels), INIT_MEAN))
        self.__dict__["_encoder"] = None  # bound, not owned: no second copy in the state dict
        self.__dict__["_cache"] = None  # (key, means, log_vars) while nothing changes, without grad

    @classmethod
    def from_config(cls, config: ModelConfig) -> VampPrior:
        side = config.image_size
        scale = 255.0 if config.likelihood == "categorical" else 1.0
        return cls(config.latent_dim, config.components, side * side, scale)

    def bind_encoder(self, encoder: nn.Module) -> None:
        """The encoder q(z|x) whose posteriors at the pseudo-inputs make the prior."""
        self.__dict__["_encoder"] = encoder
        self.forget_components()

    @property
    def encoder(self) -> nn.Module:
        encoder = self.__dict__["_encoder"]
        if encoder is None:
            raise RuntimeError("the VampPrior has no encoder: the model binds it (bind_encoder)")
        return encoder

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """P ~ N(0.05, 0.01^2), every draw from `generator` (on the CPU, then copied)."""
        draw = torch.randn(tuple(self.pseudo.shape), generator=generator, device=generator.device)
        self.pseudo.copy_((INIT_MEAN + INIT_STD * draw).to(self.pseudo))
        self.forget_components()

    def fit_to(self, mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError("the VampPrior is placed by its pseudo-inputs, not on codes")

    @property
    def num_components(self) -> int:
        return self.pseudo.shape[0]

    def pseudo_inputs(self) -> torch.Tensor:
        """The pseudo-inputs as images in [0, 1], (K, pixels)."""
        return F.hardtanh(self.pseudo, 0.0, 1.0)

    def forget_components(self) -> None:
        """Drop the kept components: for changes that leave the parameters' version counters as
        they were (a CUDA graph's replayed optimiser step writes them outside autograd)."""
        self.__dict__["_cache"] = None

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(means (K, L), log-variances (K, L)) of q(z | u_k). Without autograd the pair is kept
        until a parameter of the encoder or a pseudo-input changes (an optimiser step, a load,
        a move), so that evaluation does not push the K pseudo-inputs through the encoder for
        every batch of latents."""
        if torch.is_grad_enabled():
            return self.encoder(self.pseudo_inputs() * self.input_range)
        params = (self.pseudo, *self.encoder.parameters())
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        cache = self.__dict__["_cache"]
        if cache is None or cache[0] != key:
            means, log_vars = self.encoder(self.pseudo_inputs() * self.input_range)
            cache = (key, means, log_vars)
            self.__dict__["_cache"] = cache
        return cache[1], cache[2]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log (1/K) sum_k N(z | mu_k, diag exp(log_var_k)) for z (B, L); returns (B,)."""
        means, log_vars = self.components()
        per_component = log_normal_diag(z.unsqueeze(-2), means, log_vars)  # (B, K)
        return torch.logsumexp(per_component, dim=-1) - math.log(self.num_components)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n draws: a pseudo-input chosen uniformly, then z ~ q(z | u_k)."""
        means, log_vars = self.components()
        weights = torch.full((self.num_components,), 1.0 / self.num_components, device=means.device)
        ks = categorical_draw(weights, n, generator, replacement=True)
        eps = normal_noise((n, self.latent_dim), generator, means)
        return means[ks] + torch.exp(0.5 * log_vars[ks]) * eps

    def sample_component(
        self, k: int, n: int, generator: torch.Generator, temperature: float = 1.0
    ) -> torch.Tensor:
        if not 0 <= k < self.num_components:
            raise IndexError(f"component {k} out of range 0..{self.num_components - 1}")
        means, log_vars = self.components()
        eps = normal_noise((n, self.latent_dim), generator, means)
        return means[k] + temperature * torch.exp(0.5 * log_vars[k]) * eps

    def component_params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(equal weights (K,), means (K, L), log-variances (K, L)), detached."""
        with torch.no_grad():
            means, log_vars = self.components()
        weights = torch.full((self.num_components,), 1.0 / self.num_components, device=means.device)
        return weights, means.detach(), log_vars.detach()


def has_pseudo_inputs(model) -> bool:
    """Whether the model's prior is made of the encoder's posteriors at pseudo-inputs."""
    return getattr(model.prior, "pseudo_inputs", None) is not None


def with_pseudo_inputs(model, samples: np.ndarray, components: list[int] | None = None) -> np.ndarray:
    """Each component's pseudo-input in front of its samples ((K, n, pixels) -> (K, n + 1,
    pixels)), for a prior made of the encoder's posteriors at pseudo-inputs; the samples
    unchanged for any other prior. `components`: the components the rows are of, in order."""
    if not has_pseudo_inputs(model):
        return samples
    with torch.no_grad():
        u = model.prior.pseudo_inputs().detach().cpu().numpy()
    if components is not None:
        u = u[components]
    return np.concatenate([u[:, None, :].astype(samples.dtype), samples], axis=1)
