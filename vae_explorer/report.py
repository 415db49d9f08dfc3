"""A report of training runs in one file: a multi-page vector PDF or a self-contained HTML page.

The report holds, for the runs it is given: a title block (date, version, data, device, time), the
settings of every run side by side with the differing ones highlighted, the validation and training
curves overlaid with the best epochs marked, a table of each run's figures (from metrics.csv,
outcome.json and evaluation.json), a paragraph of facts read from them, and for the best run (or
every run with a model) real against generated images, the mixture components, an interpolation
strip and the latent map. Both formats are rendered from one list of blocks, so they say the same.

Drawn with matplotlib objects, never the Qt front end; a run with no model, no evaluation or no
finished epoch leaves its parts out and says so instead.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import os
import re
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from vae_explorer import __version__, figures, report_sweep
from vae_explorer.core.atomic import atomic_write, atomic_write_text
from vae_explorer.core.config import ConfigError, RunConfig, format_lr, nll_label
from vae_explorer.core.metrics import METRICS, Metric
from vae_explorer.core.runfiles import clean_text, drawable
from vae_explorer.core.runs import (
    RunSummary,
    differing_settings,
    read_run,
    subfolders,
)

SUFFIXES = (".pdf", ".html")
PAGE_W, PAGE_H = 8.27, 11.69  # A4 portrait, inches
MARGIN = 0.6
BODY_W = PAGE_W - 2 * MARGIN
SAMPLE_SEED = figures.SAMPLE_SEED  # the generated images: the same draws as the run folder's figure
COMPONENT_SEED = 0
COMPONENT_SAMPLES = 10  # samples per component row
COMPONENT_ROWS_PER_PLOT = 16  # more components continue in a further figure (page)
INTERPOLATION_STEPS = 10
MAP_IMAGES = 2000  # test images on the latent map (fewer when the run used fewer)
RUNS_PER_TABLE = 5  # columns of runs in one settings or results table; more continue below
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TEST_SIZE = 10_000
LEGEND_NAME = 40  # characters of a run's name in a curve legend
LEGEND_RUNS = 12  # runs a curve legend names (those of lowest validation nll); the table has all
DISPLAY_EPOCHS = 5_000  # points per curve, at most; a longer run is drawn from evenly spaced epochs
HIGHLIGHT = "#fde68a"
HEADER_FILL = "#e5e7eb"

# why a run ended, from its outcome.json's reason
ENDINGS = {
    "max epochs": "reached its maximum of {max_epochs} epochs",
    "early stop": "stopped early: no better validation nll for {patience} epochs",
    "stopped": "was stopped by the user",
    "diverged": "diverged (a non-finite loss)",
    "error": "failed with an error",
}


class ReportError(ValueError):
    """A folder that holds no run, or nothing to report; the message names it."""


# -- the runs -------------------------------------------------------------------------------------------
def _queue_runs(folder: Path) -> list[RunSummary]:
    runs = [read_run(p, folder.parent) for p in subfolders(folder) if p.name.startswith("lr_")]
    return sorted((r for r in runs if r is not None), key=lambda r: (r.lr or 0.0, r.name))


def _sweep_runs(folder: Path) -> list[RunSummary]:
    """The trials of a sweep folder (vae-explorer sweep), in the sweep's order."""
    if not report_sweep.sweep_folders([folder]):
        return []
    try:
        folders = report_sweep.trial_folders(folder)
    except ConfigError as exc:
        raise ReportError(f"{folder}: {exc}") from None
    return [r for p in folders if (r := read_run(p, folder.parent)) is not None]


def collect_runs(folders: Sequence[str | Path]) -> list[RunSummary]:
    """The runs of `folders`, in their order: a run folder is one run, a queue folder (one that
    holds lr_* run folders) its runs by learning rate. Unreadable runs come back too, with their
    problem (see `readable_runs`). A folder that is neither raises ReportError."""
    runs: dict[str, RunSummary] = {}
    for given in folders:
        folder = Path(given)
        if not folder.is_dir():
            what = "does not exist" if not folder.exists() else "is a file, not a folder"
            raise ReportError(f"{folder} {what}; give a run folder or a queue folder of lr_* runs")
        folder = Path(os.path.abspath(folder))  # "." gets its own name, not "."
        run = read_run(folder, folder.parent)
        found = [run] if run is not None else _sweep_runs(folder) or _queue_runs(folder)
        if not found:
            raise ReportError(
                f"{given} is not a run folder (config.json with metrics.csv or model.pt), "
                "a queue folder of lr_* run folders nor a sweep folder with trials"
            )
        for r in found:
            runs.setdefault(r.key, r)
    return list(runs.values())


def readable_runs(runs: Sequence[RunSummary]) -> tuple[list[RunSummary], list[RunSummary]]:
    """(the runs whose files can be used, the unreadable ones)."""
    return [r for r in runs if r.readable], [r for r in runs if not r.readable]


def best_run(runs: Sequence[RunSummary]) -> RunSummary | None:
    """The run with a model.pt and the lowest finite best validation nll."""
    candidates = [r for r in runs if r.checkpoint is not None and math.isfinite(r.best_val)]
    return min(candidates, key=lambda r: r.best_val) if candidates else None


