"""The runs on disk: every run folder under a root, read back from the files its writer left.

A run folder holds config.json and, once it has trained, metrics.csv, model.pt and, when it ended,
outcome.json (why and with what figures); evaluation.json when it was evaluated. Its name is the
folder's (queue folder / lr_* folder for a comparison) until the user gives it one, kept in
name.txt beside the run's files so that it travels with the folder.

Every file is untrusted input (core.runfiles): a run whose files cannot be used is listed as
unreadable, with the file and the reason, and never stops the others from loading. The folders
are walked without following symbolic links, so nothing outside the root is listed through one.
"""

from __future__ import annotations

import math
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runfiles as rf
from .atomic import atomic_write_text
from .config import ConfigError, RunConfig, format_lr
from .runfiles import FileProblem, History
from .runlock import probably_busy

OUTCOME_FILE = rf.OUTCOME
NAME_FILE = rf.NAME
MAX_DEPTH = 3  # root / queue folder / lr_* folder, with one level to spare
MAX_NAME = rf.MAX_NAME
MAX_FOLDERS = 100_000  # folders visited under a root, at most
UNREADABLE = "unreadable"
SWEEP_FILE = "sweep.json"  # core.sweep.SWEEP_FILE: a folder of trials (imported there from here)


@dataclass
class RunSummary:
    """What the run browser shows of one run folder; plain values only. A run whose files cannot
    be used has `problem` ('<file>: <what is wrong>'), status "unreadable" and no settings."""

    folder: Path
    default_name: str
    name: str
    created: float  # seconds since the epoch: when config.json was written
    config: RunConfig | None
    history: History = field(default_factory=History.empty)
    status: str = "incomplete"  # an outcome.json's status, "running", "finished" or "incomplete"
    reason: str | None = None
    best_val: float = math.inf
    best_epoch: int = 0
    test_nll: float | None = None
    evaluation: dict[str, Any] | None = None
    device: str | None = None  # where it trained ("cpu", "cuda:0 (NVIDIA H200)"), where recorded
    training_step: str | None = None  # how its steps ran, where recorded
    problem: str | None = None
    group: Path | None = None  # the sweep folder (core.sweep) whose trial this run is

    @property
    def group_key(self) -> str | None:
        return real_path(self.group) if self.group is not None else None

    @property
    def key(self) -> str:
        """Stable identity of the run (its folder), for colours and selections."""
        return real_path(self.folder)

    @property
    def readable(self) -> bool:
        return self.problem is None

    @property
    def checkpoint(self) -> Path | None:
        if self.problem is not None:
            return None
        path = self.folder / rf.MODEL
        return path if path.is_file() else None

    @property
    def lr(self) -> float | None:
        return None if self.config is None else self.config.train.lr

    @property
    def epochs(self) -> int:
        """Epochs trained: the last recorded one (metrics.csv has a row per validation, so with
        --val-every K fewer rows than epochs)."""
        return int(self.history.epoch[-1]) if len(self.history) else 0


def real_path(path: Path) -> str:
    """The absolute path with links resolved, as far as they resolve (a loop stops there)."""
    return os.path.realpath(path)


def _lexists(path: Path) -> bool:
    return os.path.lexists(path)


def is_run_folder(folder: Path) -> bool:
    """A folder a run wrote: its settings and a trace of training (metrics, a model, or the
    outcome of a run that diverged before its first epoch ended). Judged by the names alone, so
    that a run whose files are damaged is still found (and listed as unreadable)."""
    return _lexists(folder / rf.CONFIG) and any(
        _lexists(folder / name) for name in (rf.METRICS, rf.MODEL, rf.OUTCOME)
    )


def default_name(folder: Path, root: Path | None) -> str:
    """The folder's path below `root` (queue folder / lr_* folder), or its own name."""
    if root is not None:
        try:
            return Path(os.path.abspath(folder)).relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            pass
    return folder.name or str(folder)


