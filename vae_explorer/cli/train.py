"""`vae-explorer train`: a thin loop over the run engine. Here are its options, the checks of its
--out folder and the end-of-run summary; console.py prints the engine's events as the run's log."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path

from vae_explorer.core import runfiles as rf
from vae_explorer.core.config import (
    ARCHS,
    DEVICES,
    LIKELIHOODS,
    MIXTURE_WEIGHTS,
    OPTIMIZERS,
    PRESETS,
    PRIOR_INITS,
    PRIOR_KINDS,
    SCHEDULES,
    ConfigError,
    DataConfig,
    RunConfig,
    apply_preset,
    check_new_run,
    format_lr,
)
from vae_explorer.core.epochlog import WEIGHTS_FILE
from vae_explorer.core.evaluation import MAX_ASKED_IW_SAMPLES
from vae_explorer.core.events import RunStatus
from vae_explorer.core.runfolder import RUN_FIGURE_FILES
from vae_explorer.core.runlock import LOCK_NAME
from vae_explorer.figures import COMPARISON_FIGURE, COMPARISON_FILES

from .args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    MAX_THREADS,
    SEED,
    UserError,
    add_accept_unchecked,
    add_data_args,
    int_at_least,
    make_folder,
    non_negative_float,
    positive_float,
    probe_writable,
    remove_if_empty,
    warn_unchecked,
)
from .console import EventPrinter, say, warn

MODEL_OPTIONS = {
    "arch": "--arch",
    "hidden": "--hidden",
    "latent_dim": "--latent-dim",
    "prior": "--prior",
    "components": "--components",
    "likelihood": "--likelihood",
    "mixture_weights": "--mixture-weights",
}
TRAIN_OPTIONS = (
    "optimizer",
    "batch_size",
    "epochs",
    "patience",
    "seed",
    "device",
    "kl_warmup",
    "prior_init",
    "schedule",
    "warmup_epochs",
    "val_every",
    "checkpoint_seconds",
)
# what a resumed run cannot change: the optimiser's state and the run's draws (restored from
# last.pt) belong to them, and config.json would record settings that never ran
KEPT_ON_RESUME = {
    "optimizer": "--optimizer",
    "seed": "--seed",
    "prior_init": "--prior-init",
    "kl_warmup": "--kl-warmup",
    "schedule": "--schedule",
    "warmup_epochs": "--warmup-epochs",
}
RUN_FILES = (rf.MODEL, rf.LAST, rf.METRICS)


def add_command(sub: argparse._SubParsersAction) -> None:
    d = RunConfig()
    t = sub.add_parser("train", help="train a model (one run per --lr) and write its figures")
    add_data_args(t)
    t.add_argument("--limit-train", type=int_at_least(1), metavar="N", help="use the first N training images")
    t.add_argument("--limit-val", type=int_at_least(1), metavar="N", help="use the first N validation images")
    t.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="start from a named set of settings (course: the course protocol; recommended: the "
        "course with the mixture placed by k-means; fast: the recommended model with batches of 256 "
        "and a cosine-decayed rate, for CPUs; lab2d: a 2-D model for the Lab tab, in minutes); options "
        "given beside it override it",
    )
    t.add_argument(
        "--lr",
        type=positive_float,
        action="append",
        metavar="LR",
        help=f"learning rate (default {d.train.lr:g}); repeat to compare several",
    )
    # None = not given: a fresh run takes the default, a resumed run the checkpoint's value
    t.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d.train.optimizer}")
    t.add_argument("--batch-size", type=int_at_least(1), help=f"default {d.train.batch_size}")
    t.add_argument("--epochs", type=int_at_least(1), help=f"maximum epochs (default {d.train.epochs})")
    t.add_argument(
        "--patience",
        type=int_at_least(1),
        help=f"early-stopping patience in epochs (default {d.train.patience})",
    )
    t.add_argument("--latent-dim", type=int_at_least(1), help=f"default {d.model.latent_dim}")
    t.add_argument(
        "--hidden", type=int_at_least(1), help=f"hidden units per layer (default {d.model.hidden})"
    )
    t.add_argument(
        "--components", type=int_at_least(1), help=f"mixture components K (default {d.model.components})"
    )
    t.add_argument("--prior", choices=tuple(PRIOR_KINDS), help=f"default {d.model.prior}")
    t.add_argument(
        "--pseudo-inputs",
        dest="components",
        type=int_at_least(1),
        metavar="K",
        help="the VampPrior's pseudo-inputs (--prior vampprior); the same setting as --components",
    )
    t.add_argument("--arch", choices=ARCHS, help=f"default {d.model.arch}")
    t.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        help="bernoulli on binarised pixels (default), categorical over 256 grey levels, or gaussian on "
        "grey levels in [0, 1] with a fixed sigma of 0.1",
    )
    t.add_argument(
        "--mixture-weights",
        choices=MIXTURE_WEIGHTS,
        help="learnable mixture weights (default, the course) or fixed uniform ones (means and variances "
        "still learned)",
    )
    t.add_argument(
        "--kl-warmup",
        type=int_at_least(0),
        metavar="EPOCHS",
        help="raise the weight of the KL-like term in the training loss linearly from 0 to 1 over EPOCHS "
        "(default 0: none); validation and test figures are always the full negative ELBO",
    )
    t.add_argument(
        "--prior-init",
        choices=PRIOR_INITS,
        help="kmeans (default): after the first epoch, place the mixture's components on k-means "
        "clusters of the encoder means of training images; random: means drawn from N(0, I), as "
        "the course (--preset course)",
    )
    t.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="the learning rate's course: constant (default), cosine (warm-up, then down to 2%% at "
        "the maximum epoch) or plateau (halved after 5 epochs without improvement)",
    )
    t.add_argument(
        "--warmup-epochs",
        type=int_at_least(0),
        metavar="EPOCHS",
        help="with --schedule cosine, raise the learning rate linearly over EPOCHS first (default 0)",
    )
    t.add_argument(
        "--val-every",
        type=int_at_least(1),
        metavar="EPOCHS",
        help="validate every EPOCHS epochs (default 1); the last epoch always is, patience counts epochs; "
        "a stop keeps the run up to its last validated epoch",
    )
    t.add_argument(
        "--checkpoint-seconds",
        type=float,
        metavar="S",
        help="write last.pt at most every S seconds of wall-clock time (default 0: every validated epoch); "
        "an epoch with a new best and the last state are always written",
    )
    t.add_argument("--seed", type=SEED, help=f"default {d.train.seed}")
    t.add_argument("--device", choices=DEVICES, help=f"default {d.train.device}")
    t.add_argument(
        "--no-cuda-graph",
        dest="cuda_graph",
        action="store_false",
        help="on a GPU, run each training step eagerly instead of replaying one captured CUDA graph "
        "(slower; for comparison, or where capture misbehaves)",
    )
    t.add_argument(
        "--threads",
        type=int_at_least(1, MAX_THREADS),
        metavar="N",
        help="CPU threads for training (default: torch's choice); results are bit-identical "
        f"between runs with the same seed and the same thread count (at most {MAX_THREADS})",
    )
    t.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue a run from its last.pt (exactly, as if it had not stopped) or model.pt "
        "(with a fresh optimiser), with the checkpoint's model, optimiser and data settings; "
        "--lr, --epochs, --patience, --batch-size, --device, --val-every, --checkpoint-seconds and "
        "the data options may be changed",
    )
    add_accept_unchecked(t)
    t.add_argument(
        "--eval-budget",
        type=non_negative_float,
        default=0.1,
        metavar="F",
        help="each run's best model is evaluated at the end (evaluation.json): the IW-NLL gets as "
        "many samples as keep the evaluation within F times the run's training time (default "
        "0.1; 0: no IW-NLL)",
    )
    t.add_argument(
        "--eval-iw-samples",
        type=int_at_least(1, MAX_ASKED_IW_SAMPLES),
        metavar="S",
        help="a fixed number of importance samples for that IW-NLL instead of the budget",
    )
    t.add_argument("--out", required=True, metavar="DIR", help="output folder")
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="train into an --out folder that already holds a run, replacing it",
    )
    t.set_defaults(func=cmd_train, command_parser=t)


def _given(args: argparse.Namespace, name: str, default):
    value = getattr(args, name)
    return default if value is None else value


def _run_config(args: argparse.Namespace, lr: float | None, base: RunConfig) -> RunConfig:
    """The options given on the command line over `base`: the defaults, or a resumed checkpoint's
    settings (whose model and optimiser cannot change)."""
    if args.resume:
        for name, flag in {**MODEL_OPTIONS, **KEPT_ON_RESUME}.items():
            given = getattr(args, name)
            kept = getattr(base.train if name in KEPT_ON_RESUME else base.model, name)
            if given is not None and given != kept:
                raise UserError(
                    f"{flag} {given} differs from the checkpoint's {kept}: a resumed run keeps "
                    "the checkpoint's model, optimiser, seed, placement, KL warm-up and schedule "
                    f"(leave {flag} out, or start a new run)"
                )
    b = base.data
    data = DataConfig(
        dataset=args.dataset or b.dataset,
        root=args.data_root or (None if args.dataset and args.dataset != b.dataset else b.root),
        download=args.download or b.download,
        limit_train=_given(args, "limit_train", b.limit_train),
        limit_val=_given(args, "limit_val", b.limit_val),
        limit_test=_given(args, "limit_test", b.limit_test),
    )
    model = replace(base.model, **{n: _given(args, n, getattr(base.model, n)) for n in MODEL_OPTIONS})
    train = replace(
        base.train,
        lr=lr or base.train.lr,
        **{n: _given(args, n, getattr(base.train, n)) for n in TRAIN_OPTIONS},
    )
    return check_new_run(RunConfig(data, model, train).validate())


def _base_config(args: argparse.Namespace) -> RunConfig:
    if not args.resume:
        return apply_preset(args.preset, RunConfig()) if args.preset else RunConfig()
    if args.preset:
        raise UserError("--preset starts a new run; a resumed run keeps its checkpoint's settings")
    from vae_explorer.core.checkpoint import is_unchecked, read_checkpoint, run_config_of

    payload = read_checkpoint(args.resume, args.accept_unchecked)
    if is_unchecked(payload):
        warn_unchecked(args.resume)
    return run_config_of(payload, args.resume)


RUN_OUTPUTS = (
    *RUN_FILES,
    rf.CONFIG,
    rf.TEST_LOSS,
    rf.OUTCOME,
    rf.EVALUATION,
    rf.NAME,  # the app's Rename: the new run must not take the old run's name
    WEIGHTS_FILE,  # a new run without mixture weights must not show the old run's
    *RUN_FIGURE_FILES,
)


def clear_previous_outputs(out: Path) -> list[str]:
    """--overwrite: remove everything a previous run or comparison wrote into `out` (its files and
    its lr_* folders), and only that; returns the names (below `out`) of what stays.

    Nothing is followed: a symbolic link, whatever its name, is not ours and stays (an lr_* link
    to a run elsewhere leaves that run alone), and only regular files are removed. Each lr_*
    folder is cleared under its own lock, all of them taken before anything is removed, so a run
    training in one of them is refused (RunFolderBusy) with its files untouched."""
    from vae_explorer.core.runlock import (
        RunFolderLock,
        is_plain_file,
        remove_stale_temporaries,
    )

    children = sorted(
        p for p in out.iterdir() if p.name.startswith("lr_") and p.is_dir() and not p.is_symlink()
    )
    locks: list[RunFolderLock] = []
    try:
        for child in children:
            locks.append(RunFolderLock(child).acquire())
        for name in (*RUN_OUTPUTS, *COMPARISON_FILES):
            if is_plain_file(out / name):
                (out / name).unlink()
        for child in children:
            remove_stale_temporaries(child)
            for name in RUN_OUTPUTS:
                if is_plain_file(child / name):
                    (child / name).unlink()
    except OSError as exc:
        raise UserError(f"cannot replace the outputs in {out}: {exc.strerror or exc}") from None
    finally:
        for lock in locks:
            lock.release()
    kept: list[str] = []
    for child in children:
        left = sorted(p.name for p in child.iterdir()) if child.is_dir() else []
        if left:
            kept += [f"{child.name}/{name}" for name in left]
        else:
            with contextlib.suppress(OSError):  # someone took it meanwhile: it stays
                child.rmdir()
    kept += [
        p.name + ("/" if p.is_dir() and not p.is_symlink() else "")
        for p in sorted(out.iterdir())
        if p.name != LOCK_NAME and not (p in children and p.is_dir())
    ]
    return kept


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` lies in `folder` or below it (both as the system resolves them)."""
    path, folder = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return folder == path or folder in path.parents


