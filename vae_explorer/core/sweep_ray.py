"""Runs a sweep on Ray Tune: one Tune trial per TrialPlan, each the project's own engine (a
`Session` with one configuration, as `train` runs it) writing an ordinary run folder.

- Local by default: a Ray instance on 127.0.0.1 only, sized by `workers`, one torch thread per
  trial; or a cluster joined by address, with Ray's token authentication kept on.
- Stop (Ctrl-C, the app's Stop) and the ASHA scheduler's verdicts reach each trial through a small
  control actor that the trial polls; the trial then ends like a stopped `train` run (best model
  kept, quick evaluation, outcome.json saying why) and returns, so Tune never kills a trial.
- A worker that dies: Tune starts its trial again, and the trial resumes from its last.pt, exactly.
- `resume`: only the trials whose folder has not finished run again, each from its last.pt.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import events as ev
from . import runfiles as rf
from . import sweep_events as se
from .config import RunConfig, check_new_run
from .runfiles import FileProblem, read_evaluation, read_outcome
from .runfolder import FigureWriter
from .runlock import RunFolderLock
from .session import EVALUATION_FAILED, STOPPED_IN_EVALUATION
from .sweep import SweepSpec, TrialPlan, is_sweep_folder
from .sweep_results import collect, compare, write_results

LOOPBACK = "127.0.0.1"
POLL_SECONDS = 0.5  # how often a trial asks whether it should stop
FRESH, RESUME, EVALUATE, FINISHED = "fresh", "resume", "evaluate", "finished"
SweepSink = Callable[[object], None]


@contextlib.contextmanager
def _signal_handlers_kept():
    """ray.init puts its own SIGTERM handler (sys.exit) in the main thread's place; the front
    end's (a clean stop: trials stop after their batch, results are written) is put back."""
    main = threading.current_thread() is threading.main_thread()
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            now = signal.getsignal(sig)
            # only Ray's own goes: one the front end installed meanwhile (a first Ctrl-C during
            # the start makes the next one abort) stays
            if handler is not None and getattr(now, "__module__", "").startswith("ray"):
                signal.signal(sig, handler)


def ray_unavailable() -> str | None:
    """Why this process cannot run a sweep, or None. Ray starts its worker processes by running
    Python scripts with sys.executable, which in a frozen one-folder bundle (PyInstaller) is the
    app itself, not an interpreter; the bundle leaves Ray out."""
    if getattr(sys, "frozen", False):
        return (
            "experiments run on Ray, whose worker processes need a Python interpreter, and this "
            "one-folder bundle has none: install vae-explorer with pip (see the README) to run them"
        )
    return None


class SweepError(RuntimeError):
    """The sweep cannot start (a folder that holds another sweep, Ray that does not start ...)."""


@dataclass(frozen=True)
class SweepOptions:
    workers: int | None = None  # local: Ray's CPUs (default: the cores); a cluster: trials at a time
    address: str | None = None  # HOST:PORT of a cluster's head; None: a local instance
    scheduler: str | None = None  # None (every trial runs to its end) or "asha"
    resume: bool = False
    max_failures: int = 2  # starts of a trial after its worker died
    asha_grace: int | None = None  # epochs before ASHA may stop a trial (default: a tenth of max_t)
    asha_reduction: int = 3
    cuda_graph: bool = True


def trial_state(folder: Path) -> str:
    """FINISHED (ran to its end, diverged, or stopped by the scheduler, and evaluated), EVALUATE
    (trained to its end, but its evaluation was stopped, failed or never written: outcome.json
    comes first), RESUME (has a last.pt to go on from: stopped by the user, killed, failed) or
    FRESH."""
    try:
        outcome = read_outcome(folder / rf.OUTCOME)
    except FileProblem:
        outcome = None
    ended = outcome is not None and outcome.status in ("done", "early stopped", "diverged", "stopped")
    if ended and outcome.reason not in (ev.STOP_USER, ev.STOP_ERROR):
        return EVALUATE if _evaluation_unfinished(folder) else FINISHED
    return RESUME if (folder / rf.LAST).is_file() else FRESH


