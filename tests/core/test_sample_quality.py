"""Fréchet distance and Inception Score against closed forms; the digit classifier's training and files."""

import math

import numpy as np
import pytest
import torch

from vae_explorer.core.classifier import (
    ClassifierError,
    DigitClassifier,
    accuracy,
    extract_features,
    load_classifier,
    predict_proba,
    save_classifier,
    train_classifier,
)
from vae_explorer.core.sample_quality import class_histogram, frechet_distance, inception_score


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _with_moments(n, mean, cov, seed):
    """n points whose sample mean is exactly `mean` and sample covariance (ddof=1) exactly `cov`."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    whiten = np.linalg.cholesky(np.cov(z, rowvar=False))
    z = np.linalg.solve(whiten, z.T).T  # sample covariance now the identity
    return np.asarray(mean) + z @ np.linalg.cholesky(cov).T


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    v1, v2 = np.array([0.5, 1.0, 2.0, 3.0, 0.1]), np.array([2.0, 1.0, 0.5, 0.2, 0.1])
    m1, m2 = np.zeros(5), np.array([1.0, -2.0, 0.0, 0.5, 0.0])
    a = _with_moments(500, m1, np.diag(v1), seed=0)
    b = _with_moments(700, m2, np.diag(v2), seed=1)
    # commuting covariances: Tr (C1 C2)^(1/2) = sum sqrt(v1 v2)
    closed = ((m1 - m2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert frechet_distance(a, b) == pytest.approx(closed, rel=1e-6)
    assert frechet_distance(torch.as_tensor(b), torch.as_tensor(a)) == pytest.approx(closed, rel=1e-6)


def test_frechet_distance_of_non_commuting_2d_gaussians():
    c1 = np.array([[2.0, 0.8], [0.8, 1.0]])
    c2 = np.array([[0.5, -0.3], [-0.3, 1.5]])
    a = _with_moments(400, [0.0, 1.0], c1, seed=2)
    b = _with_moments(400, [1.0, 1.0], c2, seed=3)
    # for 2x2 matrices with positive eigenvalues, Tr M^(1/2) = sqrt(Tr M + 2 sqrt(det M))
    tr_sqrt = math.sqrt(np.trace(c1 @ c2) + 2 * math.sqrt(np.linalg.det(c1) * np.linalg.det(c2)))
    closed = 1.0 + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(closed, rel=1e-6)


def test_identical_sets_are_at_distance_zero_and_shapes_are_checked():
    a = np.random.default_rng(4).standard_normal((300, 16)) * 3 + 5
    assert frechet_distance(a, a.copy()) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="width"):
        frechet_distance(a, a[:, :8])
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(a, a[:1])


def test_inception_score_limits():
    confident_even = np.eye(10)[np.arange(1000) % 10]  # each split of 100 holds 10 of each class
    mean, std = inception_score(confident_even)
    assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-12)
    identical = np.tile([0.05, 0.55, 0.4] + [0.0] * 7, (1000, 1))
    mean, std = inception_score(identical)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_a_two_class_case_by_hand():
    probs = np.array([[0.9, 0.1], [0.1, 0.9]] * 50)
    # p(y) = (0.5, 0.5); KL of each row = 0.9 log 1.8 + 0.1 log 0.2
    expected = math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert inception_score(probs, splits=1) == pytest.approx((expected, 0.0))
    assert inception_score(torch.as_tensor(probs), splits=5)[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(probs * 2)
    with pytest.raises(ValueError, match="splits"):
        inception_score(probs[:5], splits=10)


def test_class_histogram_counts_the_most_probable_class():
    probs = np.array([[0.7, 0.2, 0.1, 0.0], [0.1, 0.2, 0.7, 0.0], [0.2, 0.5, 0.3, 0.0], [0.6, 0.3, 0.1, 0.0]])
    assert class_histogram(probs).tolist() == [2, 1, 1, 0]


def test_classifier_construction_uses_only_its_generator():
    before = torch.random.get_rng_state()
    a, b = (
        DigitClassifier(torch.Generator().manual_seed(3)),
        DigitClassifier(torch.Generator().manual_seed(3)),
    )
    assert torch.equal(before, torch.random.get_rng_state())
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_classifier_trains_on_a_tiny_subset_and_round_trips(tiny_splits, tmp_path):
    s = tiny_splits
    epochs = []
    trained = train_classifier(
        s.train_images,
        s.train_labels,
        s.val_images,
        s.val_labels,
        epochs=2,
        generator=torch.Generator().manual_seed(0),
        progress=lambda *args: epochs.append(args),
        batch_size=32,
    )
    assert [e[:2] for e in epochs] == [(1, 2), (2, 2)] and len(trained.val_accuracy) == 2
    assert trained.train_loss[1] < trained.train_loss[0] < math.log(10) + 1
    assert accuracy(trained.model, s.val_images, s.val_labels) > 0.5  # chance is 0.1

    path = tmp_path / "classifier.pt"
    save_classifier(trained.model, path, "mnist", 0.5)
    payload = torch.load(path, weights_only=True)  # plain values and a state_dict of tensors
    assert set(payload["state"]) == set(trained.model.state_dict()) and payload["dataset"] == "mnist"
    loaded, info = load_classifier(path)
    assert (info.dataset, info.test_accuracy) == ("mnist", 0.5)
    images = s.test_images[:64].float() / 255.0
    np.testing.assert_array_equal(
        predict_proba(loaded, images), predict_proba(trained.model, s.test_images[:64])
    )
    features = extract_features(loaded, images)
    assert features.shape == (64, loaded.num_features) and np.all(features >= 0)
    np.testing.assert_allclose(predict_proba(loaded, images).sum(axis=1), 1.0, atol=1e-12)


def test_broken_classifier_files_raise_classifier_error(tmp_path):
    with pytest.raises(ClassifierError, match="not found"):
        load_classifier(tmp_path / "missing.pt")
    good = tmp_path / "good.pt"
    save_classifier(DigitClassifier(torch.Generator().manual_seed(0)), good, "mnist")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    listing = tmp_path / "list.pt"
    torch.save([1, 2, 3], listing)
    for path in (truncated, garbage, other, listing):
        with pytest.raises(ClassifierError, match=str(path.name)):
            load_classifier(path)
    with pytest.raises(ClassifierError, match="folder"):
        load_classifier(tmp_path)
