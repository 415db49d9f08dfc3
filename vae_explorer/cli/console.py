"""What the CLI prints while it trains or evaluates: the run's log from the engine's events, a
progress bar on a terminal, and lines that survive a closed pipe."""

from __future__ import annotations

import contextlib
import os
import sys

from vae_explorer.core.config import RunConfig, format_lr
from vae_explorer.core.metrics import summary_line


class EventPrinter:
    """Prints the engine's events as the run's log: a line per epoch, a progress bar on a terminal."""

    def __init__(self, runs: int) -> None:
        self.several = runs > 1
        self.progress = TerminalProgress(sys.stderr)
        self.batch_size = 0

    def __call__(self, event: object) -> None:
        from vae_explorer.core import events as ev

        if isinstance(event, ev.RunStarted):
            if self.several:
                say(f"== learning rate {format_lr(event.lr)} -> {event.run_dir}")
            batch = min(event.config.train.batch_size, train_images(event.config))
            say(
                f"training on {event.device}: {event.batches_per_epoch} batches of {batch} per epoch, "
                f"lr={format_lr(event.lr)}"
            )
        elif isinstance(event, ev.StepChosen):
            say(f"training step: {event.text()}")
        elif isinstance(event, ev.BatchProgress):
            self.progress.update(event.epoch, event.batch, event.total)
        elif isinstance(event, ev.EpochEnd):
            self.progress.clear()
            say(
                f"epoch {event.epoch}  val nll={event.val_nll:.2f}  best={event.best_val:.2f}  "
                f"{event.seconds:.1f}s"
            )
        elif isinstance(event, ev.RunFinished):
            self.progress.clear()
            test = f"{event.test_nll:.4f}" if event.test_nll is not None else "n/a"
            say(
                f"finished ({event.reason}) after {event.epochs} epochs; best epoch {event.best_epoch}, "
                f"best val nll={event.best_val:.4f}, test nll={test}"
            )
            if event.reason == ev.STOP_DIVERGED:
                kept = (
                    "the best checkpoint so far is kept"
                    if event.checkpoint
                    else "it had no validated epoch, so there is no checkpoint"
                )
                warn(f"warning: run {event.run + 1} diverged (non-finite loss); {kept}")
        elif isinstance(event, ev.EvaluationProgress):
            self.progress.show(f"evaluating: {event.stage}", event.done, event.total)
        elif isinstance(event, ev.Evaluated):
            self.progress.clear()
            if "error" not in event.results:
                say(f"evaluation: {summary_line(event.results)}")
            for note in event.results.get("notes", []):
                warn(f"note: {note}")
        elif isinstance(event, ev.QueueFinished) and event.written:
            say(f"wrote {event.written[0]} and .pdf")


def train_images(config: RunConfig) -> int:
    """How many training images a run sees (a batch is never larger)."""
    from vae_explorer.core.data import TRAIN_SIZE

    limit = config.data.limit_train
    return TRAIN_SIZE if limit is None else min(limit, TRAIN_SIZE)


def say(text: str, stream=None) -> None:
    """Print a line of the run's log (on stdout, or `stream`). A closed pipe (`... | head`) or a
    terminal that hung up must not end the training: output then goes nowhere and the run still
    saves its model, evaluation and figures."""
    stream = stream or sys.stdout
    try:
        print(text, file=stream, flush=True)
    except OSError:  # a closed pipe, or a terminal that hung up (EIO)
        _to_devnull(stream)


def warn(text: str) -> None:
    """A line on stderr (a warning, a note, an error), as `say` writes stdout."""
    say(text, sys.stderr)


def _to_devnull(stream) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


class TerminalProgress:
    """A one-line progress bar within an epoch, drawn only when the stream is a terminal."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.enabled = hasattr(stream, "isatty") and stream.isatty()
        self.shown = False

    def update(self, epoch: int, batch: int, total: int) -> None:
        self.show(f"epoch {epoch}", batch, total)

    def show(self, what: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        self._write(f"\r{what} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.shown = self.enabled

    def clear(self) -> None:
        if self.shown:
            self._write("\r" + " " * 70 + "\r")
            self.shown = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # the terminal hung up: no more bar, and the run goes on
            self.enabled = False
            _to_devnull(self.stream)
