"""The report's curve figures: the runs' validation and training curves overlaid with their best
epochs starred, and a sweep's curves grouped by setting (each seed thin, the mean thick with a
±1 sd band). Each is a `matplotlib.figure.Figure` of its own (figures.new_figure, never the state machine)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vae_explorer import figures
from vae_explorer.core.colours import PALETTE
from vae_explorer.core.config import nll_label
from vae_explorer.core.runfiles import clean_text, drawable
from vae_explorer.core.runs import RunSummary, differing_settings
from vae_explorer.core.sweep import SweepSpec
from vae_explorer.core.sweep_results import TrialResult
from vae_explorer.report.sweep import mean_curve

LEGEND_NAME = 40  # characters of a run's name in a curve legend
LEGEND_RUNS = 12  # runs a curve legend names (those of lowest validation nll); the table has all
DISPLAY_EPOCHS = 5_000  # points per curve, at most; a longer run is drawn from evenly spaced epochs


def _finite(epochs: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    keep = drawable(values)
    return list(zip(epochs[keep].tolist(), values[keep].tolist()))


def _shown_history(run: RunSummary):
    """The run's history as drawn: at most DISPLAY_EPOCHS epochs (its best and last kept)."""
    return run.history.for_display(DISPLAY_EPOCHS)


def curves_maker(
    runs: Sequence[RunSummary], colours: Mapping[str, Any] | None = None
) -> Callable[[], Any] | None:
    """A maker of figures.curves_figure with the validation curves, the training curves dashed in
    the same colours and a star on each best epoch; None when no run finished an epoch. Every
    curve has a colour of its own (`colours`: run key -> colour, by default run_colours); the
    legend names the LEGEND_RUNS runs of lowest validation nll and says how many more there are,
    so that it stays within the plot however many runs."""
    labels = differing_settings(list(runs))
    drawn = [r for r in runs if drawable(r.history.val_nll).any()]
    if not drawn:
        return None
    colours = colours if colours is not None else run_colours(drawn)

    def label(run: RunSummary) -> str:
        name = clean_text(run.name, LEGEND_NAME)
        return f"{name}: {labels[run.key]}" if labels.get(run.key) else name

    names: dict[str, str] = {}  # run key -> its label, made unique (one curve each)
    for run in drawn:
        text, n = label(run), 1
        while text in names.values():
            n += 1
            text = f"{label(run)} ({n})"
        names[run.key] = text

    def make():
        from matplotlib.lines import Line2D

        shown = {r.key: _shown_history(r) for r in drawn}
        val = {names[r.key]: _finite(shown[r.key].epoch, shown[r.key].val_nll) for r in drawn}
        train = {names[r.key]: _finite(shown[r.key].epoch, shown[r.key].train_loss) for r in drawn}
        values = [v for points in (*val.values(), *train.values()) for _, v in points]
        log_y = min(values) > 0 and max(values) / min(values) > 20
        likelihoods = {r.config.model.likelihood for r in drawn if r.config is not None}
        ylabel = nll_label(likelihoods.pop()) if len(likelihoods) == 1 else "nll (nats)"
        fig = figures.curves_figure(val, ylabel, log_y, legend=False)
        ax = fig.axes[0]
        lines = dict(zip((r.key for r in drawn), ax.get_lines()))
        for key, line in lines.items():
            line.set_color(colours[key])
        for run in drawn:
            line = lines[run.key]
            colour = line.get_color()
            points = train[names[run.key]]
            if points:
                ax.plot(*zip(*points), linestyle="--", linewidth=1.2, color=colour, alpha=0.8)
            if math.isfinite(run.best_val):
                ax.plot(
                    [run.best_epoch],
                    [run.best_val],
                    marker="*",
                    markersize=13,
                    color=colour,
                    markeredgecolor="black",
                    linestyle="none",
                    zorder=5,
                )
            line.set_label(names[run.key])
        best_first = sorted(drawn, key=lambda r: r.best_val if math.isfinite(r.best_val) else math.inf)
        handles = [lines[r.key] for r in best_first[:LEGEND_RUNS]]
        if len(drawn) > LEGEND_RUNS:
            more = len(drawn) - LEGEND_RUNS
            handles.append(
                Line2D([], [], linestyle="none", label=f"… and {more} more runs (each in the table)")
            )
        handles += [
            Line2D([], [], color="grey", linestyle="--", label="training loss (dashed)"),
            Line2D(
                [],
                [],
                color="grey",
                marker="*",
                markersize=11,
                markeredgecolor="black",
                linestyle="none",
                label="best epoch",
            ),
        ]
        figures.plain_legend(ax.legend(handles=handles, fontsize=8 if len(handles) <= 8 else 6))
        ax.set_title("validation nll per epoch (solid), training loss (dashed)", fontsize=10)
        return fig

    return make


def run_colours(runs: Sequence[RunSummary], kept: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A colour for each run with a curve, none shared: the colour the app keeps for the run
    (`kept`, the run colours book: core.colours) where it is one of the palette's and no run
    before it in the report took it, else the next palette colour no run took; past the palette,
    every run one of evenly spaced colours of a colour map."""
    keys = [r.key for r in runs if drawable(r.history.val_nll).any()]
    if len(keys) > len(PALETTE):
        from matplotlib import colormaps

        return dict(zip(keys, (tuple(c) for c in colormaps["turbo"](np.linspace(0.03, 0.97, len(keys))))))
    kept = kept or {}
    chosen: dict[str, Any] = {}
    for key in keys:
        colour = kept.get(key)
        if colour in PALETTE and colour not in chosen.values():
            chosen[key] = colour
    free = iter(c for c in PALETTE if c not in chosen.values())
    return {key: chosen[key] if key in chosen else next(free) for key in keys}


def sweep_curves_figure(results: list[TrialResult], spec: SweepSpec):
    """The validation curves grouped by setting, on a figure of its own."""
    import matplotlib

    fig = figures.new_figure((6.4, 4.0))  # an Agg figure of its own, outside any global state
    ax = fig.subplots()
    settings = list(dict.fromkeys(r.plan.setting for r in results))
    colours = matplotlib.colormaps["tab10" if len(settings) <= 10 else "viridis"]
    handles = []
    for i, setting in enumerate(settings):
        colour = colours(i if len(settings) <= 10 else i / max(1, len(settings) - 1))
        mine = [r for r in results if r.plan.setting == setting]
        for r in mine:
            ax.plot(
                r.history.epoch,
                _nan_where_not_finite(r.history.val_nll),
                color=colour,
                linewidth=0.7,
                alpha=0.45,
            )
        epochs, mean, sd = mean_curve(mine)
        (line,) = ax.plot(epochs, mean, color=colour, linewidth=2.4, label=setting)
        band = ~np.isnan(sd)
        if band.any():
            ax.fill_between(epochs[band], (mean - sd)[band], (mean + sd)[band], color=colour, alpha=0.15)
        handles.append(line)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epochs")
    ax.set_ylabel("validation nll (nats)")
    ax.grid(alpha=0.3)
    figures.plain_legend(ax.legend(handles=handles, fontsize=8, title="setting (mean of its seeds)"))
    ax.set_title(f"validation nll per epoch, {len(settings)} settings × {len(spec.seeds)} seeds", fontsize=10)
    fig.tight_layout()
    return fig


def _nan_where_not_finite(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=float).copy()
    out[~np.isfinite(out)] = np.nan
    return out
