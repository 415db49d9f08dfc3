"""A small convolutional digit classifier whose spaces FID and IS are measured in (no Inception here).

Inputs are (N, 784) images with grey levels in [0, 1] (uint8 arrays are divided by 255). FID and IS
compare the decoder means of generated images with real grey-level test images scaled to [0, 1], so
both sides reach the classifier as the same kind of input. Its weights are a plain state_dict,
loaded with torch.load(weights_only=True) (core.checkpoint.quiet_load).
"""

from __future__ import annotations

import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .atomic import atomic_write_bytes
from .checkpoint import first_line, quiet_load, serialised
from .likelihood import Cancelled

SIDE = 28
CLASSES = 10
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the training pixels in [0, 1]
MAX_SHIFT = 2  # training augmentation: random translations of up to 2 pixels each way


class ClassifierError(RuntimeError):
    """Classifier weights that are missing, corrupt or of another network."""


class DigitClassifier(nn.Module):
    """Three conv-BN-ReLU-pool stages, a 128-unit feature layer (`features`), then 10 logits.

    Built on the meta device and then given storage, so that constructing it never draws from the
    global random state; `generator` (a CPU one) draws the initial weights, without it they are
    zeros (to be replaced by load_state_dict). No dropout: it would draw from the global random state.
    """

    def __init__(self, generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.num_features = 128
        with torch.device("meta"):
            self.body = nn.Sequential(
                *_stage(1, 32),  # 28 -> 14
                *_stage(32, 64),  # 14 -> 7
                *_stage(64, 128),  # 7 -> 3
                nn.Flatten(),
                nn.Linear(128 * 3 * 3, self.num_features),
                nn.ReLU(),
            )
            self.head = nn.Linear(self.num_features, CLASSES)
        self.to_empty(device="cpu")  # initialised on the CPU, where `generator` lives, then moved
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                if generator is None:
                    nn.init.zeros_(layer.weight)
                else:
                    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(layer.bias)
            elif isinstance(layer, nn.BatchNorm2d):
                layer.reset_parameters()  # weight 1, bias 0, running mean 0 / var 1: no randomness
        self.to(device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 784) in [0, 1] -> (N, num_features), the penultimate layer FID is measured in."""
        x = (x.reshape(-1, 1, SIDE, SIDE) - MNIST_MEAN) / MNIST_STD
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 784) in [0, 1] -> (N, 10) logits."""
        return self.head(self.features(x))


def _stage(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]


@dataclass(frozen=True)
class TrainedClassifier:
    """The network after the last epoch, with each epoch's mean training loss and validation accuracy."""

    model: DigitClassifier
    train_loss: tuple[float, ...]
    val_accuracy: tuple[float, ...]  # empty without validation images
    seconds: float


def train_classifier(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    val_images: torch.Tensor | None = None,
    val_labels: torch.Tensor | None = None,
    epochs: int = 10,
    generator: torch.Generator | None = None,
    progress: Callable[[int, int, float, float | None], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
) -> TrainedClassifier:
    """Adam with a cosine-decayed learning rate and random 2-pixel shifts; all draws from `generator`.

    progress(epoch, epochs, train_loss, val_accuracy) after each epoch; cancel() is checked between
    batches and raises likelihood.Cancelled. Without `generator`, a fresh one seeded with 0 is used.
    On the course's 50,000 training images the defaults aim at >= 99% test accuracy.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, not {epochs} and {batch_size}")
    if len(train_images) != len(train_labels) or len(train_images) == 0:
        raise ValueError(f"{len(train_images)} training images for {len(train_labels)} labels")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    images = _unit(train_images).to(device)
    labels = torch.as_tensor(train_labels).long().to(device)
    model = DigitClassifier(generator, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(images) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * i / steps))
    )
    losses: list[float] = []
    accuracies: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        total, seen = 0.0, 0
        order = torch.randperm(len(images), generator=generator).to(device)
        for lo in range(0, len(images), batch_size):
            if cancel is not None and cancel():
                raise Cancelled("classifier training cancelled")
            idx = order[lo : lo + batch_size]
            xb = random_shift(images[idx], generator)
            loss = F.cross_entropy(model(xb), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        losses.append(total / seen)
        val_acc = None
        if val_images is not None and val_labels is not None:
            val_acc = accuracy(model, val_images, val_labels)
            accuracies.append(val_acc)
        if progress is not None:
            progress(epoch, epochs, losses[-1], val_acc)
    model.eval()
    return TrainedClassifier(model, tuple(losses), tuple(accuracies), time.perf_counter() - start)


def random_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = MAX_SHIFT) -> torch.Tensor:
    """Each (784,) image translated by its own whole-pixel offset in [-max_shift, max_shift]^2, zero-filled."""
    n = len(x)
    padded = F.pad(x.reshape(n, SIDE, SIDE), (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator).to(x.device)
    grid = torch.arange(SIDE, device=x.device)
    rows = (offsets[:, 0:1] + grid)[:, :, None]  # (n, 28, 1)
    cols = (offsets[:, 1:2] + grid)[:, None, :]  # (n, 1, 28)
    return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols].reshape(n, SIDE * SIDE)


@torch.no_grad()
def _apply(model: DigitClassifier, images: torch.Tensor, fn: Callable, batch_size: int) -> np.ndarray:
    """fn(model, batch) over `images` in eval mode (restoring the mode), as one float64 array."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        x = _unit(images)
        parts = [
            fn(model, x[lo : lo + batch_size].to(device)).double().cpu()
            for lo in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy()


def predict_proba(model: DigitClassifier, images: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """p(y|x) for each image: (N, 10), rows summing to 1."""
    return _apply(model, images, lambda m, x: torch.softmax(m(x).double(), dim=1), batch_size)


def extract_features(model: DigitClassifier, images: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """The penultimate-layer features FID compares: (N, model.num_features)."""
    return _apply(model, images, lambda m, x: m.features(x), batch_size)


def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images whose most probable class is their label."""
    predicted = predict_proba(model, images).argmax(axis=1)
    return float((predicted == np.asarray(torch.as_tensor(labels).cpu())).mean())


FORMAT = "vae-explorer-classifier"


@dataclass(frozen=True)
class ClassifierInfo:
    """What a classifier file says of itself: the data set it was trained on and its test accuracy."""

    dataset: str
    test_accuracy: float | None
    path: str


def save_classifier(
    model: DigitClassifier, path: str | os.PathLike, dataset: str, test_accuracy: float | None = None
) -> None:
    """Write the state_dict (CPU tensors), the data set's name and the test accuracy, atomically."""
    payload = {
        "format": FORMAT,
        "dataset": dataset,
        "test_accuracy": float(test_accuracy) if test_accuracy is not None else -1.0,
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write_bytes(path, serialised(payload))


def load_classifier(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[DigitClassifier, ClassifierInfo]:
    """The classifier saved at `path`, in eval mode, and what it says of itself; ClassifierError
    names the path and the problem in one line (never torch's advice to load it unsafely)."""
    try:
        payload = quiet_load(path)
    except FileNotFoundError:
        raise ClassifierError(f"classifier weights not found: {path}") from None
    except IsADirectoryError:
        raise ClassifierError(f"classifier weights must be a file, not the folder {path}") from None
    except pickle.UnpicklingError:
        raise ClassifierError(
            f"{path} is not a vae-explorer classifier file: it holds objects other than tensors and "
            "plain values, which are not loaded for safety"
        ) from None
    except OSError as exc:
        raise ClassifierError(
            f"cannot read classifier weights {path}: {(exc.strerror or str(exc)).lower()}"
        ) from None
    except Exception as exc:  # torch reports a damaged file as RuntimeError, EOFError ...
        reason = first_line(exc)
        if "weights_only" in reason:  # torch's advice to load it unsafely: never ours to give
            reason = type(exc).__name__
        raise ClassifierError(
            f"{path} is damaged and cannot be read as classifier weights ({reason})"
        ) from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("format"), str)
        or payload["format"] != FORMAT
        or not isinstance(payload.get("state"), dict)
    ):
        raise ClassifierError(f"{path} is not a vae-explorer classifier file")
    state = payload["state"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ClassifierError(f"{path} does not hold a classifier state_dict")
    model = DigitClassifier(device=device)
    _check_fits(model, state, path)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as exc:
        text = " ".join(str(exc).split())
        raise ClassifierError(f"{path} holds the weights of another network: {text}") from None
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise ClassifierError(f"{path} holds non-finite classifier weights")
    negative = [
        k for k, v in state.items() if k.endswith(("running_var", "num_batches_tracked")) and (v < 0).any()
    ]
    if negative:
        raise ClassifierError(f"{path} is damaged: {negative[0]} holds a negative value")
    with torch.no_grad():  # what FID and IS ask of it: finite features, and so finite logits
        probe = model.eval()(torch.zeros(2, SIDE * SIDE, device=device))
    if not torch.isfinite(probe).all():
        raise ClassifierError(f"{path} is damaged: its output for a blank image is not finite")
    acc = payload.get("test_accuracy")
    dataset = payload.get("dataset", "?")
    info = ClassifierInfo(
        dataset if isinstance(dataset, str) else "?",
        float(acc) if isinstance(acc, float) and acc >= 0 else None,
        str(path),
    )
    return model.eval(), info


def _check_fits(model: DigitClassifier, state: dict[str, torch.Tensor], path) -> None:
    """The saved names and shapes against the network's, as one line that says what differs."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = []
    if missing:
        parts.append(f"it lacks {_names(missing)}")
    if extra:
        parts.append(f"it has unknown {_names(extra)}")
    parts += [
        f"{k} has shape {tuple(state[k].shape)}, the classifier's {tuple(own[k].shape)}" for k in wrong[:3]
    ]
    if len(wrong) > 3:
        parts.append(f"{len(wrong) - 3} more shapes differ")
    if parts:
        raise ClassifierError(f"{path} holds the weights of another network: {'; '.join(parts)}")


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _unit(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Images as float32 in [0, 1]: uint8 grey levels are divided by 255, floats are taken as they are."""
    t = torch.as_tensor(images)
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
