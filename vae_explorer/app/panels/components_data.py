"""The Components tab's data, computed on the inference thread: sample strips per component and each
component's character on the test set, as plain arrays and frozen dataclasses for the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae_explorer.app.inference import ModelContext
from vae_explorer.core.explore import component_means, component_rows
from vae_explorer.core.grids import tile, to_images
from vae_explorer.core.likelihood import latent_statistics
from vae_explorer.core.vampprior import has_pseudo_inputs, with_pseudo_inputs


@dataclass(frozen=True)
class ComponentInfo:
    """One component's character on the test set (plain values for the GUI thread)."""

    weight: float
    share: float  # of the test images it explains best
    count: int
    dominant: int | None
    purity: float  # NaN when it explains no image
    class_counts: tuple[int, ...]
    typical: np.ndarray | None  # (H, W') strip of the test images it explains best, or None


@dataclass(frozen=True)
class ComponentRows:
    strips: np.ndarray  # (K, H, W): one tiled strip of samples per component, in component order
    weights: np.ndarray  # (K,)
    components: tuple[ComponentInfo, ...] | None  # None when the test images cannot be read
    images: int = 0  # test images the statistics are over
    pseudo_inputs: bool = False  # each strip starts with the component's pseudo-input (VampPrior)
    cells: int = 0  # images per strip


def _strips(samples: np.ndarray, side: int) -> np.ndarray:
    return np.stack([tile(to_images(s, side), 1, len(s), pad=1, fill=0.35) for s in samples])


def characters(ctx: ModelContext, typical: int) -> tuple[tuple[ComponentInfo, ...], int]:
    """Each component's share, digits and typical test images, from the test images' encoder means."""
    x = ctx.test_inputs()
    stats = latent_statistics(ctx.model, x, ctx.test_labels(), nearest=typical)
    images = ctx.test_images()
    out = []
    for c in stats.components:
        strip = None
        if typical and c.nearest:
            chosen = images[list(c.nearest)].float().numpy() / 255.0
            strip = tile(to_images(chosen, ctx.side), 1, typical, pad=1, fill=0.35)
        out.append(
            ComponentInfo(c.weight, c.share, c.count, c.dominant_label, c.purity, c.class_counts, strip)
        )
    return tuple(out), len(x)


def components_job(n: int, temperature: float, binary: bool, mean_only: bool, seed: int, typical: int = 4):
    def job(ctx: ModelContext) -> ComponentRows:
        weights = ctx.model.prior.component_params()[0].cpu().numpy()
        if mean_only:
            means = component_means(ctx.model, binary, torch.Generator().manual_seed(seed))
            samples = with_pseudo_inputs(ctx.model, means[:, None, :])
        else:
            samples = component_rows(ctx.model, n, temperature, binary, seed)
        try:
            comps, count = characters(ctx, typical)
        except Exception:  # no test images (moved data folder ...): the samples still show
            comps, count = None, 0
        pseudo = has_pseudo_inputs(ctx.model)
        return ComponentRows(_strips(samples, ctx.side), weights, comps, count, pseudo, samples.shape[1])

    return job


def row_job(k: int, n: int, temperature: float, binary: bool, seed: int):
    def job(ctx: ModelContext) -> tuple[int, np.ndarray]:
        samples = component_rows(ctx.model, n, temperature, binary, seed, components=[k])
        return k, _strips(samples, ctx.side)[0]

    return job


def row_order(weights: np.ndarray, shares: np.ndarray | None, by: str) -> np.ndarray:
    """Component indices in display order: by index, by weight or by share (heaviest first)."""
    if by == "weight":
        return np.argsort(-np.asarray(weights), kind="stable")
    if by == "usage" and shares is not None:
        return np.argsort(-np.asarray(shares), kind="stable")
    return np.arange(len(weights))
