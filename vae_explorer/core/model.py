"""The VAE: Gaussian encoder; Bernoulli, 256-way categorical or Gaussian decoder; and a prior."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig
from .distributions import (
    bernoulli_draw,
    categorical_draw,
    log_bernoulli_logits,
    log_categorical_logits,
    log_normal_diag,
    log_normal_fixed,
    normal_noise,
)
from .networks import decoder_net, encoder_net
from .priors import LatentPrior, build_prior


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
    def sample(
        mu: torch.Tensor,
        log_var: torch.Tensor,
        generator: torch.Generator | None,
        eps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z = mu + sigma * eps, with eps drawn from `generator` unless the caller gives it (a
        captured training step takes its noise as an input, drawn outside the graph)."""
        if eps is None:
            if generator is None:
                raise ValueError("sampling z needs a generator or the noise eps")
            eps = normal_noise(mu.shape, generator, mu)
        return mu + torch.exp(0.5 * log_var) * eps

    @staticmethod
    def log_prob(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return log_normal_diag(z, mu, log_var)


# The Gaussian likelihood's standard deviation, fixed rather than learned: MNIST's border pixels are
# exactly 0 in every image, so a learned variance shrinks towards 0 there and the density grows
# without bound; a fixed one keeps the objective bounded and the weight of the reconstruction
# against the KL term explicit (1 / (2 std^2) per squared pixel error).
GAUSSIAN_STD = 0.1


class Decoder(nn.Module):
    """p(x|z): independent Bernoulli pixels, a categorical over 256 grey levels per pixel, or
    independent Gaussians N(x | sigmoid(net(z)), GAUSSIAN_STD^2) on intensities in [0, 1]."""

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
        if self.likelihood == "gaussian":
            return log_normal_fixed(x, torch.sigmoid(logits), GAUSSIAN_STD)
        return log_bernoulli_logits(x, logits)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """Expected pixel intensity in [0, 1]."""
        logits = self.logits(z)
        if self.likelihood == "categorical":
            levels = torch.arange(logits.shape[-1], device=z.device, dtype=logits.dtype)
            return (torch.softmax(logits, -1) * levels).sum(-1) / (logits.shape[-1] - 1)
        return torch.sigmoid(logits)

    def sample(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A draw of the pixels from `generator`, scaled to [0, 1] (Gaussian draws clipped to it;
        the figures show a Gaussian model's decoder means, as the pixel noise carries no shape)."""
        logits = self.logits(z)
        if self.likelihood == "gaussian":
            mean = torch.sigmoid(logits)
            return (mean + GAUSSIAN_STD * normal_noise(mean.shape, generator, mean)).clamp_(0.0, 1.0)
        if self.likelihood == "categorical":
            levels = logits.shape[-1]
            probs = torch.softmax(logits, -1).reshape(-1, levels)
            draws = categorical_draw(probs, 1, generator).view(logits.shape[:-1])
            return draws.float() / (levels - 1)
        return bernoulli_draw(torch.sigmoid(logits), generator)


def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Draw every parameter afresh from `generator`, by torch's default rule for each layer kind
    (Kaiming-uniform weights with a=sqrt(5), biases uniform in +-1/sqrt(fan_in)), each prior's by
    its own reset_parameters (the mixture: N(0, 1) means, equal weights, unit variances), and zero
    every buffer."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                if layer.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
                    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
            elif isinstance(layer, LatentPrior):
                layer.reset_parameters(generator)
        for buffer in module.buffers():
            buffer.zero_()


def empty_model(config: ModelConfig) -> VAE:
    """A model whose tensors are allocated but not drawn: built on torch's 'meta' device, so that
    building it never touches the global random state (which other threads may be drawing from)."""
    with torch.device("meta"):
        model = VAE(config)
    model.to_empty(device="cpu")
    with torch.no_grad():
        for buffer in model.buffers():
            buffer.zero_()
    return model


def new_model(config: ModelConfig, generator: torch.Generator) -> VAE:
    """A fresh model whose initial parameters depend on `generator` alone (a run's seed)."""
    model = empty_model(config)
    init_parameters(model, generator)
    return model


def model_for(config: ModelConfig, weights: dict[str, torch.Tensor]) -> VAE:
    """A model holding saved `weights` (a state_dict), in eval mode; nothing is drawn."""
    model = empty_model(config)
    model.load_state_dict(weights)
    return model.eval()


class VAE(nn.Module):
    """Negative ELBO = -log p(x|z) - log p(z) + log q(z|x), one sample of z per image."""

    def __init__(self, config: ModelConfig) -> None:
        """Layers as torch's constructors initialise them (from the global random state); the
        package builds models with `new_model` (from a generator) or `model_for` (saved weights)."""
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
        self.prior = build_prior(config)

    def elbo_terms(
        self, x: torch.Tensor, generator: torch.Generator | None, eps: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-image terms: log p(x|z), log p(z), log q(z|x) and z, sampled from `generator` (or
        with the given standard-normal noise `eps`, shaped (B, latent_dim))."""
        mu, log_var = self.encoder(x)
        z = self.encoder.sample(mu, log_var, generator, eps)
        return {
            "z": z,
            "log_px_z": self.decoder.log_prob(x, z),
            "log_pz": self.prior.log_prob(z),
            "log_qz_x": self.encoder.log_prob(z, mu, log_var),
        }

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None,
        reduction: str = "mean",
        kl_weight: float | torch.Tensor = 1.0,
        eps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The negative ELBO of `x`, its latent noise drawn from `generator` (the caller's: the run's
        while training, evaluation's own fixed-seed one when scoring) or given as `eps`. A tensor
        `kl_weight` (a captured step's warm-up weight, set before each replay) always takes the
        weighted form."""
        t = self.elbo_terms(x, generator, eps)
        if isinstance(kl_weight, float) and kl_weight == 1.0:
            neg_elbo = -(t["log_px_z"] + t["log_pz"] - t["log_qz_x"])
        else:  # KL warm-up: -log p(x|z) + w * (log q(z|x) - log p(z))
            neg_elbo = -(t["log_px_z"] + kl_weight * (t["log_pz"] - t["log_qz_x"]))
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
    def decode(
        self, z: torch.Tensor, binary: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decoder means (probabilities) or, with binary=True, a draw from `generator`; (B, pixels)."""
        if not binary:
            return self.decoder.mean(z)
        if generator is None:
            raise ValueError("binary draws need a generator")
        return self.decoder.sample(z, generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, binary: bool = False) -> torch.Tensor:
        """n images decoded from prior samples, every draw from `generator`."""
        return self.decode(self.prior.sample(n, generator), binary=binary, generator=generator)
