"""Report figures for the headless CLI, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vae_explorer.core.grids import to_images


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_image_grid(flat: np.ndarray, paths: Sequence[Path], side: int = 28, cols: int = 4,
                    title: str | None = None) -> None:
    """A grid of digits (4x4 for 16 images), one subplot each with no axes, as in the course."""
    plt = _pyplot()
    images = to_images(flat, side)
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.2 + (0.3 if title else 0)))
    for ax, i in zip(np.ravel(axes), range(rows * cols)):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)


def save_curves(curves: dict[str, Sequence[tuple[int, float]]], paths: Sequence[Path],
                ylabel: str = "nll", log_y: bool = False) -> None:
    """Validation nll per epoch; several curves overlay with a legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, points in curves.items():
        if points:
            epochs, values = zip(*points)
            ax.plot(epochs, values, linewidth=2, label=label, marker="." if len(points) < 30 else None)
    ax.set_xlabel("epochs")
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(title="learning rate" if all(k.startswith("lr") for k in curves) else None)
    fig.tight_layout()
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
