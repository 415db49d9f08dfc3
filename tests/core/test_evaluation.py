"""The evaluation report: stable keys, the bound's parts, sample quality through a classifier,
and the bad cases (another data set's classifier, a cancelled run, samples of one class)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_explorer.core.classifier import ClassifierError, DigitClassifier, save_classifier
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig
from vae_explorer.core.evaluate import negative_elbo
from vae_explorer.core.evaluation import EvaluationRequest, evaluate, evaluate_with_notes, load_classifier_for
from vae_explorer.core.likelihood import Cancelled
from vae_explorer.core.model import new_model

CONFIG = RunConfig(DataConfig(limit_test=60), ModelConfig(hidden=16, latent_dim=3, components=4))


@pytest.fixture
def small(tiny_splits):
    from dataclasses import replace

    splits = replace(
        tiny_splits, test_images=tiny_splits.test_images[:60], test_labels=tiny_splits.test_labels[:60]
    )
    return new_model(CONFIG.model, torch.Generator().manual_seed(0)), splits


def one_class_classifier(digit: int) -> DigitClassifier:
    """A classifier that calls every image `digit`, whatever it shows."""
    model = DigitClassifier(torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(-50.0)
        model.head.bias[digit] = 50.0
    return model.eval()


def test_the_report_has_stable_keys_and_the_bound_adds_up(small):
    model, splits = small
    out = evaluate(model, CONFIG, splits, EvaluationRequest())
    for key in (
        "neg_elbo",
        "reconstruction",
        "kl",
        "iw_nll",
        "iw_nll_stderr",
        "iw_samples",
        "gap",
        "active_units",
        "latent_dim",
        "components_in_use",
        "components",
        "fid",
        "fid_floor",
        "inception_score",
        "inception_score_std",
        "class_histogram",
        "seconds",
    ):
        assert key in out
    assert out["iw_nll"] is None and out["fid"] is None
    assert out["neg_elbo"] == pytest.approx(out["reconstruction"] + out["kl"], rel=1e-6)
    from vae_explorer.core.data import TEST_BINARISE_SEED, model_input

    test = model_input(splits.test_images, "bernoulli", TEST_BINARISE_SEED)
    assert out["neg_elbo"] == negative_elbo(model, test)  # the same draws as the trainer's test figure
    assert len(out["components"]) == 4 and sum(c["share"] for c in out["components"]) == pytest.approx(1.0)


def test_samples_of_one_class_give_an_inception_score_of_one(small, tiny_splits):
    from dataclasses import replace

    model, _ = small
    splits = replace(  # 200 images: two splits of 100
        tiny_splits, test_images=tiny_splits.test_images[:200], test_labels=tiny_splits.test_labels[:200]
    )
    out = evaluate(
        model,
        CONFIG,
        splits,
        EvaluationRequest(iw_samples=5, fid=True, inception=True),
        classifier=one_class_classifier(3),
    )
    assert out["inception_score"] == pytest.approx(1.0) and out["inception_score_std"] == pytest.approx(0.0)
    assert out["class_histogram"] == [0, 0, 0, 200, 0, 0, 0, 0, 0, 0] and out["generated"] == 200
    assert math.isfinite(out["fid"]) and math.isfinite(out["fid_floor"])
    assert out["iw_samples"] == 5 and out["gap"] == pytest.approx(out["neg_elbo"] - out["iw_nll"])


def test_too_few_images_for_is_or_the_fid_floor_leave_them_out_with_a_note(small, tiny_splits):
    """An IS split of m images is capped near m (one image: exactly 1, whatever the model), so
    fewer than 100 generated images give no IS; a floor on fewer training images than test images
    is not the floor of this FID (and one training image would fail), so there is none."""
    from dataclasses import replace

    model, splits = small  # 60 test images
    out = evaluate_with_notes(model, CONFIG, splits, EvaluationRequest(fid=True, inception=True))
    assert out["inception_score"] is None and out["inception_score_std"] is None
    assert out["fid"] is not None and out["fid_floor"] is not None and out["class_histogram"] is not None
    assert out["notes"] == ["no IS: it needs at least 100 generated images (one per test image), not 60"]
    one = replace(tiny_splits, train_images=tiny_splits.train_images[:1])  # 256 test images
    out = evaluate_with_notes(model, CONFIG, one, EvaluationRequest(fid=True, inception=True))
    assert out["fid"] is not None and out["fid_floor"] is None and out["inception_score"] is not None
    assert out["notes"] == ["no FID floor: it needs as many training images as test images (256), not 1"]
    one_split = replace(
        tiny_splits, test_images=tiny_splits.test_images[:150], test_labels=tiny_splits.test_labels[:150]
    )
    out = evaluate_with_notes(model, CONFIG, one_split, EvaluationRequest(inception=True))
    assert out["inception_score"] is not None and out["inception_score_std"] is None  # no "± 0.00"


def test_the_inception_scores_splits_hold_100_images_or_more():
    from vae_explorer.core.evaluation import inception_splits

    assert [inception_splits(n) for n in (99, 100, 250, 999, 1000, 10_000)] == [0, 1, 2, 9, 10, 10]


def test_a_time_budget_picks_the_number_of_samples(small):
    model, splits = small
    tiny = evaluate(model, CONFIG, splits, EvaluationRequest(iw_budget=1e-9))
    assert tiny["iw_samples"] == 10  # never fewer
    some = evaluate(model, CONFIG, splits, EvaluationRequest(iw_budget=0.5))
    more = evaluate(model, CONFIG, splits, EvaluationRequest(iw_budget=1e6))
    assert 1 <= some["iw_samples"] <= 5000 and more["iw_samples"] == 5000  # never beyond 5000


def test_a_cancelled_evaluation_raises_cancelled(small):
    model, splits = small
    with pytest.raises(Cancelled):
        evaluate(model, CONFIG, splits, EvaluationRequest(iw_samples=50), cancel=lambda: True)


def test_classifier_problems_become_notes_or_one_line_errors(small, tmp_path, monkeypatch):
    model, splits = small
    other = tmp_path / "fashion.pt"
    save_classifier(DigitClassifier(torch.Generator().manual_seed(0)), other, "fashion-mnist")
    monkeypatch.setattr("vae_explorer.core.evaluation.user_classifier_path", lambda d: other)
    # the user's classifier of another data set does not hide the bundled one: that is used instead
    notes: list[str] = []
    assert isinstance(load_classifier_for("mnist", notes=notes), DigitClassifier)
    assert len(notes) == 1 and "trained on fashion-mnist, not mnist" in notes[0] and "bundled" in notes[0]
    out = evaluate_with_notes(model, CONFIG, splits, EvaluationRequest(fid=True, inception=True))
    assert out["fid"] is not None and len(out["notes"]) == 2 and "fashion-mnist" in out["notes"][0]
    assert out["notes"][1].startswith("no IS")  # 60 test images
    monkeypatch.setattr(
        "vae_explorer.core.evaluation.bundled_classifier_path", lambda d: tmp_path / "none.pt"
    )
    with pytest.raises(ClassifierError, match="trained on fashion-mnist, not mnist"):
        load_classifier_for("mnist")  # with no bundled one to fall back on, the reason is the error
    monkeypatch.setattr("vae_explorer.core.evaluation.user_classifier_path", lambda d: tmp_path / "no.pt")
    monkeypatch.setattr("vae_explorer.core.evaluation.bundled_classifier_path", lambda d: tmp_path / "no.pt")
    with pytest.raises(ClassifierError, match="classifier train --dataset fashion-mnist"):
        load_classifier_for("fashion-mnist")
    (tmp_path / "no.pt").write_bytes(b"garbage")
    out = evaluate_with_notes(model, CONFIG, splits, EvaluationRequest(inception=True))
    assert out["inception_score"] is None and "no.pt" in out["notes"][0]


def test_bundled_classifier_reads_mnist_digits(tiny_splits):
    """The shipped classifier loads with weights_only=True and reads a fixed slice of the test set."""
    from vae_explorer.core.classifier import accuracy
    from vae_explorer.core.evaluation import bundled_classifier_path

    path = bundled_classifier_path("mnist")
    assert path.is_file(), path
    torch.load(path, weights_only=True)
    model = load_classifier_for("mnist")
    assert accuracy(model, tiny_splits.test_images, tiny_splits.test_labels) > 0.985
    assert np.isfinite(model.head.weight.detach().numpy()).all()


def test_kept_iw_nlls_belong_to_the_model_of_the_same_epoch():
    """evaluation.json keeps the IW-NLL of the most samples, but only of the same model: once the
    run has a newer best, the older model's S=5000 figure says nothing of it."""
    from vae_explorer.core.evaluation_file import merge_evaluations

    old = {"epoch": 10, "iw_nll": 90.0, "iw_nll_stderr": 0.2, "iw_samples": 5000, "gap": 4.0}
    same = merge_evaluations(old, {"epoch": 10, "iw_nll": 90.3, "iw_nll_stderr": 0.3, "iw_samples": 100})
    assert same["iw_samples"] == 5000 and same["iw_nll"] == 90.0
    assert [r["iw_samples"] for r in same["iw_runs"]] == [100, 5000]
    newer = merge_evaluations(old, {"epoch": 12, "iw_nll": 89.9, "iw_nll_stderr": 0.3, "iw_samples": 100})
    assert newer["iw_samples"] == 100 and newer["iw_nll"] == 89.9
    assert [r["iw_samples"] for r in newer["iw_runs"]] == [100]


