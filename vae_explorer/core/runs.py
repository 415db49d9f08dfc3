"""The runs on disk: every run folder under a root, read back from the files its writer left.

A run folder holds config.json and, once it has trained, metrics.csv, model.pt and, when it ended,
outcome.json (why and with what figures); evaluation.json when it was evaluated. Its name is the
folder's (queue folder / lr_* folder for a comparison) until the user gives it one, kept in
name.txt beside the run's files so that it travels with the folder.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .config import ConfigError, RunConfig, format_lr
from .runlock import probably_busy

OUTCOME_FILE = "outcome.json"
NAME_FILE = "name.txt"
MAX_DEPTH = 3  # root / queue folder / lr_* folder, with one level to spare
MAX_NAME = 200


@dataclass
class RunSummary:
    """What the run browser shows of one run folder; plain values only."""

    folder: Path
    default_name: str
    name: str
    created: float  # seconds since the epoch: when config.json was written
    config: RunConfig | None
    history: list[dict[str, float]] = field(default_factory=list)
    status: str = "incomplete"  # an outcome.json's status, "running", "finished" or "incomplete"
    reason: str | None = None
    best_val: float = math.inf
    best_epoch: int = 0
    test_nll: float | None = None
    evaluation: dict[str, Any] | None = None
    device: str | None = None  # where it trained ("cpu", "cuda:0 (NVIDIA H200)"), where recorded
    training_step: str | None = None  # how its steps ran, where recorded

    @property
    def key(self) -> str:
        """Stable identity of the run (its folder), for colours and selections."""
        return str(self.folder.resolve())

    @property
    def checkpoint(self) -> Path | None:
        path = self.folder / "model.pt"
        return path if path.is_file() else None

    @property
    def lr(self) -> float | None:
        return None if self.config is None else self.config.train.lr

    @property
    def epochs(self) -> int:
        return len(self.history)


def _read_history(path: Path) -> list[dict[str, float]]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return [{k: float(v) for k, v in row.items()} for row in rows]
    except (OSError, ValueError, TypeError):
        return []


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def is_run_folder(folder: Path) -> bool:
    """A folder a run wrote: its settings and a trace of training (metrics, a model, or the
    outcome of a run that diverged before its first epoch ended)."""
    return (folder / "config.json").is_file() and any(
        (folder / name).is_file() for name in ("metrics.csv", "model.pt", OUTCOME_FILE)
    )


def default_name(folder: Path, root: Path | None) -> str:
    """The folder's path below `root` (queue folder / lr_* folder), or its own name."""
    if root is not None:
        try:
            return folder.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return folder.name


def read_run(folder: Path, root: Path | None = None) -> RunSummary | None:
    """The run in `folder`, or None when it holds none (or its settings cannot be read)."""
    folder = Path(folder)
    if not is_run_folder(folder):
        return None
    raw = _read_json(folder / "config.json")
    try:
        config = RunConfig.from_dict(raw).validate() if raw is not None else None
    except ConfigError:
        config = None
    if config is None:
        return None
    try:
        created = (folder / "config.json").stat().st_mtime
    except OSError:
        created = time.time()
    fallback = default_name(folder, root)
    try:
        name = (folder / NAME_FILE).read_text().strip()[:MAX_NAME] or fallback
    except OSError:
        name = fallback
    history = _read_history(folder / "metrics.csv")
    run = RunSummary(folder, fallback, name, created, config, history)
    finite = [h for h in history if math.isfinite(h.get("val_nll", math.nan))]
    if finite:
        best = min(finite, key=lambda h: h["val_nll"])
        run.best_val, run.best_epoch = best["val_nll"], int(best["epoch"])
    outcome = _read_json(folder / OUTCOME_FILE)
    if outcome is not None:
        run.status = str(outcome.get("status", "incomplete"))
        run.reason = outcome.get("reason")
        run.device = _text_or_none(outcome.get("device"))
        run.training_step = _text_or_none(outcome.get("training_step"))
        test = outcome.get("test_nll")
        run.test_nll = float(test) if isinstance(test, (int, float)) else None
    elif probably_busy(folder):
        run.status = "running"
    elif (folder / "test_loss.txt").is_file():  # ended, written before outcome.json existed
        run.status = "finished"
    if run.test_nll is None:
        with contextlib.suppress(OSError, ValueError):
            run.test_nll = float((folder / "test_loss.txt").read_text())
    run.evaluation = _read_json(folder / "evaluation.json")
    return run


