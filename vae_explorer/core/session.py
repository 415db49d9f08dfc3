"""The run engine: a queue of runs that the CLI and the app both drive.

A `Session` owns the loaded data, the stop/pause controls, one trainer at a time (each with its
own generators, seeded from its run's seed), and a `RunRecord` per run that it keeps up to date
from the events it emits. Front ends subscribe to the one event stream; the app keeps one copy
of the records on its GUI thread (app.run_records), kept by applying the same events with
`route`, so both read run state the same way. One run writes into `out_dir` itself, several into
`out_dir/lr_<rate>/`, with the overlaid validation curves beside them.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import events as ev
from .atomic import WriteError
from .config import RunConfig, format_lr, nll_label
from .control import Controlled, RunControl
from .data import Splits, load_splits
from .events import RunStatus
from .run_history import RunHistory
from .runfolder import FigureWriter
from .runlock import RunFolderBusy, RunFolderLock, remove_stale_temporaries
from .trainer import EventSink, Trainer


@dataclass(frozen=True)
class EndOfRunEvaluation:
    """What each run's best model is evaluated with when the run ends: the bound, latent statistics,
    FID and IS (when a classifier for the data set exists) and an IW-NLL whose number of samples
    keeps the whole evaluation within `budget` times the run's training time, or `iw_samples`."""

    budget: float = 0.1
    iw_samples: int | None = None
    sample_quality: bool = True


# compare(out_dir, {label: [(epoch, val_nll), ...]}, ylabel) -> files: the overlaid curves of a comparison
CompareWriter = Callable[[Path, dict[str, list[tuple[int, float]]], str], list[Path]]


def lr_dirname(lr: float) -> str:
    return f"lr_{format_lr(lr)}"


def run_dirs(out_dir: Path | None, configs: Sequence[RunConfig]) -> list[Path | None]:
    """Where each run of a queue writes: `out_dir` for one run, `out_dir/lr_<rate>` for several."""
    if out_dir is None:
        return [None] * len(configs)
    if len(configs) == 1:
        return [Path(out_dir)]
    return [Path(out_dir) / lr_dirname(c.train.lr) for c in configs]


def run_label(config: RunConfig, status: RunStatus | None = None) -> str:
    label = f"lr={format_lr(config.train.lr)}"
    return f"{label} (diverged)" if status is RunStatus.DIVERGED else label


@dataclass
class RunRecord:
    """What is known of one run of the queue, updated from its events."""

    index: int
    config: RunConfig
    run_dir: Path | None = None
    status: RunStatus = RunStatus.QUEUED
    history: RunHistory = field(default_factory=RunHistory)  # its epochs, as columns
    best_val: float = math.inf
    best_epoch: int = 0
    epochs: int = 0
    test_nll: float | None = None
    checkpoint: str | None = None
    reason: str | None = None
    message: str | None = None  # why it failed
    step: str | None = None  # how its training steps ran (StepChosen.text())
    evaluation: dict[str, Any] | None = None  # the end-of-run evaluation, when it has one
    best_weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return run_label(self.config, self.status)

    def apply(self, event: object) -> None:
        """Update from one of this run's events."""
        if isinstance(event, ev.RunStarted):
            self.status = RunStatus.RUNNING
            self.history = RunHistory(event.history)
            self.epochs = event.start_epoch - 1
            if event.run_dir:
                self.run_dir = Path(event.run_dir)
            if self.history:
                best = min(self.history, key=lambda h: h["val_nll"])
                self.best_val, self.best_epoch = best["val_nll"], int(best["epoch"])
        elif isinstance(event, ev.StatusChanged):
            self.status = event.status
        elif isinstance(event, ev.StepChosen):
            self.step = event.text()
        elif isinstance(event, ev.EpochEnd):
            self.history.append(event.record())
            self.epochs = event.epoch
            self.best_val, self.best_epoch = event.best_val, event.best_epoch
        elif isinstance(event, ev.NewBest):
            self.best_weights = event.weights
            self.checkpoint = event.checkpoint
        elif isinstance(event, ev.RunFinished):
            self.status = event.status
            self.reason = event.reason
            self.epochs = event.epochs
            self.best_val, self.best_epoch = event.best_val, event.best_epoch
            self.test_nll = event.test_nll
            self.checkpoint = event.checkpoint
        elif isinstance(event, ev.Evaluated):
            self.evaluation = event.results
        elif isinstance(event, ev.RunFailed):
            self.status = RunStatus.FAILED
            self.reason = ev.STOP_ERROR
            self.message = event.message


