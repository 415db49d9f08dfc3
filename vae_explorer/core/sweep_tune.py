"""The driver's side of a sweep inside Ray Tune: its callback, stopper and scheduler.

Tune pickles these objects into its experiment state (for a restore this project never does: a
resumed sweep reads its own folders), so they are module-level classes that hold only the key of
the running sweep's `SweepState` in `LIVE`, never the state itself (locks, the runner).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from . import events as ev
from . import sweep_events as se
from .sweep_results import trial_result


class SweepState:
    """What the callback, the stopper and the scheduler share with the runner (core.sweep_ray)."""

    def __init__(self, runner: Any, control: Any) -> None:
        self.runner = runner
        self.control = control  # the Ray actor that the trials poll for stop requests
        self.stop = threading.Event()
        self.forwarded = False  # the stop request has reached the control actor
        self.running = 0  # trials whose function runs, as of Tune's last step
        self.key = f"{id(self)}-{time.monotonic_ns()}"


LIVE: dict[str, SweepState] = {}


class Pruner(ASHAScheduler):
    """ASHA whose 'stop' becomes a request to the trial, which ends itself at its next batch with the
    reason 'stopped by scheduler' (best model kept, outcome.json saying so); Tune is told to go on,
    so nothing is killed mid-write. A verdict on a trial's last epoch is no verdict: it ends there."""

    def __init__(self, key: str, max_epochs: dict[str, int], **asha: Any) -> None:
        super().__init__(**asha)
        self.key = key
        self.max_epochs = dict(max_epochs)
        self.pruned: list[str] = []

    def on_trial_result(self, tune_controller, trial, result):
        decision = super().on_trial_result(tune_controller, trial, result)
        name = trial.config.get("trial")
        last = result.get("epoch", 0) >= self.max_epochs.get(name, 0)
        if decision == TrialScheduler.STOP and not last and name not in self.pruned:
            self.pruned.append(name)
            state = LIVE.get(self.key)
            if state is not None:
                state.control.stop.remote(name, ev.STOP_SCHEDULER)
        return TrialScheduler.CONTINUE


class IdleStopper(tune.Stopper):
    """Ends the experiment once a stop was asked for and no trial runs any more, so that trials still
    waiting for a worker never start; it never stops a running trial."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        state = LIVE.get(self.key)
        return state is not None and state.stop.is_set() and state.forwarded and state.running == 0


def _error_line(trial) -> str:
    """The last line of what ended a trial (its worker died, an exception in the trial)."""
    with contextlib.suppress(Exception):
        error = trial.get_error()
        if error is not None:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            return lines[-1][:300] if lines else type(error).__name__
    return "it ended unexpectedly (its worker process died?)"


class SweepCallback(tune.Callback):
    """Forwards a stop request to the trials, and turns Tune's news into core.sweep_events."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _emit(self, event: object) -> None:
        state = LIVE.get(self.key)
        if state is not None:
            state.runner.on_event(event)

    def _ended(self, trial, message: str | None = None) -> None:
        state = LIVE.get(self.key)
        if state is None:
            return
        runner = state.runner
        name = trial.config["trial"]
        plan = next(t for t in runner.trials if t.id == name)
        result = trial_result(plan, plan.folder(runner.out_dir))
        status = result.status if message is None else "failed"
        self._emit(se.TrialEnded(name, status, result.reason, dict(result.figures), message))

    def on_step_begin(self, iteration, trials, **info):
        state = LIVE.get(self.key)
        if state is None:
            return
        state.running = sum(1 for t in trials if t.status == "RUNNING")
        if state.stop.is_set() and not state.forwarded:
            import ray

            ray.get(state.control.stop.remote(None, ev.STOP_USER))
            state.forwarded = True

    def on_trial_start(self, iteration, trials, trial, **info):
        self._emit(se.TrialStarted(trial.config["trial"], trial.num_failures + 1))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "epoch" not in result:
            return
        self._emit(
            se.TrialEpoch(
                trial.config["trial"],
                int(result["epoch"]),
                float(result["train_loss"]),
                float(result["val_nll"]),
                float(result["epoch_seconds"]),
                float(result["best_val"]),
                int(result["best_epoch"]),
            )
        )

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._emit(se.TrialRetried(trial.config["trial"], trial.num_failures + 1, _error_line(trial)))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ended(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._ended(trial, _error_line(trial))
