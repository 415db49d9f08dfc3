"""The runs a report is about: run folders, queue folders of lr_* runs and sweep folders, read
back through core.runs; which of them can be used and which run is the best."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from vae_explorer.core.config import ConfigError
from vae_explorer.core.runs import RunSummary, read_run, subfolders
from vae_explorer.report import sweep


class ReportError(ValueError):
    """A folder that holds no run, or nothing to report; the message names it."""


def _queue_runs(folder: Path) -> list[RunSummary]:
    runs = [read_run(p, folder.parent) for p in subfolders(folder) if p.name.startswith("lr_")]
    return sorted((r for r in runs if r is not None), key=lambda r: (r.lr or 0.0, r.name))


def _sweep_runs(folder: Path) -> list[RunSummary]:
    """The trials of a sweep folder (vae-explorer sweep), in the sweep's order."""
    if not sweep.sweep_folders([folder]):
        return []
    try:
        folders = sweep.trial_folders(folder)
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


def unreadable_text(run: RunSummary) -> str:
    """One line about a run left out of a report: its folder and what is wrong."""
    return f"{run.folder}: unreadable, {run.problem}"
