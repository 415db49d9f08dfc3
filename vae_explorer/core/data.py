"""MNIST-style data: validated IDX reading, the course's split, and on-device binarisation."""

from __future__ import annotations

import gzip
import math
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import DataConfig

SPLIT_SEED = 14  # torch.Generator().manual_seed(14), as in the course
VAL_BINARISE_SEED = 1234
TEST_BINARISE_SEED = 4321
TRAIN_SIZE, VAL_SIZE = 50_000, 10_000

FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
# Image side in pixels of each dataset; the model is built for ModelConfig.image_size (28).
IMAGE_SIDE = {"mnist": 28, "fashion-mnist": 28}
FILES = {
    "train_images": ("train-images-idx3-ubyte", 0x0803),
    "train_labels": ("train-labels-idx1-ubyte", 0x0801),
    "test_images": ("t10k-images-idx3-ubyte", 0x0803),
    "test_labels": ("t10k-labels-idx1-ubyte", 0x0801),
}


class DataError(RuntimeError):
    """Missing or unreadable data; the message names the path and what was expected."""


@dataclass
class Splits:
    """uint8 images (N, 784) and int64 labels for train / validation / test."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    side: int = 28


def raw_dir(root: Path, dataset: str) -> Path:
    return Path(root) / FOLDERS[dataset] / "raw"


def user_cache_dir() -> Path:
    """Per-user folder for downloaded datasets; never inside the installed package.

    Linux and other Unix: `$XDG_CACHE_HOME/vae-explorer/datasets` (default `~/.cache`);
    macOS: `~/Library/Caches/vae-explorer/datasets`; Windows: `%LOCALAPPDATA%\\vae-explorer\\datasets`.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "vae-explorer" / "datasets"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "vae-explorer" / "datasets"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"  # XDG: ignore relative
    return base / "vae-explorer" / "datasets"