def find_runs(root: Path, extra: list[Path] | tuple[Path, ...] = ()) -> list[RunSummary]:
    """Every run folder under `root` (to MAX_DEPTH levels) and the `extra` folders, newest first."""
    root = Path(root)
    found: dict[str, RunSummary] = {}

    def visit(folder: Path, depth: int) -> None:
        run = read_run(folder, root)
        if run is not None:
            found.setdefault(run.key, run)
        if depth >= MAX_DEPTH:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            visit(child, depth + 1)

    if root.is_dir():
        visit(root, 0)
    for folder in extra:
        run = read_run(Path(folder), root)
        if run is not None:
            found.setdefault(run.key, run)
    return sorted(found.values(), key=lambda r: (-r.created, r.name))


def rename_run(run: RunSummary, name: str) -> None:
    """Give the run a name of the user's (one line); an empty name goes back to the folder's."""
    name = " ".join(name.split())[:MAX_NAME]
    path = run.folder / NAME_FILE
    if not name or name == run.default_name:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise OSError(f"cannot rename {run.folder}: {exc.strerror or exc}") from None
        run.name = run.default_name
        return
    atomic_write_text(path, name + "\n")
    run.name = name


# settings the browser may list as "differing", with how each reads
_SHOWN = {
    ("train", "lr"): lambda v: f"lr={format_lr(v)}",
    ("train", "optimizer"): str,
    ("train", "batch_size"): lambda v: f"batch {v}",
    ("train", "kl_warmup"): lambda v: f"warm-up {v}",
    ("train", "prior_init"): lambda v: f"{v} init",
    ("train", "seed"): lambda v: f"seed {v}",
    ("model", "arch"): str,
    ("model", "prior"): lambda v: f"{v} prior",
    ("model", "components"): lambda v: f"K={v}",
    ("model", "latent_dim"): lambda v: f"L={v}",
    ("model", "hidden"): lambda v: f"H={v}",
    ("model", "likelihood"): str,
    ("model", "mixture_weights"): lambda v: f"{v} weights",
    ("data", "dataset"): str,
    ("data", "limit_train"): lambda v: f"{v or 'all'} train",
}


def differing_settings(runs: list[RunSummary]) -> dict[str, str]:
    """For each run (by key), the settings that are not the same in all `runs`, as one short text;
    the learning rate is always named."""
    configs = {r.key: r.config for r in runs if r.config is not None}
    differ = []
    for (section, name), fmt in _SHOWN.items():
        values = {getattr(getattr(c, section), name) for c in configs.values()}
        if len(values) > 1 or (section, name) == ("train", "lr"):
            differ.append((section, name, fmt))
    return {
        key: ", ".join(fmt(getattr(getattr(c, section), name)) for section, name, fmt in differ)
        for key, c in configs.items()
    }


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def outcome_record(event: Any, **facts: str | None) -> dict[str, Any]:
    """outcome.json's content for a RunFinished event, with the run's other `facts` (the device,
    how its steps ran) where known."""
    test = event.test_nll
    return {
        **{name: value for name, value in facts.items() if value is not None},
        "status": event.status.value,
        "reason": event.reason,
        "epochs": event.epochs,
        "best_epoch": event.best_epoch,
        "best_val": event.best_val if math.isfinite(event.best_val) else None,
        "test_nll": test if test is not None and math.isfinite(test) else None,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()),
        "pid": os.getpid(),
    }
