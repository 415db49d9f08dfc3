"""A worker thread that owns an evaluation copy of the model and runs panel jobs on it.

The GUI never touches the model: it asks for a checkpoint to be loaded (by path) and submits jobs,
plain callables `fn(ctx) -> result` that run in the worker thread and return numpy arrays or
dataclasses. Only those results cross back to the GUI thread.

With a CUDA GPU the model lives there and every job runs on a CUDA stream of the worker's own, so
its kernels do not queue behind (or hold up) a training run on the same GPU; a job ends by copying
its results to the CPU, which waits on that stream alone.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shiboken6
import torch
from PySide6.QtCore import QObject, Signal, Slot

from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import CheckpointError, UncheckedCheckpoint, load_checkpoint
from vae_explorer.core.config import RunConfig
from vae_explorer.core.data import TEST_BINARISE_SEED, DataError, Splits, data_root, load_splits, model_input
from vae_explorer.core.device import resolve_device
from vae_explorer.core.likelihood import Cancelled
from vae_explorer.core.model import VAE, model_for

from .threads import OwnedThreads


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI may know about the loaded model: plain values only."""

    checkpoint: str
    config: RunConfig
    epoch: int
    best_val: float
    weights: np.ndarray  # mixture weights (K,)
    generation: int  # increases with every load, so panels can tell models apart
    # why the test images cannot be read (a moved data folder ...), None when they can; panels that
    # need them show this instead of their figures, everything else works without them
    data_error: str | None = None
    data_folder: str | None = None  # where the test images are read from, when that is known
    name: str = ""  # the run it comes from, as the front end names it ("" when unknown)


class ModelContext:
    """What a job sees in the worker thread: the model and lazily loaded test data."""

    def __init__(self, model: VAE, config: RunConfig, test_limit: int | None) -> None:
        self.model = model
        self.config = config
        self.checkpoint = ""  # the file the model came from ("" when it has none)
        self.epoch = 0  # the epoch whose model it is
        # set when the service shuts down: a long job checks it between chunks and ends
        self.stopping = threading.Event()
        self._test_limit = test_limit
        self._splits: Splits | None = None
        self._test_inputs: torch.Tensor | None = None

    @property
    def side(self) -> int:
        return self.config.model.image_size

    def splits(self) -> Splits:
        """The model's test set: as many images as its run was tested on (or the service's limit)."""
        if self._splits is None:
            limit = self._test_limit if self._test_limit is not None else self.config.data.limit_test
            self._splits = load_splits(self.config.data.test_only(limit))
        return self._splits

    def test_images(self) -> torch.Tensor:
        """uint8 (N, pixels) test images."""
        return self.splits().test_images

    def test_labels(self) -> torch.Tensor:
        return self.splits().test_labels

    def test_inputs(self) -> torch.Tensor:
        """The test images as the model scores them (fixed binarisation)."""
        if self._test_inputs is None:
            self._test_inputs = model_input(
                self.test_images(), self.config.model.likelihood, TEST_BINARISE_SEED
            )
        return self._test_inputs


