"""Latent-space exploration on arrays: component samples, interpolation paths, a PCA latent map.

Everything here is pure torch/numpy; the Qt panels and the CLI call these from worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import VAE
from .vampprior import with_pseudo_inputs

# Caps on what one figure holds, the same in the CLI and the app, checked before anything is drawn:
# past them a figure is too large to read (and, unbounded, to allocate).
MAX_SAMPLES = 1024  # `sample --n`: a 32 x 32 grid
MAX_COMPONENT_SAMPLES = 32  # samples per component row
MAX_COMPONENT_ROWS = 128  # components in one figure
MAX_STEPS = 40  # frames of an interpolation strip
DRAW_BATCH = 256  # images decoded at once, so memory stays bounded below the caps


# -- samples ------------------------------------------------------------------------------------------
@torch.no_grad()
def prior_samples(model: VAE, n: int, seed: int, binary: bool = False) -> np.ndarray:
    """n decoded samples of the prior drawn from `seed`, (n, pixels) on the CPU: the same draws in
    the Real vs generated tab, the run folder's figure and the report for the same seed."""
    return model.sample(n, torch.Generator().manual_seed(seed), binary=binary).cpu().numpy()


# -- mixture components ---------------------------------------------------------------------------
def component_order(weights: np.ndarray, by_weight: bool) -> np.ndarray:
    """Component indices, heaviest first when `by_weight`, else 0..K-1."""
    return np.argsort(-np.asarray(weights), kind="stable") if by_weight else np.arange(len(weights))


NEGLIGIBLE_WEIGHT = 1e-3


def format_weight(w: float) -> str:
    """A mixture weight for a label: three decimals, or scientific notation when it rounds to 0."""
    return f"{w:.3f}" if w >= 0.0005 else f"{w:.1e}"


@torch.no_grad()
def component_samples(
    model: VAE, k: int, n: int, generator: torch.Generator, temperature: float = 1.0, binary: bool = False
) -> np.ndarray:
    """n decoded samples of z ~ N(mu_k, (temperature * sigma_k)^2); (n, pixels) in [0, 1]."""
    z = model.prior.sample_component(k, n, generator, temperature)
    return model.decode(z, binary=binary, generator=generator).cpu().numpy()


@torch.no_grad()
def component_means(model: VAE, binary: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
    """The decoding of each component's mean mu_k alone (binary draws from `generator`); (K, pixels)."""
    _, means, _ = model.prior.component_params()
    return model.decode(means, binary=binary, generator=generator).cpu().numpy()


@torch.no_grad()
def all_components(
    model: VAE,
    n: int,
    temperature: float = 1.0,
    binary: bool = False,
    seed: int = 0,
    components: list[int] | None = None,
) -> np.ndarray:
    """Samples of every component (or of `components` only), (K, n, pixels), reproducible from `seed`.

    The latents come from one generator and the binary pixel draws from another, so the binary
    figure shows draws from the very images the probability figure shows.
    """
    g = torch.Generator().manual_seed(seed)
    ks = range(model.prior.num_components) if components is None else components
    zs = [model.prior.sample_component(k, n, g, temperature) for k in ks]
    pixels = torch.Generator().manual_seed(seed + 1)
    return np.stack([model.decode(z, binary=binary, generator=pixels).cpu().numpy() for z in zs])


def component_rows(
    model: VAE,
    n: int,
    temperature: float = 1.0,
    binary: bool = False,
    seed: int = 0,
    components: list[int] | None = None,
) -> np.ndarray:
    """The rows the Components tab and the report draw: `all_components`, each row led by its
    component's pseudo-input when the prior has them (VampPrior), (K, n or n + 1, pixels)."""
    samples = all_components(model, n, temperature, binary, seed, components)
    return with_pseudo_inputs(model, samples, components)


# -- interpolation -----------------------------------------------------------------------------------
def lerp(a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """(1 - t) a + t b for each t; (T, L)."""
    ts = np.asarray(ts, dtype=np.float64)[:, None]
    return (1.0 - ts) * np.asarray(a, np.float64) + ts * np.asarray(b, np.float64)


def slerp(a: np.ndarray, b: np.ndarray, ts: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Spherical interpolation: the direction turns from a's to b's at constant angular speed
    along the great circle, and the length goes linearly from |a| to |b| (two encoder means rarely
    have one length; Shoemake's formula on the vectors as they are would turn faster at one end).

    Nearly parallel (or zero) vectors fall back to lerp. The endpoints are returned exactly.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ts = np.asarray(ts, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < eps or nb < eps:
        return lerp(a, b, ts)
    cos = np.clip(np.dot(a / na, b / nb), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return lerp(a, b, ts)
    s = np.sin(omega)
    unit = (np.sin((1.0 - ts) * omega) / s)[:, None] * (a / na) + (np.sin(ts * omega) / s)[:, None] * (b / nb)
    path = ((1.0 - ts) * na + ts * nb)[:, None] * unit
    path[ts == 0.0] = a
    path[ts == 1.0] = b
    return path


def interpolation_path(a: np.ndarray, b: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """`steps` latents from a to b (both included), linear or spherical; (steps, L) float32."""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    ts = np.linspace(0.0, 1.0, steps)
    if method == "linear":
        path = lerp(a, b, ts)
    elif method == "spherical":
        path = slerp(a, b, ts)
    else:
        raise ValueError(f"method must be 'linear' or 'spherical', not {method!r}")
    return path.astype(np.float32)


@torch.no_grad()
def decode_latents(
    model: VAE, z: np.ndarray, binary: bool = False, generator: torch.Generator | None = None
) -> np.ndarray:
    z = torch.as_tensor(np.asarray(z, np.float32), device=next(model.parameters()).device)
    return model.decode(z, binary=binary, generator=generator).cpu().numpy()


@torch.no_grad()
def encode_means(model: VAE, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Encoder means of model inputs x (on any device), (N, L) on the CPU."""
    device = next(model.parameters()).device
    parts = [model.encode(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy()


# -- the latent map ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Projection:
    """z -> 2D by (z - mean) @ axes.T; a 2D point p -> mean + p @ axes."""

    mean: np.ndarray  # (L,)
    axes: np.ndarray  # (2, L), orthonormal rows
    explained: np.ndarray  # (2,) fraction of variance along each axis

    def project(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, np.float64) - self.mean) @ self.axes.T

    def unproject(self, p: np.ndarray) -> np.ndarray:
        return self.mean + np.asarray(p, np.float64) @ self.axes


def latent_map(model: VAE, x: torch.Tensor) -> tuple[np.ndarray, Projection]:
    """(encoder means of x, their projection to two dimensions): the latent map of the app's tab
    and of the report."""
    z = encode_means(model, x)
    return z, fit_projection(z)


def fit_projection(z: np.ndarray) -> Projection:
    """PCA of z to two dimensions by SVD; the identity when z is already 2-D (or 1-D)."""
    z = np.asarray(z, np.float64)
    latent = z.shape[1]
    if latent <= 2:
        axes = np.eye(2, latent)
        var = z.var(0) if len(z) > 1 else np.ones(latent)
        explained = np.zeros(2)
        explained[:latent] = var / max(var.sum(), 1e-12)
        return Projection(np.zeros(latent), axes, explained)
    mean = z.mean(0)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    # a fixed sign per axis (largest loading positive) so the map does not flip between refreshes
    signs = np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(1)])
    signs[signs == 0] = 1.0
    explained = s[:2] ** 2 / max((s**2).sum(), 1e-12)
    return Projection(mean, vt[:2] * signs[:, None], explained)
