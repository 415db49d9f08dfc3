"""An independent check of `evaluate --exact`: a 2-D model's exact NLL on the first test images by
Simpson's rule on one fixed grid, and its IW-k bound, in numpy from the checkpoint's weights.

    python benchmarks/exact_nll.py runs/lab2d/model.pt [--images 100] [--nodes 1601] [--iw 5000]

Nothing here comes from `core/exact2d.py` or the package's model: the checkpoint is read with
`torch.load`, the MLP encoder and decoder (Linear, LeakyReLU(0.01), Linear, LeakyReLU, Linear), the
Bernoulli likelihood and the mixture prior are written out in numpy (float64), and the grid is this
script's own: a box holding every image's q(z|x) +- 8 sigma and every prior component's mean
+- 3 sigma, `--nodes` nodes a side. Only the images come from the package (the test set with its
fixed binarisation, as evaluation scores it). Simpson's rule on every second node gives a second
figure from the same values: their difference says how far the quadrature has converged.
Prints `exact_nll=<nats> coarse_nll=<nats> iw_nll=<nats> iw_stderr=<nats> neg_elbo=<nats>`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it (see DESIGN.md)

SLOPE = 0.01  # torch's LeakyReLU
CHUNK = 20_000  # grid points per decoder call


def read_weights(path: str) -> tuple[dict[str, np.ndarray], dict]:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    config = json.loads(payload["config"]) if isinstance(payload["config"], str) else payload["config"]
    model = config["model"]
    if (model["arch"], model["likelihood"], model["prior"], model["latent_dim"]) != (
        "mlp",
        "bernoulli",
        "mog",
        2,
    ):
        raise SystemExit("this check covers 2-D MLP models with a Bernoulli decoder and a MoG prior")
    return {k: v.double().numpy() for k, v in payload["model"].items()}, config


def mlp(w: dict[str, np.ndarray], prefix: str, h: np.ndarray) -> np.ndarray:
    for i in (0, 2, 4):
        h = h @ w[f"{prefix}.{i}.weight"].T + w[f"{prefix}.{i}.bias"]
        if i < 4:
            h = np.where(h > 0, h, SLOPE * h)
    return h


def log_prior(w: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """log sum_k pi_k N(z | m_k, diag(s_k^2)), (G,)."""
    means, var = w["prior.means"], np.exp(w["prior.log_vars"])
    log_pi = w["prior.logits"] - np.logaddexp.reduce(w["prior.logits"])
    d = z[:, None, :] - means[None]
    return np.logaddexp.reduce(log_pi - 0.5 * (np.log(2 * np.pi * var) + d**2 / var).sum(-1), axis=1)


def log_bernoulli(w: dict[str, np.ndarray], x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log p(x_i | z_g) for every image and point, (N, G): sum_d x l - log(1 + e^l)."""
    logits = mlp(w, "decoder.net", z)
    return x @ logits.T - np.logaddexp(0.0, logits).sum(1)[None]


def simpson_log_weights(a: float, b: float, nodes: int) -> np.ndarray:
    weights = np.ones(nodes)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return np.log(weights * (b - a) / (nodes - 1) / 3)


