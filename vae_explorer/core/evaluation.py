"""A model's evaluation as one dict with stable keys: the bound, the importance-weighted NLL,
latent statistics and, in a digit classifier's spaces, FID (with its real-vs-real floor) and IS.

FID and IS compare decoder means of prior samples (pixel probabilities, or expected grey levels)
with real grey-level images scaled to [0, 1], as many generated images as test images. The floor
is the FID of as many training images against the test images, computed the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .classifier import ClassifierError, DigitClassifier, extract_features, load_classifier, predict_proba
from .config import RunConfig
from .data import TEST_BINARISE_SEED, Splits, model_input
from .evaluate import EVAL_NOISE_SEED, elbo_terms
from .likelihood import Cancelled, iw_batching, iw_nll, latent_statistics
from .model import VAE
from .sample_quality import class_histogram, frechet_distance, inception_score
from .userdata import user_data_dir

MAX_IW_SAMPLES = 5000  # what papers report; more buys nothing a reader can compare
# the most importance samples asked for by number: 20x the published 5,000 (days on a CPU)
MAX_ASKED_IW_SAMPLES = 100_000
MIN_IW_SAMPLES = 10  # a time budget never buys fewer (an IW-NLL of a few samples is barely below the bound)
IS_SPLITS = 10
# images in each of the Inception Score's splits, at least: a split's marginal is its own mean, so
# a split of m images caps the score near m (one image: exactly 1); 100 leaves room for 10 classes
IS_SPLIT_IMAGES = 100


def inception_splits(n: int) -> int:
    """How many splits the Inception Score of `n` generated images uses: up to IS_SPLITS, each of
    IS_SPLIT_IMAGES or more; 0 when `n` is too few for one."""
    return min(IS_SPLITS, n // IS_SPLIT_IMAGES)


Progress = Callable[[str, int, int], None]  # (stage, done, total)

# the published figures beside which the app and the report show ours (dynamically binarised MNIST)
REFERENCES = (
    (
        "course write-up, test negative ELBO (MoG prior)",
        "neg_elbo",
        92.07,
        "Tomczak, Deep Generative Modeling, ch. 4 (the course's reference run)",
    ),
    ("VAE, standard prior, IW-NLL (S=5000)", "iw_nll", 88.56, "Tomczak & Welling 2018 (VampPrior), Table 2"),
    ("VAE, VampPrior, IW-NLL (S=5000)", "iw_nll", 85.57, "Tomczak & Welling 2018 (VampPrior), Table 2"),
)


def user_classifier_path(dataset: str) -> Path:
    return user_data_dir() / "classifiers" / f"{dataset}.pt"


def bundled_classifier_path(dataset: str) -> Path:
    from vae_explorer.assets import resources_dir

    return resources_dir() / "classifier" / f"{dataset}.pt"


def find_classifier(dataset: str) -> Path:
    """The digit classifier for `dataset`: the user's own (trained with `vae-explorer classifier
    train`) before the one shipped for MNIST; ClassifierError in one line when there is none."""
    for path in (user_classifier_path(dataset), bundled_classifier_path(dataset)):
        if path.is_file():
            return path
    raise ClassifierError(
        f"no digit classifier for {dataset} yet, so no FID or IS: train one with "
        f"`vae-explorer classifier train --dataset {dataset}` (it goes to {user_classifier_path(dataset)})"
    )


def load_classifier_for(
    dataset: str, device: str | torch.device = "cpu", notes: list[str] | None = None
) -> DigitClassifier:
    """The classifier `find_classifier` names, loaded. A user's classifier that cannot be used
    (damaged, of another network or data set) does not hide the bundled one: that is loaded
    instead, and a one-line note saying why goes to `notes`."""
    user, bundled = user_classifier_path(dataset), bundled_classifier_path(dataset)
    if os.path.lexists(user) and bundled.is_file():
        try:
            return _load_for(user, dataset, device)
        except ClassifierError as exc:
            if notes is not None:
                notes.append(f"{exc}; the bundled classifier is used instead")
            return _load_for(bundled, dataset, device)
    return _load_for(find_classifier(dataset), dataset, device)


def _load_for(path: Path, dataset: str, device: str | torch.device) -> DigitClassifier:
    model, info = load_classifier(path, device)
    if info.dataset != dataset:
        raise ClassifierError(f"the classifier {info.path} was trained on {info.dataset}, not {dataset}")
    return model


@dataclass(frozen=True)
class EvaluationRequest:
    """What to compute beyond the bound and the latent statistics (always there)."""

    iw_samples: int | None = None  # None: no IW-NLL, unless iw_budget asks for one
    fid: bool = False
    inception: bool = False
    seed: int = EVAL_NOISE_SEED
    # seconds the whole evaluation may take: the IW-NLL, computed last, gets the most samples that
    # keep it within what is left, and at least MIN_IW_SAMPLES (used when iw_samples is None)
    iw_budget: float | None = None

    def __post_init__(self) -> None:
        if self.iw_samples is not None and self.iw_samples < 1:
            raise ValueError(f"the number of importance samples must be at least 1, not {self.iw_samples}")


def generate(model: VAE, n: int, generator: torch.Generator, batch: int = 1000) -> torch.Tensor:
    """n decoder means of prior samples, (n, pixels) in [0, 1], on the CPU."""
    parts = [model.sample(min(batch, n - i), generator).cpu() for i in range(0, n, batch)]
    return torch.cat(parts) if parts else torch.zeros(0, model.decoder.pixels)


def iw_samples_for(budget_seconds: float, model: VAE, test: torch.Tensor, pilot: int = 16) -> int:
    """The most importance samples (10 to 5000) whose IW-NLL over `test` takes about `budget_seconds`,
    from the time of a pilot run. On the CPU the time grows with images times samples from the
    first, so a few images do (64, `pilot` samples). On a GPU a decoder call costs its launches
    until it is full, so the pilot is one full call (a batch of images, a chunk of samples, as the
    evaluation will make them), after a small warm-up call that pays for the first use of the
    GPU's libraries in this thread."""
    generator = torch.Generator(test.device).manual_seed(0)
    if test.device.type == "cuda":
        batch, chunk = iw_batching(model, test.shape[1], MAX_IW_SAMPLES, test.device)
        few = test[: min(len(test), batch)]
        iw_nll(model, few[:8], 2, generator)
        pilot = chunk
    else:
        few = test[: min(len(test), 64)]
    took = iw_nll(model, few, pilot, generator).seconds
    per_sample = took / (len(few) * pilot)
    return int(max(MIN_IW_SAMPLES, min(MAX_IW_SAMPLES, budget_seconds / max(per_sample * len(test), 1e-12))))


def evaluate(
    model: VAE,
    config: RunConfig,
    splits: Splits,
    request: EvaluationRequest,
    classifier: DigitClassifier | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on the test split; keys are stable, figures not asked for are None.

    Raises likelihood.Cancelled when cancel() says so, ClassifierError when FID or IS is asked for
    without a classifier for the data set.
    """
    report = progress or (lambda stage, done, total: None)
    device = next(model.parameters()).device
    test = model_input(splits.test_images.to(device), config.model.likelihood, TEST_BINARISE_SEED)
    seconds: dict[str, float] = {}
    out: dict[str, Any] = {
        "dataset": config.data.dataset,
        "images": len(test),
        "likelihood": config.model.likelihood,
    }

    started = time.perf_counter()
    report("negative ELBO", 0, 1)
    terms = elbo_terms(model, test, seed=request.seed)
    out.update(neg_elbo=terms["neg_elbo"], reconstruction=terms["reconstruction"], kl=terms["kl"])
    seconds["neg_elbo"] = time.perf_counter() - started

    started = time.perf_counter()
    report("latent statistics", 0, 1)
    stats = latent_statistics(model, test, splits.test_labels)
    out.update(
        active_units=stats.active_units,
        latent_dim=len(stats.variances),
        components_in_use=stats.components_in_use,
        components=[
            {
                "component": c.index,
                "weight": c.weight,
                "share": c.share,
                "dominant_digit": c.dominant_label,
                "purity": None if np.isnan(c.purity) else c.purity,
                "class_counts": list(c.class_counts),
            }
            for c in stats.components
        ],
    )
    seconds["latent"] = time.perf_counter() - started

    out.update(
        fid=None,
        fid_floor=None,
        inception_score=None,
        inception_score_std=None,
        class_histogram=None,
        generated=None,
        iw_nll=None,
        iw_nll_stderr=None,
        iw_samples=None,
        gap=None,
    )
    try:  # the slow figures: a cancel keeps the quick ones above (Cancelled.partial)
        if (request.fid or request.inception) and len(splits.test_images) < 2:
            raise ValueError("FID and IS need at least 2 test images")
        if request.fid or request.inception:
            if classifier is None:
                classifier = load_classifier_for(config.data.dataset, device)
            if cancel is not None and cancel():
                raise Cancelled("evaluation cancelled")
            started = time.perf_counter()
            n = len(splits.test_images)
            report("sample quality", 0, 3)
            # a CPU generator: the same latent draws on either device, so FID and IS compare
            generated = generate(model, n, torch.Generator().manual_seed(request.seed))
            out["generated"] = n
            probs = predict_proba(classifier, generated)
            out["class_histogram"] = class_histogram(probs).tolist()
            parts = inception_splits(n)
            if request.inception and parts:
                score, std = inception_score(probs, parts)
                # one split has no spread to show (its std is 0 by construction, not a precision)
                out.update(inception_score=score, inception_score_std=std if parts > 1 else None)
                seconds["inception_score"] = time.perf_counter() - started
            if request.fid:
                started = time.perf_counter()
                report("sample quality", 1, 3)
                real = extract_features(classifier, splits.test_images)
                fake = extract_features(classifier, generated)
                out["fid"] = frechet_distance(fake, real)
                report("sample quality", 2, 3)
                if len(splits.train_images) >= n:  # as many real images on both sides
                    floor = extract_features(classifier, splits.train_images[:n])
                    out["fid_floor"] = frechet_distance(floor, real)
                seconds["fid"] = time.perf_counter() - started
            report("sample quality", 3, 3)
        samples = request.iw_samples
        if samples is None and request.iw_budget is not None:
            samples = iw_samples_for(request.iw_budget - sum(seconds.values()), model, test)
        if samples is not None:
            result = iw_nll(  # noise from the model's device: IW-5000 draws hundreds of millions
                model,
                test,
                samples,
                torch.Generator(device).manual_seed(request.seed),
                progress=lambda done, total: report("importance sampling", done, total),
                cancel=cancel,
            )
            out.update(
                iw_nll=result.mean,
                iw_nll_stderr=result.stderr,
                iw_samples=result.samples,
                gap=out["neg_elbo"] - result.mean,
            )
            seconds["iw_nll"] = result.seconds
    except Cancelled as exc:
        out["seconds"] = seconds
        exc.partial = out
        raise
    out["seconds"] = seconds
    return out


def size_notes(request: EvaluationRequest, splits: Splits) -> list[str]:
    """Why a figure asked for is left out for the sizes of the data: an IS of fewer than 100
    images, a FID floor on fewer training images than test images."""
    n, train = len(splits.test_images), len(splits.train_images)
    notes = []
    if request.inception and n >= 2 and not inception_splits(n):
        notes.append(
            f"no IS: it needs at least {IS_SPLIT_IMAGES} generated images (one per test image), not {n}"
        )
    if request.fid and n >= 2 and train < n:
        notes.append(f"no FID floor: it needs as many training images as test images ({n:,}), not {train:,}")
    return notes


def evaluate_with_notes(
    model: VAE,
    config: RunConfig,
    splits: Splits,
    request: EvaluationRequest,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """`evaluate`, with the classifier of the data set looked up; without one (or with a broken
    one) FID and IS are left out and the result's `notes` says why, in one line."""
    notes: list[str] = []
    classifier = None
    if (request.fid or request.inception) and len(splits.test_images) < 2:
        notes.append("no FID or IS: they need at least 2 test images")
        request = replace(request, fid=False, inception=False)
    if request.fid or request.inception:
        try:  # on the model's device, where its samples are drawn
            classifier = load_classifier_for(config.data.dataset, next(model.parameters()).device, notes)
        except ClassifierError as exc:
            notes.append(str(exc))
            request = replace(request, fid=False, inception=False)
    notes += size_notes(request, splits)
    try:
        results = evaluate(model, config, splits, request, classifier, progress, cancel)
    except Cancelled as exc:
        if exc.partial is not None:
            exc.partial["notes"] = notes
        raise
    results["notes"] = notes
    return results
