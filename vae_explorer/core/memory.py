"""What a run needs in device memory, estimated before anything is allocated, and the refusal of a
run that would not fit (the CLI checks before it starts, the trainer before it builds the model)."""

from __future__ import annotations

import torch

from .config import ConfigError, RunConfig, prior_kind
from .device import device_memory
from .model import VAE

# float32 tensors of (batch, K, L) that a training step with a mixture prior holds at once: the
# differences, their squares, the scaled squares and autograd's saved copies
PRIOR_STEP_COPIES = 6
KMEANS_IMAGES = 10_000  # the training images the k-means placement clusters (Trainer.fit_prior_to_data)


def memory_estimate(config: RunConfig) -> tuple[int, int, int]:
    """(parameters, bytes of weights + gradients + optimiser state, bytes of a training step's
    mixture scores), counted on torch's 'meta' device, which stores nothing. Raises ConfigError
    for sizes past what a tensor can index."""
    try:
        with torch.device("meta"):
            model = VAE(config.model)
            count = sum(p.numel() for p in model.parameters())
    except (RuntimeError, TypeError, OverflowError):  # past int64 a size does not even reach torch
        raise ConfigError(
            f"the model is too large: its parameters cannot even be counted (hidden={config.model.hidden}, "
            f"latent_dim={config.model.latent_dim}, components={config.model.components})"
        ) from None
    kind = prior_kind(config.model.prior)
    prior = config.model.components * config.model.latent_dim if kind.components else 0
    step = PRIOR_STEP_COPIES * 4 * config.train.batch_size * prior
    kmeans = kind.placeable and config.train.prior_init == "kmeans"
    if kmeans and config.model.components <= KMEANS_IMAGES:
        # the k-means placement after epoch 1: distances of its images to the K centroids (float64)
        step = max(step, 2 * 8 * KMEANS_IMAGES * config.model.components)
    return count, 4 * count * 4, step


def check_model_fits(config: RunConfig, device: torch.device) -> None:
    """Refuse a run whose weights, gradients and optimiser state (4 copies), with the mixture's
    scores of a training batch (batch x K x L, a few copies), exceed the device's memory, before
    allocating any of it."""
    count, weights, step = memory_estimate(config)
    need, have = weights + step, device_memory(device)
    if have is None or need <= have:
        return
    m = config.model
    if step > weights:
        raise ConfigError(
            f"a mixture of {m.components:,} components in {m.latent_dim} dimensions needs about "
            f"{step / 2**30:,.1f} GiB for the scores of each training batch of {config.train.batch_size} "
            f"(with the {count:,} parameters and their optimiser state {need / 2**30:,.1f} GiB), more than "
            f"the {have / 2**30:,.1f} GiB of the {device.type} device (lower --components, "
            "--latent-dim or --batch-size)"
        )
    raise ConfigError(
        f"the model has {count:,} parameters: with gradients and optimiser state "
        f"that is {need / 2**30:,.1f} GiB, more than the {have / 2**30:,.1f} GiB of "
        f"the {device.type} device (lower --hidden, --latent-dim or --components)"
    )