# -- the document: blocks that the PDF and the HTML renderer both lay out --------------------------------
@dataclass
class Title:
    text: str
    subtitle: str = ""


@dataclass
class Heading:
    text: str


@dataclass
class Paragraph:
    text: str
    small: bool = False


@dataclass
class Table:
    """Rows of cells; `header` is the first row (None: a key-value table); `marked` the (row, col)
    cells drawn highlighted; the first column names the rows."""

    header: list[str] | None
    rows: list[list[str]]
    marked: set[tuple[int, int]] = field(default_factory=set)
    label_width: float = 1.9  # inches of the first column in the PDF
    wide_values: bool = False  # a key-value table: the values take the rest of the line


@dataclass
class Plot:
    """A figure drawn by draw(fig, box): box = (left, bottom, width, height) in figure fractions."""

    draw: Callable[[Any, tuple[float, float, float, float]], None]
    height: float  # inches
    caption: str = ""


@dataclass
class OwnFigure:
    """A figure that makes its own matplotlib figure with one main axes (figures.curves_figure);
    the PDF gives it a new page whose top it fills."""

    make: Callable[[], Any]
    height: float
    title: str
    caption: str = ""


@dataclass
class PageBreak:
    pass


Block = Title | Heading | Paragraph | Table | Plot | OwnFigure | PageBreak


# -- formatting -------------------------------------------------------------------------------------------
def _num(value: float | None, digits: int = 2) -> str | None:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return f"{value:,.{digits}f}"


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def run_label(run: RunSummary) -> str:
    return f"{run.name} (lr={format_lr(run.lr)})" if run.lr is not None else run.name


def training_seconds(run: RunSummary) -> float:
    return run.history.training_seconds()


def ending(run: RunSummary) -> str:
    """Why the run ended, in words."""
    if run.status == "running":
        return "is still running (or its process ended without saying why)"
    if run.status == "incomplete":
        return "did not record how it ended (no outcome.json)"
    c = run.config
    text = ENDINGS.get(run.reason or "")
    if text is None:
        return f"ended: {run.status}" + (
            f" ({run.reason})" if run.reason and run.reason != run.status else ""
        )
    return text.format(max_epochs=c.train.epochs if c else "?", patience=c.train.patience if c else "?")


def diverged(run: RunSummary) -> bool:
    return run.status == "diverged" or run.reason == "diverged"


def split_text(config: RunConfig) -> str:
    from vae_explorer.core.data import TRAIN_SIZE, VAL_SIZE

    full = (TRAIN_SIZE, VAL_SIZE, TEST_SIZE)
    limits = (config.data.limit_train, config.data.limit_val, config.data.limit_test)
    used = [n if limit is None else min(limit, n) for n, limit in zip(full, limits)]
    text = " / ".join(f"{n:,}" for n in used) + " images (train / validation / test)"
    if used != list(full):
        text += ", limited from the split's " + " / ".join(f"{n:,}" for n in full)
    return text


def data_text(config: RunConfig) -> str:
    name = DATASET_NAMES.get(config.data.dataset, config.data.dataset)
    source = "bundled" if config.data.root is None and config.data.dataset == "mnist" else config.data.root
    return f"{name} ({source})" if source else name


def device_text(run: RunSummary) -> str:
    """The device the run trained on and how its steps ran, as its outcome.json records them;
    for runs older than that record, the setting."""
    if run.device is not None:
        return f"{run.device}, {run.training_step}" if run.training_step else run.device
    device = run.config.train.device if run.config is not None else "unknown"
    return "auto: CUDA when available, else CPU (not recorded)" if device == "auto" else device


def _one_or_each(runs: Sequence[RunSummary], value: Callable[[RunSummary], str]) -> str:
    values = {run.name: value(run) for run in runs if run.config is not None}
    if len(set(values.values())) <= 1:
        return next(iter(values.values()), "unknown")
    return "; ".join(f"{name}: {v}" for name, v in values.items())


# -- the settings and results tables ---------------------------------------------------------------------
SETTINGS = (
    ("data", "dataset", "data set"),
    ("data", "root", "data folder"),
    ("data", "limit_train", "training images"),
    ("data", "limit_val", "validation images"),
    ("data", "limit_test", "test images"),
    ("model", "arch", "architecture"),
    ("model", "hidden", "hidden units"),
    ("model", "latent_dim", "latent dimension"),
    ("model", "prior", "prior"),
    ("model", "components", "mixture components K"),
    ("model", "mixture_weights", "mixture weights"),
    ("model", "likelihood", "likelihood"),
    ("model", "image_size", "image side (pixels)"),
    ("train", "optimizer", "optimiser"),
    ("train", "lr", "learning rate"),
    ("train", "batch_size", "batch size"),
    ("train", "epochs", "maximum epochs"),
    ("train", "patience", "patience (epochs)"),
    ("train", "kl_warmup", "KL warm-up (epochs)"),
    ("train", "prior_init", "prior placement"),
    ("train", "seed", "seed"),
    ("train", "device", "device"),
)


