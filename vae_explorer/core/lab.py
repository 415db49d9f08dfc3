"""The teaching lab's figures of a 2-D model, computed exactly where a course only writes formulas:
one image's true posterior beside q(z|x) and the prior, the importance-weighted bound tightening
towards the exact log p(x) as k grows, and the decoded latent plane with the prior's and the
aggregate posterior's densities. Everything comes back as numpy arrays and numbers (the Lab tab's
jobs return them across threads), every draw from a generator the caller seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .exact2d import (
    Grid,
    aggregate_posterior_density,
    exact_log_px,
    holding_grid,
    log_joint_grid,
    model_grid,
    model_log_joint,
    posterior_density,
    prior_density,
)

COARSE_POINTS = 128  # points a side of the grid that finds where an image's posterior lies
NEGLIGIBLE = 30.0  # nats below the largest log p(x, z) on the coarse grid: no posterior mass there
FOCUS_POINTS = 64  # first points a side of the grid around the mass, refined to convergence
FOCUS_MAX_POINTS = 1024
VIEW_POINTS = 200  # points a side of the heat map shown
VIEW_FLOOR = 1e-4  # the heat map holds where p(z|x) is above this share of its peak
BOUND_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
BOUND_DRAWS = 50_000  # log-weights drawn once; IW-k averages the floor(draws / k) disjoint blocks
# (10 blocks of 5,000: with 4, one unlucky set of draws put IW-5000 3 of its "standard errors" below
# the exact value; the spread over seeds was twice the error the 4 blocks gave)
MANIFOLD_SIDE = 15  # decoded images a side
DENSITY_POINTS = 120  # points a side of the density contours
MASS_LEVELS = (0.5, 0.9)  # contours enclosing these shares of each density's mass


def _ensure_2d(model) -> None:
    if model.prior.latent_dim != 2:
        raise ValueError(f"the lab needs a 2-D latent space, not {model.prior.latent_dim}-D")


@dataclass(frozen=True)
class PosteriorView:
    """One test image seen exactly: its true posterior on a grid, q(z|x), the prior's components,
    and its log p(x) with the bounds below it."""

    index: int
    image: np.ndarray  # (H, W) in [0, 1]: the binarised image the numbers are of
    extent: tuple[float, float, float, float]  # (z1 lo, z1 hi, z2 lo, z2 hi) of `density`
    density: np.ndarray  # (n, n) p(z|x), z2 down the rows
    q_mean: np.ndarray  # (2,)
    q_std: np.ndarray  # (2,)
    prior_weights: np.ndarray  # (K,)
    prior_means: np.ndarray  # (K, 2)
    prior_stds: np.ndarray  # (K, 2)
    log_px: float  # by quadrature, converged
    grid_points: int  # points a side of the converged grid
    change: float  # its last refinement's change of log p(x)
    converged: bool
    post_mean: np.ndarray  # (2,) mean of the true posterior
    post_cov: np.ndarray  # (2, 2) its covariance
    ks: np.ndarray  # the bound's k values
    iw_bounds: np.ndarray  # (len(ks),) E[IW-k log-likelihood bound], nats (log p(x) side: <= log_px)
    iw_stderr: np.ndarray  # their standard errors over the blocks (0 where one block)
    elbo: float  # E_q[log p(x, z) - log q(z|x)] over BOUND_DRAWS draws

    @property
    def gap(self) -> float:
        """log p(x) - ELBO = KL(q(z|x) || p(z|x)), nats."""
        return self.log_px - self.elbo

    def iw(self, k: int) -> float:
        return float(self.iw_bounds[list(self.ks).index(k)])


def focus_grid(model, x1: torch.Tensor, log_joint=None) -> Grid:
    """A grid around where one image's posterior has its mass: found on a coarse grid over the
    whole region (its q(z|x) and the prior's components), the cells within NEGLIGIBLE nats of the
    largest log p(x, z), with two cells to spare and q(z|x) +- 4 sigma always inside."""
    log_joint = log_joint or model_log_joint(model)
    # widened first where the mass reaches the region's edge (a model early in training)
    coarse, _ = holding_grid(log_joint, x1, model_grid(model, x1, COARSE_POINTS))
    log_w = log_joint_grid(log_joint, x1, coarse)[0].view(coarse.n, coarse.n).numpy()
    rows, cols = np.nonzero(log_w >= log_w.max() - NEGLIGIBLE)
    z1, z2 = coarse.axes()
    cell = ((coarse.hi[0] - coarse.lo[0]) / coarse.n, (coarse.hi[1] - coarse.lo[1]) / coarse.n)
    with torch.no_grad():
        mu, log_var = (t[0].double().cpu().numpy() for t in model.encoder(x1))
    sd = np.exp(0.5 * log_var)
    lo = (
        min(z1[cols.min()] - 2.5 * cell[0], mu[0] - 4 * sd[0]),
        min(z2[rows.min()] - 2.5 * cell[1], mu[1] - 4 * sd[1]),
    )
    hi = (
        max(z1[cols.max()] + 2.5 * cell[0], mu[0] + 4 * sd[0]),
        max(z2[rows.max()] + 2.5 * cell[1], mu[1] + 4 * sd[1]),
    )
    return Grid((float(lo[0]), float(lo[1])), (float(hi[0]), float(hi[1])), FOCUS_POINTS)


def iw_curve(
    model, x1: torch.Tensor, generator: torch.Generator, ks=BOUND_KS, draws: int = BOUND_DRAWS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(ks, E[IW-k bound of log p(x)], standard errors, ELBO) of one image, from `draws` log-weights
    log p(x, z_s) - log q(z_s|x), z_s ~ q(z|x): IW-k is the mean over the floor(draws / k)
    disjoint blocks of k of log (1/k) sum exp(log w), the ELBO the mean of all log w."""
    with torch.no_grad():
        mu, log_var = model.encoder(x1)
        eps = torch.randn((draws, mu.shape[1]), generator=generator, device=generator.device)
        z = mu + torch.exp(0.5 * log_var) * eps.to(mu)
        log_w = []
        for lo in range(0, draws, 5000):
            zc = z[lo : lo + 5000]
            log_w.append(
                (
                    model.decoder.log_prob(x1.expand(len(zc), -1), zc)
                    + model.prior.log_prob(zc)
                    - model.encoder.log_prob(zc, mu, log_var)
                )
                .double()
                .cpu()
            )
    w = torch.cat(log_w).numpy()
    ks = np.array([k for k in ks if k <= draws])
    bounds, errors = [], []
    for k in ks:
        blocks = w[: (draws // k) * k].reshape(-1, k)
        per = np.logaddexp.reduce(blocks, axis=1) - math.log(k)
        bounds.append(per.mean())
        errors.append(per.std(ddof=1) / math.sqrt(len(per)) if len(per) > 1 else 0.0)
    return ks, np.array(bounds), np.array(errors), float(w.mean())


def shown_image(x: torch.Tensor, likelihood: str, side: int) -> np.ndarray:
    """A model input as an image in [0, 1]: the categorical likelihood's are grey levels 0..255."""
    scale = 255.0 if likelihood == "categorical" else 1.0
    return (x.float().cpu().numpy() / scale).reshape(side, side).clip(0, 1)


def posterior_view(
    model, x1: torch.Tensor, index: int, side: int, generator: torch.Generator
) -> PosteriorView:
    """Everything the posterior view and the bound-tightening figure show of test image `index`
    (x1: its model input, (1, pixels))."""
    _ensure_2d(model)
    log_joint = model_log_joint(model)
    grid = focus_grid(model, x1, log_joint)
    quad = exact_log_px(log_joint, x1, grid, max_points=FOCUS_MAX_POINTS)
    # the posterior's moments on the converged grid
    fine = posterior_density(log_joint, x1, quad.grid).ravel() * quad.grid.cell_area
    pts = quad.grid.points().numpy()
    mean = fine @ pts
    centred = pts - mean
    cov = (centred * fine[:, None]).T @ centred
    with torch.no_grad():
        mu, log_var = (t[0].double().cpu().numpy() for t in model.encoder(x1))
        weights, means, log_vars = (t.double().cpu().numpy() for t in model.prior.component_params())
    # the heat map over where the posterior is (density above VIEW_FLOOR of its peak) and q(z|x)'s
    # 3-sigma ellipse, with a margin
    heavy = pts[fine >= VIEW_FLOOR * fine.max()]
    sd = np.exp(0.5 * log_var)
    lo = np.minimum(heavy.min(0), mu - 3 * sd)
    hi = np.maximum(heavy.max(0), mu + 3 * sd)
    view = Grid(*_padded(tuple(lo), tuple(hi), 0.15), VIEW_POINTS)
    density = posterior_density(log_joint, x1, view)
    ks, bounds, errors, elbo = iw_curve(model, x1, generator)
    return PosteriorView(
        index=index,
        image=shown_image(x1[0], model.decoder.likelihood, side),
        extent=(view.lo[0], view.hi[0], view.lo[1], view.hi[1]),
        density=density.astype(np.float32),
        q_mean=mu,
        q_std=np.exp(0.5 * log_var),
        prior_weights=weights,
        prior_means=means,
        prior_stds=np.exp(0.5 * log_vars),
        log_px=float(quad.log_px[0]),
        grid_points=quad.grid.n,
        change=quad.change,
        converged=quad.converged,
        post_mean=mean,
        post_cov=cov,
        ks=ks,
        iw_bounds=bounds,
        iw_stderr=errors,
        elbo=elbo,
    )


def _padded(lo, hi, share: float) -> tuple[tuple[float, float], tuple[float, float]]:
    pad = [share * (hi[d] - lo[d]) for d in range(2)]
    return (lo[0] - pad[0], lo[1] - pad[1]), (hi[0] + pad[0], hi[1] + pad[1])


@dataclass(frozen=True)
class Manifold:
    """Decoded images on a grid over the latent plane, and on the same axes the prior's and the
    aggregate posterior's densities with the levels that enclose MASS_LEVELS of each."""

    extent: tuple[float, float, float, float]  # (z1 lo, z1 hi, z2 lo, z2 hi)
    tiles: np.ndarray  # (side*H, side*W): decoder means, z2 increasing up the rows' image
    side: int  # images a side
    prior: np.ndarray  # (n, n) p(z), z2 down the rows (row 0 at z2 lo)
    aggregate: np.ndarray  # (n, n) (1/N) sum_n q(z|x_n)
    prior_levels: np.ndarray  # densities whose super-level sets hold MASS_LEVELS of the mass
    aggregate_levels: np.ndarray
    images: int  # test images in the aggregate posterior
    prior_means: np.ndarray  # (K, 2)


def mass_levels(density: np.ndarray, shares=MASS_LEVELS) -> np.ndarray:
    """The density levels whose super-level sets hold `shares` of the density's mass on the grid
    (the highest-density regions), one per share."""
    values = np.sort(density.ravel())[::-1]
    cum = np.cumsum(values)
    cum /= cum[-1]
    return np.array([values[min(np.searchsorted(cum, s), len(values) - 1)] for s in shares])


def manifold(model, x: torch.Tensor, side: int, images_side: int = MANIFOLD_SIDE) -> Manifold:
    """The plane where the test images' codes lie (their encoder means' 1 to 99 percentiles, two
    median posterior standard deviations and a fifth to spare around them, made square): `images_side`² decoded points and both densities."""
    _ensure_2d(model)
    with torch.no_grad():
        codes = [model.encoder(x[lo : lo + 1000]) for lo in range(0, len(x), 1000)]
        _weights, means, _ = (t.double().cpu().numpy() for t in model.prior.component_params())
    mu = torch.cat([m for m, _ in codes]).double().cpu().numpy()
    sd = float(np.median(torch.cat([v for _, v in codes]).double().cpu().mul(0.5).exp().numpy()))
    lo, hi = np.percentile(mu, 1, axis=0) - 2 * sd, np.percentile(mu, 99, axis=0) + 2 * sd
    centre, half = (lo + hi) / 2, max(hi - lo) / 2 * 1.2
    box = ((centre[0] - half, centre[1] - half), (centre[0] + half, centre[1] + half))
    cells = Grid(box[0], box[1], images_side)
    z = cells.points().to(next(model.parameters()))
    with torch.no_grad():
        decoded = model.decoder.mean(z).float().cpu().numpy().reshape(images_side, images_side, side, side)
    # rows of the tile image from the top: the largest z2 first, as a plot with z2 upwards shows it
    tiles = decoded[::-1].transpose(0, 2, 1, 3).reshape(images_side * side, images_side * side)
    grid = Grid(box[0], box[1], DENSITY_POINTS)
    prior = prior_density(model, grid)
    aggregate = aggregate_posterior_density(model, x, grid)
    return Manifold(
        extent=(box[0][0], box[1][0], box[0][1], box[1][1]),
        tiles=np.ascontiguousarray(tiles),
        side=images_side,
        prior=prior.astype(np.float32),
        aggregate=aggregate.astype(np.float32),
        prior_levels=mass_levels(prior),
        aggregate_levels=mass_levels(aggregate),
        images=len(x),
        prior_means=means,
    )
