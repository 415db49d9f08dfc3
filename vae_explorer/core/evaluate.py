"""Evaluation: the negative ELBO per image (nats), summed in batches and averaged."""

from __future__ import annotations

import torch

from .model import VAE


@torch.no_grad()
def negative_elbo(model: VAE, data: torch.Tensor, batch_size: int = 1000, seed: int = 0) -> float:
    """Mean negative ELBO over `data` (already binarised), with reduction='sum' per batch.

    The single latent sample per image is drawn from a fixed seed, so repeated evaluations of the
    same model on the same data agree.
    """
    was_training = model.training
    model.eval()
    total = 0.0
    device = data.device
    rng_state = torch.random.get_rng_state()
    cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    torch.manual_seed(seed)
    try:
        for start in range(0, len(data), batch_size):
            total += float(model(data[start : start + batch_size], reduction="sum"))
    finally:
        torch.random.set_rng_state(rng_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, device)
        model.train(was_training)
    return total / max(len(data), 1)