def _setting(config: RunConfig | None, section: str, name: str) -> str:
    if config is None:
        return "unknown"
    value = getattr(getattr(config, section), name)
    if name == "lr":
        return format_lr(value)
    if value is None:
        return {"root": "bundled", "limit_train": "all", "limit_val": "all", "limit_test": "all"}.get(
            name, "–"
        )
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _chunks(runs: Sequence[RunSummary]) -> list[Sequence[RunSummary]]:
    return [runs[i : i + RUNS_PER_TABLE] for i in range(0, len(runs), RUNS_PER_TABLE)] or [[]]


def settings_tables(runs: Sequence[RunSummary]) -> list[Table]:
    """One column per run; the cells of a setting that is not the same in all runs are marked."""
    differ = {
        (section, name)
        for section, name, _ in SETTINGS
        if len({_setting(r.config, section, name) for r in runs}) > 1
    }
    tables = []
    for chunk in _chunks(runs):
        rows = [["folder", *(str(r.folder.resolve()) for r in chunk)]]
        marked = set()
        for section, name, label in SETTINGS:
            if name == "root" and all(r.config is not None and r.config.data.root is None for r in runs):
                continue  # the bundled data for all: a row of "bundled" says nothing
            if (section, name) in differ:
                marked |= {(len(rows), c) for c in range(1, len(chunk) + 1)}
            rows.append([label, *(_setting(r.config, section, name) for r in chunk)])
        tables.append(Table(["setting", *(r.name for r in chunk)], rows, marked))
    return tables


def _evaluation_cells(run: RunSummary) -> list[str]:
    """Each metric of the evaluation past the test negative ELBO (core.metrics' table: IW-NLL,
    the bound's gap, FID, IS, components in use, active units), written as everywhere else."""
    e = run.evaluation
    shown = _evaluation_metrics()
    if e is None:
        return ["not evaluated (no evaluation.json)"] + ["not evaluated"] * (len(shown) - 1)
    return [m.text(e) or "not computed" for m in shown]


def _evaluation_metrics() -> list[Metric]:
    """The metrics of the results table past its own row of the test negative ELBO (that comes
    from metrics.csv, or from the evaluation when metrics.csv lacks it)."""
    return [m for m in METRICS if m.key != "neg_elbo"]


def result_rows() -> list[str]:
    return [
        "learning rate",
        "epochs run",
        "status",
        "why it ended",
        "training time",
        "best validation nll",
        "test negative ELBO",
        *(f"{m.label} ({m.unit})" if m.unit else m.label for m in _evaluation_metrics()),
    ]


def result_tables(runs: Sequence[RunSummary]) -> list[Table]:
    tables = []
    for chunk in _chunks(runs):
        columns = []
        for run in chunk:
            best = _num(run.best_val)
            test = _num(run.test_nll)
            if test is None and run.evaluation is not None:
                test = _num(run.evaluation.get("neg_elbo"))
            max_epochs = run.config.train.epochs if run.config else "?"
            columns.append(
                [
                    format_lr(run.lr) if run.lr is not None else "unknown",
                    f"{run.epochs} of at most {max_epochs}",
                    run.status,
                    ending(run),
                    format_duration(training_seconds(run)),
                    f"{best} (epoch {run.best_epoch})" if best is not None else "none (no finite value)",
                    test or ("none (no model)" if run.checkpoint is None else "not recorded"),
                    *_evaluation_cells(run),
                ]
            )
        rows = [[label, *(col[i] for col in columns)] for i, label in enumerate(result_rows())]
        marked = {(i, c + 1) for c, run in enumerate(chunk) if diverged(run) for i in (2, 3)}
        tables.append(Table(["", *(r.name for r in chunk)], rows, marked))
    return tables


# -- the facts paragraph -------------------------------------------------------------------------------
def summary_paragraphs(runs: Sequence[RunSummary]) -> list[str]:
    """Facts only: the lowest validation nll, how long each run ran and why it ended, divergence and
    what is missing."""
    out = []
    finite = [r for r in runs if math.isfinite(r.best_val)]
    if finite:
        best = min(finite, key=lambda r: r.best_val)
        if len(runs) > 1:
            lead = f"Of the {len(runs)} runs, {run_label(best)} reached the lowest validation nll"
        else:
            lead = f"{run_label(best)} reached its lowest validation nll"
        out.append(f"{lead}: {_num(best.best_val)} at epoch {best.best_epoch} of the {best.epochs} it ran.")
        likelihoods = {r.config.model.likelihood for r in runs if r.config is not None}
        if len(likelihoods) > 1:
            out.append(
                "The runs use different likelihoods ("
                + ", ".join(sorted(likelihoods))
                + "), whose nll values are not comparable."
            )
    else:
        out.append("No run reached a finite validation nll.")
    for run in runs:
        epochs = f"{run.epochs} epoch{'s' if run.epochs != 1 else ''}"
        out.append(f"{run_label(run)} ran {epochs} and {ending(run)}.")
    gone = [r for r in runs if diverged(r)]
    if gone:
        out.append(
            "Diverged: "
            + "; ".join(
                f"{run_label(r)}, after {r.epochs} recorded epoch{'s' if r.epochs != 1 else ''}"
                + ("" if r.checkpoint is not None else ", leaving no model")
                for r in gone
            )
            + "."
        )
    else:
        out.append("No run diverged.")
    missing = [r for r in runs if r.evaluation is None]
    if missing:
        out.append(
            "Not evaluated (no evaluation.json, so no IW-NLL, FID, Inception Score or components in use): "
            + ", ".join(run_label(r) for r in missing)
            + "."
        )
    no_model = [r for r in runs if r.checkpoint is None]
    if no_model:
        out.append(
            "No model.pt (nothing to draw samples from): " + ", ".join(run_label(r) for r in no_model) + "."
        )
    return out


