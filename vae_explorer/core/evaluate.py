"""Evaluation: the negative ELBO per image (nats), summed in batches and averaged."""

from __future__ import annotations

import torch

from .likelihood import GPU_DECODER_FLOATS, decoder_outputs_per_image, prior_floats_per_latent
from .model import VAE

EVAL_NOISE_SEED = 0
# on the CPU, a pass's (images, K, L) block of a mixture's scores stays within this many floats
CPU_PRIOR_FLOATS = 1 << 24


def eval_batch_size(model: VAE, width: int, device: torch.device) -> int:
    """Images per forward pass when scoring: 1,000 on the CPU, where they stay in cache. On a GPU a
    pass is a few kernel launches whatever its size, so up to a whole 10,000-image split, as many
    as keep the decoder's outputs within GPU_DECODER_FLOATS: all 10,000 for the Bernoulli
    likelihood, a few hundred for the categorical one (whose 256 logits a pixel for 10,000 images
    would take 8 GB, and as much again for their log-softmax), for images of `width` values.
    Fewer where a mixture of many components would make the prior's scores larger than that."""
    if device.type != "cuda":
        return max(1, min(1000, CPU_PRIOR_FLOATS // max(1, prior_floats_per_latent(model))))
    return max(1, min(10_000, GPU_DECODER_FLOATS // decoder_outputs_per_image(model, width)))


def evaluation_noise(model: VAE, n: int, seed: int) -> torch.Tensor:
    """The latent noise of `n` images, (n, latent_dim) standard-normal draws from evaluation's own
    CPU generator, drawn at once: so that they do not depend on the batch size (the CPU draws
    normals in blocks of 16, so batches of other sizes would cut the stream elsewhere for an odd
    latent size), and a GPU, scoring in larger batches, sees the same draws."""
    generator = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    return torch.randn((n, model.config.latent_dim), generator=generator, dtype=dtype)


@torch.no_grad()
def negative_elbo(
    model: VAE, data: torch.Tensor, batch_size: int | None = None, seed: int = EVAL_NOISE_SEED
) -> float:
    """Mean negative ELBO over `data` (already binarised), with reduction='sum' per batch.

    The single latent sample per image comes from evaluation's own CPU generator, seeded afresh on
    every call and drawn for all images at once (`evaluation_noise`), so repeated evaluations of
    one model agree, in batches of any size, on the CPU and the GPU alike (up to rounding), and
    the run's own draws are untouched.
    """
    was_training = model.training
    model.eval()
    noise = evaluation_noise(model, len(data), seed).to(data.device)
    batch_size = batch_size or eval_batch_size(model, data.shape[1], data.device)
    total = 0.0
    try:
        for start in range(0, len(data), batch_size):
            batch = slice(start, start + batch_size)
            total += float(model(data[batch], None, reduction="sum", eps=noise[batch]))
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
    noise = evaluation_noise(model, len(data), seed).to(data.device)
    batch_size = batch_size or eval_batch_size(model, data.shape[1], data.device)
    neg = rec = kl = 0.0
    try:
        for start in range(0, len(data), batch_size):
            batch = slice(start, start + batch_size)
            t = model.elbo_terms(data[batch], None, eps=noise[batch])
            neg += float((-(t["log_px_z"] + t["log_pz"] - t["log_qz_x"])).sum())
            rec += float(-t["log_px_z"].sum())
            kl += float((t["log_qz_x"] - t["log_pz"]).sum())
    finally:
        model.train(was_training)
    n = max(len(data), 1)
    return {"neg_elbo": neg / n, "reconstruction": rec / n, "kl": kl / n}