class InferenceWorker(QObject):
    """Lives in its own QThread; every slot runs there."""

    loaded = Signal(object)  # ModelInfo
    load_failed = Signal(str, str)  # path, message
    load_unchecked = Signal(str, str)  # path, name: saved before the checksum; the user decides
    result = Signal(int, object)  # job id, result
    failed = Signal(int, str)  # job id, message

    def __init__(
        self,
        is_stale: Callable[[str, int], bool],
        test_limit: int | None,
        device: torch.device,
        lazy: bool = False,
        stopping: threading.Event | None = None,
    ) -> None:
        """`lazy`: take in a model only when a job comes (the latest one asked for), not on every
        load; for a worker whose jobs are rare. `stopping`: set when the service shuts down."""
        super().__init__()
        self.stopping = stopping if stopping is not None else threading.Event()
        self.device = device
        self._lazy = lazy
        self._deferred: Callable[[], None] | None = None
        self._stream: torch.cuda.Stream | None = None  # made in the worker's thread, at first use
        self._is_stale = is_stale
        self._test_limit = test_limit
        self._ctx: ModelContext | None = None
        self._generation = 0

    @Slot(str, str, bool)
    def load(self, path: str, name: str = "", accept_unchecked: bool = False) -> None:
        if self._lazy:
            self._deferred = lambda: self._load(path, name, accept_unchecked)
        else:
            self._load(path, name, accept_unchecked)

    def _load(self, path: str, name: str, accept_unchecked: bool = False) -> None:
        try:
            with self._on_stream():
                model, config, payload = load_checkpoint(path, self.device, accept_unchecked)
        except UncheckedCheckpoint:
            self.load_unchecked.emit(path, name)
            return
        except CheckpointError as exc:
            self.load_failed.emit(path, str(exc))
            return
        except Exception as exc:  # an unforeseen error must not kill the worker thread
            traceback.print_exc()
            self.load_failed.emit(path, f"cannot open {path}: {type(exc).__name__}: {exc}")
            return
        metrics = payload.get("metrics", {})
        self._use(
            model,
            config,
            path,
            int(metrics.get("epoch", 0)),
            float(metrics.get("best_val", float("nan"))),
            name,
        )

    @Slot(object, str)
    def load_best(self, best: ev.NewBest, name: str = "") -> None:
        """Take a new best model from the weights its event carries (no file is read)."""
        if self._lazy:
            self._deferred = lambda: self._load_best(best, name)
        else:
            self._load_best(best, name)

    def _load_best(self, best: ev.NewBest, name: str) -> None:
        try:
            with self._on_stream():
                model = model_for(best.config.model, best.weights).to(self.device)
        except Exception as exc:  # an unforeseen error must not kill the worker thread
            traceback.print_exc()
            self.load_failed.emit(best.checkpoint or "", f"cannot take the new best model: {exc}")
            return
        self._use(model, best.config, best.checkpoint or "", best.epoch, best.val_nll, name)

    def _use(
        self, model: VAE, config: RunConfig, path: str, epoch: int, best_val: float, name: str = ""
    ) -> None:
        old = self._ctx
        self._ctx = ModelContext(model, config, self._test_limit)
        self._ctx.checkpoint = path
        self._ctx.epoch = epoch
        self._ctx.stopping = self.stopping
        if old is not None and old.config.data == config.data:
            self._ctx._splits = old._splits  # same data: keep it loaded
            if old.config.model.likelihood == config.model.likelihood:  # inputs are made for it
                self._ctx._test_inputs = old._test_inputs
        self._generation += 1
        with self._on_stream():
            data_error = self._check_data(self._ctx)
            weights = model.prior.component_params()[0].cpu().numpy().copy()
        self.loaded.emit(
            ModelInfo(
                path,
                config,
                epoch,
                best_val,
                weights,
                self._generation,
                data_error,
                _data_folder(config),
                name,
            )
        )

    def _on_stream(self):
        """The worker's own CUDA stream on a GPU (nothing on the CPU)."""
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        return torch.cuda.stream(self._stream)

    @staticmethod
    def _check_data(ctx: ModelContext) -> str | None:
        """Read the test images now, so the GUI learns once, with the model, whether they are there."""
        try:
            ctx.splits()
        except DataError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot read the test images: {exc.strerror or exc}"
        return None

    @Slot(int, str, object)
    def run_job(self, job_id: int, key: str, fn: Callable[[ModelContext], Any]) -> None:
        if self._is_stale(key, job_id):
            return
        if self._deferred is not None:
            load, self._deferred = self._deferred, None
            load()
        if self._ctx is None:
            self.failed.emit(job_id, "no model is loaded")
            return
        try:
            with torch.no_grad(), self._on_stream():
                out = fn(self._ctx)
        except DataError as exc:
            self.failed.emit(job_id, str(exc))
            return
        except Cancelled:
            self.failed.emit(job_id, "cancelled")
            return
        except Exception as exc:  # a job bug must not kill the worker thread
            traceback.print_exc()
            self.failed.emit(job_id, f"{type(exc).__name__}: {exc}")
            return
        self.result.emit(job_id, out)


def _data_folder(config: RunConfig) -> str | None:
    try:
        return str(data_root(config.data))
    except DataError:
        return None


def _alive(callback: Callable) -> bool:
    """False when the callback is a method of a Qt object that has been deleted meanwhile."""
    owner = getattr(callback, "__self__", None)
    return not isinstance(owner, QObject) or shiboken6.isValid(owner)


# Keys of the jobs that take minutes (an IW-NLL with thousands of samples, FID and IS): they run in
# the second worker, beside the figures' jobs rather than ahead of them.
LONG_JOBS = ("evaluation",)