# -- the curves --------------------------------------------------------------------------------------------
def _finite(epochs: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    keep = drawable(values)
    return list(zip(epochs[keep].tolist(), values[keep].tolist()))


def _shown_history(run: RunSummary):
    """The run's history as drawn: at most DISPLAY_EPOCHS epochs (its best and last kept)."""
    return run.history.for_display(DISPLAY_EPOCHS)


def curves_maker(runs: Sequence[RunSummary]) -> Callable[[], Any] | None:
    """A maker of figures.curves_figure with the validation curves, the training curves dashed in
    the same colours and a star on each best epoch; None when no run finished an epoch. Every
    curve has a colour of its own; the legend names the LEGEND_RUNS runs of lowest validation nll
    and says how many more there are, so that it stays within the plot however many runs."""
    labels = differing_settings(list(runs))
    drawn = [r for r in runs if drawable(r.history.val_nll).any()]
    if not drawn:
        return None

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
        for line, colour in zip(lines.values(), _curve_colours(len(drawn))):
            if colour is not None:
                line.set_color(colour)
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


def _curve_colours(n: int) -> list:
    """A colour for each of n curves: matplotlib's own ten while they suffice (None: keep it),
    else n evenly spaced colours of one colour map, so that no two runs share one."""
    if n <= 10:
        return [None] * n
    from matplotlib import colormaps

    return [tuple(c) for c in colormaps["turbo"](np.linspace(0.03, 0.97, n))]


# -- the model figures ------------------------------------------------------------------------------------
def _inset(box, fig, left=0.0, bottom=0.0, right=0.0, top=0.0):
    """`box` less margins given in inches."""
    w, h = fig.get_size_inches()
    x, y, bw, bh = box
    return (x + left / w, y + bottom / h, bw - (left + right) / w, bh - (bottom + top) / h)


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
    notes: list[str] = field(default_factory=list)


def component_label(k: int, weight: float, evaluation: dict[str, Any] | None) -> str:
    from vae_explorer.core.explore import format_weight

    text = f"k={k}  w={format_weight(weight)}"
    if evaluation is None:
        return text
    found = [c for c in evaluation.get("components", []) if isinstance(c, dict) and c.get("component") == k]
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
        all_components,
        component_order,
        decode_latents,
        encode_means,
        fit_projection,
        interpolation_path,
    )
    from vae_explorer.core.vampprior import with_pseudo_inputs

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
        out.generated = model.sample(16, torch.Generator().manual_seed(SAMPLE_SEED)).cpu().numpy()
        weights = model.prior.component_params()[0].cpu().numpy()
        order = component_order(weights, True)[:MAX_COMPONENT_ROWS]
        out.components = with_pseudo_inputs(  # a VampPrior's rows start with their pseudo-inputs
            model,
            all_components(model, COMPONENT_SAMPLES, seed=COMPONENT_SEED, components=list(order)),
            list(order),
        )
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
        z = encode_means(model, x)
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
        projection = fit_projection(z)
        out.latents = projection.project(z)
        out.labels = labels
        out.explained = projection.explained
    return out


def _draw_real_generated(m: ModelFigures):
    def draw(fig, box):
        x, y, w, h = _inset(box, fig, top=0.3, bottom=0.05)
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


def _draw_strip(m: ModelFigures):
    def draw(fig, box):
        strip = figures.image_strip(m.strip, m.side)
        _image_axes(fig, _inset(box, fig, top=0.3), strip, "\n".join(textwrap.wrap(m.strip_title, 110)), 8)

    return draw


def _draw_map(m: ModelFigures):
    def draw(fig, box):
        ax = fig.add_axes(_inset(box, fig, left=0.7, bottom=0.5, right=1.0, top=0.3))
        figures.draw_latent_map(ax, m.latents, m.labels, m.explained)

    return draw


COMPONENT_ROW_H = 0.56  # inches per component row (16 rows fill a page)


def _draw_components(m: ModelFigures, start: int, stop: int):
    def draw(fig, box):
        rows = stop - start
        x, y, w, h = _inset(box, fig, left=1.5)
        _, fig_h = fig.get_size_inches()
        row_h = COMPONENT_ROW_H / fig_h
        for i in range(rows):
            ax = fig.add_axes((x, y + h - (i + 1) * row_h, w, row_h * 0.92))
            figures.draw_component_row(ax, m.components[start + i], m.component_labels[start + i], m.side)

    return draw


