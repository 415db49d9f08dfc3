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
