"""Log-densities used by the VAE, written out so that tests can compare them with torch.distributions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def log_normal_diag(x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(x | mu, diag(exp(log_var))), summed over the last dimension."""
    return -0.5 * (LOG_2PI + log_var + (x - mu) ** 2 * torch.exp(-log_var)).sum(-1)


def log_standard_normal(x: torch.Tensor) -> torch.Tensor:
    """log N(x | 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + x**2).sum(-1)


def log_bernoulli_logits(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x | sigmoid(logits)) for x in {0, 1}, summed over the last dimension."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def log_categorical_logits(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Categorical(x | softmax(logits)) for integer-valued x (as floats), logits (..., D, C)."""
    log_p = F.log_softmax(logits, dim=-1)
    return log_p.gather(-1, x.long().unsqueeze(-1)).squeeze(-1).sum(-1)


def log_normal_fixed(x: torch.Tensor, mu: torch.Tensor, std: float) -> torch.Tensor:
    """log N(x | mu, std^2 I) with one fixed standard deviation, summed over the last dimension."""
    return -0.5 * (LOG_2PI + 2.0 * math.log(std) + ((x - mu) / std) ** 2).sum(-1)


# Draws. Each is made on the generator's own device and then moved to where it is used, so a
# model on the GPU can be sampled from a CPU generator (the explore panels' and evaluation's
# fixed seeds give the same draws on either device) and a run's CUDA generator costs no copy.


def normal_noise(
    shape: tuple[int, ...] | torch.Size, generator: torch.Generator, like: torch.Tensor
) -> torch.Tensor:
    """N(0, 1) draws of `shape` from `generator`, with `like`'s dtype, on `like`'s device."""
    eps = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=like.dtype)
    return eps.to(like.device)


def bernoulli_draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x ~ Bernoulli(probs) from `generator`, on `probs`'s device."""
    return torch.bernoulli(probs.to(generator.device), generator=generator).to(probs.device)


def categorical_draw(
    probs: torch.Tensor, count: int, generator: torch.Generator, replacement: bool = False
) -> torch.Tensor:
    """`count` indices per row of `probs` (torch.multinomial) from `generator`, on `probs`'s device."""
    draws = torch.multinomial(probs.to(generator.device), count, replacement=replacement, generator=generator)
    return draws.to(probs.device)