def model_blocks(m: ModelFigures, heading: str) -> list[Block]:
    blocks: list[Block] = [PageBreak(), Heading(heading)]
    blocks += [Paragraph(f"Note: {note}.") for note in m.notes]
    if m.generated is None:
        return blocks
    blocks.append(Plot(_draw_real_generated(m), 3.5))
    if m.strip is not None:
        blocks.append(Plot(_draw_strip(m), 1.35))
    if m.latents is not None:
        blocks.append(Plot(_draw_map(m), 4.6))
    k = len(m.components)
    for start in range(0, k, COMPONENT_ROWS_PER_PLOT):
        stop = min(k, start + COMPONENT_ROWS_PER_PLOT)
        blocks += [
            PageBreak(),
            Heading(
                f"Mixture components of {run_label(m.run)}"
                + (f" ({start + 1}–{stop} of {k})" if k > stop - start else "")
            ),
        ]
        if start == 0:
            text = (
                f"Each row: {COMPONENT_SAMPLES} decoded samples z ~ N(mu_k, sigma_k^2) of one component "
                f"(seed {COMPONENT_SEED}), heaviest first, labelled with its index k and mixture weight w"
            )
            if m.components.shape[1] > COMPONENT_SAMPLES:
                text += (
                    "; each row starts with the component's pseudo-input u_k, its samples being z ~ q(z|u_k)"
                )
            if m.run.evaluation is not None:
                text += (
                    "; from evaluation.json, the digit most of the test images it holds show and their share "
                    "of them (purity)."
                )
            else:
                text += ". Dominant digits and purities are missing: the run was not evaluated (no evaluation.json)."
            blocks.append(Paragraph(text))
        blocks.append(Plot(_draw_components(m, start, stop), COMPONENT_ROW_H * (stop - start) + 0.1))
    return blocks


# -- the whole document -----------------------------------------------------------------------------------
def unreadable_text(run: RunSummary) -> str:
    """One line about a run left out of a report: its folder and what is wrong."""
    return f"{run.folder}: unreadable, {run.problem}"


def sweep_blocks(folder: Path) -> list[Block]:
    """The section of a sweep (report_sweep): its summary, curves by setting, comparison."""
    try:
        s = report_sweep.sweep_section(folder)
    except ConfigError as exc:
        raise ReportError(f"{folder}: {exc}") from None
    blocks: list[Block] = [Heading(s.title), Paragraph(s.intro), Table(s.header, s.rows, label_width=2.2)]
    if s.curves is not None:
        blocks.append(OwnFigure(s.curves, 4.3, f"{s.title}: curves by setting", s.caption))
    blocks += [Heading(f"{s.title}: comparison, paired by seed (95% intervals)")]
    blocks += [Paragraph(line) for line in s.comparison + s.notes]
    return blocks


def build_document(
    runs: Sequence[RunSummary],
    all_runs: bool = False,
    now: float | None = None,
    sweeps: Sequence[Path] = (),
    accept_unchecked: bool = False,
) -> list[Block]:
    """The report's blocks; unreadable runs among `runs` are named in the summary and left out.
    `accept_unchecked`: draw the figures of checkpoints saved before the whole-content checksum."""
    runs, unreadable = readable_runs(runs)
    if not runs:
        problems = "; ".join(unreadable_text(r) for r in unreadable[:5])
        raise ReportError(
            "no runs to report" + (f": every run given is unreadable ({problems})" if problems else "")
        )
    now = time.time() if now is None else now
    total = sum(training_seconds(r) for r in runs)
    epochs = sum(r.epochs for r in runs)
    info = [
        ["date", time.strftime("%Y-%m-%d %H:%M", time.localtime(now))],
        ["app version", f"vae-explorer {__version__}"],
        ["runs", f"{len(runs)}: " + ", ".join(run_label(r) for r in runs)],
        ["data set", _one_or_each(runs, lambda run: data_text(run.config))],
        ["split", _one_or_each(runs, lambda run: split_text(run.config))],
        ["device", _one_or_each(runs, device_text)],
        ["total training time", f"{format_duration(total)} over {epochs} epoch{'s' if epochs != 1 else ''}"],
    ]
    blocks: list[Block] = [
        Title("Training report", f"{len(runs)} run{'s' if len(runs) != 1 else ''} of vae-explorer"),
        Table(None, info, label_width=1.6, wide_values=True),
        Heading("Summary"),
        *(Paragraph(p) for p in summary_paragraphs(runs)),
        *(
            [
                Paragraph(
                    "Left out, since their files cannot be used: "
                    + "; ".join(map(unreadable_text, unreadable))
                    + "."
                )
            ]
            if unreadable
            else []
        ),
    ]
    for folder in sweeps:
        blocks += sweep_blocks(Path(folder))
    blocks.append(Heading("Settings"))
    if len(runs) > 1:
        blocks.append(Paragraph("Highlighted: the settings that differ between the runs.", small=True))
    blocks += settings_tables(runs)

    maker = curves_maker(runs)
    blocks.append(PageBreak())
    if maker is not None:
        flat = [r.name for r in runs if not len(r.history)]
        caption = "Stars: the epoch of each run's lowest validation nll, whose model is its model.pt."
        if flat:
            caption += " No finished epoch, so no curve: " + ", ".join(flat) + "."
        blocks.append(OwnFigure(maker, 4.3, "Validation curves", caption))
    else:
        blocks += [
            Heading("Validation curves"),
            Paragraph("No run finished an epoch, so there are no curves."),
        ]
    from vae_explorer.report_epochs import epoch_blocks

    blocks += epoch_blocks(runs)  # the bound's parts and the mixture weights per epoch
    blocks.append(Heading("Results"))
    blocks += result_tables(runs)
    notes = [
        f"{r.name}: {note}"
        for r in runs
        if r.evaluation is not None
        for note in r.evaluation.get("notes", []) or []
    ]
    if notes:
        blocks.append(Paragraph("Evaluation notes. " + " ".join(notes), small=True))

    shown = [r for r in runs if r.checkpoint is not None] if all_runs else [best_run(runs)]
    shown = [r for r in shown if r is not None]
    if not shown:
        blocks += [
            Heading("Samples"),
            Paragraph(
                "No run has a model.pt, so there are no samples, components, interpolation or latent map."
            ),
        ]
    for run in shown:
        if all_runs:
            heading = f"Samples and latent space of {run_label(run)}"
        else:
            heading = (
                f"Samples and latent space of the best run, {run_label(run)}: validation nll "
                f"{_num(run.best_val)} at epoch {run.best_epoch}"
            )
        blocks += model_blocks(model_figures(run, accept_unchecked), heading)
    return blocks