class InferenceService(QObject):
    """GUI-thread front of the InferenceWorker: load checkpoints, submit jobs, get callbacks.

    Jobs carry a key; a newer job with the same key makes older ones stale, so a burst of
    refresh requests (a new best model every epoch) costs one computation, not a queue of them.
    The long jobs (LONG_JOBS) run in a second worker holding its own copy of the same model.
    """

    model_loaded = Signal(object)  # ModelInfo
    load_failed = Signal(str, str)
    load_unchecked = Signal(str, str)  # path, name: a checkpoint from before the checksum
    job_failed = Signal(str, str)  # key, message: a failed job submitted without on_error
    pinned_changed = Signal(bool)
    _load = Signal(str, str, bool)
    _load_best = Signal(object, str)
    _job = Signal(int, str, object)
    _long_job = Signal(int, str, object)

    def __init__(
        self, parent: QObject | None = None, test_limit: int | None = None, device: str = "auto"
    ) -> None:
        """`device`: where the model and its jobs run; "auto" is the GPU when there is one."""
        super().__init__(parent)
        self.info: ModelInfo | None = None
        # pinned: the explore tabs keep their model while training goes on (new bests are not shown)
        self.pinned = False
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._callbacks: dict[int, tuple[str, Callable[[Any], None], Callable[[str], None] | None]] = {}
        self.device = resolve_device(device)
        # two workers, each with its own copy of the model: the figures', and one for the long
        # jobs (LONG_JOBS), so that minutes of evaluation hold no figure up
        self._stopping = threading.Event()  # set on shutdown: a long job ends at its next chunk
        self._owned = OwnedThreads(self)
        workers = []
        for name, jobs in (("inference", self._job), ("evaluation", self._long_job)):
            worker = InferenceWorker(
                self._stale, test_limit, self.device, lazy=name == "evaluation", stopping=self._stopping
            )
            thread = self._owned.start(self, name, worker, stop=self._stopping.set)
            self._load.connect(worker.load)
            self._load_best.connect(worker.load_best)
            jobs.connect(worker.run_job)
            worker.result.connect(self._on_result)
            worker.failed.connect(self._on_failed)
            workers.append(worker)
        self._threads = self._owned.threads
        self._workers = workers
        self._thread = self._threads[0]  # the figures' thread
        workers[0].loaded.connect(self._on_loaded)  # both load the same; one tells the GUI
        workers[0].load_failed.connect(self.load_failed)
        workers[0].load_unchecked.connect(self.load_unchecked)
        for thread in self._threads:
            thread.start()

    def _stale(self, key: str, job_id: int) -> bool:
        return self._latest.get(key, job_id) != job_id

    def load_checkpoint(self, path: str, name: str = "", accept_unchecked: bool = False) -> None:
        """Load a checkpoint in the workers; one saved before the whole-content checksum is refused
        (load_unchecked) unless `accept_unchecked`."""
        self._load.emit(str(path), name, accept_unchecked)

    def load_best(self, best: ev.NewBest, name: str = "") -> None:
        """Show a run's new best model, from the CPU copy of the weights its event carries."""
        self._load_best.emit(best, name)

    def set_pinned(self, on: bool) -> None:
        if on != self.pinned:
            self.pinned = on
            self.pinned_changed.emit(on)

    def pending(self, ignore: tuple[str, ...] = LONG_JOBS) -> bool:
        """Whether a submitted figure job has not reported back yet (a long evaluation, which
        draws no figure, is left out)."""
        return any(key not in ignore for key, _, _ in self._callbacks.values())

    def submit(
        self,
        key: str,
        fn: Callable[[ModelContext], Any],
        callback: Callable[[Any], None],
        on_error: Callable[[str], None] | None = None,
    ) -> int:
        """Run fn(ctx) in the worker; callback(result) runs on the GUI thread unless superseded.

        If the job fails, on_error(message) runs instead (the panel shows the message in place of its
        figure); without on_error, job_failed is emitted."""
        job_id = next(self._ids)
        self._latest[key] = job_id
        self._callbacks = {i: kc for i, kc in self._callbacks.items() if kc[0] != key}
        self._callbacks[job_id] = (key, callback, on_error)
        (self._long_job if key in LONG_JOBS else self._job).emit(job_id, key, fn)
        return job_id

    def cancel(self, key: str) -> None:
        """Drop the pending job of `key`, if any: its result or failure is ignored."""
        self._latest[key] = next(self._ids)
        self._callbacks = {i: kc for i, kc in self._callbacks.items() if kc[0] != key}

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.model_loaded.emit(info)

    @Slot(int, object)
    def _on_result(self, job_id: int, out: Any) -> None:
        key, callback, _ = self._callbacks.pop(job_id, ("", None, None))
        if callback is not None and self._latest.get(key) == job_id and _alive(callback):
            callback(out)

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        key, _, on_error = self._callbacks.pop(job_id, ("", None, None))
        if self._latest.get(key) != job_id:
            return
        if on_error is not None:
            if _alive(on_error):
                on_error(message)
        else:
            self.job_failed.emit(key, message)

    @property
    def running(self) -> bool:
        """Whether a worker thread still runs (until `shutdown()`)."""
        return any(thread.isRunning() for thread in self._threads)

    def shutdown(self) -> None:
        """End the workers: a long job under way stops at its next chunk; both threads are joined.
        (It also happens when the service is destroyed without this call.)"""
        self._owned.join()
