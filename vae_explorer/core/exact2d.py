"""Exact quantities of a model with a two-dimensional latent space, by quadrature on a grid.

With z in 2-D, p(x) = ∫ p(x|z) p(z) dz is a sum over a grid fine enough to resolve the integrand:
log p(x) ≈ logsumexp_g [log p(x|z_g) + log p(z_g)] + log(cell area), with z_g the cells' centres
(the midpoint rule). The grid is centred and sized from the data (the encoder's q(z|x) of the
images asked about and the prior's components, each widened by MARGIN standard deviations) and
refined, doubling its points a side, until log p(x) moves by less than a tolerance. On it, the
true posterior p(z|x) = p(x|z) p(z) / p(x), the prior density and the aggregate posterior
(1/N) Σ_n q(z|x_n) are densities that integrate to 1 (up to the mass beyond the grid).

Everything here works on any `log_joint(x, z) -> (N, G)` function, so that it can be checked
against a model whose marginal has a closed form; `model_log_joint(vae)` is the VAE's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .model import GAUSSIAN_STD

MARGIN = 6.0  # standard deviations of q(z|x) and of the prior's components inside the grid
START_POINTS = 100  # points a side of the first grid
MAX_POINTS = 1600  # points a side, at most (2,560,000 decoder calls for all the images together)
TOLERANCE = 1e-3  # nats: the largest change of log p(x) between two refinements that counts as converged
GRID_CHUNK = 8192  # grid points per decoder call
MIN_CHUNK = 256  # ... and at least this many, however many images
BLOCK_VALUES = 8_000_000  # (images x grid points) values of log p(x, z) held at once: 64 MB

LogJoint = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x (N, D), z (G, 2)) -> (N, G)


@dataclass(frozen=True)
class Grid:
    """n x n cells covering [lo, hi] in each latent coordinate; their centres are the points."""

    lo: tuple[float, float]
    hi: tuple[float, float]
    n: int

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """The centres along z1 and along z2."""
        return tuple(
            self.lo[d] + (np.arange(self.n) + 0.5) * (self.hi[d] - self.lo[d]) / self.n for d in range(2)
        )

    @property
    def cell_area(self) -> float:
        return (self.hi[0] - self.lo[0]) * (self.hi[1] - self.lo[1]) / self.n**2

    def points(self) -> torch.Tensor:
        """(n*n, 2) float64: row r*n + c holds (z1 of column c, z2 of row r), so that values over
        the points reshaped to (n, n) are an image with z2 down the rows."""
        z1, z2 = self.axes()
        rows, cols = np.meshgrid(z2, z1, indexing="ij")
        return torch.from_numpy(np.stack([cols.ravel(), rows.ravel()], axis=1))

    def refined(self) -> Grid:
        return Grid(self.lo, self.hi, self.n * 2)


def grid_around(
    centres: torch.Tensor, spreads: torch.Tensor, n: int = START_POINTS, margin: float = MARGIN
) -> Grid:
    """The grid holding every `centres[i] ± margin * spreads[i]` ((M, 2) each)."""
    centres, spreads = centres.double().cpu(), spreads.double().cpu()
    lo = (centres - margin * spreads).min(0).values
    hi = (centres + margin * spreads).max(0).values
    return Grid((float(lo[0]), float(lo[1])), (float(hi[0]), float(hi[1])), n)


def model_grid(model, x: torch.Tensor, n: int = START_POINTS) -> Grid:
    """The grid for `model` and images `x`: their q(z|x) and the prior's components, each within
    MARGIN standard deviations."""
    with torch.no_grad():
        mu, log_var = model.encoder(x)
        _, means, log_vars = model.prior.component_params()
    centres = torch.cat([mu.double().cpu(), means.double().cpu()])
    spreads = torch.cat([(0.5 * log_var).exp().double().cpu(), (0.5 * log_vars).exp().double().cpu()])
    return grid_around(centres, spreads, n)


def model_log_joint(model) -> LogJoint:
    """log p(x|z) + log p(z) of a VAE (2-D latent), for every image and grid point."""

    def log_joint(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        device = next(model.parameters()).device
        dtype = next(model.parameters()).dtype
        zt = z.to(device=device, dtype=dtype)
        xt = x.to(device=device, dtype=dtype)
        with torch.no_grad():
            log_px_z = decoder_log_likelihoods(model.decoder, xt, zt)
            log_pz = model.prior.log_prob(zt)
        return (log_px_z + log_pz).double().cpu()

    return log_joint


def decoder_log_likelihoods(decoder, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(N, G): log p(x_i | z_g) for every image and point, each point decoded once and nothing of
    N x G x pixels (x grey levels) held at once."""
    if decoder.likelihood == "bernoulli":  # sum_d x_d l_d - softplus(l_d): one product
        logits = decoder.logits(z)
        return x @ logits.T - torch.nn.functional.softplus(logits).sum(-1)
    if decoder.likelihood == "gaussian":
        # -|x - m|^2 / (2 std^2) - D log std - D/2 log 2 pi, the square expanded into a product
        # (in float64: |x|^2 and 2 x.m are hundreds, their difference a fraction)
        mean, xd = torch.sigmoid(decoder.logits(z)).double(), x.double()
        square = (xd * xd).sum(1, keepdim=True) - 2.0 * xd @ mean.T + (mean * mean).sum(1)
        pixels = x.shape[1]
        constant = pixels * (math.log(GAUSSIAN_STD) + 0.5 * math.log(2 * math.pi))
        return (-0.5 * square / GAUSSIAN_STD**2 - constant).to(x.dtype)
    # categorical: sum_d log softmax(l_g)_d[x_d], gathered per block of points and images
    out = torch.empty(len(x), len(z), dtype=x.dtype, device=x.device)
    pixels = x.shape[1]
    per_point = decoder.logits(z[:1]).numel()  # pixels x grey levels
    points = max(1, BLOCK_VALUES // per_point)
    images = max(1, BLOCK_VALUES // (points * pixels))
    offsets = torch.arange(pixels, device=x.device) * (per_point // pixels)
    for glo in range(0, len(z), points):
        log_p = torch.log_softmax(decoder.logits(z[glo : glo + points]), -1).reshape(-1, per_point)
        for nlo in range(0, len(x), images):
            index = (x[nlo : nlo + images].long() + offsets).reshape(-1)  # (images x pixels)
            picked = log_p[:, index].view(len(log_p), -1, pixels).sum(-1)  # (points, images)
            out[nlo : nlo + images, glo : glo + points] = picked.T
    return out


def log_joint_grid(log_joint: LogJoint, x: torch.Tensor, grid: Grid, chunk: int = GRID_CHUNK) -> torch.Tensor:
    """(N, n*n) float64: log p(x_i, z_g) at every grid point."""
    z = grid.points()
    return torch.cat([log_joint(x, z[lo : lo + chunk]) for lo in range(0, len(z), chunk)], dim=1)


def log_marginal(log_joint: LogJoint, x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """(N,) log p(x_i) by the midpoint rule on `grid`, summed chunk by chunk of grid points (a
    running log-sum-exp), so that memory holds one (N, chunk) block whatever the grid's size: each
    point is decoded once for all the images."""
    z = grid.points()
    chunk = max(MIN_CHUNK, min(GRID_CHUNK, BLOCK_VALUES // max(len(x), 1)))
    acc = torch.full((len(x),), -math.inf, dtype=torch.float64)
    for lo in range(0, len(z), chunk):
        acc = torch.logaddexp(acc, torch.logsumexp(log_joint(x, z[lo : lo + chunk]), dim=1))
    return acc + math.log(grid.cell_area)


@dataclass(frozen=True)
class Quadrature:
    """log p(x) per image by quadrature, refined until converged (or the grid's cap)."""

    log_px: np.ndarray  # (N,) nats, on the finest grid
    grid: Grid
    change: float  # the largest |change| of log p(x) in the last refinement
    converged: bool
    steps: list[tuple[int, float]] = field(default_factory=list)  # (points a side, mean -log p(x))


def exact_log_px(
    log_joint: LogJoint,
    x: torch.Tensor,
    grid: Grid,
    tolerance: float = TOLERANCE,
    max_points: int = MAX_POINTS,
    progress: Callable[[int, float], None] | None = None,
) -> Quadrature:
    """log p(x) on `grid`, then on grids of twice the points a side until no image's value moves
    by more than `tolerance` nats, or the next grid would pass `max_points` a side.
    `progress(points a side, mean -log p(x))` hears of every grid done."""
    current = log_marginal(log_joint, x, grid)
    steps = [(grid.n, float(-current.mean()))]
    if progress is not None:
        progress(*steps[-1])
    change = math.inf
    while grid.n * 2 <= max_points:
        finer = grid.refined()
        refined = log_marginal(log_joint, x, finer)
        change = float((refined - current).abs().max())
        grid, current = finer, refined
        steps.append((grid.n, float(-current.mean())))
        if progress is not None:
            progress(*steps[-1])
        if change < tolerance:
            break
    return Quadrature(current.numpy(), grid, change, change < tolerance, steps)


# log p(x, z) this far below its largest value on a grid: no mass worth counting (e^-30)
EDGE_NATS = 30.0
WIDEN_TRIES = 8
EDGE_IMAGES = 64  # images scored at once when the grid's border is checked


def holding_grid(log_joint: LogJoint, x: torch.Tensor, grid: Grid) -> tuple[Grid, bool]:
    """`grid`, widened (a side by half the grid's width, the same points) while some image's
    log p(x, z) on that side's border cells comes within EDGE_NATS of its largest value: a grid
    drawn around q(z|x) and the prior can cut off a posterior that lies beyond both (a model early
    in training). Returns the grid and whether it now holds every image's mass."""
    for _ in range(WIDEN_TRIES + 1):
        hot = [False] * 4  # left, right (z1), bottom, top (z2)
        for lo in range(0, len(x), EDGE_IMAGES):
            log_w = log_joint_grid(log_joint, x[lo : lo + EDGE_IMAGES], grid).view(-1, grid.n, grid.n)
            limit = (log_w.flatten(1).max(1).values - EDGE_NATS)[:, None]  # rows: z2, columns: z1
            edges = (log_w[:, :, 0], log_w[:, :, -1], log_w[:, 0, :], log_w[:, -1, :])
            hot = [h or bool((e >= limit).any()) for h, e in zip(hot, edges)]
        if not any(hot):
            return grid, True
        width, height = grid.hi[0] - grid.lo[0], grid.hi[1] - grid.lo[1]
        grid = Grid(
            (grid.lo[0] - width / 2 * hot[0], grid.lo[1] - height / 2 * hot[2]),
            (grid.hi[0] + width / 2 * hot[1], grid.hi[1] + height / 2 * hot[3]),
            grid.n,
        )
    return grid, False


def exact_nll(
    model,
    x: torch.Tensor,
    tolerance: float = TOLERANCE,
    max_points: int = MAX_POINTS,
    progress: Callable[[int, float], None] | None = None,
) -> Quadrature:
    """-log p(x) of a 2-D model's images `x` (model input) by quadrature on the grid that holds
    their q(z|x) and the prior's components, refined until converged: `log_px` per image."""
    if model.prior.latent_dim != 2:
        raise ValueError(f"the exact likelihood needs a 2-D latent space, not {model.prior.latent_dim}-D")
    log_joint = model_log_joint(model)
    grid, held = holding_grid(log_joint, x, model_grid(model, x))
    quad = exact_log_px(log_joint, x, grid, tolerance, max_points, progress)
    return quad if held else replace(quad, converged=False)  # mass beyond the widest grid tried


def posterior_density(log_joint: LogJoint, x1: torch.Tensor, grid: Grid) -> np.ndarray:
    """p(z|x) of one image (x1 of shape (1, D)) on the grid, as an (n, n) image (z2 down the rows)
    of densities: they sum, times the cell area, to 1."""
    log_w = log_joint_grid(log_joint, x1, grid)[0]
    log_post = log_w - torch.logsumexp(log_w, 0) - math.log(grid.cell_area)
    return log_post.exp().view(grid.n, grid.n).numpy()


def prior_density(model, grid: Grid) -> np.ndarray:
    """p(z) on the grid, (n, n)."""
    z = grid.points()
    with torch.no_grad():
        param = next(model.parameters())
        log_p = torch.cat(
            [
                model.prior.log_prob(z[lo : lo + GRID_CHUNK].to(device=param.device, dtype=param.dtype))
                .double()
                .cpu()
                for lo in range(0, len(z), GRID_CHUNK)
            ]
        )
    return log_p.exp().view(grid.n, grid.n).numpy()


def aggregate_posterior_density(model, x: torch.Tensor, grid: Grid, batch: int = 1000) -> np.ndarray:
    """(1/N) Σ_n q(z|x_n) on the grid, (n, n), as each cell's average: where the encoder puts the
    data, to set beside the prior. A cell's mass of a diagonal Gaussian is exact (the product of
    two differences of the normal CDF), so that codes narrower than a cell still count in full;
    densities at the cells' centres of a few thousand narrow q(z|x) are noise at the cell's scale.
    """
    edges = [torch.linspace(grid.lo[d], grid.hi[d], grid.n + 1, dtype=torch.float64) for d in range(2)]
    total = torch.zeros(grid.n, grid.n, dtype=torch.float64)
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            mu, log_var = model.encoder(x[lo : lo + batch])
            mu, sd = mu.double().cpu(), (0.5 * log_var.double().cpu()).exp()
            # (B, n) mass of each image's q along each axis, cell by cell
            mass = [
                torch.special.ndtr((edges[d][None] - mu[:, d : d + 1]) / sd[:, d : d + 1]).diff(dim=1)
                for d in range(2)
            ]
            total += mass[1].T @ mass[0]  # rows: z2, columns: z1
    return (total / (len(x) * grid.cell_area)).numpy()


def exact_inputs(model, config, splits) -> torch.Tensor:
    """The test images as evaluation scores them (the fixed binarisation), on the model's device."""
    from .data import TEST_BINARISE_SEED, model_input

    device = next(model.parameters()).device
    return model_input(splits.test_images.to(device), config.model.likelihood, TEST_BINARISE_SEED)


def exact_figures(
    model, x: torch.Tensor, progress: Callable[[int, float], None] | None = None
) -> dict[str, object]:
    """`evaluate --exact`'s keys: the exact NLL of `x` (model input) with the quadrature's grid,
    last change and whether it converged; for a model that is not 2-D, None and a note why."""
    latent = model.prior.latent_dim
    if latent != 2:
        return {
            "exact_nll": None,
            "exact_note": f"the exact NLL needs a 2-D latent space; this model's has {latent} dimensions",
        }
    q = exact_nll(model, x, progress=progress)
    return {
        "exact_nll": float(-q.log_px.mean()),
        "exact_grid": q.grid.n,
        "exact_change": q.change,
        "exact_converged": q.converged,
        "exact_steps": [[n, nll] for n, nll in q.steps],
        "exact_note": None
        if q.converged
        else f"not converged: the last refinement to {q.grid.n}² points moved log p(x) by {q.change:.2g} nats",
    }