def best_run(records: Sequence[RunRecord]) -> int | None:
    """The run with the lowest validation nll among those that produced a model."""
    with_model = [r for r in records if r.checkpoint is not None or r.best_weights is not None]
    with_model = [r for r in with_model if math.isfinite(r.best_val)]
    return min(with_model, key=lambda r: r.best_val).index if with_model else None


def route(records: Sequence[RunRecord], event: object) -> None:
    """Apply an engine event to the records it concerns (the engine's own or a front end's copy)."""
    run = getattr(event, "run", None)
    if run is not None and 0 <= run < len(records):
        records[run].apply(event)
    elif isinstance(event, ev.QueueFinished):
        # runs the end found unfinished: stopped, never started, or caught in a failure (all of
        # them when none had started: they share the data that failed to load)
        started = any(r.status is not RunStatus.QUEUED for r in records)
        for r in records:
            if r.status is RunStatus.QUEUED:
                r.status = RunStatus.FAILED if event.failure and not started else RunStatus.NOT_RUN
            elif not r.status.final:
                r.status = RunStatus.FAILED if event.failure else RunStatus.STOPPED
            if r.status is RunStatus.FAILED:
                r.reason = ev.STOP_ERROR


class Session(Controlled):
    """A queue of runs, trained one after another on the calling thread by `run()`."""

    def __init__(
        self,
        configs: Sequence[RunConfig],
        out_dir: str | Path | None = None,
        on_event: EventSink | None = None,
        *,
        resume_from: str | Path | None = None,
        splits: Splits | None = None,
        figures: FigureWriter | None = None,
        compare: CompareWriter | None = None,
        evaluation: EndOfRunEvaluation | None = None,
        lock_folder: bool = True,
        cuda_graph: bool = True,
        accept_unchecked: bool = False,
    ) -> None:
        """`lock_folder`: hold `out_dir`'s run-folder lock while running (a caller that holds it
        already, to prepare the folder, passes False). `cuda_graph`: capture the training step on
        a CUDA device (False: run it eagerly). `accept_unchecked`: resume from a checkpoint that
        predates the whole-content checksum."""
        if not configs:
            raise ValueError("a session needs at least one run")
        if resume_from is not None and len(configs) != 1:
            raise ValueError("a resumed session continues one run")
        self.configs = [c.validate() for c in configs]
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.on_event = on_event or (lambda event: None)
        self.resume_from = resume_from
        self.splits = splits
        self.figures = figures
        self.compare = compare
        self.evaluation = evaluation
        self.lock_folder = lock_folder
        self.cuda_graph = cuda_graph
        self.accept_unchecked = accept_unchecked
        self.control = RunControl()
        self.records = [
            RunRecord(i, c, d) for i, (c, d) in enumerate(zip(self.configs, run_dirs(self.out_dir, configs)))
        ]
        self.error: BaseException | None = None  # what ended the queue, when something did

    # -- the queue ----------------------------------------------------------------------------
    def _emit(self, event: object) -> None:
        route(self.records, event)
        self.on_event(event)

    def run(self) -> list[RunRecord]:
        """Train every run in turn; a failure ends the queue (its exception is kept in `error`)."""
        self._emit(
            ev.QueueStarted(
                tuple(self.configs),
                tuple(str(d) if d else None for d in (r.run_dir for r in self.records)),
                str(self.out_dir) if self.out_dir else None,
            )
        )
        failure: str | None = None
        # the queue's folder (unless the caller holds it) and, in a comparison, each run's folder,
        # so that nobody resumes one of its runs into it meanwhile
        folders = [self.out_dir] if self.out_dir is not None and self.lock_folder else []
        folders += [r.run_dir for r in self.records if r.run_dir is not None and r.run_dir != self.out_dir]
        locks = [RunFolderLock(folder) for folder in folders]
        try:
            for lock in locks:
                lock.acquire()
                remove_stale_temporaries(lock.folder)  # ours to clean now, and only those
            splits = self.splits if self.splits is not None else load_splits(self.configs[0].data)
            for record in self.records:
                if self.control.stopped:
                    break
                try:
                    trainer = Trainer(
                        record.config,
                        splits,
                        record.run_dir,
                        self._emit,
                        self.resume_from if record.index == 0 else None,
                        index=record.index,
                        control=self.control,
                        figures=self.figures,
                        cuda_graph=self.cuda_graph,
                        accept_unchecked=self.accept_unchecked,
                    )
                    trainer.run()
                    self._evaluate(trainer, record, splits)
                except Exception as exc:
                    self._emit(ev.RunFailed(record.index, _one_line(exc)))
                    raise
        except Exception as exc:
            self.error = exc
            failure = _one_line(exc)
        written: list[Path] = []
        try:
            if (
                self.compare is not None
                and self.out_dir is not None
                and len(self.records) > 1
                and not failure
            ):
                curves = {
                    r.label: list(zip(r.history.epoch, r.history.val_nll))
                    for r in self.records
                    if r.status is not RunStatus.NOT_RUN
                }
                written = self.compare(
                    self.out_dir, curves, nll_label(self.records[0].config.model.likelihood)
                )
        except Exception as exc:  # the overlay could not be written: still end the queue in order
            self.error = exc
            failure = _one_line(exc)
        finally:
            for lock in locks:
                lock.release()
                if lock.folder != self.out_dir:
                    with contextlib.suppress(OSError):  # a run that never started leaves no empty folder
                        lock.folder.rmdir()
        self._emit(
            ev.QueueFinished(
                self.control.stopped, best_run(self.records), failure, tuple(str(p) for p in written)
            )
        )
        return self.records

    def _evaluate(self, trainer: Trainer, record: RunRecord, splits: Splits) -> None:
        """Evaluate the run's best model (loaded in the trainer) and hand the figures to the writer
        and the front ends. A run the user stopped gets the quick figures only (no IW-NLL, FID, IS)."""
        plan = self.evaluation
        if plan is None or trainer.best_weights is None or not len(splits.test_images):
            return
        quick = record.status is RunStatus.STOPPED
        index = record.index

        def progress(stage: str, done: int, total: int) -> None:
            trainer.on_event(ev.EvaluationProgress(index, stage, done, total))

        results = evaluate_run(
            trainer.model,
            record.config,
            splits,
            plan,
            sum(record.history.seconds),
            cancel=lambda: self.control.stopped and not quick,
            progress=progress,
            quick=quick,
        )
        if results is None:
            return
        results.update(epoch=record.best_epoch, checkpoint=record.checkpoint)
        trainer.on_event(ev.Evaluated(index, results))


