"""Report figures for the headless CLI, drawn with matplotlib's Agg canvas (no display needed).

Every figure is a `matplotlib.figure.Figure` of its own with an Agg canvas, never one of
matplotlib's state machine, which keeps a figure registry and a current backend for the whole
process while the training thread and the report thread draw at the same time. Such a figure
belongs to whoever made it and is freed like any Python object, written or not: a failed write
leaves nothing behind. Styles are passed to each figure and text; matplotlib's rcParams are not
changed, except the PDF font type below.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vae_explorer.core.atomic import atomic_write
from vae_explorer.core.colours import PSEUDO_INPUT_COLOUR
from vae_explorer.core.config import nll_label
from vae_explorer.core.grids import tile, to_images
from vae_explorer.core.runfolder import FIGURE_FORMATS as FORMATS  # each figure in both
from vae_explorer.core.runfolder import RUN_FIGURES

COMPARISON_FIGURE = "nll_val_curves"
COMPARISON_FILES = tuple(f"{COMPARISON_FIGURE}{suffix}" for suffix in FORMATS)
SAMPLE_SEED = 0  # the generated images of a run folder are drawn from this seed

# The one process-wide setting: matplotlib (3.7 to 3.11) takes the PDF font type from rcParams
# alone, with no per-figure or per-file option. Every PDF the package writes embeds TrueType
# (Type 42) fonts, whose text stays selectable. It is set here, when the module is imported, before
# any thread draws, and never changed afterwards, so no drawing thread sees it change.
matplotlib.rcParams["pdf.fonttype"] = 42


def savefig(fig, path: Path, **options) -> Path:
    """fig.savefig through the package's one atomic writer; the format from the file's suffix."""
    path = Path(path)
    return atomic_write(path, lambda fh: fig.savefig(fh, format=path.suffix.lstrip(".").lower(), **options))


def plain_legend(legend):
    """Show a legend's labels as the text they are: run and folder names are the user's, and a
    "$" in one must not start mathtext (a bad formula would stop the drawing)."""
    if legend is not None:
        for text in legend.get_texts():
            text.set_parse_math(False)
        legend.get_title().set_parse_math(False)
    return legend


def new_figure(figsize: tuple[float, float]) -> Figure:
    """An empty figure with the Agg canvas, registered nowhere."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


# -- drawing on a given axes: the run folders', the CLI's and the report's figures share these ---------
def draw_images(ax, image: np.ndarray, title: str | None = None, fontsize: float = 9) -> None:
    """A grey-level image (a tiled grid or strip) in [0, 1], crisp, without axes."""
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=fontsize)


