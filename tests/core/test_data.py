"""The split, the binarisation, the errors for missing, damaged or mis-sized IDX files, and downloads."""

import gzip
import re
import shutil
import struct
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from vae_explorer.assets import bundled_data_root
from vae_explorer.core import data as data_module
from vae_explorer.core.config import DATASETS, DataConfig, ModelConfig
from vae_explorer.core.data import (
    IMAGE_SIDE,
    TEST_BINARISE_SEED,
    VAL_BINARISE_SEED,
    DataError,
    TrainBatches,
    load_splits,
    model_input,
    split_indices,
    user_cache_dir,
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
    batches = TrainBatches(image.repeat(2000, 1), 2000, "bernoulli", torch.Generator().manual_seed(0))
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
    seen = torch.cat(
        [b[:, 0] for b in TrainBatches(images, 32, "categorical", torch.Generator().manual_seed(0))]
    )
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


def _write_idx(path: Path, array, magic: int) -> None:
    """An IDX file as the format defines it: magic, big-endian sizes, then the uint8 data; gzipped."""
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(gzip.compress(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes(), 1))


def _read_gz(path: Path, ndim: int):
    blob = gzip.decompress(path.read_bytes())
    dims = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    return np.frombuffer(blob[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


def test_every_dataset_has_the_models_image_size():
    assert ModelConfig().image_size == 28
    assert all(IMAGE_SIDE[name] == 28 for name in DATASETS)


def test_images_padded_to_32x32_are_refused(tmp_path):
    root = _copy_root(tmp_path)
    raw = root / "MNIST" / "raw"
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        images = _read_gz(raw / f"{stem}.gz", 3)
        _write_idx(raw / f"{stem}.gz", np.pad(images, ((0, 0), (2, 2), (2, 2))), 0x0803)
    with pytest.raises(DataError) as exc:
        load_splits(DataConfig(root=str(root), limit_train=10, limit_val=10, limit_test=10))
    message = str(exc.value)
    assert str(raw / "train-images-idx3-ubyte.gz") in message
    assert "32x32" in message and "28x28" in message


def test_test_images_of_another_size_are_refused_when_loading(tmp_path):
    root = _copy_root(tmp_path)
    raw = root / "MNIST" / "raw"
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", np.zeros((2500, 56, 56), np.uint8), 0x0803)
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.zeros(2500, np.uint8), 0x0801)
    with pytest.raises(DataError) as exc:
        load_splits(DataConfig(root=str(root), limit_train=10, limit_val=10, limit_test=10))
    assert str(raw / "t10k-images-idx3-ubyte.gz") in str(exc.value)
    assert "56x56" in str(exc.value) and "28x28" in str(exc.value)


def test_label_count_must_match_image_count(tmp_path):
    root = _copy_root(tmp_path)
    raw = root / "MNIST" / "raw"
    labels = _read_gz(raw / "t10k-labels-idx1-ubyte.gz", 1)
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels[:9_999], 0x0801)
    with pytest.raises(DataError) as exc:
        load_splits(DataConfig(root=str(root), limit_train=10, limit_val=10, limit_test=10))
    assert str(raw / "t10k-labels-idx1-ubyte.gz") in str(exc.value)
    assert "9999 labels" in str(exc.value) and "10000 images" in str(exc.value)


@pytest.mark.parametrize("download", [False, True])
def test_a_file_as_data_root_is_not_a_folder(tmp_path, monkeypatch, download):
    def no_download(root, dataset):
        raise AssertionError("must not download into a file")

    monkeypatch.setattr(data_module, "_download", no_download)
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(DataError) as exc:
        load_splits(DataConfig(root=str(afile), download=download))
    assert str(afile) in str(exc.value) and "not a folder" in str(exc.value)
    assert "does not exist" not in str(exc.value)


class _FakeTorchvisionDataset:
    """Stands in for torchvision.datasets.MNIST/FashionMNIST: records the root, writes the files."""

    roots: ClassVar[list[str]] = []
    folder = "MNIST"

    def __init__(self, root, train=True, download=False):
        assert download
        type(self).roots.append(root)
        raw = Path(root) / self.folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for f in RAW.glob("*.gz"):
            shutil.copy(f, raw / f.name)


def test_download_of_mnist_without_a_root_uses_the_bundled_copy(tmp_path, monkeypatch):
    import torchvision.datasets

    from vae_explorer.assets import resources_dir

    fake = type("Fake", (_FakeTorchvisionDataset,), {"roots": [], "folder": "MNIST"})
    monkeypatch.setattr(torchvision.datasets, "MNIST", fake)
    before = sorted(p.relative_to(resources_dir()) for p in resources_dir().rglob("*"))
    s = load_splits(DataConfig(download=True, limit_train=5, limit_val=5, limit_test=5))
    assert s.train_images.shape == (5, 784) and fake.roots == []  # nothing fetched
    assert sorted(p.relative_to(resources_dir()) for p in resources_dir().rglob("*")) == before


@pytest.mark.parametrize("dataset,folder", [("fashion-mnist", "FashionMNIST")])
def test_download_without_a_root_goes_to_the_user_cache(tmp_path, monkeypatch, dataset, folder):
    import torchvision.datasets

    import vae_explorer
    from vae_explorer.assets import resources_dir

    fake = type("Fake", (_FakeTorchvisionDataset,), {"roots": [], "folder": folder})
    monkeypatch.setattr(torchvision.datasets, "MNIST" if dataset == "mnist" else "FashionMNIST", fake)
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    before = sorted(p.relative_to(resources_dir()) for p in resources_dir().rglob("*"))
    s = load_splits(DataConfig(dataset=dataset, download=True, limit_train=5, limit_val=5, limit_test=5))
    assert s.train_images.shape == (5, 784)
    expected = cache / "vae-explorer" / "datasets"
    if sys.platform in ("win32", "darwin"):  # no XDG there; test_user_cache_dir_per_platform checks those
        expected = user_cache_dir()
    assert [Path(r) for r in fake.roots] == [expected, expected]  # train and test
    for package in (Path(vae_explorer.__file__).parent, resources_dir()):
        assert not expected.resolve().is_relative_to(package.resolve())
    assert sorted(p.relative_to(resources_dir()) for p in resources_dir().rglob("*")) == before
    assert (expected / folder / "raw" / "t10k-images-idx3-ubyte.gz").is_file()
    if dataset == "fashion-mnist":  # later reads of the same config (test_only) find the download
        again = load_splits(DataConfig(dataset=dataset, download=True).test_only(limit_test=3))
        assert again.test_images.shape == (3, 784)


def test_an_explicit_root_is_where_the_download_goes(tmp_path, monkeypatch):
    import torchvision.datasets

    fake = type("Fake", (_FakeTorchvisionDataset,), {"roots": [], "folder": "FashionMNIST"})
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", fake)
    load_splits(
        DataConfig(
            dataset="fashion-mnist",
            root=str(tmp_path / "mine"),
            download=True,
            limit_train=2,
            limit_val=2,
            limit_test=2,
        )
    )
    assert [Path(r) for r in fake.roots] == [tmp_path / "mine"] * 2


def test_user_cache_dir_per_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert user_cache_dir() == tmp_path / "c" / "vae-explorer" / "datasets"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec says: ignore it
    assert user_cache_dir() == Path.home() / ".cache" / "vae-explorer" / "datasets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert user_cache_dir() == Path.home() / ".cache" / "vae-explorer" / "datasets"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert user_cache_dir() == Path.home() / "Library" / "Caches" / "vae-explorer" / "datasets"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert user_cache_dir() == tmp_path / "local" / "vae-explorer" / "datasets"


def test_a_folder_holding_the_files_themselves_is_a_data_root(tmp_path):
    """Debian's dataset packages put the four .gz files straight into one folder."""
    import shutil

    from vae_explorer.assets import bundled_data_root

    for path in (bundled_data_root() / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(path, tmp_path / path.name)
    splits = load_splits(DataConfig(root=str(tmp_path), limit_train=10, limit_val=10, limit_test=10))
    assert len(splits.test_images) == 10


def test_a_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nno network")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("the user's")
    with pytest.raises(DataError, match="download of fashion-mnist") as exc:
        load_splits(DataConfig(dataset="fashion-mnist", root=str(root), download=True))
    assert "\n" not in str(exc.value)
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]


def _crafted(path: Path, header: bytes, body: bytes) -> None:
    path.write_bytes(gzip.compress(header + body, 1))


def test_a_header_promising_too_much_is_refused_before_reading_the_rest(tmp_path):
    """Sizes whose product wraps in int64 (2^31 x 2^31 x 4 = 2^64), and a small .gz whose header
    promises far more than a data set holds: one line each, without reading the file whole."""
    root = _copy_root(tmp_path)
    raw = root / "MNIST" / "raw"
    path = raw / "t10k-images-idx3-ubyte.gz"
    _crafted(path, struct.pack(">IIII", 0x0803, 2**31, 2**31, 4), b"")
    with pytest.raises(DataError, match="more than any data set here holds") as exc:
        load_splits(DataConfig(root=str(root)))
    assert str(path) in str(exc.value)
    labels = raw / "t10k-labels-idx1-ubyte.gz"  # a header of 10,000 labels, then 64 MB of zeros
    _write_idx(path, np.zeros((10_000, 28, 28), np.uint8), 0x0803)
    _crafted(labels, struct.pack(">II", 0x0801, 10_000), bytes(64_000_000))
    with pytest.raises(DataError, match="found more"):
        load_splits(DataConfig(root=str(root)))


def test_an_empty_test_set_and_labels_beyond_9_are_refused(tmp_path):
    root = _copy_root(tmp_path)
    raw = root / "MNIST" / "raw"
    images, labels = raw / "t10k-images-idx3-ubyte.gz", raw / "t10k-labels-idx1-ubyte.gz"
    kept, digits = images.read_bytes(), _read_gz(labels, 1).copy()
    _write_idx(images, np.zeros((0, 28, 28), np.uint8), 0x0803)
    _write_idx(labels, np.zeros(0, np.uint8), 0x0801)
    with pytest.raises(DataError, match="holds no images"):
        load_splits(DataConfig(root=str(root)))
    images.write_bytes(kept)
    digits[:100] = 200
    _write_idx(labels, digits, 0x0801)
    with pytest.raises(DataError, match="label 200, expected digits 0 to 9") as exc:
        load_splits(DataConfig(root=str(root)))
    assert str(labels) in str(exc.value)


def test_a_damaged_extracted_file_gives_way_to_its_archive(tmp_path):
    """torchvision extracts the .gz files and later checks only that the extracted ones exist: a
    damaged extracted file must not stop the data loading while the archive beside it is whole."""
    root = _copy_root(tmp_path)
    raw = root / "MNIST" / "raw"
    blob = gzip.decompress((raw / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (raw / "t10k-labels-idx1-ubyte").write_bytes(blob[:5000])
    s = load_splits(DataConfig(root=str(root), limit_train=10, limit_val=10, limit_test=10))
    assert s.test_labels.tolist()[:3] == [7, 2, 1]
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()  # no archive: the damage is named
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_splits(DataConfig(root=str(root)))


def test_a_data_root_that_is_a_link_loop_says_so(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match="symbolic link that leads nowhere") as exc:
        load_splits(DataConfig(root=str(loop)))
    assert "does not exist" not in str(exc.value)
