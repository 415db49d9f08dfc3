"""Image-grid helpers on numpy arrays, shared by the CLI figures and the GUI panels."""

from __future__ import annotations

import numpy as np


def to_images(flat: np.ndarray, side: int = 28) -> np.ndarray:
    """(N, side*side) values in [0, 1] -> (N, side, side) float32."""
    return np.asarray(flat, dtype=np.float32).reshape(-1, side, side)


def tile(images: np.ndarray, rows: int, cols: int, pad: int = 2, fill: float = 1.0) -> np.ndarray:
    """Arrange (N, H, W) images row by row into one (rows*H + pads, cols*W + pads) array.

    Missing cells (N < rows*cols) stay at `fill`; the padding lines are `fill` too.
    """
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    if n > rows * cols:
        raise ValueError(f"{n} images do not fit a {rows}x{cols} grid")
    out = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad), fill, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = images[i]
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 grey levels, clipped."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