# -- PDF ---------------------------------------------------------------------------------------------------
LINE = 1.4  # line height in font sizes
TOKENS = re.compile(r"[^\s/]*/|[^\s/]+|\s+")  # words and spaces; a path breaks after a slash


@functools.cache
def _text_width(text: str, size: float, bold: bool) -> float:
    """Inches that `text` takes in the report's font, as matplotlib lays it out."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    return _text_to_path().get_text_width_height_descent(text, prop, ismath=False)[0] / 72


@functools.cache
def _text_to_path():
    from matplotlib.textpath import TextToPath

    return TextToPath()


def _wrap(text: str, width_in: float, size: float, bold: bool = False) -> list[str]:
    """Lines of `text` that fit `width_in` inches: broken at spaces (and after a slash in a path),
    inside a word only where a word alone is too wide."""
    width_in *= 0.97  # a margin for the shaping of the PDF backend

    def fits(s: str) -> bool:
        return _text_width(s, size, bold) <= width_in

    def cut(line: str) -> list[str]:  # a word wider than the line is cut where it must be
        out = []
        while line and not fits(line):
            i = max((i for i in range(1, len(line)) if fits(line[:i])), default=1)
            out.append(line[:i])
            line = line[i:]
        return [*out, line]

    lines: list[str] = []
    for part in str(text).split("\n"):
        line = ""
        for token in TOKENS.findall(part):
            if not line or fits((line + token).rstrip()):
                line += token
            else:
                lines += cut(line.rstrip())
                line = token.lstrip()
        lines += cut(line.rstrip())
    return lines


@functools.cache
def _shapes_text() -> bool:
    """Whether matplotlib shapes text (3.11 on), joining "fi" into one ligature glyph."""
    from matplotlib.text import Text

    return hasattr(Text, "set_fontfeatures")


class _PdfLayout:
    """Lays blocks down A4 pages, top to bottom, starting a new page where one does not fit."""

    def __init__(self, pdf) -> None:
        self.pdf = pdf
        self.fig = None
        self.y = MARGIN  # inches from the top of the page
        self.pages = 0
        self.empty = True

    # pages
    def new_page(self, fig=None) -> None:
        """Start a page (on `fig`, resized, when given); an empty page before it is dropped."""
        self.finish()
        if fig is None:
            fig = figures.new_figure((PAGE_W, PAGE_H))
        else:
            fig.set_size_inches(PAGE_W, PAGE_H)
        self.fig, self.y, self.empty = fig, MARGIN, True
        self.pages += 1

    def finish(self) -> None:
        if self.fig is None:
            return
        if self.empty:
            self.pages -= 1
        else:
            self.text(PAGE_W / 2, PAGE_H - MARGIN / 2, f"page {self.pages}", 8, ha="center", color="grey")
            self.pdf.savefig(self.fig)
        self.fig = None

    def room(self) -> float:
        return PAGE_H - MARGIN - self.y

    def need(self, height: float) -> None:
        if self.fig is None or (height > self.room() and not self.empty):
            self.new_page()

    # drawing, in inches from the page's top left corner
    def text(self, x: float, y: float, s: str, size: float, **kw) -> None:
        if _shapes_text():  # "fi" stays two letters for every text extractor (matplotlib >= 3.11 shapes text)
            kw.setdefault("fontfeatures", ("-liga",))
        # parse_math off: run and folder names are the user's text, and "$" in them is a dollar
        self.fig.text(x / PAGE_W, 1 - y / PAGE_H, s, fontsize=size, va="top", parse_math=False, **kw)

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        from matplotlib.patches import Rectangle

        self.fig.add_artist(
            Rectangle(
                (x / PAGE_W, 1 - (y + h) / PAGE_H),
                w / PAGE_W,
                h / PAGE_H,
                transform=self.fig.transFigure,
                facecolor=fill,
                edgecolor="#9ca3af",
                linewidth=0.4,
                zorder=0,
            )
        )

    def box(self, height: float) -> tuple[float, float, float, float]:
        """The body's width and `height` inches below the cursor, in figure fractions."""
        return (MARGIN / PAGE_W, 1 - (self.y + height) / PAGE_H, BODY_W / PAGE_W, height / PAGE_H)

    # blocks
    def lines(self, lines: list[str], size: float, gap: float = 0.08, **kw) -> None:
        step = size * LINE / 72
        self.need(min(len(lines), 3) * step)
        for line in lines:
            self.need(step)
            self.text(MARGIN, self.y, line, size, **kw)
            self.y += step
            self.empty = False
        self.y += gap

    def add_all(self, blocks: Sequence[Block]) -> None:
        for i, block in enumerate(blocks):
            if isinstance(block, Heading):  # kept with its paragraphs and the start of what follows
                height, j = _start_height(block), i + 1
                while j < len(blocks) and isinstance(blocks[j], Paragraph):
                    height += _start_height(blocks[j])
                    j += 1
                if j < len(blocks) and isinstance(blocks[j], (Table, Plot)):
                    height += _start_height(blocks[j])
                self.need(height)
            self.add(block)

    def add(self, block: Block) -> None:
        if isinstance(block, PageBreak):
            if self.fig is not None and not self.empty:
                self.new_page()
        elif isinstance(block, Title):
            self.need(0.9)
            self.lines([block.text], 18, gap=0.02, fontweight="bold")
            if block.subtitle:
                self.lines([block.subtitle], 10, gap=0.15, color="#374151")
        elif isinstance(block, Heading):
            self.need(_start_height(block))
            self.y += 0.08
            self.lines(_wrap(block.text, BODY_W, 12, bold=True), 12, gap=0.06, fontweight="bold")
        elif isinstance(block, Paragraph):
            size = 8 if block.small else 9
            self.lines(_wrap(block.text, BODY_W, size), size)
        elif isinstance(block, Table):
            self.table(block)
        elif isinstance(block, Plot):
            self.need(block.height)
            block.draw(self.fig, self.box(block.height))
            self.y += block.height
            self.empty = False
            if block.caption:
                self.lines(_wrap(block.caption, BODY_W, 8), 8)
        elif isinstance(block, OwnFigure):
            self.new_page(block.make())
            self.lines([block.title], 12, gap=0.06, fontweight="bold")
            ax = self.fig.axes[0]
            ax.set_position(
                _inset(self.box(block.height), self.fig, left=0.75, bottom=0.55, right=0.1, top=0.3)
            )
            self.y += block.height
            self.empty = False
            if block.caption:
                self.lines(_wrap(block.caption, BODY_W, 8), 8)
        else:  # pragma: no cover - every block kind is handled above
            raise TypeError(f"unknown block {block!r}")

    def table(self, t: Table) -> None:
        cells = _TableCells(t)
        if cells.total <= PAGE_H - 2 * MARGIN:
            self.need(cells.total)  # whole on the next page rather than split, where it fits on one
        else:
            self.need(cells.start)
        if cells.header:
            self.row(cells, cells.header, -1)
        for index, row in enumerate(cells.rows):
            if cells.height(row) > self.room():
                self.new_page()
                if cells.header:
                    self.row(cells, cells.header, -1)
            self.row(cells, row, index)
        self.y += TABLE_GAP

    def row(self, cells: _TableCells, row: list[list[str]], index: int) -> None:
        t, h, x = cells.table, cells.height(row), MARGIN
        for col, (lines, w) in enumerate(zip(row, cells.widths)):
            bold = cells.bold(index, col)
            if index < 0:
                fill = HEADER_FILL
            else:
                fill = HIGHLIGHT if (index, col) in t.marked else ("#f9fafb" if col == 0 else "white")
            self.rect(x, self.y, w, h, fill)
            for i, line in enumerate(lines):
                self.text(
                    x + CELL_PAD,
                    self.y + CELL_PAD + i * cells.step,
                    line,
                    TABLE_SIZE,
                    fontweight="bold" if bold else "normal",
                )
            x += w
        self.y += h
        self.empty = False


