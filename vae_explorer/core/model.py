"""The VAE: Gaussian encoder, Bernoulli (or 256-way categorical) decoder, and a prior."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .distributions import log_bernoulli_logits, log_categorical_logits, log_normal_diag
from .networks import decoder_net, encoder_net
from .priors import make_prior


class Encoder(nn.Module):
    """q(z|x) = N(mu(x), diag(exp(log_var(x)))), sampled with the reparameterisation trick."""

    def __init__(self, net: nn.Module, input_scale: float = 1.0) -> None:
        super().__init__()
        self.net = net
        self.input_scale = input_scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.input_scale != 1.0:
            x = x * self.input_scale
        mu, log_var = self.net(x).chunk(2, dim=-1)
        return mu, log_var

    @staticmethod
    def sample(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)

    @staticmethod
    def log_prob(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return log_normal_diag(z, mu, log_var)


class Decoder(nn.Module):
    """p(x|z): independent Bernoulli pixels, or a categorical over 256 grey levels per pixel."""

    def __init__(self, net: nn.Module, likelihood: str, pixels: int) -> None:
        super().__init__()
        self.net = net
        self.likelihood = likelihood
        self.pixels = pixels

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        if self.likelihood == "categorical":
            return out.view(z.shape[0], self.pixels, -1)
        return out

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        logits = self.logits(z)
        if self.likelihood == "categorical":
            return log_categorical_logits(x, logits)
        return log_bernoulli_logits(x, logits)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """Expected pixel intensity in [0, 1]."""
        logits = self.logits(z)
        if self.likelihood == "categorical":
            levels = torch.arange(logits.shape[-1], device=z.device, dtype=logits.dtype)
            return (torch.softmax(logits, -1) * levels).sum(-1) / (logits.shape[-1] - 1)
        return torch.sigmoid(logits)

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """A draw of the pixels, scaled to [0, 1]."""
        logits = self.logits(z)
        if self.likelihood == "categorical":
            draws = torch.distributions.Categorical(logits=logits).sample()
            return draws.float() / (logits.shape[-1] - 1)
        return torch.bernoulli(torch.sigmoid(logits))


class VAE(nn.Module):
    """Negative ELBO = -log p(x|z) - log p(z) + log q(z|x), one sample of z per image."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        side = config.image_size
        values = 256 if config.likelihood == "categorical" else 1
        scale = 1.0 / 255.0 if config.likelihood == "categorical" else 1.0
        self.encoder = Encoder(encoder_net(config.arch, side, config.hidden, config.latent_dim), scale)
        self.decoder = Decoder(
            decoder_net(config.arch, side, config.hidden, config.latent_dim, values),
            config.likelihood,
            side * side,
        )
        self.prior = make_prior(config.prior, config.latent_dim, config.components)

    def elbo_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image terms: log p(x|z), log p(z), log q(z|x) and the sampled z."""
        mu, log_var = self.encoder(x)
        z = self.encoder.sample(mu, log_var)
        return {
            "z": z,
            "log_px_z": self.decoder.log_prob(x, z),
            "log_pz": self.prior.log_prob(z),
            "log_qz_x": self.encoder.log_prob(z, mu, log_var),
        }

    def forward(self, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        t = self.elbo_terms(x)
        neg_elbo = -(t["log_px_z"] + t["log_pz"] - t["log_qz_x"])
        if reduction == "mean":
            return neg_elbo.mean()
        if reduction == "sum":
            return neg_elbo.sum()
        if reduction == "none":
            return neg_elbo
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}")

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder mean, used for interpolation and the latent map."""
        return self.encoder(x)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, binary: bool = False) -> torch.Tensor:
        """Decoder means (probabilities) or, with binary=True, a draw; (B, pixels) in [0, 1]."""
        return self.decoder.sample(z) if binary else self.decoder.mean(z)

    @torch.no_grad()
    def sample(self, n: int, binary: bool = False) -> torch.Tensor:
        return self.decode(self.prior.sample(n), binary=binary)