def _evaluation_unfinished(folder: Path) -> bool:
    """A trial with a model whose evaluation.json is missing, unreadable, an error, or stopped by
    the user in its slow figures."""
    if not (folder / rf.MODEL).is_file():
        return False  # diverged before its first epoch: nothing to evaluate
    try:
        results = read_evaluation(folder / rf.EVALUATION)
    except FileProblem:
        return True
    if results is None:
        return True
    notes = results.get("notes") or []
    return any(n.startswith((STOPPED_IN_EVALUATION, EVALUATION_FAILED)) for n in notes)


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR


def _ray_environment(address: str | None) -> None:
    """Ray's environment for a sweep, set before Ray is imported (it reads some of it then and its
    processes inherit it): on loopback unless a cluster elsewhere is joined, and the cluster's
    token presented. Ray turns 127.0.0.1 into the machine's network address unless
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER is 0."""
    if not address or is_loopback(address):
        os.environ[CLUSTER_ENV] = "0"
    else:
        os.environ.pop(CLUSTER_ENV, None)
    if address:
        if os.environ.get("RAY_AUTH_MODE", "token") == "disabled":
            raise SweepError("vae-explorer keeps Ray's token authentication on: unset RAY_AUTH_MODE=disabled")
        os.environ["RAY_AUTH_MODE"] = "token"  # a driver joining a `ray start` head presents the token
    else:
        os.environ.pop("RAY_ADDRESS", None)  # a local sweep never joins whatever that names


def _ray_read_environment() -> None:
    """Make an already imported Ray see `_ray_environment`'s settings: the app runs several sweeps
    in one process, local and on a cluster, and Ray read the loopback switch and the token mode
    when it was first imported."""
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = (
        os.environ.get(CLUSTER_ENV) != "0" and not ray_constants.IS_WINDOWS_OR_OSX
    )
    with contextlib.suppress(Exception):  # Ray's own refresh when it turns token mode on
        from ray._raylet import Config

        Config.initialize("")


# -- inside a Ray worker: one trial ------------------------------------------------------------------
class _Control:
    """The driver's stop requests, held in a Ray actor that every trial polls: all trials (Stop,
    Ctrl-C) or one (the scheduler's verdict), with the reason its outcome.json will give."""

    def __init__(self) -> None:
        self.all: str | None = None
        self.trials: dict[str, str] = {}

    def stop(self, trial: str | None = None, reason: str = ev.STOP_USER) -> None:
        if trial is None:
            self.all = self.all or reason
        else:
            self.trials.setdefault(trial, reason)

    def query(self, trial: str) -> str | None:
        return self.all or self.trials.get(trial)


class _StopWatcher(threading.Thread):
    """Polls the control actor and stops the trial's session (between batches) when told to."""

    def __init__(self, control, trial: str, stop: Callable[[str], None]) -> None:
        super().__init__(name=f"stop-watcher {trial}", daemon=True)
        self.control, self.trial, self.stop = control, trial, stop
        self.done = threading.Event()

    def run(self) -> None:
        import ray

        while not self.done.wait(POLL_SECONDS):
            try:
                reason = ray.get(self.control.query.remote(self.trial), timeout=30)
            except Exception:  # the driver is gone or busy: its end ends this worker too
                continue
            if reason:
                self.stop(reason)
                return


