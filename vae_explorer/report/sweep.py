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
    Stat,
    SummaryRow,
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


def _cell(stat: Stat, seeds: int, digits: int) -> str:
    """mean ± sd, with the count when fewer of the setting's `seeds` have the figure."""
    if stat.mean is None:
        return "–"
    text = f"{stat.mean:.{digits}f}" + (f" ± {stat.sd:.{digits}f}" if stat.sd is not None else "")
    return text + (f" ({stat.n} of {seeds})" if stat.n < seeds else "")


def _samples(values: tuple) -> str:
    return "/".join("?" if s is None else f"{s:,}" for s in values)


def _iw_cells(rows: list[SummaryRow]) -> tuple[str, list[str | None], list[str]]:
    """The IW-NLL's header suffix, each row's S where rows differ (None: the header says it), and
    a note for rows whose seeds used different S (not averaged)."""
    kinds = {r.iw_samples for r in rows if r.iw_samples}
    if len(kinds) == 1 and len(next(iter(kinds))) == 1:
        return f", S={_samples(next(iter(kinds)))}", [None] * len(rows), []
    cells = [f"S={_samples(r.iw_samples)}" if r.iw_samples and not r.mixed_iw else None for r in rows]
    mixed = [r.setting for r in rows if r.mixed_iw]
    notes = (
        [
            "IW-NLL not averaged for "
            + ", ".join(mixed)
            + (": its" if len(mixed) == 1 else ": within each, the")
            + " seeds were evaluated with different numbers of importance samples "
            f"({'; '.join(_samples(r.iw_samples) for r in rows if r.mixed_iw)}), and more samples give "
            "a lower figure. Such a sweep chose S from each trial's training time; a sweep now "
            "evaluates every trial with the same S (--eval-iw-samples)."
        ]
        if mixed
        else []
    )
    return "", cells, notes


def sweep_section(folder: str | Path) -> SweepSection:
    """What the report says of the sweep in `folder`; ConfigError when it holds no usable sweep."""
    folder = Path(folder)
    spec = load_spec(folder)
    results = collect(folder, spec)
    rows = summary(results)
    iw_header, iw_cells, iw_notes = _iw_cells(rows)

    def label(key: str) -> str:
        f = FIGURE[key]
        unit = f.unit + (iw_header if key == "iw_nll" else "")
        return f.label + (f" ({unit.lstrip(', ')})" if unit else "")

    def cell(row: SummaryRow, key: str, s: str | None) -> str:
        text = _cell(row.stats[key], row.n, FIGURE[key].digits)
        if key == "iw_nll" and row.mixed_iw:
            return "not averaged (mixed S)"
        return f"{text} ({s})" if key == "iw_nll" and s and text != "–" else text

    header = ["setting", "seeds"] + [label(k) for k in SUMMARY_FIGURES]
    table = [
        [r.setting, f"{r.n} of {r.trials}"] + [cell(r, k, s) for k in SUMMARY_FIGURES]
        for r, s in zip(rows, iw_cells)
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
    notes = iw_notes + [f"{r.plan.id}: unreadable, {r.problem}" for r in results if r.problem]
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
