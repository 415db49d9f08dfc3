"""Evaluation: the negative ELBO per image (nats), summed in batches and averaged."""

from __future__ import annotations

import torch

from .model import VAE

EVAL_NOISE_SEED = 0


@torch.no_grad()
def negative_elbo(
    model: VAE, data: torch.Tensor, batch_size: int = 1000, seed: int = EVAL_NOISE_SEED
) -> float:
    """Mean negative ELBO over `data` (already binarised), with reduction='sum' per batch.

    The single latent sample per image comes from evaluation's own generator, seeded afresh on
    every call, so repeated evaluations of one model agree and the run's own draws are untouched.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(data.device).manual_seed(seed)
    total = 0.0
    try:
        for start in range(0, len(data), batch_size):
            total += float(model(data[start : start + batch_size], generator, reduction="sum"))
    finally:
        model.train(was_training)
    return total / max(len(data), 1)
