"""The whole training step (forward, backward, optimiser update) captured once in a CUDA graph.

At batch size 32 a step of this model is a few hundred microseconds of GPU kernels but several
milliseconds of Python and kernel launches when run eagerly, so the GPU would idle most of the
time. Captured, a step is one graph launch: the batch and the latent noise are copied into fixed
input buffers, drawn outside the graph from the run's own generator in the order the eager step
draws them, so both modes see the same numbers.

Capture needs a few eager steps first (on a side stream, as torch's documentation prescribes for
the optimiser's lazily created state and cuBLAS workspaces). Those steps would change the model,
so the parameters, buffers and optimiser state are copied before and put back afterwards, in
place: the graph has recorded their addresses. The first replay is then the run's first step.
"""

from __future__ import annotations

import time
import warnings

import torch

from .model import VAE

WARMUP_STEPS = 3

# A captured run's optimiser is capturable, and some of its steps run outside the graph by design:
# the capture's warm-up and each epoch's last, smaller batch. torch warns about the first of those
# (capturable=True "can impair performance" uncaptured); here that is known and a batch an epoch.
warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")


class CaptureError(RuntimeError):
    """The step could not be captured; the model and optimiser are as they were before trying."""


_capture_streams: dict[int, torch.cuda.Stream] = {}


def capture_stream(device: torch.device) -> torch.cuda.Stream:
    """The stream that warm-up and capture run on, one per device for the whole process. torch
    hands out new streams from a small round-robin pool, so a stream made for every run's capture
    would in time be the very stream some other thread (an explore tab's worker) runs on, and that
    thread's kernels would land in the graph."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _capture_streams:
        _capture_streams[index] = torch.cuda.Stream(index)
    return _capture_streams[index]


def _first_cause(exc: BaseException) -> str:
    """The type and first line of the error that started `exc`'s chain: a broken capture is
    reported by its end (capture_end), raised while the operation that broke it unwinds."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"


def snapshot(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Copies of everything a training step changes: parameters, buffers, optimiser state."""
    return {
        "tensors": [t.detach().clone() for t in (*model.parameters(), *model.buffers())],
        "state": {
            p: {k: v.detach().clone() for k, v in s.items() if isinstance(v, torch.Tensor)}
            for p, s in optimizer.state.items()
        },
    }


@torch.no_grad()
def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Put `saved` (from `snapshot`) back into the same tensors. Optimiser state created since
    (the lazily made moments and step counts of a fresh optimiser) is zeroed, which is how each
    optimiser here starts (SGD's momentum buffer, first set to the gradient, becomes 0.9 * 0 + g)."""
    for tensor, copy in zip((*model.parameters(), *model.buffers()), saved["tensors"], strict=True):
        tensor.copy_(copy)
    for p, state in optimizer.state.items():
        before = saved["state"].get(p, {})
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                if key in before:
                    value.copy_(before[key])
                else:
                    value.zero_()


class CapturedStep:
    """One training step of a fixed batch size as a CUDA graph, once `capture()` has run.

    `weighted`: the KL warm-up weight is an input of the graph (a one-element tensor set before
    each replay) instead of the constant 1.
    """

    def __init__(
        self, model: VAE, optimizer: torch.optim.Optimizer, batch_size: int, weighted: bool = False
    ) -> None:
        device = next(model.parameters()).device
        if device.type != "cuda":
            raise CaptureError(f"CUDA graphs need a CUDA device, not {device}")
        self.model = model
        self.optimizer = optimizer
        self._forget = getattr(model.prior, "forget_components", None)  # a prior that keeps results
        self.batch_size = batch_size
        pixels = model.config.image_size**2
        self.x = torch.zeros(batch_size, pixels, device=device)
        self.eps = torch.zeros(batch_size, model.config.latent_dim, device=device)
        self.weight = torch.ones((), device=device) if weighted else None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None
        self.capture_seconds = 0.0

    def _body(self) -> torch.Tensor:
        weight = self.weight if self.weight is not None else 1.0
        loss = self.model(self.x, None, reduction="mean", kl_weight=weight, eps=self.eps)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def capture(self) -> None:
        """Capture the step (the buffers' contents do not matter: the warm-up steps' changes are
        undone). Raises CaptureError, with the model and optimiser as they were, where it fails."""
        started = time.perf_counter()
        saved = snapshot(self.model, self.optimizer)
        side = capture_stream(self.x.device)
        try:
            side.wait_stream(torch.cuda.current_stream())
            # The outer context puts the thread's stream back even where the graph's own exit
            # fails half-way (it then skips restoring it).
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    self.optimizer.zero_grad(set_to_none=True)
                    self._body()
                graph = torch.cuda.CUDAGraph()
                self.optimizer.zero_grad(set_to_none=True)
                # thread_local: the explore tabs' workers go on using the GPU (allocating, copying)
                # from their own threads and streams meanwhile, which "global" would forbid
                with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
                    loss = self._body()
            torch.cuda.current_stream().wait_stream(side)
        except Exception as exc:
            torch.cuda.synchronize()
            self.optimizer.zero_grad(set_to_none=True)
            restore(self.model, self.optimizer, saved)
            raise CaptureError(_first_cause(exc)) from exc
        restore(self.model, self.optimizer, saved)
        torch.cuda.synchronize()
        self.graph, self.loss = graph, loss
        self.capture_seconds = time.perf_counter() - started

    def __call__(self, x: torch.Tensor, eps: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
        """One step (after `capture()`) on the batch `x` with latent noise `eps`; returns the
        batch's mean loss, a tensor that the next call overwrites."""
        if self.graph is None or self.loss is None:
            raise RuntimeError("the step has not been captured")
        self.x.copy_(x)
        self.eps.copy_(eps)
        if self.weight is not None:
            self.weight.fill_(weight)
        self.graph.replay()
        if self._forget is not None:  # the replay changed the weights behind autograd's back
            self._forget()
        return self.loss