def _evaluate_again(run_dir: Path, plan, control, trial: str) -> None:
    """A trial trained to its end whose evaluation did not end: its model.pt evaluated as the end
    of its run would have (the sweep's S), written to its evaluation.json."""
    import json

    from .atomic import atomic_write_text
    from .checkpoint import checkpoint_epoch, load_checkpoint
    from .device import resolve_device
    from .runs import read_run
    from .session import evaluate_run

    model, config, _ = load_checkpoint(run_dir / rf.MODEL)
    model = model.to(resolve_device(config.train.device))  # where the run trained and was evaluated
    run = read_run(run_dir)
    seconds = float(sum(run.history.seconds)) if run is not None and len(run.history) else 0.0
    stopped = threading.Event()
    watcher = _StopWatcher(control, trial, lambda reason: stopped.set()) if control is not None else None
    if watcher is not None:
        watcher.start()
    try:
        results = evaluate_run(model, config, _splits_for(config.data), plan, seconds, cancel=stopped.is_set)
    finally:
        if watcher is not None:
            watcher.done.set()
    if results is None:
        return
    results.update(epoch=checkpoint_epoch(run_dir / rf.MODEL), checkpoint=str(run_dir / rf.MODEL))
    with RunFolderLock(run_dir):
        atomic_write_text(run_dir / rf.EVALUATION, json.dumps(results, indent=2) + "\n")


_SPLITS: list = []  # [(DataConfig, Splits)]: the data of this worker's last trial (read only)


def _splits_for(data):
    """The trial's data: loaded once per worker process, since Tune gives a worker trial after
    trial (its actors are reused) and the splits are never written to."""
    from .data import load_splits

    if not _SPLITS or _SPLITS[0][0] != data:
        _SPLITS[:] = [(data, load_splits(data))]
    return _SPLITS[0][1]


def run_trial(
    config: dict[str, Any],
    plans: dict[str, tuple[str, str]],
    control=None,
    figures: FigureWriter | None = None,
    evaluation: tuple[float, int | None] = (0.1, None),
    cuda_graph: bool = True,
) -> None:
    """Tune's function for one trial: `plans[config['trial']]` = (its RunConfig as JSON, its run
    folder). Reports every epoch to Tune; returns when the run has ended."""
    import ray
    from ray import tune

    trial = config["trial"]
    config_json, folder = plans[trial]
    run_dir = Path(folder)
    if control is not None and ray.get(control.query.remote(trial)):
        return  # stopped before it began: it leaves no folder
    state = trial_state(run_dir)
    if state == FINISHED:
        return
    import torch

    from .session import EndOfRunEvaluation, Session

    torch.set_num_threads(1)
    if state == EVALUATE:
        _evaluate_again(run_dir, EndOfRunEvaluation(*evaluation), control, trial)
        return

    def on_event(event: object) -> None:
        if isinstance(event, ev.EpochEnd):
            tune.report(
                {
                    "epoch": event.epoch,
                    "val_nll": event.val_nll,
                    "train_loss": event.train_loss,
                    "epoch_seconds": event.seconds,
                    "best_val": event.best_val,
                    "best_epoch": event.best_epoch,
                }
            )

    run_config = RunConfig.from_json(config_json)
    session = Session(
        [run_config],
        run_dir,
        on_event,
        resume_from=run_dir / "last.pt" if state == RESUME else None,
        splits=_splits_for(run_config.data),
        figures=figures,
        evaluation=EndOfRunEvaluation(*evaluation),
        cuda_graph=cuda_graph,
    )
    watcher = _StopWatcher(control, trial, session.control.stop) if control is not None else None
    if watcher is not None:
        watcher.start()
    try:
        session.run()
    finally:
        if watcher is not None:
            watcher.done.set()
    if session.error is not None:
        raise session.error


