"""What the report says of its runs, as text: the figures formatted, why each run ended, the
settings and results tables and the paragraph of facts. No drawing here."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from vae_explorer.core.config import RunConfig, format_lr, prior_kind
from vae_explorer.core.metrics import METRICS, Metric
from vae_explorer.core.runs import RunSummary
from vae_explorer.report.blocks import Table

RUNS_PER_TABLE = 5  # columns of runs in one settings or results table; more continue below
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TEST_SIZE = 10_000

# why a run ended, from its outcome.json's reason
ENDINGS = {
    "max epochs": "reached its maximum of {max_epochs} epochs",
    "early stop": "stopped early: no better validation nll for {patience} epochs",
    "stopped": "was stopped by the user",
    "diverged": "diverged (a non-finite loss)",
    "error": "failed with an error",
}


def num(value: float | None, digits: int = 2) -> str | None:
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


def one_or_each(runs: Sequence[RunSummary], value: Callable[[RunSummary], str]) -> str:
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
    ("train", "schedule", "learning-rate schedule"),
    ("train", "warmup_epochs", "learning-rate warm-up (epochs)"),
    ("train", "val_every", "validation every (epochs)"),
    ("train", "checkpoint_seconds", "last.pt at most every (s)"),
    ("train", "seed", "seed"),
    ("train", "device", "device"),
)


def _setting(config: RunConfig | None, section: str, name: str) -> str:
    if config is None:
        return "unknown"
    kind = prior_kind(config.model.prior)
    unused = {  # settings this run's prior has no use for (the VampPrior's weights are equal and fixed)
        "components": not kind.components,
        "mixture_weights": not kind.weights_option,
        "prior_init": not kind.placeable,
    }
    if unused.get(name):
        return "– (not used by this prior)"
    value = getattr(getattr(config, section), name)
    if name == "lr":
        return format_lr(value)
    if value is None:
        return {"root": "bundled", "limit_train": "all", "limit_val": "all", "limit_test": "all"}.get(
            name, "–"
        )
    if isinstance(value, float):
        return f"{value:g}"
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
            best = num(run.best_val)
            test = num(run.test_nll)
            if test is None and run.evaluation is not None:
                test = num(run.evaluation.get("neg_elbo"))
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
        out.append(f"{lead}: {num(best.best_val)} at epoch {best.best_epoch} of the {best.epochs} it ran.")
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
