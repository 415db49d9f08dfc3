"""The run-folder writer: every file of a run, written from the run's events, each atomically.

Files: config.json (at the start), metrics.csv (each epoch), model.pt (each new best: weights,
settings and metrics), last.pt (each epoch: also the optimiser and generator states, to resume
from), test_loss.txt, outcome.json and the figures (at the end), evaluation.json (when the run was evaluated). Figures are drawn by a `FigureWriter` that the
front end passes in, because drawing needs a plotting library and `core` does not import one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import events as ev
from . import runfiles as rf
from .atomic import atomic_write_text
from .checkpoint import HISTORY_FIELDS, checkpoint_epoch, save_checkpoint
from .config import RunConfig
from .epochlog import WEIGHTS_FILE, metric_columns, weights_csv
from .runlock import is_plain_file
from .runs import OUTCOME_FILE, outcome_record

# figures(run_dir, config, best weights, real test images (uint8, N x pixels), history) -> files
FigureWriter = Callable[
    [Path, RunConfig, dict[str, torch.Tensor], torch.Tensor, list[dict[str, float]]], list[Path]
]
METRIC_FIELDS = HISTORY_FIELDS  # the columns of metrics.csv
# the figures a run folder holds (drawn by the front end's FigureWriter), each in both formats
RUN_FIGURES = ("real_images", "generated_images", "nll_val_curve")
FIGURE_FORMATS = (".png", ".pdf")
RUN_FIGURE_FILES = tuple(f"{name}{suffix}" for name in RUN_FIGURES for suffix in FIGURE_FORMATS)
# what a run's end writes: a resumed run removes these of the run it continues as it starts, so
# that nobody reads the earlier run's outcome, figures or test nll as the new run's
RESULT_FILES = (OUTCOME_FILE, rf.EVALUATION, rf.TEST_LOSS, *RUN_FIGURE_FILES)


def metrics_csv(history: list[dict[str, float]]) -> str:
    """METRIC_FIELDS, and the bound's parts where the rows have them (core.epochlog); the weights
    go to weights.csv."""
    buf = io.StringIO()
    columns = metric_columns(METRIC_FIELDS, history)
    writer = csv.DictWriter(
        buf, fieldnames=columns, lineterminator="\n", restval="nan", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(history)
    return buf.getvalue()


class RunFolderWriter:
    """Consumes one run's events (on the engine's thread) and keeps its folder up to date."""

    def __init__(
        self, run_dir: Path, figures: FigureWriter | None = None, real_images: torch.Tensor | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.figures = figures
        self.real_images = real_images
        self.config: RunConfig | None = None
        self.history: list[dict[str, float]] = []
        self.best_weights: dict[str, torch.Tensor] | None = None  # set by the trainer when resumed
        self.written: list[Path] = []
        self.device: str | None = None  # where the run trains, as RunStarted says
        self.step: str | None = None  # how its steps run, as StepChosen says

    def on_event(self, event: object) -> None:
        if isinstance(event, ev.RunStarted):
            self.config = event.config
            self.device = event.device
            self.history = [dict(h) for h in event.history]
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.history:
                self.invalidate_results()
            self._text(rf.CONFIG, event.config.to_json() + "\n")
            best = min(self.history, key=lambda h: h["val_nll"]) if self.history else None
            held = checkpoint_epoch(self.run_dir / rf.MODEL)
            if self.best_weights is not None and best is not None and (held is None or held < best["epoch"]):
                # resumed into another folder, or killed between last.pt and model.pt: the best
                # model so far goes into model.pt. One of a later epoch (last.pt could not be
                # written, model.pt could) is left alone: the run redoes that epoch.
                epoch = int(best["epoch"])
                metrics = {
                    "history": [dict(h) for h in self.history if h["epoch"] <= epoch],
                    "best_val": best["val_nll"],
                    "best_epoch": epoch,
                    "stale_epochs": 0,
                    "epoch": epoch,
                }
                self._checkpoint(rf.MODEL, self.best_weights, metrics)
            if self.history:
                self._history_files()
        elif isinstance(event, ev.StepChosen):
            self.step = event.text()
        elif isinstance(event, ev.EpochEnd):
            self.history.append(event.record())
            self._history_files()
        elif isinstance(event, ev.NewBest):
            self.best_weights = event.weights
            metrics = {
                "history": [dict(h) for h in self.history if h["epoch"] <= event.epoch],
                "best_val": event.val_nll,
                "best_epoch": event.epoch,
                "stale_epochs": 0,
                "epoch": event.epoch,
            }
            self._checkpoint(rf.MODEL, event.weights, metrics)
        elif isinstance(event, ev.TrainingState):
            self._checkpoint(rf.LAST, event.weights, event.metrics, event.optimizer, event.rng)
        elif isinstance(event, ev.RunFinished):
            if event.test_nll is not None:
                self._text(rf.TEST_LOSS, f"{event.test_nll:.4f}\n")
            record = outcome_record(event, device=self.device, training_step=self.step)
            self._text(OUTCOME_FILE, json.dumps(record, indent=2) + "\n")
            drawable = self.best_weights is not None and self.real_images is not None
            if event.checkpoint and self.figures is not None and self.config is not None and drawable:
                self.written += self.figures(
                    self.run_dir, self.config, self.best_weights, self.real_images, self.history
                )

        elif isinstance(event, ev.Evaluated):
            self._text(rf.EVALUATION, json.dumps(event.results, indent=2) + "\n")

    def invalidate_results(self) -> None:
        """Remove the end-of-run results (outcome, evaluation, test nll, figures) of the run this
        one continues: until it ends, the folder reads as a run in progress (or, killed, as an
        unfinished one), never as done with the earlier figures. Regular files only: a symbolic
        link of that name is not ours."""
        for name in RESULT_FILES:
            path = self.run_dir / name
            if is_plain_file(path):
                path.unlink(missing_ok=True)

    def _history_files(self) -> None:
        """metrics.csv, and weights.csv when the epochs carry the prior's weights."""
        self._text(rf.METRICS, metrics_csv(self.history))
        weights = weights_csv(self.history)
        if weights is not None:
            self._text(WEIGHTS_FILE, weights)

    def _text(self, name: str, text: str) -> None:
        self.written.append(atomic_write_text(self.run_dir / name, text))

    def _checkpoint(
        self,
        name: str,
        weights: dict[str, torch.Tensor],
        metrics: dict[str, Any],
        optimizer: dict[str, Any] | None = None,
        rng: dict[str, torch.Tensor] | None = None,
    ) -> None:
        assert self.config is not None, "a run's first event is RunStarted"
        self.written.append(
            save_checkpoint(self.run_dir / name, weights, self.config, metrics, optimizer, rng)
        )
