"""Command line: no arguments opens the desktop app; sub-commands run the core headless."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from dataclasses import replace
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
    RunConfig,
    format_lr,
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


def int_at_least(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} must be at most {maximum}")
        return value

    parse.__name__ = f"integer >= {minimum}" if maximum is None else f"integer in {minimum}..{maximum}"
    return parse


SEED = int_at_least(0, 2**63 - 1)  # what torch.manual_seed takes


def data_root(text: str) -> str:
    """An absolute path, so that a checkpoint still finds its data from another folder."""
    return str(Path(text).expanduser().absolute())


def add_data_args(p: argparse.ArgumentParser, with_limits: bool = True) -> None:
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="mnist (bundled) or fashion-mnist (needs --data-root or --download)")
    p.add_argument("--data-root", type=data_root, metavar="DIR",
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
    # None = not given: a fresh run takes the default, a resumed run the checkpoint's value
    t.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d.train.optimizer}")
    t.add_argument("--batch-size", type=int_at_least(1), help=f"default {d.train.batch_size}")
    t.add_argument("--epochs", type=int_at_least(1), help=f"maximum epochs (default {d.train.epochs})")
    t.add_argument("--patience", type=int_at_least(1),
                   help=f"early-stopping patience in epochs (default {d.train.patience})")
    t.add_argument("--latent-dim", type=int_at_least(1), help=f"default {d.model.latent_dim}")
    t.add_argument("--hidden", type=int_at_least(1), help=f"hidden units per layer (default {d.model.hidden})")
    t.add_argument("--components", type=int_at_least(1),
                   help=f"mixture components K (default {d.model.components})")
    t.add_argument("--prior", choices=PRIORS, help=f"default {d.model.prior}")
    t.add_argument("--arch", choices=ARCHS, help=f"default {d.model.arch}")
    t.add_argument("--likelihood", choices=LIKELIHOODS,
                   help="bernoulli on binarised pixels (default), or categorical over 256 grey levels")
    t.add_argument("--seed", type=SEED, help=f"default {d.train.seed}")
    t.add_argument("--device", choices=DEVICES, help=f"default {d.train.device}")
    t.add_argument("--resume", metavar="CKPT",
                   help="continue a run from its last.pt (or model.pt), with the checkpoint's model, "
                   "optimiser and data settings; --lr, --epochs, --patience, --batch-size, --device "
                   "and the data options may be changed")
    t.add_argument("--out", required=True, metavar="DIR", help="output folder")
    t.add_argument("--overwrite", action="store_true",
                   help="train into an --out folder that already holds a run, replacing it")
    t.set_defaults(func=cmd_train, command_parser=t)

    s = sub.add_parser("sample", help="decode samples from a trained model's prior")
    s.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    s.add_argument("--n", type=int_at_least(1), default=16)
    s.add_argument("--component", type=int_at_least(0), metavar="K",
                   help="sample only mixture component K (0-based)")
    s.add_argument("--binary", action="store_true", help="draw binary pixels instead of probabilities")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--out", required=True, metavar="FILE", help="a .png or .pdf file")
    s.set_defaults(func=cmd_sample, command_parser=s)

    e = sub.add_parser("evaluate", help="print the test negative ELBO of a checkpoint as JSON")
    e.add_argument("model", metavar="MODEL")
    add_data_args(e)
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.set_defaults(func=cmd_evaluate, command_parser=e)

    from vae_explorer import cli_explore

    cli_explore.add_commands(sub)
    return parser


# -- train ------------------------------------------------------------------------------------
MODEL_OPTIONS = {"arch": "--arch", "hidden": "--hidden", "latent_dim": "--latent-dim", "prior": "--prior",
                 "components": "--components", "likelihood": "--likelihood"}
TRAIN_OPTIONS = ("optimizer", "batch_size", "epochs", "patience", "seed", "device")
RUN_FILES = ("model.pt", "last.pt", "metrics.csv")


def _given(args: argparse.Namespace, name: str, default):
    value = getattr(args, name)
    return default if value is None else value


def _run_config(args: argparse.Namespace, lr: float | None, base: RunConfig) -> RunConfig:
    """The options given on the command line over `base`: the defaults, or a resumed checkpoint's
    settings (whose model and optimiser cannot change)."""
    if args.resume:
        for name, flag in {**MODEL_OPTIONS, "optimizer": "--optimizer"}.items():
            given = getattr(args, name)
            kept = getattr(base.train if name == "optimizer" else base.model, name)
            if given is not None and given != kept:
                raise UserError(f"{flag} {given} differs from the checkpoint's {kept}: a resumed run keeps "
                                f"the checkpoint's model and optimiser (leave {flag} out, or start a new run)")
    b = base.data
    data = DataConfig(dataset=args.dataset or b.dataset,
                      root=args.data_root or (None if args.dataset and args.dataset != b.dataset else b.root),
                      download=args.download or b.download,
                      limit_train=_given(args, "limit_train", b.limit_train),
                      limit_val=_given(args, "limit_val", b.limit_val),
                      limit_test=_given(args, "limit_test", b.limit_test))
    model = replace(base.model, **{n: _given(args, n, getattr(base.model, n)) for n in MODEL_OPTIONS})
    train = replace(base.train, lr=lr or base.train.lr,
                    **{n: _given(args, n, getattr(base.train, n)) for n in TRAIN_OPTIONS})
    return RunConfig(data, model, train).validate()


def _base_config(args: argparse.Namespace) -> RunConfig:
    if not args.resume:
        return RunConfig()
    from vae_explorer.core.checkpoint import read_checkpoint, run_config_of

    return run_config_of(read_checkpoint(args.resume), args.resume)


def ensure_writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path


RUN_OUTPUTS = (*RUN_FILES, "config.json", "test_loss.txt", "real_images.png", "real_images.pdf",
               "generated_images.png", "generated_images.pdf", "nll_val_curve.png", "nll_val_curve.pdf")


def refuse_to_replace_a_run(run_dir: Path, args: argparse.Namespace) -> None:
    """A new run into a folder that holds one would overwrite its model and figures. With
    --overwrite the old run's outputs go first, so that none of them outlives it unreplaced
    (say, its model.pt beside the metrics of a new run that diverged)."""
    found = [name for name in RUN_FILES if (run_dir / name).exists()]
    if not found:
        return
    if args.overwrite:
        for name in RUN_OUTPUTS:
            try:
                (run_dir / name).unlink(missing_ok=True)
            except OSError as exc:
                raise UserError(f"cannot replace the run in {run_dir}: {exc.strerror or exc}") from None
        return
    if args.resume and Path(args.resume).absolute().parent == run_dir.absolute():
        return  # continuing the run that lives there
    raise UserError(f"{run_dir} already holds a run ({found[0]}); continue it with --resume "
                    f"{run_dir / 'last.pt'}, choose another --out, or add --overwrite to replace it")


def refuse_to_mix_runs(out: Path, several: bool, args: argparse.Namespace) -> None:
    """One --out holds either one run or one comparison of rates (lr_* folders and the overlaid
    curves), never a mixture: the overlay would no longer show what the folder holds."""
    if args.overwrite or args.resume or not out.is_dir():
        return
    comparison = sorted(p.name for p in out.glob("lr_*") if p.is_dir()) + sorted(
        p.name for p in out.glob("nll_val_curves.*"))
    single = [name for name in RUN_FILES if (out / name).exists()]
    if comparison:
        found, what = comparison[0], "a comparison of learning rates"
    elif several and single:
        found, what = single[0], "a run"
    else:
        return  # a single run into a run folder is refuse_to_replace_a_run's case
    raise UserError(f"{out} already holds {what} ({found}); choose another --out, or add --overwrite "
                    "to train into it anyway")


def lr_dirname(lr: float) -> str:
    return f"lr_{format_lr(lr)}"


def cmd_train(args: argparse.Namespace) -> int:
    from vae_explorer import figures
    from vae_explorer.core import events as ev
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.trainer import resolve_device

    if not args.out.strip():
        raise UserError("--out must name a folder")
    lrs = args.lr or [None]
    if len(set(lrs)) != len(lrs):
        raise ConfigError("each --lr must be different")
    if args.resume and len(lrs) > 1:
        raise ConfigError("--resume continues one run; give at most one --lr")
    base = _base_config(args)
    configs = [_run_config(args, lr, base) for lr in lrs]
    resolve_device(configs[0].train.device)
    out = Path(args.out)
    several = len(configs) > 1
    run_dirs = [out / lr_dirname(c.train.lr) if several else out for c in configs]
    refuse_to_mix_runs(out, several, args)
    for run_dir in run_dirs:
        refuse_to_replace_a_run(run_dir, args)
    splits = load_splits(configs[0].data)  # bad data: an error before any folder is made
    ensure_writable_dir(out)
    curves: dict[str, list[tuple[int, float]]] = {}
    results = []
    for config, run_dir in zip(configs, run_dirs):
        if several:
            ensure_writable_dir(run_dir)
            say(f"== learning rate {format_lr(config.train.lr)} -> {run_dir}")
        done, history = _train_one(config, splits, run_dir, args.resume)
        results.append((done, config, run_dir))
        label = f"lr={format_lr(config.train.lr)}"
        if done.reason == ev.STOP_DIVERGED:
            label += " (diverged)"
        curves[label] = [(h["epoch"], h["val_nll"]) for h in history]
    if several:
        figures.save_curves(curves, [out / "nll_val_curves.png", out / "nll_val_curves.pdf"])
        say(f"wrote {out / 'nll_val_curves.png'} and .pdf")
    with_model = [r for r in results if r[0].test_nll is not None]
    if not with_model:
        print("error: no run produced a model (each diverged or stopped before its first epoch ended)"
              if several else
              "error: the run produced no model (it diverged or stopped before the first epoch ended)",
              file=sys.stderr)
        return 1
    # the best model is chosen on validation, as within a run; its test nll is the final figure
    best, config, run_dir = min(with_model, key=lambda r: r[0].best_val)
    if several:
        say(f"best learning rate: {format_lr(config.train.lr)} (validation nll {best.best_val:.4f}) in {run_dir}")
    say(f"FINAL LOSS: nll={best.test_nll:.4f}")
    return 0


def say(text: str) -> None:
    """Print a line of the run's log. A closed pipe (`... | head`) must not end the training:
    output then goes nowhere and the run still saves its model and figures."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _train_one(config: RunConfig, splits, run_dir: Path, resume: str | None):
    from vae_explorer.core import events as ev
    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.trainer import Trainer

    progress = TerminalProgress(sys.stderr)

    def on_event(event: object) -> None:
        if isinstance(event, ev.RunStarted):
            say(f"training on {event.device}: {event.batches_per_epoch} batches of "
                f"{config.train.batch_size} per epoch, lr={format_lr(event.lr)}")
        elif isinstance(event, ev.BatchProgress):
            progress.update(event.epoch, event.batch, event.total)
        elif isinstance(event, ev.EpochEnd):
            progress.clear()
            say(f"epoch {event.epoch}  val nll={event.val_nll:.2f}  best={event.best_val:.2f}  "
                f"{event.seconds:.1f}s")
        elif isinstance(event, ev.RunFinished):
            progress.clear()
            test = f"{event.test_nll:.4f}" if event.test_nll is not None else "n/a"
            say(f"finished ({event.reason}) after {event.epochs} epochs; best epoch {event.best_epoch}, "
                f"best val nll={event.best_val:.4f}, test nll={test}")
            if event.reason == ev.STOP_DIVERGED:
                kept = ("the best checkpoint so far is kept" if event.checkpoint
                        else "it had no finished epoch, so there is no checkpoint")
                print(f"warning: lr={format_lr(config.train.lr)} diverged (non-finite loss); {kept}",
                      file=sys.stderr)

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
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name ending in {' or '.join(suffixes)}")
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
        args.command_parser.error(str(exc))  # the sub-command's usage line, then exit code 2
    except (DataError, CheckpointError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