def image_grid(flat: np.ndarray, side: int = 28, cols: int = 4) -> np.ndarray:
    """Digits tiled row by row on white (a 4x4 grid for 16 images, as in the course)."""
    images = to_images(flat, side)
    return tile(images, -(-len(images) // cols), cols, pad=2, fill=1.0)


def image_strip(flat: np.ndarray, side: int = 28) -> np.ndarray:
    """Digits in one row on grey, e.g. an interpolation path or a component's samples."""
    return tile(to_images(flat, side), 1, len(flat), pad=1, fill=0.5)


def draw_component_row(ax, samples: np.ndarray, label: str, side: int = 28, pseudo: bool = False) -> None:
    """One mixture component's samples in a row, its label (index, weight ...) on the left;
    `pseudo`: the first image is the component's pseudo-input, framed."""
    ax.imshow(image_strip(samples, side), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if pseudo:  # the strip's first cell spans pixels 1 .. side (a 1-pixel grey border around each)
        ax.add_patch(
            matplotlib.patches.Rectangle(
                (0.0, 0.0), side + 1.0, side + 1.0, fill=False, edgecolor=PSEUDO_INPUT_COLOUR, lw=1.2
            )
        )
    ax.set_anchor("W")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)


def draw_latent_map(
    ax, coords: np.ndarray, labels: np.ndarray, explained: np.ndarray, projected: bool = True
) -> None:
    """Test images' encoder means in two principal directions, coloured by digit."""
    cmap = matplotlib.colormaps["tab10"]
    for digit in range(10):
        chosen = labels == digit
        if chosen.any():
            ax.scatter(
                coords[chosen, 0],
                coords[chosen, 1],
                s=6,
                color=cmap(digit),
                label=str(digit),
                linewidths=0,
                alpha=0.8,
            )
    if projected:
        ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% of variance)", fontsize=9)
        ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}% of variance)", fontsize=9)
        what = "PCA of the encoder means"
    else:  # a 2-D latent space drawn as it is: its axes are z1 and z2, not principal components
        ax.set_xlabel("z₁", fontsize=9)
        ax.set_ylabel("z₂", fontsize=9)
        what = "the encoder means"
    ax.tick_params(labelsize=8)
    ax.set_title(f"latent map: {what} of {len(labels):,} test images, coloured by digit", fontsize=9)
    ax.legend(
        title="digit",
        fontsize=8,
        title_fontsize=8,
        markerscale=2.5,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.grid(alpha=0.3)


def save_image_grid(
    flat: np.ndarray, paths: Sequence[Path], side: int = 28, cols: int = 4, title: str | None = None
) -> None:
    """A grid of digits (4x4 for 16 images) with white gaps, as in the course."""
    rows = -(-len(flat) // cols)
    fig = new_figure((cols * 1.2, rows * 1.2 + (0.3 if title else 0)))
    ax = fig.subplots()
    draw_images(ax, image_grid(flat, side, cols), title, fontsize=11)
    fig.tight_layout()
    for path in paths:
        savefig(fig, path, dpi=150)


def curves_figure(
    curves: dict[str, Sequence[tuple[int, float]]],
    ylabel: str = "nll",
    log_y: bool = False,
    legend: bool = True,
):
    """The figure `save_curves` writes: whole-number epoch ticks, and a marker
    on every point while there are few, so a one-epoch curve is a visible dot above "1".
    legend=False: the caller draws its own."""
    from matplotlib.ticker import MaxNLocator

    fig = new_figure((6.4, 4.0))
    ax = fig.subplots()
    all_epochs: list[int] = []
    for label, points in curves.items():
        if points:
            epochs, values = zip(*points)
            all_epochs.extend(epochs)
            marker = "o" if len(points) == 1 else ("." if len(points) < 30 else None)
            ax.plot(epochs, values, linewidth=2, label=label, marker=marker)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if all_epochs and min(all_epochs) == max(all_epochs):
        ax.set_xlim(all_epochs[0] - 0.5, all_epochs[0] + 0.5)  # matplotlib's own would be 0.96..1.04
    ax.set_xlabel("epochs")
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if legend and len(curves) > 1:
        plain_legend(ax.legend(title="learning rate" if all(k.startswith("lr") for k in curves) else None))
    fig.tight_layout()
    return fig


def save_curves(
    curves: dict[str, Sequence[tuple[int, float]]],
    paths: Sequence[Path],
    ylabel: str = "nll",
    log_y: bool = False,
) -> None:
    """Validation nll per epoch; several curves overlay with a legend."""
    fig = curves_figure(curves, ylabel, log_y)
    for path in paths:
        savefig(fig, path)


def save_component_rows(
    samples: np.ndarray, labels: Sequence[str], path: Path, side: int = 28, pseudo: bool = False
) -> None:
    """One row of decoded samples per mixture component, its label (index, weight) on the left;
    `pseudo`: each row starts with its component's pseudo-input, framed."""
    k, n = samples.shape[:2]
    fig = new_figure((0.55 * n + 1.3, 0.6 * k + 0.3))
    axes = fig.subplots(k, 1, squeeze=False)
    for row, (ax, label) in enumerate(zip(axes[:, 0], labels)):
        draw_component_row(ax, samples[row], label, side, pseudo)
    fig.tight_layout(pad=0.3)
    savefig(fig, path, dpi=150, bbox_inches="tight", pad_inches=0.05)


def save_strip(images: np.ndarray, path: Path, side: int = 28, title: str | None = None) -> None:
    """A single row of images, e.g. an interpolation path."""
    n = len(images)
    fig = new_figure((0.8 * n + 0.4, 1.4 if title else 1.1))
    ax = fig.subplots()
    draw_images(ax, image_strip(images, side), title)
    fig.tight_layout(pad=0.2)
    savefig(fig, path, dpi=150, bbox_inches="tight", pad_inches=0.05)


def write_run_figures(
    run_dir: Path, config, weights, real_images, history: list[dict[str, float]], seed: int = SAMPLE_SEED
) -> list[Path]:
    """The course's three figures of a run folder, from the best weights the run's events carried:
    16 real test images, 16 samples (drawn from `seed`), and the validation curve."""

    from vae_explorer.core.explore import prior_samples
    from vae_explorer.core.model import model_for

    run_dir, side = Path(run_dir), config.model.image_size
    model = model_for(config.model, weights)
    real = real_images[:16].float().numpy() / 255.0
    generated = prior_samples(model, 16, seed)
    paths = {name: [run_dir / f"{name}{suffix}" for suffix in FORMATS] for name in RUN_FIGURES}
    save_image_grid(real, paths["real_images"], side)
    save_image_grid(generated, paths["generated_images"], side)
    save_curves(
        {"validation": [(h["epoch"], h["val_nll"]) for h in history]},
        paths["nll_val_curve"],
        nll_label(config.model.likelihood),
    )
    return [p for group in paths.values() for p in group]


def write_comparison(
    out_dir: Path, curves: dict[str, list[tuple[int, float]]], ylabel: str = "nll (nats)"
) -> list[Path]:
    """The validation curves of a queue's runs, overlaid, beside their folders."""
    paths = [Path(out_dir) / name for name in COMPARISON_FILES]
    save_curves(curves, paths, ylabel)
    return paths
