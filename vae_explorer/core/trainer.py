"""One training run: early stopping on validation nll, best-model keeping, events, stop/pause.

The trainer computes; it writes no file itself. With a run folder it hands its events to a
`RunFolderWriter` first, then to the caller's sink, so that a model.pt named in an event exists.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import events as ev
from . import runfiles as rf
from .checkpoint import CheckpointError, check_state_fits, load_model_state, read_checkpoint
from .config import RunConfig, prior_kind
from .control import Controlled, RunControl
from .data import TEST_BINARISE_SEED, VAL_BINARISE_SEED, Splits, TrainBatches, model_input
from .device import describe_device, resolve_device
from .distributions import normal_noise
from .evaluate import elbo_terms, negative_elbo
from .graphstep import CapturedStep, CaptureError
from .memory import KMEANS_IMAGES, check_model_fits
from .model import new_model
from .optim import StepInBackward, adopt_device_options, device_options, make_optimizer, supports
from .resume import check_optimizer_options, check_resumable
from .runfolder import FigureWriter, RunFolderWriter
from .schedule import Plateau, cosine_factor

EventSink = Callable[[object], None]


def train_rng_key(device: torch.device) -> str:
    """The name of the run's generator state in a checkpoint; a CPU and a CUDA generator's states
    are not interchangeable, so a run resumed on another device draws afresh."""
    return f"train-{device.type}"


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _eager_reason(on_gpu: bool, cuda_graph: bool, in_backward: bool, config: RunConfig) -> str:
    """Why a run's steps run eagerly from the start (its log line says it)."""
    if not on_gpu:
        return (
            "on the CPU each parameter is updated inside backward"
            if in_backward
            else "on the CPU, an optimiser step after backward"
        )
    if not cuda_graph:
        return "CUDA graphs turned off"
    if config.train.schedule != "constant":
        return f"the {config.train.schedule} schedule changes the learning rate at every step"
    return f"fewer training images than one batch of {config.train.batch_size}, so nothing to capture"


