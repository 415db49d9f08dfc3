"""What the report says of a sweep: its summary table, the trials whose curves are drawn grouped
by setting (report.curves) and the comparison of each axis, paired by seed. No drawing here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vae_explorer.core.sweep import SweepSpec, is_sweep_folder, load_spec
from vae_explorer.core.sweep_results import (
    COMPARISON_CSV,
    FIGURE,
    SUMMARY_CSV,
    TRIALS_CSV,
    TrialResult,
    collect,
    compare,
    summary,
)

SUMMARY_FIGURES = ("test_nll", "iw_nll", "best_val", "fid", "inception_score", "components_in_use")


@dataclass
class SweepSection:
    title: str
    intro: str
    header: list[str]
    rows: list[list[str]]
    spec: SweepSpec
    drawn: list[TrialResult]  # the trials with a curve (none: no curves figure)
    caption: str
    comparison: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def sweep_folders(folders) -> list[Path]:
    return [Path(f) for f in folders if is_sweep_folder(f)]


def trial_folders(folder: str | Path) -> list[Path]:
    """The run folders of the sweep's trials that exist (in the spec's order)."""
    spec = load_spec(folder)
    return [p for t in spec.trials() if (p := t.folder(folder)).is_dir()]


def _cell(mean: float | None, sd: float | None, digits: int) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def sweep_section(folder: str | Path) -> SweepSection:
    """What the report says of the sweep in `folder`; ConfigError when it holds no usable sweep."""
    folder = Path(folder)
    spec = load_spec(folder)
    results = collect(folder, spec)
    rows = summary(results)
    header = ["setting", "seeds"] + [
        FIGURE[k].label + (f" ({FIGURE[k].unit})" if FIGURE[k].unit else "") for k in SUMMARY_FIGURES
    ]
    table = [
        [r.setting, f"{r.n} of {r.trials}"]
        + [_cell(*r.stats[k], digits=FIGURE[k].digits) for k in SUMMARY_FIGURES]
        for r in rows
    ]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in statuses.items())
    intro = (
        f"{spec.plan_text()}: {counts}. Each trial is a run folder in {folder}; its figures are in "
        f"{TRIALS_CSV}, the mean ± sd over seeds per setting in {SUMMARY_CSV} and the paired "
        f"differences in {COMPARISON_CSV}. Only trials that ran to their end (done or early stopped) "
        "enter the summary and the comparison."
    )
    comparisons = compare(results, spec, ("test_nll", "iw_nll"))
    lines = [c.text() for c in comparisons]
    if not spec.factors():
        lines = [
            "No comparison: the sweep varies no grid axis or named setting (random draws, or seeds only)."
        ]
    elif not lines:
        lines = ["No comparison yet: no pair of complete trials differs in one axis only."]
    drawn = [r for r in results if len(r.history)]
    caption = (
        "Validation nll per epoch: each seed a thin line, the mean over the seeds still training at that "
        "epoch thick, with a ±1 sd band where two or more are."
    )
    notes = [f"{r.plan.id}: unreadable, {r.problem}" for r in results if r.problem]
    return SweepSection(
        f"Experiment {folder.name}",
        intro,
        header,
        table,
        spec,
        drawn,
        caption,
        lines,
        notes,
    )


def mean_curve(results: list[TrialResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, sd) over the trials that have each epoch; sd is NaN where fewer than two do."""
    curves = [dict(zip(r.history.epoch.tolist(), r.history.val_nll.tolist())) for r in results]
    epochs = sorted({e for c in curves for e in c})
    mean, sd = [], []
    for e in epochs:
        values = [c[e] for c in curves if e in c and math.isfinite(c[e])]
        mean.append(float(np.mean(values)) if values else math.nan)
        sd.append(float(np.std(values, ddof=1)) if len(values) > 1 else math.nan)
    return np.array(epochs, dtype=float), np.array(mean), np.array(sd)