def refuse_to_replace_a_run(run_dir: Path, args: argparse.Namespace) -> None:
    """A new run into a folder that holds one would overwrite its model and figures (--overwrite
    clears the folder first, --resume continues the run that lives there)."""
    found = [name for name in RUN_FILES if os.path.lexists(run_dir / name)]
    if not found or args.overwrite:
        return
    if args.resume and resumes_in_place(args.resume, run_dir):
        return  # continuing the run that lives there
    raise UserError(
        f"{run_dir} already holds a run ({found[0]}); continue it with --resume "
        f"{run_dir / 'last.pt'}, choose another --out, or add --overwrite to replace it"
    )


def refuse_a_linked_run_folder(run_dir: Path, out: Path) -> None:
    """A run's lr_* folder that is a symbolic link would be trained through: the run it points to,
    elsewhere, would be replaced (--overwrite leaves such a link alone, as not ours)."""
    if run_dir != out and os.path.islink(run_dir):
        raise UserError(
            f"{run_dir} is a symbolic link (to {os.readlink(run_dir)}); a run is never written "
            "through a link: remove the link, or choose another --out"
        )


def resumes_in_place(checkpoint: str, run_dir: Path) -> bool:
    """Whether `checkpoint` is the run folder's own (its last.pt or model.pt)."""
    return os.path.realpath(Path(checkpoint).parent) == os.path.realpath(run_dir)


