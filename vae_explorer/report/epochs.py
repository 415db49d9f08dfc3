"""The report's per-epoch figures beside the validation curves: each run's validation bound split
into its reconstruction and KL-like parts, and each run's mixture weights as stacked areas (a
collapse shows as bands that thin to nothing). Drawn from metrics.csv and weights.csv
(core.epochlog); runs trained before those were recorded are named as having none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vae_explorer import figures
from vae_explorer.core.epochlog import WEIGHTS_FILE, WeightsHistory
from vae_explorer.core.runfiles import FileProblem, clean_text, drawable, read_weights
from vae_explorer.core.runs import RunSummary

# the app's component colours (the latent map, the Training tab's weights), so k looks alike
COMPONENT_COLOURS = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"),
    *("#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"),
    *("#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"),
)
NAME = 40  # characters of a run's name in a legend or title
WEIGHT_COLUMNS = 3
WEIGHT_ROW_H = 2.3  # inches per row of weight plots
MAX_WEIGHT_RUNS = 12


def _name(run: RunSummary) -> str:
    return clean_text(run.name, NAME)


def run_weights(run: RunSummary) -> tuple[WeightsHistory, str | None]:
    """The run's weights.csv and, when it cannot be read, why (the report says so)."""
    try:
        return read_weights(run.folder / WEIGHTS_FILE), None
    except FileProblem as exc:
        return WeightsHistory.empty(), str(exc)


def parts_drawing(runs: Sequence[RunSummary], colours: Mapping[str, Any]):
    """(draw(fig, box), height in inches, caption) of the parts figure, or None when no run
    recorded them. Each run keeps the colour of its validation curve (`colours`: run key ->
    colour, curves.run_colours)."""
    curved = [r for r in runs if drawable(r.history.val_nll).any()]
    parted = [r for r in curved if r.history.has_parts]
    if not parted:
        return None
    without = [r for r in curved if not r.history.has_parts]

    def draw(fig, box) -> None:
        from matplotlib.lines import Line2D

        w, h = fig.get_size_inches()
        x, y, bw, bh = box
        ax = fig.add_axes((x + 0.75 / w, y + 0.5 / h, bw - 0.95 / w, bh - 0.8 / h))
        handles = []
        for run in parted:
            shown = run.history.for_display(5_000)
            colour = colours[run.key]
            keep = np.isfinite(shown.val_recon)
            ax.plot(shown.epoch[keep], shown.val_recon[keep], color=colour, linewidth=1.8)
            ax.plot(shown.epoch[keep], shown.val_kl[keep], color=colour, linewidth=1.8, linestyle="--")
            handles.append(Line2D([], [], color=colour, linewidth=1.8, label=_name(run)))
        handles += [
            Line2D([], [], color="grey", label="reconstruction −E log p(x|z)"),
            Line2D([], [], color="grey", linestyle="--", label="KL-like E[log q(z|x) − log p(z)]"),
        ]
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per validation image")
        ax.grid(alpha=0.3)
        ax.set_title("validation nll = reconstruction (solid) + KL-like part (dashed)", fontsize=10)
        figures.plain_legend(ax.legend(handles=handles, fontsize=7, loc="best"))

    caption = "The two parts add up to each epoch's validation nll; both come from the validation pass."
    if without:
        caption += (
            " Not recorded (trained before the parts were kept): " + ", ".join(map(_name, without)) + "."
        )
    return draw, 3.6, caption


def weights_drawing(runs: Sequence[RunSummary]):
    """(draw(fig, box), height in inches, caption) of the runs' weights over epochs, stacked, or
    None when no run recorded them."""
    found: list[tuple[RunSummary, WeightsHistory]] = []
    problems: list[str] = []
    for run in runs:
        weights, problem = run_weights(run)
        if problem is not None:
            problems.append(f"{_name(run)} ({problem})")
        elif len(weights):
            found.append((run, weights))
    if not found:
        return None
    shown = found[:MAX_WEIGHT_RUNS]
    rows = -(-len(shown) // WEIGHT_COLUMNS)
    columns = min(WEIGHT_COLUMNS, len(shown))

    def draw(fig, box) -> None:
        w, h = fig.get_size_inches()
        x, y, bw, bh = box
        cell_w, cell_h = bw / columns, bh / rows
        for n, (run, weights) in enumerate(shown):
            row, col = divmod(n, columns)
            left = x + col * cell_w + 0.55 / w
            bottom = y + bh - (row + 1) * cell_h + 0.45 / h
            ax = fig.add_axes((left, bottom, cell_w - 0.75 / w, cell_h - 0.85 / h))
            draw_weights(ax, weights, _name(run))

    caption = (
        "Each band is one component's weight after each validated epoch, component 0 at the bottom "
        "(the latent map's colours); a band that thins to nothing is a component the mixture gave up."
    )
    left_out = [r for r in runs if r not in [f for f, _ in found]]
    if left_out:
        caption += " No weights recorded: " + ", ".join(map(_name, left_out)) + "."
    if problems:
        caption += " Unreadable weights.csv: " + "; ".join(problems) + "."
    if len(found) > len(shown):
        caption += f" The first {len(shown)} of {len(found)} runs with weights are shown."
    return draw, WEIGHT_ROW_H * rows + 0.1, caption


def draw_weights(ax, weights: WeightsHistory, title: str) -> None:
    """One run's weights per epoch as stacked areas on `ax`."""
    table = np.nan_to_num(weights.weights, nan=0.0)
    epochs = weights.epoch.astype(float)
    if len(epochs) == 1:  # one epoch: a band of width one, so that it shows
        epochs, table = np.array([epochs[0] - 0.5, epochs[0] + 0.5]), np.repeat(table, 2, axis=0)
    colours = [COMPONENT_COLOURS[k % len(COMPONENT_COLOURS)] for k in range(table.shape[1])]
    ax.stackplot(epochs, table.T, colors=colours, linewidth=0.3, edgecolor="white")
    ax.set_xlim(epochs[0], epochs[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel("weight (stacked)", fontsize=8)
    ax.tick_params(labelsize=7)
    last = np.sort(table[-1])[::-1][:3]
    ax.set_title(f"{title}\nlast: {', '.join(f'{v:.2f}' for v in last)}", fontsize=8).set_parse_math(False)
