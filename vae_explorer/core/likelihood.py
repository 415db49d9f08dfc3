"""Evaluation beyond the single-sample ELBO: the importance-weighted NLL and latent-space usage.

IW-NLL(x) = -log (1/S) sum_s p(x|z_s) p(z_s) / q(z_s|x), z_s ~ q(z|x), is an upper bound on -log p(x)
that tightens as S grows (Burda et al., IWAE); S = 5,000 is what papers report on MNIST.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# Decoder outputs held at once (chunk * images * outputs per image): 2e6 floats = 8 MB in float32.
MAX_DECODER_FLOATS = 2_000_000
# On a GPU a decoder call costs its launches more than its arithmetic: far larger calls, from more
# images at once (64 M floats is 256 MB of logits, a sliver of a current GPU's memory).
GPU_DECODER_FLOATS = 64_000_000
GPU_BATCH_IMAGES = 1000
ACTIVE_THRESHOLD = 0.01  # Burda et al.: a unit is active when Var_x(E_q[z_i]) > 0.01
IN_USE_SHARE = 0.01  # a component is "in use" when it explains at least 1% of the images


class Cancelled(Exception):
    """The caller's cancel() returned True. `partial`: what was computed before, where the
    canceller can use it (an evaluation's quick figures), else None."""

    partial: dict | None = None


@dataclass(frozen=True)
class IWResult:
    """IW-NLL per image and its summary, with the single-bound decomposition on the same images.

    `reconstruction` (-E_q log p(x|z)) and `kl` (E_q[log q(z|x) - log p(z)]) are averaged over the
    same S samples the IW estimate uses, so `neg_elbo` is an S-sample estimate of the negative ELBO
    and `gap = neg_elbo - mean >= 0` holds for every draw (Jensen: mean of logs <= log of mean).
    All values are nats per image.
    """

    per_image: np.ndarray  # (N,) float64
    mean: float
    stderr: float  # std (ddof=1) / sqrt(N); 0 for one image
    samples: int
    seconds: float
    reconstruction: float
    kl: float
    neg_elbo: float
    gap: float


@dataclass(frozen=True)
class ComponentStats:
    """One prior component: its weight, the images it explains best and their most frequent digit."""

    index: int
    weight: float
    count: int
    share: float  # count / number of images
    dominant_label: int | None  # None when it explains no image or no labels were given
    purity: float  # share of its images carrying dominant_label; NaN when undefined
    class_counts: tuple[int, ...] = ()  # its images per label 0..max label; () without labels
    nearest: tuple[int, ...] = ()  # indices of the images it explains best, most typical first

    @property
    def in_use(self) -> bool:
        return self.share >= IN_USE_SHARE


@dataclass(frozen=True)
class LatentStats:
    """Active units (Var_x of the encoder mean per dimension) and, per prior component, its usage."""

    variances: np.ndarray  # (L,) diagonal of Cov_x(E_q[z|x]), ddof=1
    threshold: float
    active: np.ndarray  # (L,) bool, variances > threshold
    active_units: int
    assignments: np.ndarray  # (N,) index of the component that explains each encoder mean best
    components: tuple[ComponentStats, ...]
    components_in_use: int  # components explaining at least `in_use_share` of the images
    in_use_share: float


def iw_batching(
    model: nn.Module,
    width: int,
    samples: int,
    device: torch.device,
    batch_images: int | None = None,
    chunk: int | None = None,
) -> tuple[int, int]:
    """(images per batch, samples per decoder call) for an IW-NLL of `samples` draws on images of
    `width` values, where not given: the decoder's outputs for one call (chunk * images * outputs
    per image) stay within MAX_DECODER_FLOATS on the CPU, GPU_DECODER_FLOATS on a GPU. Batches are
    of 100 images on the CPU, GPU_BATCH_IMAGES on a GPU, fewer where even one sample of each would
    not fit (the categorical likelihood's 256 logits a pixel)."""
    if batch_images is not None and batch_images < 1:
        raise ValueError(f"batch_images must be at least 1, not {batch_images}")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be at least 1, not {chunk}")
    on_gpu = device.type == "cuda"
    budget = GPU_DECODER_FLOATS if on_gpu else MAX_DECODER_FLOATS
    per_image = decoder_outputs_per_image(model, width)
    if batch_images is None:
        batch_images = max(1, min(GPU_BATCH_IMAGES if on_gpu else 100, budget // per_image))
    if chunk is None:
        chunk = max(1, min(samples, budget // (batch_images * per_image)))
    return batch_images, chunk


def iw_nll(
    model: nn.Module,
    x: torch.Tensor,
    samples: int,
    generator: torch.Generator,
    batch_images: int | None = None,
    chunk: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> IWResult:
    """IW-NLL of each row of `x` (model input, e.g. binarised pixels) with `samples` draws per image.

    Noise is drawn from `generator` on its own device and moved to the model's, so a CPU generator
    gives the same numbers on any device, given the same `batch_images` and `chunk` (samples per
    decoder call), which default as `iw_batching` says.
    """
    if samples < 1:
        raise ValueError(f"the number of importance samples must be at least 1, not {samples}")
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (N, D) tensor, not of shape {tuple(x.shape)}")
    device, dtype = _device_dtype(model, x)
    batch_images, chunk = iw_batching(model, x.shape[1], samples, device, batch_images, chunk)
    n = len(x)
    per_image_nll = np.empty(n, dtype=np.float64)
    recon_sum = kl_sum = 0.0
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for lo in range(0, n, batch_images):
                xb = x[lo : lo + batch_images].to(device=device, dtype=dtype)
                nll, recon, kl = _batch_iw(model, xb, samples, chunk, generator, cancel)
                per_image_nll[lo : lo + len(xb)] = nll
                recon_sum += recon
                kl_sum += kl
                if progress is not None:
                    progress(lo + len(xb), n)
    finally:
        model.train(was_training)
    mean = float(per_image_nll.mean())
    stderr = float(per_image_nll.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    reconstruction, kl = recon_sum / n, kl_sum / n
    return IWResult(
        per_image=per_image_nll,
        mean=mean,
        stderr=stderr,
        samples=samples,
        seconds=time.perf_counter() - start,
        reconstruction=reconstruction,
        kl=kl,
        neg_elbo=reconstruction + kl,
        gap=reconstruction + kl - mean,
    )


def _batch_iw(
    model: nn.Module,
    xb: torch.Tensor,
    samples: int,
    chunk: int,
    generator: torch.Generator,
    cancel: Callable[[], bool] | None,
) -> tuple[np.ndarray, float, float]:
    """(IW-NLL per image, summed reconstruction term, summed KL-like term) for one batch of images."""
    b, d = xb.shape
    mu, log_var = model.encoder(xb)
    latent = mu.shape[1]
    sigma = torch.exp(0.5 * log_var)
    # running log-sum-exp over chunks, in float64 so that hundreds of chunks add no rounding drift
    acc = torch.full((b,), -math.inf, dtype=torch.float64, device=xb.device)
    # summed where they are computed: reading each chunk's sums back would wait for the GPU
    recon = torch.zeros((), dtype=torch.float64, device=xb.device)
    kl = torch.zeros((), dtype=torch.float64, device=xb.device)
    for s0 in range(0, samples, chunk):
        if cancel is not None and cancel():
            raise Cancelled("importance-weighted evaluation cancelled")
        s = min(chunk, samples - s0)
        eps = torch.randn((s, b, latent), generator=generator, device=generator.device, dtype=mu.dtype)
        z = (mu + sigma * eps.to(xb.device)).reshape(s * b, latent)  # sample-major: row = j * b + i
        x_rep = xb.expand(s, b, d).reshape(s * b, d)
        log_px_z = model.decoder.log_prob(x_rep, z).view(s, b)
        log_pz = model.prior.log_prob(z).view(s, b)
        log_qz = model.encoder.log_prob(z, mu.repeat(s, 1), log_var.repeat(s, 1)).view(s, b)
        log_w = (log_px_z + log_pz - log_qz).double()
        acc = torch.logaddexp(acc, torch.logsumexp(log_w, dim=0))
        recon -= log_px_z.double().sum()
        kl += (log_qz - log_pz).double().sum()
    nll = -(acc - math.log(samples))
    return nll.cpu().numpy(), float(recon) / samples, float(kl) / samples


def latent_statistics(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | np.ndarray | None,
    threshold: float = ACTIVE_THRESHOLD,
    in_use_share: float = IN_USE_SHARE,
    batch_images: int = 1000,
    nearest: int = 0,
) -> LatentStats:
    """Active units and per-component usage, from the encoder means of `x` (model input).

    An image belongs to argmax_k [log w_k + log N(mu(x) | mu_k, diag exp(log_var_k))]; with the
    standard prior (one component) every image belongs to component 0. With `nearest` > 0 each
    component also lists up to that many of its images, those of highest log N(mu(x) | mu_k, ...).
    """
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (N, D) tensor, not of shape {tuple(x.shape)}")
    device, dtype = _device_dtype(model, x)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            means = [
                model.encoder(x[lo : lo + batch_images].to(device=device, dtype=dtype))[0].double().cpu()
                for lo in range(0, len(x), batch_images)
            ]
            weights, comp_means, comp_log_vars = (t.double().cpu() for t in model.prior.component_params())
    finally:
        model.train(was_training)
    mu = torch.cat(means).numpy()
    n = len(mu)
    variances = mu.var(axis=0, ddof=1) if n > 1 else np.zeros(mu.shape[1])
    active = variances > threshold
    assignments, best_scores = best_component_scores(
        mu, weights.numpy(), comp_means.numpy(), comp_log_vars.numpy()
    )
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    label_array = None if labels is None else np.asarray(labels).astype(np.int64).reshape(-1)
    if label_array is not None and len(label_array) != n:
        raise ValueError(f"{len(label_array)} labels for {n} images")
    labels_seen = 0 if label_array is None or not len(label_array) else int(label_array.max()) + 1
    components = []
    for k, w in enumerate(weights.numpy()):
        mine = assignments == k
        count = int(mine.sum())
        dominant, purity, counts = None, math.nan, ()
        if label_array is not None:
            tally = np.bincount(label_array[mine], minlength=labels_seen)
            counts = tuple(int(c) for c in tally)
            if count:
                dominant = int(tally.argmax())  # ties go to the smaller digit
                purity = float(tally[dominant] / count)
        members = np.flatnonzero(mine)
        # typical images: nearest the component's centre in its own metric (its weight is common
        # to all of them)
        order = members[np.argsort(-best_scores[members], kind="stable")][:nearest]
        components.append(
            ComponentStats(
                k, float(w), count, count / n, dominant, purity, counts, tuple(int(i) for i in order)
            )
        )
    return LatentStats(
        variances=variances,
        threshold=threshold,
        active=active,
        active_units=int(active.sum()),
        assignments=assignments,
        components=tuple(components),
        components_in_use=sum(c.share >= in_use_share for c in components),
        in_use_share=in_use_share,
    )


# floats in one (images, K, L) block of the component scores: 32 MB in float64, whatever K is
SCORE_BLOCK_FLOATS = 1 << 22


def component_scores(
    mu: np.ndarray, weights: np.ndarray, means: np.ndarray, log_vars: np.ndarray, chunk: int = 2048
) -> np.ndarray:
    """log w_k + log N(mu_n | means_k, diag exp(log_vars_k)) for each row of mu (N, L); (N, K)."""
    out = np.empty((len(mu), len(weights)))
    for lo, block in _score_blocks(mu, weights, means, log_vars, chunk):
        out[lo : lo + len(block)] = block
    return out


def best_component_scores(
    mu: np.ndarray, weights: np.ndarray, means: np.ndarray, log_vars: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of mu (N, L): the component that explains it best and that component's score,
    in memory bounded by SCORE_BLOCK_FLOATS whatever N and K (no (N, K) array is kept)."""
    best = np.empty(len(mu), dtype=np.int64)
    score = np.empty(len(mu))
    for lo, block in _score_blocks(mu, weights, means, log_vars):
        best[lo : lo + len(block)] = block.argmax(axis=1)
        score[lo : lo + len(block)] = block.max(axis=1)
    return best, score


def _score_blocks(mu, weights, means, log_vars, chunk: int = 2048):
    """(first row, component scores of a block of rows), blocks of at most SCORE_BLOCK_FLOATS
    (rows x K x L) floats, computed in place."""
    k, dims = means.shape
    rows = max(1, min(chunk, SCORE_BLOCK_FLOATS // max(1, k * dims)))
    inv_var = np.exp(-log_vars)
    const = -0.5 * (mu.shape[1] * np.log(2 * np.pi) + log_vars.sum(-1))  # (K,)
    with np.errstate(divide="ignore"):  # a weight of exactly 0 gives -inf: never chosen
        log_w = np.log(weights)
    for lo in range(0, len(mu), rows):
        diff = mu[lo : lo + rows, None, :] - means[None, :, :]  # (n, K, L)
        np.square(diff, out=diff)
        diff *= inv_var[None]
        yield lo, log_w + const - 0.5 * diff.sum(-1)


def best_components(
    mu: np.ndarray, weights: np.ndarray, means: np.ndarray, log_vars: np.ndarray
) -> np.ndarray:
    """The component that explains each row of mu (N, L) best: the argmax of `component_scores`."""
    return best_component_scores(mu, weights, means, log_vars)[0]


def _device_dtype(model: nn.Module, x: torch.Tensor) -> tuple[torch.device, torch.dtype]:
    """Where the model's parameters live and their float type; x's when it has none."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return x.device, x.dtype if x.is_floating_point() else torch.float32


def decoder_outputs_per_image(model: nn.Module, width: int) -> int:
    """Floats a pass holds for one image of `width` values: the decoder's outputs (256 logits a
    pixel for the categorical likelihood, else one a pixel), or the prior's scores of its latent
    under each of K components in each of L dimensions where those are more (a large mixture)."""
    per_pixel = 256 if getattr(model.decoder, "likelihood", None) == "categorical" else 1
    return max(1, width * per_pixel, prior_floats_per_latent(model))


def prior_floats_per_latent(model: nn.Module) -> int:
    """K x L for a prior of K > 1 components, a mixture of Gaussians or the VampPrior (its
    log-density of a latent takes a (K, L) block), else 0."""
    prior = getattr(model, "prior", None)
    means = getattr(prior, "means", None)
    if isinstance(means, torch.Tensor):
        return means.numel()
    components = getattr(prior, "num_components", 0)
    latent_dim = getattr(getattr(model, "config", None), "latent_dim", 0)
    return components * latent_dim if isinstance(components, int) and components > 1 else 0