def refuse_to_mix_runs(out: Path, several: bool, args: argparse.Namespace) -> None:
    """One --out holds either one run or one comparison of rates (lr_* folders and the overlaid
    curves), never a mixture: the overlay would no longer show what the folder holds; and never
    a sweep's folder, whose trials the run would hide from the browser and the report."""
    from vae_explorer.core.sweep import is_sweep_folder

    if out.is_dir() and is_sweep_folder(out):  # even with --overwrite: its trials are not ours to clear
        raise UserError(
            f"{out} holds a sweep (sweep.json); a run goes into a folder of its own: choose another --out"
        )
    if args.overwrite or not out.is_dir() or (args.resume and resumes_in_place(args.resume, out)):
        return
    comparison = sorted(p.name for p in out.glob("lr_*") if p.is_dir()) + sorted(
        p.name for p in out.glob(f"{COMPARISON_FIGURE}.*")
    )
    single = [name for name in RUN_FILES if (out / name).exists()]
    if comparison:
        found, what = comparison[0], "a comparison of learning rates"
    elif several and single:
        found, what = single[0], "a run"
    else:
        return  # a single run into a run folder is refuse_to_replace_a_run's case
    raise UserError(
        f"{out} already holds {what} ({found}); choose another --out, or add --overwrite "
        "to train into it anyway"
    )


