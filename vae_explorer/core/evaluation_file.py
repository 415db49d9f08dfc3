"""A run's evaluation.json kept up to date: every evaluation of its model merged in, none lost.

An IW-NLL costs minutes to hours (S = 5,000 on the test set), so a later evaluation with fewer
samples must not replace it: `iw_runs` lists every S computed (the latest figure for each), and
the top-level IW-NLL, its standard error, S and the bound's gap are those of the largest S. The
other figures (the bound, FID, IS, latent statistics) are the latest evaluation's. The file is
written under the run folder's lock, atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .runfiles import EVALUATION, FileProblem, read_evaluation
from .runlock import RunFolderLock

IW_KEYS = ("iw_nll", "iw_nll_stderr", "iw_samples", "gap")


def merge_evaluations(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """`new`, with `old`'s IW-NLL figures kept where they rest on more samples; only when `old`
    is of the same model (its epoch), since another epoch's figures say nothing of this one."""
    if old is not None and old.get("epoch") != new.get("epoch"):
        old = None
    runs = {int(r["iw_samples"]): r for r in (old or {}).get("iw_runs") or [] if r.get("iw_samples")}
    for source in (old or {}, new):  # a file written before iw_runs existed has one at the top
        if source.get("iw_nll") is not None and source.get("iw_samples"):
            runs[int(source["iw_samples"])] = {k: source.get(k) for k in IW_KEYS}
    merged = dict(new)
    if runs:
        best = runs[max(runs)]
        merged.update({k: best.get(k) for k in IW_KEYS})
        merged["iw_runs"] = [runs[s] for s in sorted(runs)]
    return merged


def save_evaluation(folder: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Merge `results` into `folder`'s evaluation.json (a damaged one is replaced) and write it,
    under the folder's lock; returns what was written. RunFolderBusy when another process writes
    the folder; WriteError when the file cannot be written."""
    import json

    with RunFolderLock(folder):
        try:
            old = read_evaluation(folder / EVALUATION)
        except FileProblem:
            old = None
        merged = merge_evaluations(old, results)
        atomic_write_text(folder / EVALUATION, json.dumps(merged, indent=2) + "\n")
    return merged