# the most data bytes an IDX file may declare: MNIST's training images are 47 MB; a header that
# promises more is damaged or crafted (a small .gz can expand to gigabytes)
MAX_IDX_BYTES = 200_000_000


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read an IDX file (plain or .gz), checking its magic number, shape and length. The header is
    read first; then exactly the bytes it promises (and one more, to tell a file that is too
    long), never the whole of a file that may expand without bound."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            dims, data = _idx_parts(path, fh, expected_magic)
    except FileNotFoundError:
        raise DataError(f"missing data file: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(f"cannot read {path}: {exc} (expected a gzip-compressed IDX file)") from None
    count = math.prod(dims)
    if len(data) != count:
        found = f"found {len(data)}" if len(data) < count else "found more"
        raise DataError(
            f"{path} is truncated or corrupt: header promises {count} bytes of data "
            f"for shape {tuple(dims)}, {found}"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _idx_parts(path: Path, fh, expected_magic: int) -> tuple[tuple[int, ...], bytes]:
    head = fh.read(4)
    if len(head) < 4:
        raise DataError(f"{path} is truncated: {len(head)} bytes, expected an IDX header")
    magic = struct.unpack(">I", head)[0]
    if magic != expected_magic:
        raise DataError(
            f"{path} is not an IDX file of the expected kind "
            f"(magic number 0x{magic:08x}, expected 0x{expected_magic:08x})"
        )
    ndim = magic & 0xFF
    raw = fh.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its header")
    dims = struct.unpack(f">{ndim}I", raw)
    count = math.prod(dims)  # Python's integers: no wrap-around
    if count > MAX_IDX_BYTES:
        raise DataError(
            f"{path} is corrupt: its header promises {count:,} bytes of data for shape {tuple(dims)}, "
            f"more than any data set here holds"
        )
    return dims, fh.read(count + 1)


def _read(folder: Path, stem: str, magic: int) -> tuple[Path, np.ndarray]:
    """The IDX file `stem` of `folder`: the extracted file, or its .gz. An extracted copy that is
    damaged gives way to the .gz beside it (torchvision extracts and then only checks that the
    extracted files exist, so a damaged one would otherwise stay for good)."""
    plain, packed = folder / stem, folder / f"{stem}.gz"
    if plain.is_file():
        try:
            return plain, read_idx(plain, magic)
        except DataError:
            if not packed.is_file():
                raise
    if packed.is_file():
        return packed, read_idx(packed, magic)
    raise DataError(f"missing data file: expected {packed} (or the extracted {stem})")


def load_raw(root: Path, dataset: str = "mnist", download: bool = False) -> dict[str, np.ndarray]:
    """Read the four IDX files of a torchvision-layout root (`root/MNIST/raw/...`).

    The images must be IMAGE_SIDE x IMAGE_SIDE for the dataset (28x28 for MNIST and Fashion-MNIST)
    and each label file must hold one label per image.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DataError(
            f"data root {root} is not a folder (expected a folder holding {FOLDERS[dataset]}/raw/)"
        )
    if download:
        _download(root, dataset)
    if not root.is_dir():
        what = (
            "is a symbolic link that leads nowhere (or back to itself)"
            if root.is_symlink()
            else "does not exist"
        )
        raise DataError(f"data root {root} {what} (expected a folder holding {FOLDERS[dataset]}/raw/)")
    folder = raw_dir(root, dataset)
    if not folder.is_dir() and _holds_idx_files(root):
        folder = root  # the files themselves, as Debian's dataset packages lay them out
    if not folder.is_dir():
        raise DataError(
            f"no {FOLDERS[dataset]}/raw folder under data root {root} "
            f"(expected the four IDX files in {folder}; pass --download to fetch them)"
        )
    side = IMAGE_SIDE[dataset]
    arrays: dict[str, np.ndarray] = {}
    paths: dict[str, Path] = {}
    for key, (stem, magic) in FILES.items():
        paths[key], arrays[key] = _read(folder, stem, magic)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if not len(images):
            raise DataError(f"{paths[f'{split}_images']} holds no images")
        if images.shape[1:] != (side, side):
            found = "x".join(str(d) for d in images.shape[1:])
            raise DataError(
                f"{paths[f'{split}_images']} holds images of {found} pixels, "
                f"expected {side}x{side}-pixel {dataset} images"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}_labels']} holds {len(labels)} labels but "
                f"{paths[f'{split}_images']} holds {len(images)} images (expected one label per image)"
            )
        if labels.max() > 9:
            raise DataError(
                f"{paths[f'{split}_labels']} holds the label {labels.max()}, expected digits 0 to 9"
            )
    if len(arrays["train_images"]) != TRAIN_SIZE + VAL_SIZE:
        raise DataError(
            f"{paths['train_images']}: expected {TRAIN_SIZE + VAL_SIZE} training images, "
            f"found {len(arrays['train_images'])}"
        )
    return arrays


def _holds_idx_files(folder: Path) -> bool:
    """Whether `folder` holds the four IDX files directly (plain or .gz)."""
    return folder.is_dir() and all(
        (folder / stem).is_file() or (folder / f"{stem}.gz").is_file() for stem, _ in FILES.values()
    )


def _download(root: Path, dataset: str) -> None:
    from torchvision import datasets

    cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    made = [p for p in (root, root / FOLDERS[dataset], raw_dir(root, dataset)) if not p.exists()]
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as exc:  # torchvision raises several kinds on network failure
        for folder in reversed(made):  # leave no empty folders of a failed attempt behind
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (something was fetched) or not ours to remove
        from .checkpoint import first_line

        raise DataError(
            f"download of {dataset} into {root} failed: {first_line(exc)} (if files are already in "
            f"{raw_dir(root, dataset)}, one may be damaged: remove it and try again)"
        ) from None


def split_indices() -> tuple[torch.Tensor, torch.Tensor]:
    """The course's 50,000 / 10,000 split of the 60,000 training images (seed 14)."""
    from torch.utils.data import random_split

    train, val = random_split(
        range(TRAIN_SIZE + VAL_SIZE),
        [TRAIN_SIZE, VAL_SIZE],
        generator=torch.Generator().manual_seed(SPLIT_SEED),
    )
    return torch.tensor(train.indices), torch.tensor(val.indices)


def data_root(config: DataConfig) -> Path:
    """The folder the data of `config` is read from (and downloaded into, with download=True).

    An explicit root wins. Without one, MNIST is the bundled copy (and --download has nothing to
    fetch); another dataset is downloaded into, and later read from, the per-user cache
    (`user_cache_dir()`), never the resources inside the installed package.
    """
    if config.root:
        return Path(config.root)
    if config.dataset == "mnist":  # bundled: nothing to download
        from vae_explorer.assets import bundled_data_root

        return bundled_data_root()
    cache = user_cache_dir()
    if config.download or raw_dir(cache, config.dataset).is_dir():
        return cache
    raise DataError(
        f"only MNIST is bundled; {config.dataset} needs --data-root DIR (holding "
        f"{FOLDERS[config.dataset]}/raw/) or --download (into {cache})"
    )


def load_splits(config: DataConfig) -> Splits:
    """Load, split and (optionally) truncate the data described by `config`."""
    config.validate()
    root = data_root(config)
    bundled = config.root is None and config.dataset == "mnist"
    raw = load_raw(root, config.dataset, config.download and not bundled)
    images = torch.from_numpy(raw["train_images"].reshape(len(raw["train_images"]), -1).copy())
    labels = torch.from_numpy(raw["train_labels"].astype(np.int64))
    tr, va = split_indices()
    test_images = torch.from_numpy(raw["test_images"].reshape(len(raw["test_images"]), -1).copy())
    test_labels = torch.from_numpy(raw["test_labels"].astype(np.int64))

    def cut(t: torch.Tensor, n: int | None) -> torch.Tensor:
        return t if n is None else t[:n]

    return Splits(
        train_images=cut(images[tr], config.limit_train),
        train_labels=cut(labels[tr], config.limit_train),
        val_images=cut(images[va], config.limit_val),
        val_labels=cut(labels[va], config.limit_val),
        test_images=cut(test_images, config.limit_test),
        test_labels=cut(test_labels, config.limit_test),
        side=raw["train_images"].shape[1],
    )


def binarise(images_u8: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x ~ Bernoulli(pixel / 255) drawn from `generator`, as float32 on the images' device."""
    probs = images_u8.float().div_(255.0)
    return torch.bernoulli(probs, generator=generator)


def fixed_binarised(images_u8: torch.Tensor, seed: int) -> torch.Tensor:
    """One binarisation with a fixed seed, so validation and test numbers are not noisy."""
    return binarise(images_u8.cpu(), torch.Generator().manual_seed(seed)).to(images_u8.device)


def grey_input(images_u8: torch.Tensor, likelihood: str) -> torch.Tensor | None:
    """What a grey-level likelihood scores: levels 0..255 (categorical), intensities in [0, 1]
    (gaussian); None for the Bernoulli likelihood, which scores binary draws."""
    if likelihood == "categorical":
        return images_u8.float()
    if likelihood == "gaussian":
        return images_u8.float().div_(255.0)
    return None


def model_input(images_u8: torch.Tensor, likelihood: str, seed: int) -> torch.Tensor:
    """Turn uint8 images into what the likelihood scores, with a fixed binarisation (`seed`) for
    evaluation: binary draws, or grey levels for the categorical and Gaussian likelihoods."""
    grey = grey_input(images_u8, likelihood)
    return grey if grey is not None else fixed_binarised(images_u8, seed)


class TrainBatches:
    """Shuffled batches of freshly binarised training images, all on the training device.

    The shuffle and every binarisation are drawn from `generator` (the run's own, on the images'
    device), so an epoch's batches depend on the run's seed and on nothing else."""

    def __init__(
        self, images_u8: torch.Tensor, batch_size: int, likelihood: str, generator: torch.Generator
    ) -> None:
        self.images = images_u8
        self.batch_size = batch_size
        self.likelihood = likelihood
        self.generator = generator

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self):
        g = self.generator
        perm = torch.randperm(len(self.images), device=self.images.device, generator=g)
        for start in range(0, len(self.images), self.batch_size):
            yield self.inputs(perm[start : start + self.batch_size])

    def inputs(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at `indices` as the model takes them, binarised afresh from the generator."""
        batch = self.images[indices]
        grey = grey_input(batch, self.likelihood)
        return grey if grey is not None else binarise(batch, self.generator)
