"""Training images per second at batch size 32: this project's loop against a course-style loop.

(a) vae-explorer: core.trainer.Trainer itself: uint8 images held on the device, shuffled and
    binarised per batch there (core.data.TrainBatches), and Trainer.train_step, which on the CPU
    updates each parameter inside backward (core.optim.StepInBackward).
(b) the course template: torchvision MNIST with per-image ToTensor + bernoulli + flatten
    transforms behind a DataLoader, the same model and optimiser.

Both run in one process on the same machine; the last line is `speedup_vs_template=<ratio>`.
"""

from __future__ import annotations

import argparse
import gzip
import os
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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(step, batches: int, warmup: int, device: torch.device) -> tuple[float, float, float]:
    """Images per second over `batches` steps after `warmup` steps, and the milliseconds per
    batch spent getting the batch and in the rest of the step."""
    for _ in range(warmup):
        step()
    sync(device)
    start, images, data = time.perf_counter(), 0, 0.0
    for _ in range(batches):
        n, seconds = step()
        images += n
        data += seconds
    sync(device)
    total = time.perf_counter() - start
    return images / total, data / batches * 1e3, (total - data) / batches * 1e3


HIDDEN: int | None = None


def model_config():
    from vae_explorer.core.config import ModelConfig

    return ModelConfig() if HIDDEN is None else ModelConfig(hidden=HIDDEN)


def project_loop(device: torch.device, batch_size: int):
    """The project's own Trainer: its batches and its train_step, exactly as a run uses them."""
    from vae_explorer.core.config import DataConfig, RunConfig, TrainConfig
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = RunConfig(
        data=DataConfig(limit_val=1, limit_test=1),
        model=model_config(),
        train=TrainConfig(batch_size=batch_size, device=device.type),
    )
    trainer = Trainer(config, load_splits(config.data))
    trainer.model.train()
    it = iter(trainer.batches)

    def step() -> tuple[int, float]:
        nonlocal it
        started = time.perf_counter()
        try:
            x = next(it)
        except StopIteration:
            it = iter(trainer.batches)
            x = next(it)
        sync(device)  # so that queued GPU work is counted where it was issued
        data = time.perf_counter() - started
        trainer.train_step(x)
        sync(device)
        return len(x), data

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

    def step() -> tuple[int, float]:
        nonlocal it
        started = time.perf_counter()
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(loader)
            x, _ = next(it)
        x = x.to(device)
        sync(device)  # so that queued GPU work is counted where it was issued
        data = time.perf_counter() - started
        loss = model(x, reduction="mean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync(device)
        return len(x), data

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
        f"batch_size={args.batch_size} batches={args.batches} "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = extracted_root(Path(tmp))
        loops = {
            "project": project_loop(device, args.batch_size),
            "template": template_loop(device, args.batch_size, root),
        }
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in loops}
        for _ in range(args.rounds):  # alternate, so background load hits both alike
            for name, step in loops.items():
                runs[name].append(timed(step, args.batches, args.warmup, device))
    best = {name: max(values) for name, values in runs.items()}
    for name, values in runs.items():
        rate, data_ms, step_ms = best[name]
        print(
            f"{name:9s} images/s: best {rate:8.0f} (per batch: data {data_ms:.2f} ms, "
            f"model step {step_ms:.2f} ms)   all " + " ".join(f"{v[0]:.0f}" for v in values)
        )
    print(f"speedup_vs_template={best['project'][0] / best['template'][0]:.2f}")


if __name__ == "__main__":
    main()
