"""The training loop: early stopping on validation nll, best-model keeping, events, stop/pause."""

from __future__ import annotations

import csv
import io
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import events as ev
from .checkpoint import (
    HISTORY_FIELDS,
    CheckpointError,
    load_model_state,
    read_checkpoint,
    run_config_of,
    save_checkpoint,
)
from .config import ConfigError, RunConfig
from .data import TEST_BINARISE_SEED, VAL_BINARISE_SEED, Splits, TrainBatches, model_input
from .evaluate import negative_elbo
from .model import VAE
from .optim import StepInBackward, supports

EventSink = Callable[[object], None]
METRIC_FIELDS = HISTORY_FIELDS  # the columns of metrics.csv


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without it is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA device is available")
    return torch.device(name)


def device_memory(device: torch.device) -> int | None:
    """Bytes of memory on `device` (physical RAM for the CPU), or None where it cannot be told."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_model_fits(config: RunConfig, device: torch.device) -> None:
    """Refuse a model whose weights, gradients and optimiser state (4 copies) exceed the device's
    memory, before allocating any of it: counted on torch's 'meta' device, which stores nothing."""
    try:
        with torch.device("meta"):
            count = sum(p.numel() for p in VAE(config.model).parameters())
    except RuntimeError:  # sizes past what a tensor can index
        raise ConfigError(f"the model is too large: its parameters cannot even be counted "
                          f"(hidden={config.model.hidden}, latent_dim={config.model.latent_dim})") from None
    need, have = 4 * count * 4, device_memory(device)
    if have is not None and need > have:
        raise ConfigError(f"the model has {count:,} parameters: with gradients and optimiser state "
                          f"that is {need / 2**30:,.1f} GiB, more than the {have / 2**30:,.1f} GiB of "
                          f"the {device.type} device (lower --hidden or --latent-dim)")


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adamax":
        return torch.optim.Adamax(params, lr=lr, foreach=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, foreach=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    raise ConfigError(f"unknown optimizer {name!r}")


class Trainer:
    """Trains one VAE for one configuration. Thread-safe controls: stop(), pause(), resume()."""

    def __init__(
        self,
        config: RunConfig,
        splits: Splits,
        out_dir: str | Path | None = None,
        on_event: EventSink | None = None,
        resume_from: str | Path | None = None,
    ) -> None:
        self.config = config.validate()
        self.device = resolve_device(config.train.device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.on_event = on_event or (lambda event: None)
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._paused_seconds = 0.0
        check_model_fits(config, self.device)
        torch.manual_seed(config.train.seed)
        self.model = VAE(config.model).to(self.device)
        self.optimizer = make_optimizer(config.train.optimizer, self.model.parameters(), config.train.lr)
        # On the CPU each parameter is updated inside backward while it is still in cache (see
        # core.optim); on a GPU the foreach optimiser step after backward is the faster one.
        self._in_backward = (
            StepInBackward(self.optimizer)
            if self.device.type == "cpu" and supports(self.optimizer)
            else None
        )
        lik = config.model.likelihood
        self.batches = TrainBatches(splits.train_images.to(self.device), config.train.batch_size, lik)
        self.val = model_input(splits.val_images.to(self.device), lik, VAL_BINARISE_SEED)
        self.test = model_input(splits.test_images.to(self.device), lik, TEST_BINARISE_SEED)
        self.history: list[dict[str, float]] = []
        self.best_val = math.inf
        self.best_epoch = 0
        self.stale_epochs = 0
        self.start_epoch = 1
        self._best_state: dict[str, torch.Tensor] | None = None
        if resume_from is not None:
            self._resume(resume_from)

    # -- controls, callable from any thread -------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> ev.RunFinished:
        try:
            return self._run()
        except Exception as exc:
            self.on_event(ev.RunError(f"{type(exc).__name__}: {exc}"))
            raise

    def _run(self) -> ev.RunFinished:
        self._write_config()
        total = len(self.batches)
        self.on_event(ev.RunStarted(self.config.train.lr, str(self.device), total, self.start_epoch))
        report_every = max(1, total // 100)
        reason, epoch = ev.STOP_MAX_EPOCHS, self.start_epoch - 1
        for epoch in range(self.start_epoch, self.config.train.epochs + 1):
            started, self._paused_seconds = time.perf_counter(), 0.0
            self.model.train()
            loss_sum, seen = torch.zeros((), device=self.device), 0
            interrupted = diverged = False
            for i, x in enumerate(self.batches, 1):
                if not self._wait_if_paused():
                    interrupted = True
                    break
                loss = self.train_step(x)
                loss_sum += loss * len(x)
                seen += len(x)
                if i % report_every == 0 or i == total:
                    if not math.isfinite(float(loss)):
                        diverged = True
                        break
                    self.on_event(ev.BatchProgress(epoch, i, total))
            if interrupted:
                reason, epoch = ev.STOP_USER, epoch - 1
                break
            train_loss = float(loss_sum) / max(seen, 1)
            if diverged or not math.isfinite(train_loss):
                reason = ev.STOP_DIVERGED
                break
            val_nll = negative_elbo(self.model, self.val)
            if not math.isfinite(val_nll):
                reason = ev.STOP_DIVERGED
                break
            seconds = time.perf_counter() - started - self._paused_seconds  # training time only
            self.history.append(
                {"epoch": epoch, "train_loss": train_loss, "val_nll": val_nll, "seconds": seconds}
            )
            improved = val_nll < self.best_val
            if improved:
                self.best_val, self.best_epoch, self.stale_epochs = val_nll, epoch, 0
                self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                self.stale_epochs += 1
            self._write_metrics()
            self.on_event(ev.EpochEnd(epoch, train_loss, val_nll, seconds, self.best_val, self.best_epoch))
            if improved:
                path = self._save("model.pt")
                self.on_event(ev.NewBest(epoch, val_nll, str(path) if path else None))
            self._save("last.pt")
            if self.stale_epochs >= self.config.train.patience:
                reason = ev.STOP_EARLY
                break
            if self._stop.is_set():
                reason = ev.STOP_USER
                break
        return self._finish(reason, epoch)

    def train_step(self, x: torch.Tensor) -> torch.Tensor:
        """One optimiser step on the batch `x`; returns the batch's mean negative ELBO (detached)."""
        loss = self.model(x, reduction="mean")
        if self._in_backward is not None:
            loss.backward()  # the parameters are updated as their gradients arrive
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return loss.detach()

    def _wait_if_paused(self) -> bool:
        """Block while paused; False when a stop was requested. Time spent paused is added to
        self._paused_seconds, which the epoch's timing leaves out."""
        if not self._running.is_set():
            since = time.perf_counter()
            while not self._running.wait(0.1):
                pass
            self._paused_seconds += time.perf_counter() - since
        return not self._stop.is_set()

    def _finish(self, reason: str, epoch: int) -> ev.RunFinished:
        test_nll = None
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
            if len(self.test):
                test_nll = negative_elbo(self.model, self.test)
                if self.out_dir is not None:
                    (self.out_dir / "test_loss.txt").write_text(f"{test_nll:.4f}\n")
        ckpt = self.out_dir / "model.pt" if self.out_dir and self._best_state is not None else None
        done = ev.RunFinished(reason, epoch if reason != ev.STOP_DIVERGED else epoch - 1,
                              self.best_epoch, self.best_val, test_nll, str(ckpt) if ckpt else None)
        self.on_event(done)
        return done

    # -- files ----------------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "stale_epochs": self.stale_epochs,
            "epoch": self.history[-1]["epoch"] if self.history else 0,
        }

    def _save(self, name: str) -> Path | None:
        if self.out_dir is None:
            return None
        metrics = self.metrics()
        if name == "model.pt":
            metrics["epoch"] = self.best_epoch
            metrics["history"] = [h for h in self.history if h["epoch"] <= self.best_epoch]
            metrics["stale_epochs"] = 0
        return save_checkpoint(self.out_dir / name, self.model, self.config, metrics,
                               self.optimizer.state_dict())

    def _check_resumable(self, path: str | Path, payload: dict[str, Any]) -> None:
        """The checkpoint's model and optimiser must be this run's: say which setting differs."""
        saved = run_config_of(payload, path)
        pairs = [(f"model {name}", getattr(saved.model, name), getattr(self.config.model, name))
                 for name in saved.model.__dataclass_fields__]
        pairs.append(("optimizer", saved.train.optimizer, self.config.train.optimizer))
        differ = [f"{name} {old!r} -> {new!r}" for name, old, new in pairs if old != new]
        if differ:
            raise CheckpointError(f"cannot resume from {path}: this run changes the checkpoint's "
                                  + ", ".join(differ))

    def _write_config(self) -> None:
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(self.config.to_json() + "\n")

    def _write_metrics(self) -> None:
        if self.out_dir is None:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        tmp = self.out_dir / ".metrics.csv.tmp"
        tmp.write_text(buf.getvalue())
        tmp.replace(self.out_dir / "metrics.csv")

    def _resume(self, path: str | Path) -> None:
        payload = read_checkpoint(path)
        self._check_resumable(path, payload)
        load_model_state(self.model, payload["model"], path)
        try:
            if "optimizer" in payload:
                self.optimizer.load_state_dict(payload["optimizer"])
                for group in self.optimizer.param_groups:  # a resumed run may go on at a new rate
                    group["lr"] = self.config.train.lr
                if self._in_backward is not None and not supports(self.optimizer):
                    # the saved options (say, weight decay) are beyond the in-backward rules
                    self._in_backward.remove()
                    self._in_backward = None
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{path} does not fit this configuration: {exc}") from None
        m = payload.get("metrics", {})
        self.history = [dict(h) for h in m.get("history", [])]
        self.best_val = float(m.get("best_val", math.inf))
        self.best_epoch = int(m.get("best_epoch", 0))
        self.stale_epochs = int(m.get("stale_epochs", 0))
        self.start_epoch = int(m.get("epoch", 0)) + 1
        if self.history:
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if self.best_epoch != self.start_epoch - 1:
                # resumed from the last state: the best weights are in model.pt beside it, if any
                best = Path(path).with_name("model.pt")
                if best.is_file() and best != Path(path):
                    self._best_state = {k: v.to(self.device) for k, v in read_checkpoint(best)["model"].items()}