TABLE_SIZE = 7.5
CELL_PAD = 0.035
TABLE_GAP = 0.15


class _TableCells:
    """A table's cells wrapped to its column widths, and the heights of its rows, in inches."""

    def __init__(self, t: Table) -> None:
        self.table = t
        self.step = TABLE_SIZE * 1.3 / 72
        ncols = len(t.rows[0]) if t.rows else len(t.header or [""])
        rest = BODY_W - t.label_width
        width = rest if t.wide_values else min(rest / max(1, ncols - 1), 2.2)
        self.widths = [t.label_width] + [width] * (ncols - 1)
        self.header = self.wrap(t.header, -1) if t.header else None
        self.rows = [self.wrap(row, i) for i, row in enumerate(t.rows)]
        head = self.height(self.header) if self.header else 0.0
        self.start = head + (self.height(self.rows[0]) if self.rows else 0.0)
        self.total = head + sum(self.height(r) for r in self.rows) + TABLE_GAP

    def bold(self, index: int, col: int) -> bool:
        t = self.table
        return index < 0 or (index, col) in t.marked or (col == 0 and t.header is None)

    def wrap(self, row: list[str], index: int) -> list[list[str]]:
        return [
            _wrap(cell, w - 2 * CELL_PAD, TABLE_SIZE, self.bold(index, col))
            for col, (cell, w) in enumerate(zip(row, self.widths))
        ]

    def height(self, row: list[list[str]]) -> float:
        return max(len(c) for c in row) * self.step + 2 * CELL_PAD