def quadrature(w: dict[str, np.ndarray], x: np.ndarray, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """log p(x) per image by Simpson's rule on `nodes` x `nodes` nodes, and by Simpson's rule on
    every second node of the same grid."""
    enc = mlp(w, "encoder.net", x)
    mu, sd = enc[:, :2], np.exp(0.5 * enc[:, 2:])
    means, sd_p = w["prior.means"], np.exp(0.5 * w["prior.log_vars"])
    lo = np.minimum((mu - 8 * sd).min(0), (means - 3 * sd_p).min(0))
    hi = np.maximum((mu + 8 * sd).max(0), (means + 3 * sd_p).max(0))
    axes = [np.linspace(lo[d], hi[d], nodes) for d in range(2)]
    fine = [simpson_log_weights(lo[d], hi[d], nodes) for d in range(2)]
    half = (nodes - 1) // 2 + 1
    coarse = [np.full(nodes, -np.inf) for _ in range(2)]
    for d in range(2):
        coarse[d][::2] = simpson_log_weights(lo[d], hi[d], half)
    z1, z2 = np.meshgrid(axes[0], axes[1], indexing="ij")
    z = np.stack([z1.ravel(), z2.ravel()], 1)
    lw_fine = (fine[0][:, None] + fine[1][None, :]).ravel()
    lw_coarse = (coarse[0][:, None] + coarse[1][None, :]).ravel()
    acc_fine = np.full(len(x), -np.inf)
    acc_coarse = np.full(len(x), -np.inf)
    for start in range(0, len(z), CHUNK):
        zc = z[start : start + CHUNK]
        joint = log_bernoulli(w, x, zc) + log_prior(w, zc)[None]
        acc_fine = np.logaddexp(acc_fine, np.logaddexp.reduce(joint + lw_fine[start : start + CHUNK], axis=1))
        acc_coarse = np.logaddexp(
            acc_coarse, np.logaddexp.reduce(joint + lw_coarse[start : start + CHUNK], axis=1)
        )
    return acc_fine, acc_coarse


def importance_weighted(
    w: dict[str, np.ndarray], x: np.ndarray, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per image: log (1/S) sum_s p(x, z_s) / q(z_s|x) with z_s ~ q(z|x), and the mean of the
    log-weights (the ELBO)."""
    rng = np.random.default_rng(seed)
    enc = mlp(w, "encoder.net", x)
    iw, elbo = [], []
    for i in range(len(x)):
        mu, log_var = enc[i, :2], enc[i, 2:]
        eps = rng.standard_normal((samples, 2))
        z = mu + np.exp(0.5 * log_var) * eps
        log_q = -0.5 * (np.log(2 * np.pi) + log_var + eps**2).sum(1)
        log_w = log_bernoulli(w, x[i : i + 1], z)[0] + log_prior(w, z) - log_q
        iw.append(np.logaddexp.reduce(log_w) - math.log(samples))
        elbo.append(log_w.mean())
    return np.array(iw), np.array(elbo)


def test_images(config: dict, images: int) -> np.ndarray:
    """The first test images with the fixed binarisation evaluation uses."""
    from vae_explorer.core.config import DataConfig
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input

    data = DataConfig(**{**config["data"], "limit_train": None, "limit_val": None})
    splits = load_splits(data.test_only(images))
    return model_input(splits.test_images, "bernoulli", TEST_BINARISE_SEED).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--images", type=int, default=100, help="the first N test images (default 100)")
    parser.add_argument("--nodes", type=int, default=1601, help="nodes a side, 4m+1 (default 1601)")
    parser.add_argument("--iw", type=int, default=5000, help="importance samples per image (default 5000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.nodes % 4 != 1:
        parser.error("--nodes must be 4m+1, so that every second node is a Simpson grid too")
    w, config = read_weights(args.checkpoint)
    x = test_images(config, args.images)
    start = time.perf_counter()
    fine, coarse = quadrature(w, x, args.nodes)
    quad_s = time.perf_counter() - start
    start = time.perf_counter()
    iw, elbo = importance_weighted(w, x, args.iw, args.seed)
    iw_s = time.perf_counter() - start
    print(f"{len(x)} test images, {args.nodes}² nodes ({quad_s:.0f} s), IW-{args.iw} ({iw_s:.0f} s)")
    print(
        f"exact_nll={-fine.mean():.4f} coarse_nll={-coarse.mean():.4f} "
        f"largest_image_change={np.abs(fine - coarse).max():.4f} "
        f"iw_nll={-iw.mean():.4f} iw_stderr={iw.std(ddof=1) / math.sqrt(len(iw)):.4f} "
        f"neg_elbo={-elbo.mean():.4f}"
    )


if __name__ == "__main__":
    main()