def evaluate_run(
    model,
    config: RunConfig,
    splits: Splits,
    plan: EndOfRunEvaluation,
    run_seconds: float,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    quick: bool = False,
) -> dict[str, Any] | None:
    """The end-of-run figures of `model` by `plan` (IW-NLL by its budget of `run_seconds`, or its
    fixed S); `quick`: the bound and latent statistics only. Never raises: a stop (`cancel`) in
    the slow figures keeps the quick ones and names those never reached (None: stopped before
    any), a failure is a note."""
    from .evaluation import EvaluationRequest, evaluate_with_notes
    from .likelihood import Cancelled

    request = EvaluationRequest(
        iw_samples=None if quick else plan.iw_samples,
        fid=plan.sample_quality and not quick,
        inception=plan.sample_quality and not quick,
        iw_budget=None
        if quick or plan.iw_samples is not None or plan.budget <= 0
        else plan.budget * run_seconds,
    )
    try:
        results = evaluate_with_notes(model, config, splits, request, progress, cancel=cancel)
    except Cancelled as exc:
        if exc.partial is None:
            return None
        # stopped in the slow figures: the quick ones (bound, latent statistics, and what else was
        # done) are kept, and the figures never reached are named
        results = exc.partial
        missing = [
            label
            for key, label in (("iw_nll", "IW-NLL"), ("fid", "FID"), ("inception_score", "IS"))
            if results.get(key) is None
            and (key != "iw_nll" or plan.iw_samples or plan.budget > 0)
            and (key == "iw_nll" or plan.sample_quality)
        ]
        results.setdefault("notes", []).insert(
            0, STOPPED_IN_EVALUATION + (f": no {', '.join(missing)}" if missing else "")
        )
    except Exception as exc:  # the run and its model are fine; say why there are no figures
        results = {"error": _one_line(exc), "notes": [f"{EVALUATION_FAILED}: {_one_line(exc)}"]}
    if quick:
        results["notes"].insert(0, "stopped by the user: no IW-NLL, FID or IS")
    return results


# the first note of an evaluation the user stopped in its slow figures, or that failed (a sweep's
# --resume evaluates such a trial again)
STOPPED_IN_EVALUATION = "stopped by the user during the evaluation"
EVALUATION_FAILED = "the evaluation failed"


def _one_line(exc: BaseException) -> str:
    from .checkpoint import CheckpointError, first_line
    from .config import ConfigError
    from .data import DataError

    if isinstance(exc, (ConfigError, DataError, CheckpointError, RunFolderBusy, WriteError)):
        return first_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__