def cmd_train(args: argparse.Namespace) -> int:
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.device import resolve_device
    from vae_explorer.core.memory import check_model_fits

    if not args.out.strip():
        raise UserError("--out must name a folder")
    lrs = args.lr or [None]
    if len(set(lrs)) != len(lrs):
        raise ConfigError("each --lr must be different")
    if args.resume and len(lrs) > 1:
        raise ConfigError("--resume continues one run; give at most one --lr")
    base = _base_config(args)
    configs = [_run_config(args, lr, base) for lr in lrs]
    device = resolve_device(configs[0].train.device)
    for config in configs:  # every limit before any folder is made, in one line
        try:
            check_model_fits(config, device)
        except ConfigError as exc:
            raise UserError(str(exc)) from None
    out = Path(args.out)
    if os.path.lexists(out) and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    splits = load_splits(configs[0].data)  # bad data: an error before any folder is made
    made = make_folder(out)
    code = EXIT_FAILED
    try:
        code = _prepare_and_train(args, configs, out, splits)
    finally:
        if code != 0:  # a run that failed or was refused before it wrote anything leaves no folder
            remove_if_empty(made)
    return code


def _prepare_and_train(args: argparse.Namespace, configs: list[RunConfig], out: Path, splits) -> int:
    """Under the folder's lock: check it is writable, clean it, refuse what would mix or replace
    runs, clear it for --overwrite, then train. One writer per folder: checked and prepared
    under the lock, so that a run starting beside this one cannot slip between the check and
    the first write."""
    from vae_explorer.core.runlock import (
        RunFolderLock,
        remove_stale_temporaries,
        remove_stale_temporaries_below,
    )
    from vae_explorer.core.session import run_dirs

    with RunFolderLock(out):
        probe_writable(out)
        remove_stale_temporaries(out)
        remove_stale_temporaries_below(out)  # in the sub-folders whose locks are free
        refuse_to_mix_runs(out, len(configs) > 1, args)
        for run_dir in run_dirs(out, configs):
            refuse_a_linked_run_folder(run_dir, out)
            refuse_to_replace_a_run(run_dir, args)
        in_place = args.resume and resumes_in_place(args.resume, out)
        if args.overwrite and not in_place:
            if args.resume and _inside(args.resume, out):
                raise UserError(
                    f"--overwrite would clear {out}, which holds {args.resume}, the checkpoint to "
                    "resume from; resume into another folder"
                )
            kept = clear_previous_outputs(out)
            if kept:
                say(f"kept in {out} (not written by vae-explorer): {', '.join(kept)}")
        return _train(args, configs, out, splits)


