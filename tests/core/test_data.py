"""The split, the binarisation and the errors for missing or damaged IDX files."""

import gzip
import re
import shutil
from pathlib import Path

import pytest
import torch

from vae_explorer.assets import bundled_data_root
from vae_explorer.core.config import DataConfig
from vae_explorer.core.data import (
    TEST_BINARISE_SEED,
    VAL_BINARISE_SEED,
    DataError,
    TrainBatches,
    load_splits,
    model_input,
    split_indices,
)

RAW = bundled_data_root() / "MNIST" / "raw"


def test_split_is_50000_10000_with_seed_14():
    train, val = split_indices()
    assert len(train) == 50_000 and len(val) == 10_000
    perm = torch.randperm(60_000, generator=torch.Generator().manual_seed(14))
    assert torch.equal(train, perm[:50_000]) and torch.equal(val, perm[50_000:])
    assert len(set(train.tolist()) | set(val.tolist())) == 60_000


def test_full_splits_shapes():
    s = load_splits(DataConfig())
    assert s.train_images.shape == (50_000, 784) and s.train_images.dtype == torch.uint8
    assert s.val_images.shape == (10_000, 784) and s.test_images.shape == (10_000, 784)
    assert s.test_labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits


def test_limits(tiny_splits):
    assert len(tiny_splits.train_images) == 512 and len(tiny_splits.val_images) == 256
    assert len(tiny_splits.test_images) == 256 == len(tiny_splits.test_labels)


def test_validation_and_test_binarisation_is_fixed_across_loads(tiny_splits):
    again = load_splits(DataConfig(limit_train=512, limit_val=256, limit_test=256))
    assert torch.equal(again.val_images, tiny_splits.val_images)
    for images, seed in (
        (tiny_splits.val_images, VAL_BINARISE_SEED),
        (tiny_splits.test_images, TEST_BINARISE_SEED),
    ):
        a = model_input(images, "bernoulli", seed=seed)
        b = model_input(images.clone(), "bernoulli", seed=seed)
        assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
        assert not torch.equal(a, model_input(images, "bernoulli", seed=seed + 1))
        # the binarised mean follows the grey levels
        assert abs(a.mean().item() - images.float().mean().item() / 255) < 0.01


def test_training_batches_are_fresh_bernoulli_draws_each_epoch(tiny_splits):
    image = tiny_splits.train_images[3]
    batches = TrainBatches(image.repeat(2000, 1), 2000, "bernoulli")
    torch.manual_seed(0)
    first, second = next(iter(batches)), next(iter(batches))
    assert first.dtype == torch.float32 and set(first.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(first, second)
    # every pixel is Bernoulli(pixel / 255): frequencies within 5 standard errors of p
    p = image.double() / 255
    freq = torch.cat([first, second]).double().mean(0)
    se = torch.sqrt(p * (1 - p) / 4000).clamp_min(1e-12)
    assert torch.all((freq - p).abs() <= 5 * se)
    assert torch.all(freq[p == 0] == 0) and torch.all(freq[p == 1] == 1)


def test_batches_cover_every_image_once():
    images = torch.arange(70, dtype=torch.uint8).repeat_interleave(784).view(70, 784)
    seen = torch.cat([b[:, 0] for b in TrainBatches(images, 32, "categorical")])
    assert sorted(seen.long().tolist()) == list(range(70))


def _copy_root(tmp_path: Path) -> Path:
    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in RAW.glob("*.gz"):
        shutil.copy(f, raw / f.name)
    return tmp_path / "root"


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        load_splits(DataConfig(root=str(tmp_path / "nowhere")))


def test_missing_raw_folder(tmp_path):
    with pytest.raises(DataError, match="MNIST/raw"):
        load_splits(DataConfig(root=str(tmp_path)))


def test_missing_file(tmp_path):
    root = _copy_root(tmp_path)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=re.escape(str(root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"))):
        load_splits(DataConfig(root=str(root)))


def test_truncated_file(tmp_path):
    root = _copy_root(tmp_path)
    path = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[: len(data) // 2]))
    with pytest.raises(DataError, match="truncated") as exc:
        load_splits(DataConfig(root=str(root)))
    assert str(path) in str(exc.value)


def test_corrupt_gzip(tmp_path):
    root = _copy_root(tmp_path)
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=re.escape(str(path))):
        load_splits(DataConfig(root=str(root)))


def test_damaged_deflate_stream(tmp_path):
    root = _copy_root(tmp_path)
    path = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(path.read_bytes())
    blob[100:200] = bytes(b ^ 0xFF for b in blob[100:200])  # zlib.error, not an OSError
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=re.escape(str(path))):
        load_splits(DataConfig(root=str(root)))


def test_not_gzip_at_all(tmp_path):
    root = _copy_root(tmp_path)
    path = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"this is not an IDX file")
    with pytest.raises(DataError, match=re.escape(str(path))):
        load_splits(DataConfig(root=str(root)))


def test_wrong_magic(tmp_path):
    root = _copy_root(tmp_path)
    raw = root / "MNIST" / "raw"
    shutil.copy(raw / "t10k-labels-idx1-ubyte.gz", raw / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="magic") as exc:
        load_splits(DataConfig(root=str(root)))
    assert str(raw / "t10k-images-idx3-ubyte.gz") in str(exc.value)


def test_extracted_files_are_read_too(tmp_path):
    root = _copy_root(tmp_path)
    for gz in (root / "MNIST" / "raw").glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    s = load_splits(DataConfig(root=str(root), limit_train=10, limit_val=10, limit_test=10))
    assert s.test_labels.tolist()[:3] == [7, 2, 1]


def test_fashion_needs_a_root():
    with pytest.raises(DataError, match="data-root"):
        load_splits(DataConfig(dataset="fashion-mnist"))


def test_fashion_layout(tmp_path):
    root = tmp_path / "fm"
    shutil.copytree(RAW, root / "FashionMNIST" / "raw")
    s = load_splits(
        DataConfig(dataset="fashion-mnist", root=str(root), limit_train=5, limit_val=5, limit_test=5)
    )
    assert s.train_images.shape == (5, 784)
