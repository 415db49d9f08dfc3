"""Sample-quality scores in a digit classifier's spaces: Fréchet distance, Inception Score, class mix.

The Inception network cannot be fetched here, so, as is usual for MNIST, features and class
probabilities come from the project's own classifier (core.classifier); the numbers compare models
evaluated with the same classifier, not papers' Inception-based figures. Report the real-vs-real
Fréchet distance (two disjoint sets of real images of the generated set's size) beside every FID.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class _Features(nn.Module):
    """The identity on precomputed features, sized for torchmetrics (it reads `num_features`)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def frechet_distance(features_a: np.ndarray | torch.Tensor, features_b: np.ndarray | torch.Tensor) -> float:
    """||m_a - m_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^{1/2}) of Gaussians fitted to two feature sets.

    Computed by torchmetrics' FrechetInceptionDistance fed the features through an identity module:
    float64 sums, unbiased covariances (ddof=1), Tr (C_a C_b)^{1/2} from the eigenvalues of C_a C_b.
    Round-off can give a tiny negative number for identical sets; the result is clipped at 0.
    """
    a, b = _as_features(features_a, "features_a"), _as_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets differ in width: {a.shape[1]} and {b.shape[1]}")
    # imported here: torchmetrics takes seconds to import and only evaluation needs it
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Features(a.shape[1]))
    metric.update(a, real=True)
    metric.update(b, real=False)
    return max(float(metric.compute()), 0.0)


def inception_score(probs: np.ndarray | torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over `splits` consecutive equal parts of exp(mean_x KL(p(y|x) || p(y))).

    p(y) is the mean of p(y|x) within each part, as in Salimans et al.; std is the population std
    (ddof=0) of the parts' scores, as their code reports it. Leftover rows (N mod splits) are dropped.
    The score lies in [1, number of classes]: 1 when every image gets the same prediction, C for
    confident predictions spread evenly over C classes.
    """
    p = _as_probs(probs)
    if splits < 1:
        raise ValueError(f"splits must be at least 1, not {splits}")
    if len(p) < splits:
        raise ValueError(f"{len(p)} images cannot be cut into {splits} splits")
    size = len(p) // splits
    scores = []
    for i in range(splits):
        part = p[i * size : (i + 1) * size]
        marginal = part.mean(axis=0)
        # 0 log 0 = 0: terms with p(y|x) = 0 contribute nothing (where= leaves them at 0)
        ratio = np.divide(part, marginal, out=np.ones_like(part), where=part > 0)
        kl = (part * np.log(ratio)).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def class_histogram(probs: np.ndarray | torch.Tensor) -> np.ndarray:
    """How many images the classifier assigns to each class (argmax of p(y|x)); (C,) int64."""
    p = _as_probs(probs)
    return np.bincount(p.argmax(axis=1), minlength=p.shape[1]).astype(np.int64)


def _as_features(values: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(values.detach().cpu() if isinstance(values, torch.Tensor) else np.asarray(values))
    t = t.to(torch.float64)
    if t.dim() != 2 or len(t) < 2:
        raise ValueError(
            f"{name} must be an (N, F) array with at least 2 rows, not of shape {tuple(t.shape)}"
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def _as_probs(values: np.ndarray | torch.Tensor) -> np.ndarray:
    p = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    p = p.astype(np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probabilities must be a non-empty (N, C) array, not of shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("each row of probabilities must be non-negative and sum to 1 (apply softmax)")
    return p
