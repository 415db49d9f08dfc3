"""Evaluation: the negative ELBO per image (nats), summed in batches and averaged."""

from __future__ import annotations

import torch

from .model import VAE

EVAL_NOISE_SEED = 0


def eval_batch_size(data: torch.Tensor) -> int:
    """Images per forward pass when scoring: all of a 10,000-image split at once on a GPU, where a
    pass is a few kernel launches whatever its size; 1,000 on the CPU, where they stay in cache."""
    return 10_000 if data.device.type == "cuda" else 1000


@torch.no_grad()
def negative_elbo(
    model: VAE, data: torch.Tensor, batch_size: int | None = None, seed: int = EVAL_NOISE_SEED
) -> float:
    """Mean negative ELBO over `data` (already binarised), with reduction='sum' per batch.

    The single latent sample per image comes from evaluation's own CPU generator, seeded afresh on
    every call, so repeated evaluations of one model agree, on the CPU and the GPU alike (up to
    rounding), and the run's own draws are untouched.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    batch_size = batch_size or eval_batch_size(data)
    total = 0.0
    try:
        for start in range(0, len(data), batch_size):
            total += float(model(data[start : start + batch_size], generator, reduction="sum"))
    finally:
        model.train(was_training)
    return total / max(len(data), 1)


@torch.no_grad()
def elbo_terms(
    model: VAE, data: torch.Tensor, batch_size: int | None = None, seed: int = EVAL_NOISE_SEED
) -> dict[str, float]:
    """The negative ELBO of `negative_elbo` (the same draws) and its two parts, per image:
    reconstruction -E_q log p(x|z) and the KL-like term E_q[log q(z|x) - log p(z)]."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    batch_size = batch_size or eval_batch_size(data)
    neg = rec = kl = 0.0
    try:
        for start in range(0, len(data), batch_size):
            t = model.elbo_terms(data[start : start + batch_size], generator)
            neg += float((-(t["log_px_z"] + t["log_pz"] - t["log_qz_x"])).sum())
            rec += float(-t["log_px_z"].sum())
            kl += float((t["log_qz_x"] - t["log_pz"]).sum())
    finally:
        model.train(was_training)
    n = max(len(data), 1)
    return {"neg_elbo": neg / n, "reconstruction": rec / n, "kl": kl / n}
