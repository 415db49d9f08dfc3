"""Command line: no arguments opens the desktop app; sub-commands run the core headless."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from pathlib import Path

from vae_explorer import __version__
from vae_explorer.core.config import (
    ARCHS,
    DATASETS,
    DEVICES,
    LIKELIHOODS,
    OPTIMIZERS,
    PRIORS,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)

EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix; printed as one line on stderr, exit code 2."""


# -- argument types ---------------------------------------------------------------------------
def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def add_data_args(p: argparse.ArgumentParser, with_limits: bool = True) -> None:
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="mnist (bundled) or fashion-mnist (needs --data-root or --download)")
    p.add_argument("--data-root", metavar="DIR",
                   help="a torchvision-layout root holding MNIST/raw or FashionMNIST/raw")
    p.add_argument("--download", action="store_true", help="let torchvision fetch the data (online)")
    p.add_argument("--limit-test", type=int_at_least(1), metavar="N", help="use the first N test images")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vae-explorer",
        description="Train and explore VAEs with a learnable Mixture-of-Gaussians prior. "
        "With no command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    d = RunConfig()
    t = sub.add_parser("train", help="train a model (one run per --lr) and write its figures")
    add_data_args(t)
    t.add_argument("--limit-train", type=int_at_least(1), metavar="N", help="use the first N training images")
    t.add_argument("--limit-val", type=int_at_least(1), metavar="N", help="use the first N validation images")
    t.add_argument("--lr", type=positive_float, action="append", metavar="LR",
                   help=f"learning rate (default {d.train.lr:g}); repeat to compare several")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=d.train.optimizer)
    t.add_argument("--batch-size", type=int_at_least(1), default=d.train.batch_size)
    t.add_argument("--epochs", type=int_at_least(1), default=d.train.epochs, help="maximum epochs")
    t.add_argument("--patience", type=int_at_least(1), default=d.train.patience,
                   help="early-stopping patience in epochs")
    t.add_argument("--latent-dim", type=int_at_least(1), default=d.model.latent_dim)
    t.add_argument("--hidden", type=int_at_least(1), default=d.model.hidden, help="hidden units per layer")
    t.add_argument("--components", type=int_at_least(1), default=d.model.components,
                   help="mixture components K")
    t.add_argument("--prior", choices=PRIORS, default=d.model.prior)
    t.add_argument("--arch", choices=ARCHS, default=d.model.arch)
    t.add_argument("--likelihood", choices=LIKELIHOODS, default=d.model.likelihood,
                   help="bernoulli on binarised pixels, or categorical over 256 grey levels")
    t.add_argument("--seed", type=int, default=d.train.seed)
    t.add_argument("--device", choices=DEVICES, default=d.train.device)
    t.add_argument("--resume", metavar="CKPT", help="continue training from a checkpoint (model.pt or last.pt)")
    t.add_argument("--out", required=True, metavar="DIR", help="output folder")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="decode samples from a trained model's prior")
    s.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    s.add_argument("--n", type=int_at_least(1), default=16)
    s.add_argument("--component", type=int_at_least(0), metavar="K",
                   help="sample only mixture component K (0-based)")
    s.add_argument("--binary", action="store_true", help="draw binary pixels instead of probabilities")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, metavar="FILE", help="a .png or .pdf file")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("evaluate", help="print the test negative ELBO of a checkpoint as JSON")
    e.add_argument("model", metavar="MODEL")
    add_data_args(e)
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.set_defaults(func=cmd_evaluate)

    from vae_explorer import cli_explore

    cli_explore.add_commands(sub)
    return parser


# -- train ------------------------------------------------------------------------------------
def _run_config(args: argparse.Namespace, lr: float) -> RunConfig:
    data = DataConfig(dataset=args.dataset or "mnist", root=args.data_root, download=args.download,
                      limit_train=args.limit_train, limit_val=args.limit_val, limit_test=args.limit_test)
    model = ModelConfig(arch=args.arch, hidden=args.hidden, latent_dim=args.latent_dim, prior=args.prior,
                        components=args.components, likelihood=args.likelihood)
    train = TrainConfig(optimizer=args.optimizer, lr=lr, batch_size=args.batch_size, epochs=args.epochs,
                        patience=args.patience, seed=args.seed, device=args.device)
    return RunConfig(data, model, train).validate()


def ensure_writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path


def lr_dirname(lr: float) -> str:
    return f"lr_{lr:g}"


def cmd_train(args: argparse.Namespace) -> int:
    from vae_explorer import figures
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import resolve_device

    lrs = args.lr or [TrainConfig().lr]
    if len(set(lrs)) != len(lrs):
        raise ConfigError("each --lr must be different")
    if args.resume and len(lrs) > 1:
        raise ConfigError("--resume continues one run; give at most one --lr")
    configs = [_run_config(args, lr) for lr in lrs]
    resolve_device(args.device)
    out = ensure_writable_dir(Path(args.out))
    splits = load_splits(configs[0].data)
    curves: dict[str, list[tuple[int, float]]] = {}
    results = []
    for config in configs:
        run_dir = out if len(configs) == 1 else ensure_writable_dir(out / lr_dirname(config.train.lr))
        if len(configs) > 1:
            print(f"== learning rate {config.train.lr:g} -> {run_dir}", flush=True)
        done, history = _train_one(config, splits, run_dir, args.resume)
        results.append(done)
        curves[f"lr={config.train.lr:g}"] = [(h["epoch"], h["val_nll"]) for h in history]
    if len(configs) > 1:
        figures.save_curves(curves, [out / "nll_val_curves.png", out / "nll_val_curves.pdf"])
        print(f"wrote {out / 'nll_val_curves.png'} and .pdf", flush=True)
    last = results[-1]
    if last.test_nll is None:
        print("error: the run produced no model (it diverged or stopped before the first epoch ended)",
              file=sys.stderr)
        return 1
    print(f"FINAL LOSS: nll={last.test_nll:.4f}", flush=True)
    return 0


