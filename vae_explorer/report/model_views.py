"""The figures of one model for the report: 16 real against 16 generated images, an interpolation
strip, the latent map and the mixture components with their weights and digits. The arrays come
from core.explore, the same functions the app's explore tabs call; each part is drawn into a box
of a `matplotlib.figure.Figure` that the writer owns."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vae_explorer import figures
from vae_explorer.core.runs import RunSummary
from vae_explorer.report.blocks import inset

SAMPLE_SEED = figures.SAMPLE_SEED  # the generated images: the same draws as the run folder's figure
COMPONENT_SEED = 0
COMPONENT_SAMPLES = 10  # samples per component row
INTERPOLATION_STEPS = 10
MAP_IMAGES = 2000  # test images on the latent map (fewer when the run used fewer)
COMPONENT_ROW_H = 0.56  # inches per component row (16 rows fill a page)


def _image_axes(fig, rect, image, title: str | None = None, fontsize: float = 9):
    ax = fig.add_axes(rect)
    figures.draw_images(ax, image, title, fontsize)
    return ax


@dataclass
class ModelFigures:
    """What the figures of one model are drawn from; each part None when it could not be made."""

    run: RunSummary
    side: int
    real: np.ndarray | None = None
    generated: np.ndarray | None = None
    components: np.ndarray | None = None  # (K shown, n, pixels)
    component_labels: list[str] = field(default_factory=list)
    strip: np.ndarray | None = None
    strip_title: str = ""
    latents: np.ndarray | None = None  # (N, 2) projected
    labels: np.ndarray | None = None
    explained: np.ndarray | None = None
    projected: bool = True  # the map's axes are principal components (False: a 2-D latent as is)
    notes: list[str] = field(default_factory=list)

    @property
    def pseudo_inputs(self) -> bool:
        """Whether each component row starts with its pseudo-input (a VampPrior's)."""
        return self.components is not None and self.components.shape[1] > COMPONENT_SAMPLES


def component_label(k: int, weight: float, evaluation: dict[str, Any] | None) -> str:
    from vae_explorer.core.explore import format_weight

    text = f"k={k}  w={format_weight(weight)}"
    if evaluation is None:
        return text
    found = [c for c in evaluation.get("components") or [] if isinstance(c, dict) and c.get("component") == k]
    if not found:
        return text
    c = found[0]
    if c.get("dominant_digit") is None:
        return text + "\nno test image"
    purity = f", purity {c['purity']:.2f}" if isinstance(c.get("purity"), (int, float)) else ""
    return text + f"\ndigit {c['dominant_digit']}{purity}"


def model_figures(run: RunSummary, accept_unchecked: bool = False) -> ModelFigures:
    """Load the run's model.pt and draw its samples, components, an interpolation and the latent map
    (one saved before the whole-content checksum only with `accept_unchecked`)."""
    import torch

    from vae_explorer.core.checkpoint import CheckpointError, UncheckedCheckpoint, load_checkpoint
    from vae_explorer.core.data import TEST_BINARISE_SEED, DataError, load_splits, model_input
    from vae_explorer.core.explore import (
        MAX_COMPONENT_ROWS,
        component_order,
        component_rows,
        decode_latents,
        interpolation_path,
        latent_map,
        prior_samples,
    )

    side = run.config.model.image_size if run.config else 28
    out = ModelFigures(run, side)
    try:
        model, config, _ = load_checkpoint(run.checkpoint, accept_unchecked=accept_unchecked)
    except UncheckedCheckpoint:
        out.notes.append(
            "model.pt was saved before checkpoints carried a checksum of their whole content, so its "
            "figures are left out (`vae-explorer report --accept-unchecked` draws them)"
        )
        return out
    except CheckpointError as exc:
        out.notes.append(f"model.pt could not be read: {exc}")
        return out
    out.side = side = config.model.image_size
    with torch.no_grad():
        out.generated = prior_samples(model, 16, SAMPLE_SEED)
        weights = model.prior.component_params()[0].cpu().numpy()
        order = component_order(weights, True)[:MAX_COMPONENT_ROWS]
        # a VampPrior's rows start with their pseudo-inputs
        out.components = component_rows(model, COMPONENT_SAMPLES, seed=COMPONENT_SEED, components=list(order))
        out.component_labels = [component_label(int(k), float(weights[k]), run.evaluation) for k in order]
        if len(weights) > MAX_COMPONENT_ROWS:
            out.notes.append(f"the {MAX_COMPONENT_ROWS} heaviest of {len(weights)} components are shown")
        limit = min(MAP_IMAGES, config.data.limit_test or MAP_IMAGES)
        try:
            splits = load_splits(config.data.test_only(limit))
        except DataError as exc:
            out.notes.append(
                f"the test images could not be read, so no real images, interpolation or latent map: {exc}"
            )
            return out
        images, labels = splits.test_images, splits.test_labels.numpy()
        out.real = images[:16].float().numpy() / 255.0
        x = model_input(images, config.model.likelihood, TEST_BINARISE_SEED)
        z, projection = latent_map(model, x)
        if len(images) >= 2:
            other = np.flatnonzero(labels != labels[0])
            j = int(other[0]) if len(other) else 1
            path = decode_latents(model, interpolation_path(z[0], z[j], INTERPOLATION_STEPS))
            out.strip = np.concatenate(
                [images[[0]].float().numpy() / 255.0, path, images[[j]].float().numpy() / 255.0]
            )
            out.strip_title = (
                f"test #0 (digit {labels[0]}), then {INTERPOLATION_STEPS} decodings of a linear path between "
                f"the encoder means, then test #{j} (digit {labels[j]})"
            )
        out.latents = projection.project(z)
        out.labels = labels
        out.explained = projection.explained
        out.projected = z.shape[1] > 2
    return out


def draw_real_generated(m: ModelFigures):
    def draw(fig, box):
        x, y, w, h = inset(box, fig, top=0.3, bottom=0.05)
        gap = 0.08
        half = (w - gap) / 2
        if m.real is not None:
            _image_axes(fig, (x, y, half, h), figures.image_grid(m.real, m.side), "16 test images")
        else:
            fig.text(x + half / 2, y + h / 2, "test images not available", ha="center", fontsize=9)
        _image_axes(
            fig,
            (x + half + gap, y, half, h),
            figures.image_grid(m.generated, m.side),
            f"16 generated images (prior samples, seed {SAMPLE_SEED})",
        )

    return draw


def draw_strip(m: ModelFigures):
    def draw(fig, box):
        strip = figures.image_strip(m.strip, m.side)
        _image_axes(fig, inset(box, fig, top=0.3), strip, "\n".join(textwrap.wrap(m.strip_title, 110)), 8)

    return draw


def draw_map(m: ModelFigures):
    def draw(fig, box):
        ax = fig.add_axes(inset(box, fig, left=0.7, bottom=0.5, right=1.0, top=0.3))
        figures.draw_latent_map(ax, m.latents, m.labels, m.explained, m.projected)

    return draw


def draw_components(m: ModelFigures, start: int, stop: int):
    def draw(fig, box):
        rows = stop - start
        x, y, w, h = inset(box, fig, left=1.5)
        _, fig_h = fig.get_size_inches()
        row_h = COMPONENT_ROW_H / fig_h
        for i in range(rows):
            ax = fig.add_axes((x, y + h - (i + 1) * row_h, w, row_h * 0.92))
            figures.draw_component_row(
                ax, m.components[start + i], m.component_labels[start + i], m.side, m.pseudo_inputs
            )

    return draw
