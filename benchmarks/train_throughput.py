"""Training images per second at batch size 32: this project's loop against a course-style loop.

(a) vae-explorer: core.trainer.Trainer itself: uint8 images held on the device, shuffled and
    binarised per batch there (core.data.TrainBatches), and Trainer.train_step, which on the CPU
    updates each parameter inside backward (core.optim.StepInBackward) and on a GPU replays one
    captured CUDA graph (core.graphstep); on a GPU also (a') the same trainer with eager steps.
(b) the course template: torchvision MNIST with per-image ToTensor + bernoulli + flatten
    transforms behind a DataLoader, each batch moved to the device, the same model and optimiser.

All run in one process on the same machine. On the CPU each step is timed apart (data, then the
model step); on a GPU the loop is timed as a whole (a sync at its end only), since a sync per step
would stall the very pipelining a captured step relies on. The last two lines are
`epoch_seconds_50k project=<s> template=<s>` (seconds per 50,000-image epoch at the best rate)
and `speedup_vs_template=<ratio>`.

With --compare-steps it instead times three ways of applying the Adamax update on the default
model (the same random binarised batches, forward `model(x, generator, reduction="mean")`):
(1) copy: core.optim.StepInBackward (torch.optim's arithmetic copied into a post-accumulate-grad
    hook), (2) torch_per_param: torch's documented pattern (tutorial "How to save memory by fusing
    the optimizer step into the backward pass"): one torch.optim.Adamax([p], foreach=False) per
    parameter, stepped and zero_grad'ed from that parameter's post-accumulate-grad hook, and
    (3) plain: zero_grad, backward, then one foreach `optimizer.step()`. It first checks that (1)
    and (2) leave bit-identical parameters after 5 identical steps, then interleaves the variants
    in rounds; the last line is `step_ms copy=<> torch_per_param=<> plain=<> copy_vs_torch=<ratio>`
    (medians over rounds of the mean milliseconds per step).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import time
from pathlib import Path

# before torch loads OpenMP: idle OpenMP threads sleep instead of spinning (see DESIGN.md)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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


MAX_SECONDS = 60.0  # per timed loop: on a busy machine a round ends early instead of crawling on


def timed(step, batches: int, warmup: int, device: torch.device) -> tuple[float, float, float]:
    """Images per second over `batches` steps (or as many as MAX_SECONDS allow) after `warmup`
    steps, and the milliseconds per batch spent getting the batch and in the rest of the step (on a
    GPU: the host's time getting the batch, and the rest of the wall time)."""
    for _ in range(warmup):
        step()
    sync(device)
    start, images, data, done = time.perf_counter(), 0, 0.0, 0
    while done < batches and time.perf_counter() - start < MAX_SECONDS:
        n, seconds = step()
        images += n
        data += seconds
        done += 1
    sync(device)
    total = time.perf_counter() - start
    if done < batches:
        print(f"  (stopped after {done} of {batches} batches: {MAX_SECONDS:.0f} s per loop)", flush=True)
    return images / total, data / done * 1e3, (total - data) / done * 1e3


HIDDEN: int | None = None


def model_config():
    from vae_explorer.core.config import ModelConfig

    return ModelConfig() if HIDDEN is None else ModelConfig(hidden=HIDDEN)


def project_loop(device: torch.device, batch_size: int, cuda_graph: bool = True):
    """The project's own Trainer: its batches and its train_step, exactly as a run uses them."""
    from vae_explorer.core.config import DataConfig, RunConfig, TrainConfig
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import Trainer

    config = RunConfig(
        data=DataConfig(limit_val=1, limit_test=1),
        model=model_config(),
        train=TrainConfig(batch_size=batch_size, device=device.type),
    )
    trainer = Trainer(config, load_splits(config.data), cuda_graph=cuda_graph)
    trainer.model.train()
    trainer.choose_step()
    print(f"  project step ({'graph allowed' if cuda_graph else 'eager'}): {trainer.step_choice.text()}")
    it = iter(trainer.batches)

    def step() -> tuple[int, float]:
        nonlocal it
        started = time.perf_counter()
        try:
            x = next(it)
        except StopIteration:
            it = iter(trainer.batches)
            x = next(it)
        data = time.perf_counter() - started
        trainer.train_step(x)
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
    noise = torch.Generator(device).manual_seed(0)  # the template draws its noise from the global state
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
        data = time.perf_counter() - started
        loss = model(x, noise, reduction="mean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        return len(x), data

    return step


STEP_VARIANTS = ("copy", "torch_per_param", "plain")


def step_variant(name: str, batches: list[torch.Tensor], lr: float = 1e-3):
    """A training step (forward, backward, update) for one way of applying Adamax, cycling through
    `batches`; every variant starts from the same weights and the same noise generator."""
    from vae_explorer.core.model import VAE
    from vae_explorer.core.optim import StepInBackward, make_optimizer

    torch.manual_seed(0)  # the same initial weights for every variant (as torch's layers draw them)
    model = VAE(model_config())
    model.train()
    generator = torch.Generator().manual_seed(0)
    position = 0

    def next_batch() -> torch.Tensor:
        nonlocal position
        x = batches[position % len(batches)]
        position += 1
        return x

    if name == "copy":
        keep = StepInBackward(make_optimizer("adamax", model.parameters(), lr))

        def step() -> None:
            model(next_batch(), generator, reduction="mean").backward()

    elif name == "torch_per_param":
        optimizers = {p: torch.optim.Adamax([p], lr=lr, foreach=False) for p in model.parameters()}

        def hook(p: torch.Tensor) -> None:
            optimizers[p].step()
            optimizers[p].zero_grad()

        keep = [p.register_post_accumulate_grad_hook(hook) for p in model.parameters()]

        def step() -> None:
            model(next_batch(), generator, reduction="mean").backward()

    elif name == "plain":
        keep = make_optimizer("adamax", model.parameters(), lr)

        def step() -> None:
            loss = model(next_batch(), generator, reduction="mean")
            keep.zero_grad(set_to_none=True)
            loss.backward()
            keep.step()

    else:
        raise ValueError(name)
    step.keep = keep  # type: ignore[attr-defined]  # the hooks and optimisers live as long as the step
    return model, step


def check_identical(batches: list[torch.Tensor]) -> None:
    """Print whether the variants leave the same parameters after 5 identical steps from the same
    weights (bit for bit, and otherwise the largest difference)."""
    checked = {name: step_variant(name, batches) for name in STEP_VARIANTS}
    weights = {"start": [p.detach().clone() for p in checked["copy"][0].parameters()]}
    for name, (model, step) in checked.items():
        for _ in range(5):
            step()
        weights[name] = [p.detach() for p in model.parameters()]

    def identical(a: str, b: str) -> bool:
        return all(torch.equal(p, q) for p, q in zip(weights[a], weights[b], strict=True))

    def largest_gap(a: str, b: str) -> float:
        return max((p - q).abs().max().item() for p, q in zip(weights[a], weights[b], strict=True))

    print(
        f"after 5 steps: copy vs torch_per_param bit-identical={identical('copy', 'torch_per_param')} "
        f"(max |diff| {largest_gap('copy', 'torch_per_param'):.3g}); "
        f"copy vs plain bit-identical={identical('copy', 'plain')} "
        f"(max |diff| {largest_gap('copy', 'plain'):.3g}); "
        f"copy moved from start={not identical('copy', 'start')}"
    )


def compare_steps(args: argparse.Namespace) -> None:
    """Mean milliseconds per training step of the three update variants, interleaved in rounds."""
    data = torch.Generator().manual_seed(1)
    pixels = model_config().image_size ** 2
    batches = [
        torch.bernoulli(torch.rand(args.batch_size, pixels, generator=data), generator=data)
        for _ in range(64)
    ]
    check_identical(batches)

    steps = {name: step_variant(name, batches)[1] for name in STEP_VARIANTS}
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    runs: dict[str, list[float]] = {name: [] for name in STEP_VARIANTS}
    for r in range(args.rounds):  # interleaved, the order rotated, so drift hits every variant alike
        order = STEP_VARIANTS[r % 3 :] + STEP_VARIANTS[: r % 3]
        for name in order:
            step = steps[name]
            start = time.perf_counter()
            for _ in range(args.batches):
                step()
            runs[name].append((time.perf_counter() - start) / args.batches * 1e3)
    median = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        print(
            f"{name:15s} ms/step: median {median[name]:6.3f}  min {min(values):6.3f}   all "
            + " ".join(f"{v:.3f}" for v in values)
        )
    # same-round ratios: background load shifts both members of a pair alike
    paired = [c / t for c, t in zip(runs["copy"], runs["torch_per_param"], strict=True)]
    print(
        "copy/torch_per_param per round: "
        + " ".join(f"{v:.3f}" for v in paired)
        + f"   (median {statistics.median(paired):.3f})"
    )
    print(
        f"step_ms copy={median['copy']:.3f} torch_per_param={median['torch_per_param']:.3f} "
        f"plain={median['plain']:.3f} copy_vs_torch={median['copy'] / median['torch_per_param']:.3f}"
    )


def main() -> None:
    global MAX_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="steps timed per loop and round (default 600; 300 with --compare-steps)",
    )
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="per timed loop (default 60)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="alternate the loops this many times (default 3; 5 with --compare-steps)",
    )
    parser.add_argument(
        "--compare-steps",
        action="store_true",
        help="instead time StepInBackward against torch's per-parameter optimisers stepped in the "
        "backward hook and a plain foreach step (random batches, no data loading)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (both loops)")
    parser.add_argument(
        "--hidden", type=int, default=None, help="hidden units (default: the project default)"
    )
    args = parser.parse_args()
    if args.batches is None:
        args.batches = 300 if args.compare_steps else 600
    if args.rounds is None:
        args.rounds = 5 if args.compare_steps else 3
    if args.threads:
        torch.set_num_threads(args.threads)
    MAX_SECONDS = args.max_seconds
    device = torch.device(args.device)
    global HIDDEN
    HIDDEN = args.hidden
    print(
        f"hidden={model_config().hidden} device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"batch_size={args.batch_size} batches={args.batches} "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}"
    )
    if args.compare_steps:
        if device.type != "cpu":
            parser.error("--compare-steps times the CPU step only")
        compare_steps(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = extracted_root(Path(tmp))
        loops = {"project": project_loop(device, args.batch_size)}
        if device.type == "cuda":
            loops["project_eager"] = project_loop(device, args.batch_size, cuda_graph=False)
        loops["template"] = template_loop(device, args.batch_size, root)
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in loops}
        for r in range(args.rounds):  # alternate, so background load hits both alike
            for name, step in loops.items():
                runs[name].append(timed(step, args.batches, args.warmup, device))
                rate, data_ms, step_ms = runs[name][-1]
                print(
                    f"round {r + 1}/{args.rounds} {name}: {rate:.0f} images/s "
                    f"(data {data_ms:.2f} ms + step {step_ms:.2f} ms per batch)",
                    flush=True,
                )
    best = {name: max(values) for name, values in runs.items()}
    for name, values in runs.items():
        rate, data_ms, step_ms = best[name]
        print(
            f"{name:9s} images/s: best {rate:8.0f} (per batch: data {data_ms:.2f} ms, "
            f"model step {step_ms:.2f} ms)   all " + " ".join(f"{v[0]:.0f}" for v in values)
        )
    if "project_eager" in best:
        print(f"graph_vs_eager={best['project'][0] / best['project_eager'][0]:.2f}")
    epoch = {name: 50_000 / values[0] for name, values in best.items()}
    print(f"epoch_seconds_50k project={epoch['project']:.3f} template={epoch['template']:.3f}")
    print(f"speedup_vs_template={best['project'][0] / best['template'][0]:.2f}")


if __name__ == "__main__":
    main()