def _train(args: argparse.Namespace, configs: list[RunConfig], out: Path, splits) -> int:
    import torch

    from vae_explorer import figures
    from vae_explorer.core.session import EndOfRunEvaluation, Session, best_run

    from .interrupts import on_stop

    if args.threads:
        torch.set_num_threads(args.threads)
    printer = EventPrinter(len(configs))
    session = Session(
        configs,
        out,
        printer,
        resume_from=args.resume,
        splits=splits,
        figures=figures.write_run_figures,
        compare=figures.write_comparison,
        evaluation=EndOfRunEvaluation(args.eval_budget, args.eval_iw_samples),
        lock_folder=False,
        cuda_graph=args.cuda_graph,
        accept_unchecked=args.accept_unchecked,
    )

    def stop() -> None:  # the first Ctrl-C, SIGTERM or SIGHUP: stop cleanly, keep the model, draw
        session.stop()
        with contextlib.suppress(OSError):  # a hung-up terminal
            print("\nstopping after this batch (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    with on_stop(stop):
        records = session.run()
    if session.error is not None:
        raise session.error
    best = best_run(records)
    if best is None:
        warn(
            "error: no run produced a model (each diverged or stopped before its first validated epoch ended)"
            if len(records) > 1
            else "error: the run produced no model (it diverged or stopped before its first validated epoch ended)"
        )
        return EXIT_INTERRUPTED if session.stopped else EXIT_FAILED
    record = records[best]
    if len(records) > 1:
        say(
            f"best learning rate: {format_lr(record.config.train.lr)} (validation nll {record.best_val:.4f}) "
            f"in {record.run_dir}"
        )
    say(f"FINAL LOSS: nll={record.test_nll:.4f}")
    return exit_code(records, session.stopped)


def exit_code(records, stopped: bool) -> int:
    """0: every run finished; 130: stopped by Ctrl-C (after saving); 1: a run diverged or failed."""
    if stopped:
        return EXIT_INTERRUPTED
    if any(r.status in (RunStatus.DIVERGED, RunStatus.FAILED) for r in records):
        return EXIT_FAILED
    return 0