class Trainer(Controlled):
    """Trains one VAE for one configuration; all its random draws come from its own generators."""

    def __init__(
        self,
        config: RunConfig,
        splits: Splits,
        run_dir: str | Path | None = None,
        on_event: EventSink | None = None,
        resume_from: str | Path | None = None,
        *,
        index: int = 0,
        control: RunControl | None = None,
        figures: FigureWriter | None = None,
        cuda_graph: bool = True,
        accept_unchecked: bool = False,
    ) -> None:
        """`cuda_graph`: on a CUDA device, capture the training step in a CUDA graph (falling back
        to eager steps where capture fails); False runs it eagerly. The CPU always runs eagerly.
        `accept_unchecked`: resume from a checkpoint older than the whole-content checksum."""
        self.config = config.validate()
        self.index = index
        self.device = resolve_device(config.train.device)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.control = control or RunControl()
        sink = on_event or (lambda event: None)
        if self.run_dir is not None:
            self.writer: RunFolderWriter | None = RunFolderWriter(self.run_dir, figures, splits.test_images)
            writer = self.writer

            def chained(event: object) -> None:
                writer.on_event(event)
                sink(event)

            self.on_event: EventSink = chained
        else:
            self.writer = None
            self.on_event = sink
        check_model_fits(config, self.device)
        seed = config.train.seed
        self.model = new_model(config.model, torch.Generator().manual_seed(seed)).to(self.device)
        # the run's draws: shuffles, binarisations and the reparameterisation noise
        self.generator = torch.Generator(self.device).manual_seed(seed)
        on_gpu = self.device.type == "cuda"
        capture = (
            on_gpu
            and cuda_graph
            and len(splits.train_images) >= config.train.batch_size
            and config.train.schedule == "constant"  # a captured step bakes its rate in
        )
        self.optimizer = make_optimizer(
            config.train.optimizer, self.model.parameters(), config.train.lr, capturable=capture
        )
        # On the CPU each parameter is updated inside backward while it is still in cache (see
        # core.optim); on a GPU the whole step is one captured graph, or else a foreach step.
        self._in_backward = (
            StepInBackward(self.optimizer) if not on_gpu and supports(self.optimizer) else None
        )
        self._graph: CapturedStep | None = (
            CapturedStep(
                self.model, self.optimizer, config.train.batch_size, weighted=config.train.kl_warmup > 0
            )
            if capture
            else None
        )
        self._step_reason = _eager_reason(on_gpu, cuda_graph, self._in_backward is not None, config)
        self.step_choice: ev.StepChosen | None = None  # how steps run, from the start of run()
        lik = config.model.likelihood
        self.batches = TrainBatches(
            splits.train_images.to(self.device), config.train.batch_size, lik, self.generator
        )
        self.val = model_input(splits.val_images.to(self.device), lik, VAL_BINARISE_SEED)
        self.test = model_input(splits.test_images.to(self.device), lik, TEST_BINARISE_SEED)
        self.history: list[dict[str, float]] = []
        self.best_val = math.inf
        self.best_epoch = 0
        self.stale_epochs = 0
        self.start_epoch = 1
        self._steps = 0  # optimiser steps taken (the KL warm-up and the schedule follow them)
        self.plateau = Plateau()  # the plateau schedule's state (unused by the others)
        self._last_state_written = -math.inf  # time.monotonic() of the last TrainingState
        # a validated epoch's state that the throttle (checkpoint_seconds) did not write yet: a copy,
        # written if the run stops or diverges before the next validated epoch
        self._unwritten: ev.TrainingState | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None  # a CPU copy
        self.resumed_exactly = False
        self.accept_unchecked = accept_unchecked
        if resume_from is not None:
            self._resume(resume_from)
            if self.writer is not None:
                self.writer.best_weights = self.best_weights

    @property
    def checkpoint_path(self) -> str | None:
        return str(self.run_dir / rf.MODEL) if self.run_dir is not None else None

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> ev.RunFinished:
        total = len(self.batches)
        self.on_event(
            ev.RunStarted(
                self.index,
                self.config.train.lr,
                describe_device(self.device),
                total,
                self.start_epoch,
                self.config,
                str(self.run_dir) if self.run_dir else None,
                tuple(dict(h) for h in self.history),
            )
        )
        if self.history and self.stale_epochs >= self.config.train.patience:
            # resumed after its early stop (a kill before outcome.json, or `--resume` of a run that
            # ended): it ends as it did, with no epoch more, unless the patience was raised
            return self._finish(ev.STOP_EARLY, self.start_epoch - 1)
        self.choose_step()
        report_every = max(1, total // 100)
        reason, epoch = ev.STOP_MAX_EPOCHS, self.start_epoch - 1
        unvalidated: list[tuple[float, float]] = []  # (mean loss, seconds) of epochs since validation
        for epoch in range(self.start_epoch, self.config.train.epochs + 1):
            started, paused_seconds = time.perf_counter(), 0.0
            self.model.train()
            loss_sum, seen = torch.zeros((), device=self.device), 0
            interrupted = diverged = False
            for i, x in enumerate(self.batches, 1):
                if self.control.paused:
                    self.on_event(ev.StatusChanged(self.index, ev.RunStatus.PAUSED))
                    paused_seconds += self.control.wait_while_paused()
                    if not self.control.stopped:
                        self.on_event(ev.StatusChanged(self.index, ev.RunStatus.RUNNING))
                if self.control.stopped:
                    interrupted = True
                    break
                loss = self.train_step(x)
                loss_sum += loss * len(x)
                seen += len(x)
                if i % report_every == 0 or i == total:
                    if not math.isfinite(float(loss)):
                        diverged = True
                        break
                    self.on_event(ev.BatchProgress(self.index, epoch, i, total))
            if interrupted:  # the epochs trained since the last validation are not kept
                reason, epoch = self.control.reason, self.last_validated_epoch()
                break
            epoch_loss = float(loss_sum) / max(seen, 1)
            if diverged or not math.isfinite(epoch_loss):
                reason, epoch = ev.STOP_DIVERGED, self.last_validated_epoch()
                break
            if epoch == 1 and self.config.train.prior_init == "kmeans":
                self.fit_prior_to_data()  # the standard prior has nothing to place
            unvalidated.append((epoch_loss, time.perf_counter() - started - paused_seconds))
            last = epoch == self.config.train.epochs
            if not (last or self.control.stopped or epoch % self.config.train.val_every == 0):
                continue
            # the validation pass gives the nll and its two parts (the same draws, the same sum)
            val = elbo_terms(self.model, self.val)
            val_nll = val["neg_elbo"]
            if not math.isfinite(val_nll):
                reason, epoch = ev.STOP_DIVERGED, self.last_validated_epoch()
                break
            # the epochs since the last validation, as one row: their mean loss and their time
            train_loss = sum(loss for loss, _ in unvalidated) / len(unvalidated)
            seconds = sum(t for _, t in unvalidated)  # training time only, pauses left out
            since, unvalidated = len(unvalidated), []
            improved = val_nll < self.best_val
            if improved:
                self.best_val, self.best_epoch, self.stale_epochs = val_nll, epoch, 0
                self.best_weights = _cpu_copy(self.model.state_dict())
            else:
                self.stale_epochs += since
            if self.config.train.schedule == "plateau":
                self.plateau.after_validation(improved, since)
            end = ev.EpochEnd(
                self.index,
                epoch,
                train_loss,
                val_nll,
                seconds,
                self.best_val,
                self.best_epoch,
                val["reconstruction"],
                val["kl"],
                self.prior_weights(),
            )
            self.history.append(end.record())
            self.on_event(end)
            stopped = self.control.stopped  # read once: a stop arriving later must still write last.pt
            ending = last or stopped or self.stale_epochs >= self.config.train.patience
            # An improved epoch writes last.pt, then model.pt: model.pt never holds a later best than
            # the last.pt beside it (a kill, or a stop mid-epoch, writes nothing more), and a kill
            # between the two leaves a last.pt whose own weights are its best (the writer brings
            # model.pt up to it on resuming). When last.pt cannot be written (a full disk), model.pt
            # is still tried, as the smaller file may fit: the best model is kept, and the run
            # resumes from it once there is room.
            best = (
                ev.NewBest(self.index, epoch, val_nll, self.config, self.best_weights, self.checkpoint_path)
                if improved
                else None
            )
            due = time.monotonic() - self._last_state_written >= self.config.train.checkpoint_seconds
            if ending or improved or due:
                self._last_state_written, self._unwritten = time.monotonic(), None
                state = self.training_state(epoch)
                try:
                    self.on_event(state)
                except Exception:
                    if best is not None:
                        with contextlib.suppress(Exception):  # the first failure is the one to report
                            self.on_event(best)
                    raise
            else:
                self._unwritten = self.training_state(epoch, copied=True)
            if best is not None:
                self.on_event(best)
            if self.stale_epochs >= self.config.train.patience:
                reason = ev.STOP_EARLY
                break
            if stopped:
                reason = self.control.reason
                break
        self.write_unwritten_state()  # a stop or divergence mid-epoch: the epoch it reports
        return self._finish(reason, epoch)

    def training_state(self, epoch: int, copied: bool = False) -> ev.TrainingState:
        """The state to resume from after `epoch`: live references for the writer at once, or
        (`copied`) a copy that stays as it is while training goes on."""
        weights, optimizer = self.model.state_dict(), self.optimizer.state_dict()
        if copied:
            weights, optimizer = {k: v.clone() for k, v in weights.items()}, copy.deepcopy(optimizer)
        return ev.TrainingState(self.index, epoch, weights, optimizer, self.rng_state(), self.metrics())

    def write_unwritten_state(self) -> None:
        """Write the last validated epoch's state if the throttle held it back: a run that stops
        (or diverges) mid-epoch resumes from the epoch it reports, not from an older last.pt."""
        state, self._unwritten = self._unwritten, None
        if state is not None:
            self._last_state_written = time.monotonic()
            self.on_event(state)

    def last_validated_epoch(self) -> int:
        """The last epoch the run keeps: its last validated one (0 before any); the epochs
        trained since are dropped by a stop or a divergence."""
        return self.history[-1]["epoch"] if self.history else 0

    def prior_weights(self) -> tuple[float, ...]:
        """The prior's component weights now, for a prior with components whose weights are not
        all equal; () otherwise: fixed equal weights (the VampPrior's, a uniform mixture's) say
        nothing per epoch."""
        if not prior_kind(self.config.model.prior).components:
            return ()
        with torch.no_grad():
            weights = self.model.prior.component_params()[0].double().cpu()
        # equal up to float32 rounding: 1/K is not exact in float32 (K = 5, 10, ...)
        if float((weights - 1.0 / len(weights)).abs().max()) <= 1e-7:
            return ()
        return tuple(float(w) for w in weights)

    def kl_weight(self) -> float:
        """The weight of log q(z|x) - log p(z) in the training loss at this step: rising linearly
        from 0 to 1 over `kl_warmup` epochs (by steps), then 1."""
        warmup = self.config.train.kl_warmup
        if warmup == 0:
            return 1.0
        return min(1.0, self._steps / (warmup * len(self.batches)))

    @torch.no_grad()
    def fit_prior_to_data(self, max_images: int = KMEANS_IMAGES) -> None:
        """Refit the mixture to k-means clusters of the encoder's outputs on (up to `max_images`)
        training images, drawn from the run's generator, and forget the optimiser's moments of
        the prior's parameters, which belong to the old placement (Adam's and AdamW's step count
        too, see below)."""
        prior = self.model.prior
        n = len(self.batches.images)
        if not prior_kind(self.config.model.prior).placeable or n < prior.num_components:
            return  # nothing to place, or fewer images than components to place
        pick = torch.randperm(n, generator=self.generator, device=self.device)[:max_images]
        x = self.batches.inputs(pick)
        was_training = self.model.training
        self.model.eval()
        outputs = [self.model.encoder(x[i : i + 1000]) for i in range(0, len(x), 1000)]
        self.model.train(was_training)
        mu = torch.cat([m for m, _ in outputs])
        log_var = torch.cat([v for _, v in outputs])
        prior.fit_to(mu, log_var, self.generator)
        # Adam and AdamW correct both moments' bias by the step count, so theirs restarts with the
        # moments: kept, the zeroed second moment would make the placed prior's first steps up to
        # about 6 times the rate. Adamax keeps its count: its steps on the placed prior ramp from a
        # tenth of the rate to the full rate over about 20 steps. (Zeroed in place: a captured
        # step reads the same tensors.)
        restart = isinstance(self.optimizer, (torch.optim.Adam, torch.optim.AdamW))
        for p in prior.parameters():
            for name, value in self.optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and (name != "step" or restart):
                    value.zero_()

    def choose_step(self) -> None:
        """Capture the training step where it is planned, and say (once) how steps will run."""
        if self.step_choice is not None:
            return
        on_gpu = self.device.type == "cuda"
        if self._graph is None:
            self.step_choice = ev.StepChosen(self.index, ev.STEP_EAGER, self._step_reason, on_gpu)
        else:
            try:
                self._graph.capture()
                detail = (
                    f"captured in {self._graph.capture_seconds:.2f} s; the last, smaller batch runs eagerly"
                )
                self.step_choice = ev.StepChosen(self.index, ev.STEP_CUDA_GRAPH, detail, on_gpu)
            except CaptureError as exc:
                self._graph = None
                # eager from now on: the step counts go back to the CPU, where eager steps want them
                adopt_device_options(self.optimizer, {**device_options(self.optimizer), "capturable": False})
                self.step_choice = ev.StepChosen(
                    self.index, ev.STEP_EAGER, f"the CUDA graph capture failed: {exc}", on_gpu
                )
        self.on_event(self.step_choice)

    @property
    def step_mode(self) -> str | None:
        """STEP_EAGER or STEP_CUDA_GRAPH once chosen (at the start of `run()`)."""
        return self.step_choice.mode if self.step_choice is not None else None

    def train_step(self, x: torch.Tensor) -> torch.Tensor:
        """One optimiser step on the batch `x`; returns the batch's mean training loss (detached,
        valid until the next step): the negative ELBO, with the KL-like term weighted during a
        warm-up. A captured step replays its graph; the last, smaller batch of an epoch (and every
        batch, where capture is off or failed) runs eagerly. Both draw from the run's generator in
        the same order: the batch's binarisation, then the latent noise."""
        self.choose_step()
        weight = self.kl_weight()
        self._set_rate()
        self._steps += 1
        if self._graph is not None and len(x) == self._graph.batch_size:
            eps = normal_noise((len(x), self.config.model.latent_dim), self.generator, x)
            return self._graph(x, eps, weight)
        return self._eager_step(x, weight)

    def lr_factor(self) -> float:
        """The schedule's factor on the set learning rate for the coming step."""
        train = self.config.train
        if train.schedule == "cosine":
            return cosine_factor(self._steps, len(self.batches), train.epochs, train.warmup_epochs)
        if train.schedule == "plateau":
            return self.plateau.factor
        return 1.0

    def _set_rate(self) -> None:
        if self.config.train.schedule == "constant":
            return  # the rate the optimiser was made (or resumed) with
        lr = self.config.train.lr * self.lr_factor()
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _eager_step(self, x: torch.Tensor, weight: float) -> torch.Tensor:
        loss = self.model(x, self.generator, reduction="mean", kl_weight=weight)
        if self._in_backward is not None:
            loss.backward()  # the parameters are updated as their gradients arrive
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return loss.detach()

    def _finish(self, reason: str, epoch: int) -> ev.RunFinished:
        test_nll = None
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
            if len(self.test):
                test_nll = negative_elbo(self.model, self.test)
        ckpt = self.checkpoint_path if self.best_weights is not None else None
        done = ev.RunFinished(
            self.index,
            reason,
            epoch,
            self.best_epoch,
            self.best_val,
            test_nll,
            ckpt,
        )
        self.on_event(done)
        return done

    # -- state ----------------------------------------------------------------------------------
    def rng_state(self) -> dict[str, torch.Tensor]:
        return {train_rng_key(self.device): self.generator.get_state()}

    def metrics(self) -> dict[str, Any]:
        return {
            "history": [dict(h) for h in self.history],
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "stale_epochs": self.stale_epochs,
            "epoch": self.history[-1]["epoch"] if self.history else 0,
            "lr_factor": self.plateau.factor,
            "plateau_stale": self.plateau.stale,
        }

    def _resume(self, path: str | Path) -> None:
        """Continue from a checkpoint: weights, optimiser state, metrics and, where the checkpoint
        holds it (last.pt does), the generator state, so that the run goes on exactly as it would
        have without the interruption."""
        payload = read_checkpoint(path, self.accept_unchecked)
        check_resumable(self.config, path, payload)
        load_model_state(self.model, payload["model"], path)
        try:
            if "optimizer" in payload:
                own = device_options(self.optimizer)
                check_optimizer_options(self.optimizer, payload["optimizer"], path)
                self.optimizer.load_state_dict(payload["optimizer"])
                adopt_device_options(self.optimizer, own)  # saved on another device, perhaps
                for group in self.optimizer.param_groups:  # a resumed run may go on at a new rate
                    group["lr"] = self.config.train.lr
                if self._in_backward is not None and not supports(self.optimizer):
                    # the saved options (say, weight decay) are beyond the in-backward rules
                    self._in_backward.remove()
                    self._in_backward = None
            saved_rng = payload.get("rng", {}).get(train_rng_key(self.device))
            if saved_rng is not None:
                self.generator.set_state(saved_rng)
                self.resumed_exactly = "optimizer" in payload
        except CheckpointError:
            raise
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path} does not fit this configuration: {exc}") from None
        m = payload.get("metrics", {})
        self.history = [dict(h) for h in m.get("history", [])]
        self.best_val = float(m.get("best_val", math.inf))
        self.best_epoch = int(m.get("best_epoch", 0))
        self.stale_epochs = int(m.get("stale_epochs", 0))
        self.start_epoch = int(m.get("epoch", 0)) + 1
        self._steps = (self.start_epoch - 1) * len(self.batches)
        self.plateau = Plateau(float(m.get("lr_factor", 1.0)), int(m.get("plateau_stale", 0)))
        if self.history:
            self.best_weights = _cpu_copy(self.model.state_dict())
            if self.best_epoch != self.start_epoch - 1:
                # resumed from the last state: the best weights are in model.pt beside it
                best = Path(path).with_name(rf.MODEL)
                if not best.is_file() or best == Path(path):
                    raise CheckpointError(
                        f"cannot resume from {path}: its best model (epoch {self.best_epoch}) "
                        f"should be in {best}, which is missing"
                    )
                saved = read_checkpoint(best, self.accept_unchecked)
                if saved.get("metrics", {}).get("epoch") != self.best_epoch:
                    raise CheckpointError(
                        f"cannot resume from {path}: {best} holds epoch "
                        f"{saved.get('metrics', {}).get('epoch')}, not the best epoch {self.best_epoch}"
                    )
                check_resumable(self.config, best, saved)  # the same model as last.pt's, tensor by tensor
                check_state_fits(self.model.state_dict(), saved["model"], best)
                self.best_weights = _cpu_copy(saved["model"])