def _start_height(block: Block) -> float:
    """The height a block needs on the page it starts on (a table split over pages: its first row)."""
    if isinstance(block, Heading):
        return 0.14 + len(_wrap(block.text, BODY_W, 12, bold=True)) * 12 * LINE / 72
    if isinstance(block, Paragraph):
        size = 8 if block.small else 9
        return 0.08 + len(_wrap(block.text, BODY_W, size)) * size * LINE / 72
    if isinstance(block, Table):
        cells = _TableCells(block)
        return cells.total if cells.total <= PAGE_H - 2 * MARGIN else cells.start
    if isinstance(block, Plot):
        return block.height
    return 0.0


def write_pdf(blocks: Sequence[Block], fh: IO[bytes], title: str = "Training report") -> int:
    """Render `blocks` into a PDF written to `fh`; returns the number of pages. Text is kept as text,
    in embedded TrueType fonts (selectable and searchable; see figures.py)."""
    from matplotlib.backends.backend_pdf import PdfPages

    metadata = {"Title": title, "Creator": f"vae-explorer {__version__}"}
    with PdfPages(fh, metadata=metadata) as pdf:
        layout = _PdfLayout(pdf)
        layout.add_all(blocks)
        layout.finish()
    return layout.pages


# -- HTML --------------------------------------------------------------------------------------------------
CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 60em; margin: 2em auto;
       padding: 0 1em; color: #111827; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #374151; margin-top: 0; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #d1d5db; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #9ca3af; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #e5e7eb; } td.label { background: #f9fafb; font-weight: 600; }
td.marked { background: #fde68a; font-weight: 700; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption, .small { font-size: 0.85em; color: #374151; }
"""


def _png(fig, **options) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, **options)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(data: str, alt: str, caption: str) -> str:
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">{cap}</figure>'


def html_report(blocks: Sequence[Block], title: str = "Training report") -> str:
    """One self-contained HTML page: the tables as tables, the figures as embedded PNG images."""
    e = html.escape
    body: list[str] = []
    for block in blocks:
        if isinstance(block, PageBreak):
            continue
        if isinstance(block, Title):
            body.append(f"<h1>{e(block.text)}</h1>")
            if block.subtitle:
                body.append(f'<p class="subtitle">{e(block.subtitle)}</p>')
        elif isinstance(block, Heading):
            body.append(f"<h2>{e(block.text)}</h2>")
        elif isinstance(block, Paragraph):
            body.append(f'<p class="small">{e(block.text)}</p>' if block.small else f"<p>{e(block.text)}</p>")
        elif isinstance(block, Table):
            rows = []
            if block.header:
                rows.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in block.header) + "</tr>")
            for i, row in enumerate(block.rows):
                cells = []
                for j, cell in enumerate(row):
                    cls = "marked" if (i, j) in block.marked else ("label" if j == 0 else "")
                    cells.append(f'<td class="{cls}">{e(cell)}</td>' if cls else f"<td>{e(cell)}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            body.append("<table>\n" + "\n".join(rows) + "\n</table>")
        elif isinstance(block, Plot):
            fig = figures.new_figure((BODY_W, block.height))
            block.draw(fig, (0.0, 0.0, 1.0, 1.0))
            body.append(_img(_png(fig, bbox_inches="tight", pad_inches=0.1), "figure", block.caption))
        elif isinstance(block, OwnFigure):
            body.append(f"<h2>{e(block.title)}</h2>")
            fig = block.make()
            fig.set_size_inches(BODY_W, block.height)
            fig.tight_layout()
            body.append(_img(_png(fig), block.title, block.caption))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<title>{e(title)}</title>\n<meta name="generator" content="vae-explorer {e(__version__)}">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


# -- the report file ---------------------------------------------------------------------------------------
def write_report(
    runs: Sequence[RunSummary],
    out: str | Path,
    all_runs: bool = False,
    sweeps: Sequence[Path] = (),
    accept_unchecked: bool = False,
) -> Path:
    """Write the report of `runs` to `out` (.pdf or .html), atomically; returns its path. Each of
    `sweeps` (sweep folders) gets a section of its own."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ReportError(f"a report is a .pdf or .html file, not {out.name!r}")
    blocks = build_document(runs, all_runs, sweeps=sweeps, accept_unchecked=accept_unchecked)
    if suffix == ".html":
        return atomic_write_text(out, html_report(blocks))
    return atomic_write(out, lambda fh: write_pdf(blocks, fh))