# -- the driver ----------------------------------------------------------------------------------------
class SweepRunner:
    """Runs one sweep into `out_dir`, emitting core.sweep_events; `stop()` from any thread."""

    def __init__(
        self,
        spec: SweepSpec,
        out_dir: str | Path,
        on_event: SweepSink | None = None,
        options: SweepOptions | None = None,
        figures: FigureWriter | None = None,
    ) -> None:
        options = options or SweepOptions()
        spec = spec.materialised()
        if options.resume:  # the scheduler it started with, unless another is asked for
            options = replace(
                options,
                scheduler=options.scheduler or spec.scheduler,
                asha_grace=options.asha_grace or spec.asha_grace,
            )
        else:  # kept in sweep.json: it is part of what the sweep runs
            spec = replace(spec, scheduler=options.scheduler, asha_grace=options.asha_grace)
        self.spec = spec
        self.trials = self.spec.trials()  # ConfigError here, before anything starts
        if not options.resume:  # a saved sweep goes on as it was saved
            for trial in self.trials:
                check_new_run(trial.config)
        self.out_dir = Path(out_dir).absolute()
        self.on_event = on_event or (lambda event: None)
        self.options = options
        self.figures = figures
        self._stop = threading.Event()
        self._state = None  # the Tune side's shared state while Tune runs
        self.error: BaseException | None = None
        self.ray_seconds: float | None = None

    @property
    def workers(self) -> int | None:
        if self.options.workers is not None:
            return self.options.workers
        return None if self.options.address else max(1, os.cpu_count() or 1)

    def stop(self) -> None:
        self._stop.set()
        if self._state is not None:
            self._state.stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> list:
        """Train the sweep's (unfinished) trials and write its results; returns the TrialResults."""
        lock = RunFolderLock(self.out_dir)
        lock.acquire()  # RunFolderBusy: another sweep (or run) writes here
        try:
            return self._run()
        finally:
            lock.release()

    def _run(self) -> list:
        out = self.out_dir
        if not self.options.resume:
            if is_sweep_folder(out):
                raise SweepError(
                    f"{out} already holds a sweep; continue it with --resume or choose another folder"
                )
            held = [name for name in (rf.CONFIG, rf.MODEL, rf.LAST, rf.METRICS) if (out / name).exists()]
            if held or any(out.glob("lr_*")):  # the browser and the report would see one or the other
                what = held[0] if held else next(out.glob("lr_*")).name
                raise SweepError(f"{out} already holds a run ({what}); choose another folder for the sweep")
            taken = [t.id for t in self.trials if os.path.lexists(t.folder(out))]
            if taken:
                raise SweepError(f"{out} already holds a folder named like a trial ({taken[0]})")
            self.spec.save(out)
            pending = list(self.trials)
        else:
            linked = [t.id for t in self.trials if os.path.islink(t.folder(out))]
            if linked:  # a trial is never written through a link: it would replace what it points to
                raise SweepError(
                    f"{out / linked[0]} is a symbolic link; a trial is never written through a link: "
                    "remove it (the trial then runs afresh)"
                )
            pending = [t for t in self.trials if trial_state(t.folder(out)) != FINISHED]
        self.on_event(
            se.SweepStarted(
                str(out),
                tuple(self.trials),
                tuple(t.id for t in pending),
                self.workers,
                self.options.address,
                self.spec.plan_text(self.workers),
                self.options.resume,
            )
        )
        failure = None
        if pending and not self.stopped:
            try:
                self._tune(pending)
            except Exception as exc:
                self.error = exc
                failure = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        results = collect(out, self.spec)
        written = write_results(out, self.spec, results)
        lines = tuple(c.text() for c in compare(results, self.spec) if c.figure == "test_nll")
        self.on_event(se.SweepFinished(self.stopped, failure, tuple(map(str, written)), lines))
        return results

    # -- Ray ------------------------------------------------------------------------------------------
    def _start_ray(self) -> bool:
        """Start a local instance on loopback, or join the cluster; True when this call started it."""
        import ray

        if ray.is_initialized():
            return False
        started = time.perf_counter()
        env = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), "OMP_NUM_THREADS": "1"}
        common = {"log_to_driver": False, "runtime_env": {"env_vars": env}, "configure_logging": False}
        address = self.options.address
        _ray_read_environment()
        with _signal_handlers_kept():
            self._init_ray(ray, address, common)
        self.ray_seconds = time.perf_counter() - started
        gcs = ray.get_runtime_context().gcs_address
        if not address and not is_loopback(gcs):
            ray.shutdown()
            raise SweepError(
                f"the local Ray instance did not stay on {LOOPBACK} (it listens on {gcs}); not used"
            )
        self.on_event(se.RayReady(self.ray_seconds, gcs))
        return True

    def _init_ray(self, ray, address: str | None, common: dict) -> None:
        if address:
            extra = {"_node_ip_address": LOOPBACK} if is_loopback(address) else {}
            ray.init(address=address, **common, **extra)
        else:
            ray.init(
                address="local",
                num_cpus=self.workers,
                _node_ip_address=LOOPBACK,
                include_dashboard=False,
                object_store_memory=128 * 1024 * 1024,
                **common,
            )

    def _tune(self, pending: list[TrialPlan]) -> None:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C is the front end's: a clean stop
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        _ray_environment(self.options.address)
        import ray

        # the sweep's events say what happens (a trial's worker died, it starts again); Ray's own
        # warnings and Tune's tracebacks of those would bury them. Ray's errors still show. (Ray
        # sets up its loggers as it is imported.)
        logging.getLogger("ray").setLevel(logging.ERROR)
        logging.getLogger("ray.tune.execution.tune_controller").setLevel(logging.CRITICAL)

        started_here = self._start_ray()
        storage = tempfile.mkdtemp(prefix="vae-explorer-tune-")
        try:
            self._fit(pending, storage)
        finally:
            shutil.rmtree(storage, ignore_errors=True)
            if started_here:
                ray.shutdown()

    def _fit(self, pending: list[TrialPlan], storage: str) -> None:
        import ray

        from .sweep_tune import LIVE, SweepState

        control = ray.remote(num_cpus=0)(_Control).remote()
        state = SweepState(self, control)
        LIVE[state.key] = state
        self._state = state
        if self.stopped:
            state.stop.set()
        try:
            self._fit_with(state, pending, storage)
        finally:
            LIVE.pop(state.key, None)

    def _fit_with(self, state, pending: list[TrialPlan], storage: str) -> None:
        from ray import tune

        from .sweep_tune import IdleStopper, Pruner, SweepCallback

        control = state.control
        plans = {t.id: (t.config.to_json(), str(t.folder(self.out_dir))) for t in self.trials}
        resources: dict[str, float] = {"cpu": 1}
        if any(t.config.train.device == "cuda" for t in pending):
            resources["gpu"] = 1
        trainable = tune.with_resources(
            tune.with_parameters(
                run_trial,
                plans=plans,
                control=control,
                figures=self.figures,
                evaluation=(self.spec.eval_budget, self.spec.eval_iw_samples),
                cuda_graph=self.options.cuda_graph,
            ),
            resources,
        )
        max_epochs = {t.id: t.config.train.epochs for t in pending}
        scheduler = None
        if self.options.scheduler == "asha":
            max_t = max(max_epochs.values())
            grace = self.options.asha_grace or max(1, max_t // 10)
            scheduler = Pruner(
                state.key,
                max_epochs,
                time_attr="epoch",
                metric="val_nll",
                mode="min",
                max_t=max_t,
                grace_period=min(grace, max_t),
                reduction_factor=self.options.asha_reduction,
                stop_last_trials=False,
            )
        elif self.options.scheduler is not None:
            raise SweepError(f"unknown scheduler {self.options.scheduler!r}: asha, or none")
        callback = SweepCallback(state.key)
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search([t.id for t in pending])},
            tune_config=tune.TuneConfig(
                scheduler=scheduler,
                max_concurrent_trials=self.workers,
                reuse_actors=True,  # a worker's next trial skips starting Python, torch and the data
                trial_name_creator=lambda trial: trial.config["trial"],
                trial_dirname_creator=lambda trial: trial.config["trial"],
            ),
            run_config=tune.RunConfig(
                name=f"sweep-{int(time.time())}",
                storage_path=storage,
                failure_config=tune.FailureConfig(max_failures=self.options.max_failures),
                callbacks=[callback],
                stop=IdleStopper(state.key),
                verbose=0,
                log_to_file=False,
            ),
        )
        tuner.fit()