@pytest.mark.parametrize("latent_dim", [3, 40])
def test_the_negative_elbo_does_not_depend_on_the_batch_size(tiny_splits, latent_dim):
    """The CPU draws normals in blocks of 16: noise drawn batch by batch would cut that stream
    elsewhere for batches of another size when images x latent_dim is not a multiple of 16 (an odd
    latent size), and a GPU scores in larger batches than a CPU. Drawn at once, every batch size
    gives the same figure; for an even latent size it is the figure the batch-by-batch draws gave
    (so saved figures stand)."""
    from vae_explorer.core.data import TEST_BINARISE_SEED, model_input
    from vae_explorer.core.evaluate import elbo_terms

    config = ModelConfig(hidden=16, latent_dim=latent_dim, components=4)
    model = new_model(config, torch.Generator().manual_seed(0)).eval()
    x = model_input(tiny_splits.test_images, "bernoulli", TEST_BINARISE_SEED)  # 256 images
    figures = [negative_elbo(model, x, batch_size=b) for b in (7, 100, 256)]
    assert figures[1] == pytest.approx(figures[0], rel=1e-6) and figures[2] == pytest.approx(
        figures[0], rel=1e-6
    )
    assert elbo_terms(model, x, batch_size=7)["neg_elbo"] == pytest.approx(figures[0], rel=1e-6)
    if latent_dim % 2 == 0:
        generator, total = torch.Generator().manual_seed(0), 0.0
        with torch.no_grad():
            for start in range(0, len(x), 128):  # 128 x 40 draws: a multiple of 16
                total += float(model(x[start : start + 128], generator, reduction="sum"))
        assert negative_elbo(model, x, batch_size=128) == total / len(x)