def read_config(folder: Path) -> RunConfig:
    """The run's settings from config.json; FileProblem when missing or invalid."""
    raw = rf.read_json_object(folder / rf.CONFIG)
    if raw is None:
        raise FileProblem(rf.CONFIG, "is missing")
    try:
        return RunConfig.from_dict(raw).validate()
    except ConfigError as exc:
        raise FileProblem(rf.CONFIG, rf.clean_text(str(exc))) from None
    except (RecursionError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise FileProblem(
            rf.CONFIG, f"is not a vae-explorer configuration ({rf.clean_text(str(exc), 120)})"
        ) from None


def read_run(folder: Path, root: Path | None = None) -> RunSummary | None:
    """The run in `folder` (None when it holds none). A run whose files cannot be used comes back
    with its `problem` set; nothing is raised for what the files hold."""
    folder = Path(folder)
    if not is_run_folder(folder):
        return None
    fallback = default_name(folder, root)
    try:
        created = os.lstat(folder / rf.CONFIG).st_mtime
    except OSError:
        created = time.time()
    run = RunSummary(folder, fallback, fallback, created, None)
    if _lexists(folder.parent / SWEEP_FILE):
        run.group = folder.parent
    try:
        _fill(run)
    except FileProblem as exc:
        run.config, run.history, run.evaluation = None, History.empty(), None
        run.status, run.problem = UNREADABLE, str(exc)
        run.reason = run.problem
        run.best_val, run.best_epoch, run.test_nll = math.inf, 0, None
    return run


def _fill(run: RunSummary) -> None:
    folder = run.folder
    run.config = read_config(folder)
    run.name = rf.read_name(folder / rf.NAME) or run.default_name
    run.history = rf.read_history(folder / rf.METRICS)
    best = run.history.best()
    if best is not None:
        run.best_epoch, run.best_val = best
    outcome = rf.read_outcome(folder / rf.OUTCOME)
    test_loss = rf.read_test_loss(folder / rf.TEST_LOSS)
    if outcome is not None:
        run.status, run.reason = outcome.status, outcome.reason
        run.device, run.training_step = outcome.device, outcome.training_step
        run.test_nll = outcome.test_nll
    elif probably_busy(folder):
        run.status = "running"
    elif test_loss is not None:  # ended, written before outcome.json existed
        run.status = "finished"
    if run.test_nll is None:
        run.test_nll = test_loss
    run.evaluation = rf.read_evaluation(folder / rf.EVALUATION)


def subfolders(folder: Path) -> list[Path]:
    """The folders in `folder`, sorted, without following links and leaving hidden ones out."""
    try:
        with os.scandir(folder) as entries:
            found = [
                Path(e.path)
                for e in entries
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []
    return sorted(found)


def find_runs(root: Path, extra: list[Path] | tuple[Path, ...] = ()) -> list[RunSummary]:
    """Every run folder under `root` (to MAX_DEPTH levels, never through a symbolic link) and the
    `extra` folders, newest first; unreadable runs included, with their problem."""
    root = Path(root)
    found: dict[str, RunSummary] = {}
    visited = 0

    def visit(folder: Path, depth: int) -> None:
        nonlocal visited
        visited += 1
        if visited > MAX_FOLDERS:
            return
        run = read_run(folder, root)
        if run is not None:
            found.setdefault(run.key, run)
        if depth >= MAX_DEPTH:
            return
        for child in subfolders(folder):
            visit(child, depth + 1)

    try:
        root_is_dir = stat.S_ISDIR(os.stat(root).st_mode)
    except OSError:
        root_is_dir = False
    if root_is_dir:
        visit(root, 0)
    for folder in extra:
        run = read_run(Path(folder), root)
        if run is not None:
            found.setdefault(run.key, run)
        elif _lexists(Path(folder) / SWEEP_FILE):  # a sweep folder: its trials
            for child in subfolders(Path(folder)):
                run = read_run(child, Path(folder).parent)
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
    ("train", "schedule"): lambda v: f"{v} rate",
    ("train", "warmup_epochs"): lambda v: f"rate warm-up {v}",
    ("train", "val_every"): lambda v: f"validated every {v}",
    ("train", "epochs"): lambda v: f"max {v} epochs",
    ("train", "patience"): lambda v: f"patience {v}",
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
    ("data", "limit_val"): lambda v: f"{v or 'all'} validation",
    ("data", "limit_test"): lambda v: f"{v or 'all'} test",
}


def differing_settings(runs: list[RunSummary]) -> dict[str, str]:
    """For each readable run (by key), the settings that are not the same in all `runs`, as one
    short text; the learning rate is always named."""
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
