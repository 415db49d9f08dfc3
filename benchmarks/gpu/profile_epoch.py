"""Where a training epoch's time goes, on the GPU (or the CPU): the default model at batch size 32
on the 50,000 training images, timed in parts (the steps with captured and with eager steps, the
validation pass, the checkpoint writes a run makes each epoch) and profiled with torch.profiler.

Run: `python benchmarks/gpu/profile_epoch.py [--device cuda] [--limit-train N] [--out DIR]`.
The last line is `epoch_profile steps_graph=<s> steps_eager=<s> validation=<s> checkpoints=<s>`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch.profiler import ProfilerActivity, profile

from vae_explorer.core.checkpoint import save_checkpoint
from vae_explorer.core.config import DataConfig, RunConfig, TrainConfig
from vae_explorer.core.data import load_splits
from vae_explorer.core.evaluate import negative_elbo
from vae_explorer.core.trainer import Trainer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def steps(trainer: Trainer) -> float:
    """Seconds for one epoch of training steps (batches drawn and stepped, as a run does)."""
    sync(trainer.device)
    started = time.perf_counter()
    for x in trainer.batches:
        trainer.train_step(x)
    sync(trainer.device)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--limit-train", type=int, default=None)
    parser.add_argument("--out", default=None, help="folder for the profiler tables")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = RunConfig(
        DataConfig(limit_train=args.limit_train, limit_test=1000), train=TrainConfig(device=args.device)
    )
    splits = load_splits(config.data)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    seconds = {}
    for mode, graph in (("graph", True), ("eager", False)):
        if device.type != "cuda" and graph:
            continue  # the CPU has only the eager step
        trainer = Trainer(config, splits, cuda_graph=graph)
        trainer.model.train()
        trainer.choose_step()
        steps(trainer)  # a first epoch: allocations, cuBLAS handles, kernel caches
        seconds[f"steps_{mode}"] = min(steps(trainer), steps(trainer))
        print(f"{mode}: {trainer.step_choice.text()}: {seconds[f'steps_{mode}']:.3f} s an epoch of steps")
        with profile(activities=activities) as prof:
            steps(trainer)
        table = prof.key_averages().table(sort_by=sort, row_limit=20)
        print(table)
        if args.out:
            Path(args.out, f"profile_{mode}.txt").write_text(table)
    sync(device)
    started = time.perf_counter()
    negative_elbo(trainer.model, trainer.val)
    seconds["validation"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        best = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}
        metrics = trainer.metrics()
        save_checkpoint(Path(tmp) / "model.pt", best, config, metrics)
        save_checkpoint(
            Path(tmp) / "last.pt",
            trainer.model.state_dict(),
            config,
            metrics,
            trainer.optimizer.state_dict(),
            trainer.rng_state(),
        )
        seconds["checkpoints"] = time.perf_counter() - started
    print(f"validation pass ({len(trainer.val)} images): {seconds['validation']:.3f} s")
    print(f"a new best's CPU copy, model.pt and last.pt written (fsync'd): {seconds['checkpoints']:.3f} s")
    print(
        "epoch_profile "
        + " ".join(f"{k}={v:.3f}" for k, v in seconds.items())
        + f" device={device} images={len(splits.train_images)}"
    )


if __name__ == "__main__":
    main()
