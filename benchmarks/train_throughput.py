"""Training images per second at batch size 32: this project's loop against a course-style loop.

(a) vae-explorer: uint8 images held on the device, shuffled and binarised per batch there
    (core.data.TrainBatches), the model step as in core.trainer.Trainer.
(b) the course template: torchvision MNIST with per-image ToTensor + bernoulli + flatten
    transforms behind a DataLoader, the same model and optimiser.

Both run in one process on the same machine; the last line is `speedup_vs_template=<ratio>`.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import torch


def extracted_root(tmp: Path) -> Path:
    """torchvision's MNIST class reads the extracted IDX files from root/MNIST/raw."""
    from vae_explorer.assets import bundled_data_root

    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (bundled_data_root() / "MNIST" / "raw").glob("*.gz"):
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    return tmp


def timed(step, batches: int, warmup: int, device: torch.device) -> float:
    """Images per second over `batches` steps after `warmup` steps."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        images += step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


HIDDEN: int | None = None


def model_config():
    from vae_explorer.core.config import ModelConfig

    return ModelConfig() if HIDDEN is None else ModelConfig(hidden=HIDDEN)


def project_loop(device: torch.device, batch_size: int):
    from vae_explorer.core.config import DataConfig
    from vae_explorer.core.data import TrainBatches, load_splits
    from vae_explorer.core.model import VAE
    from vae_explorer.core.trainer import make_optimizer

    splits = load_splits(DataConfig(limit_val=1, limit_test=1))
    torch.manual_seed(0)
    model = VAE(model_config()).to(device)
    opt = make_optimizer("adamax", model.parameters(), 1e-3)
    batches = TrainBatches(splits.train_images.to(device), batch_size, "bernoulli")
    it = iter(batches)

    def step() -> int:
        nonlocal it
        try:
            x = next(it)
        except StopIteration:
            it = iter(batches)
            x = next(it)
        loss = model(x, reduction="mean")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return len(x)

    return step


def template_loop(device: torch.device, batch_size: int, root: Path):
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from vae_explorer.core.model import VAE

    transform = transforms.Compose(
        [
            transforms.ToTensor(),
            transforms.Lambda(lambda x: torch.bernoulli(x)),
            transforms.Lambda(lambda x: torch.flatten(x)),
        ]
    )
    train = datasets.MNIST(str(root), train=True, transform=transform)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True)
    torch.manual_seed(0)
    model = VAE(model_config()).to(device)
    opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
    it = iter(loader)

    def step() -> int:
        nonlocal it
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(loader)
            x, _ = next(it)
        x = x.to(device)
        loss = model(x, reduction="mean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        return len(x)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternate the two loops this many times")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (both loops)")
    parser.add_argument(
        "--hidden", type=int, default=None, help="hidden units (default: the project default)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    global HIDDEN
    HIDDEN = args.hidden
    print(
        f"hidden={model_config().hidden} device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"batch_size={args.batch_size} batches={args.batches}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = extracted_root(Path(tmp))
        loops = {
            "project": project_loop(device, args.batch_size),
            "template": template_loop(device, args.batch_size, root),
        }
        rates: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(args.rounds):  # alternate, so background load hits both alike
            for name, step in loops.items():
                rates[name].append(timed(step, args.batches, args.warmup, device))
    best = {name: max(values) for name, values in rates.items()}
    for name, values in rates.items():
        print(f"{name:9s} images/s: best {best[name]:8.0f}   all " + " ".join(f"{v:.0f}" for v in values))
    print(f"speedup_vs_template={best['project'] / best['template']:.2f}")


if __name__ == "__main__":
    main()