def _train_one(config: RunConfig, splits, run_dir: Path, resume: str | None):
    from vae_explorer.core import events as ev
    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.trainer import Trainer

    progress = TerminalProgress(sys.stderr)

    def on_event(event: object) -> None:
        if isinstance(event, ev.RunStarted):
            print(f"training on {event.device}: {event.batches_per_epoch} batches of "
                  f"{config.train.batch_size} per epoch, lr={event.lr:g}", flush=True)
        elif isinstance(event, ev.BatchProgress):
            progress.update(event.epoch, event.batch, event.total)
        elif isinstance(event, ev.EpochEnd):
            progress.clear()
            print(f"epoch {event.epoch}  val nll={event.val_nll:.2f}  best={event.best_val:.2f}  "
                  f"{event.seconds:.1f}s", flush=True)
        elif isinstance(event, ev.RunFinished):
            progress.clear()
            test = f"{event.test_nll:.4f}" if event.test_nll is not None else "n/a"
            print(f"finished ({event.reason}) after {event.epochs} epochs; best epoch {event.best_epoch}, "
                  f"best val nll={event.best_val:.4f}, test nll={test}", flush=True)
            if event.reason == ev.STOP_DIVERGED:
                print(f"warning: lr={config.train.lr:g} diverged (non-finite loss); "
                      "the best checkpoint so far is kept", file=sys.stderr)

    trainer = Trainer(config, splits, run_dir, on_event, resume_from=resume)
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl-C: stop cleanly and keep the best model
        print("\nstopping after this batch (Ctrl-C again to abort)", file=sys.stderr, flush=True)
        trainer.stop()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        done = trainer.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    history = list(trainer.history)
    if done.checkpoint:
        model, _, _ = load_checkpoint(done.checkpoint)
        write_run_figures(model, splits, run_dir, history)
    return done, history


def write_run_figures(model, splits, run_dir: Path, history: list[dict], seed: int = 0) -> None:
    """The course's three figures: 16 real test images, 16 samples, and the validation curve."""
    import torch

    from vae_explorer import figures

    real = splits.test_images[:16].float().numpy() / 255.0
    figures.save_image_grid(real, [run_dir / "real_images.png", run_dir / "real_images.pdf"], splits.side)
    torch.manual_seed(seed)
    generated = model.sample(16).cpu().numpy()
    figures.save_image_grid(generated, [run_dir / "generated_images.png", run_dir / "generated_images.pdf"],
                            splits.side)
    figures.save_curves({"validation": [(h["epoch"], h["val_nll"]) for h in history]},
                        [run_dir / "nll_val_curve.png", run_dir / "nll_val_curve.pdf"])


class TerminalProgress:
    """A one-line progress bar within an epoch, drawn only when the stream is a terminal."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.enabled = hasattr(stream, "isatty") and stream.isatty()
        self.shown = False

    def update(self, epoch: int, batch: int, total: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * batch / max(total, 1))
        self.stream.write(f"\repoch {epoch} [{'#' * filled}{'.' * (width - filled)}] {batch}/{total}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()
            self.shown = False


# -- sample / evaluate ------------------------------------------------------------------------
def load_model(path: str, device: str = "cpu"):
    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.trainer import resolve_device

    return load_checkpoint(path, resolve_device(device))


def output_file(path: str, suffixes: tuple[str, ...] = (".png", ".pdf")) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UserError(f"--out must end in {' or '.join(suffixes)}, not {out.name!r}")
    ensure_writable_dir(out.parent if str(out.parent) else Path("."))
    return out


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from vae_explorer import figures

    out = output_file(args.out)
    model, config, _ = load_model(args.model)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        if args.component is None:
            z = model.prior.sample(args.n)
        else:
            k = model.prior.num_components
            if args.component >= k:
                raise UserError(f"--component must be below the model's {k} components, not {args.component}")
            z = model.prior.sample_component(args.component, args.n)
        images = model.decode(z, binary=args.binary).numpy()
    figures.save_image_grid(images, [out], config.model.image_size, cols=math.ceil(math.sqrt(args.n)))
    print(f"wrote {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.evaluate import negative_elbo

    model, config, payload = load_model(args.model, args.device)
    device = next(model.parameters()).device
    data = replace(config.data, dataset=args.dataset or config.data.dataset,
                   root=args.data_root if args.data_root else (None if args.dataset else config.data.root),
                   download=args.download, limit_train=None, limit_val=None, limit_test=args.limit_test)
    splits = load_splits(data)
    test = model_input(splits.test_images.to(device), config.model.likelihood, TEST_BINARISE_SEED)
    nll = negative_elbo(model, test)
    print(json.dumps({"checkpoint": str(args.model), "dataset": data.dataset, "images": len(test),
                      "test_nll": nll, "epoch": payload.get("metrics", {}).get("epoch")}, indent=2))
    return 0


# -- entry point --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    # Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. When another
    # program held one of two cores, spinning threads made a training epoch 2.6x slower (45.8 s
    # against 17.5 s); sleeping costs about a tenth on an idle machine. OMP_WAIT_POLICY=ACTIVE
    # in the environment keeps spinning.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from vae_explorer.app.main import run_app

        return run_app()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from vae_explorer.core.checkpoint import CheckpointError
    from vae_explorer.core.data import DataError

    try:
        return args.func(args)
    except ConfigError as exc:
        parser.error(str(exc))  # exits with code 2
    except (DataError, CheckpointError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
