"""`vae-explorer sweep`: training settings crossed with seeds, one run per trial, on Ray Tune."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

from vae_explorer.core.config import PRESETS, ConfigError, DataConfig
from vae_explorer.core.evaluation import MAX_ASKED_IW_SAMPLES
from vae_explorer.core.sweep import AXES, SWEEP_IW_SAMPLES

from .args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    UserError,
    add_data_args,
    int_at_least,
    non_negative_float,
)
from .console import warn

# options that describe what the sweep trains: --resume takes them from sweep.json instead
SPEC_OPTIONS = (
    "grid",
    "seeds",
    "spec",
    "random",
    "ranges",
    "random_seed",
    "preset",
    "limit_train",
    "limit_val",
    "limit_test",
    "dataset",
    "data_root",
    "download",
    "device",
    "eval_budget",
    "eval_iw_samples",
)


def add_command(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "sweep",
        help="an experiment: settings (a grid, or random draws) crossed with seeds, one run per trial, "
        "in parallel on a local Ray instance or a Ray cluster",
        description="Each trial is an ordinary run folder in --out, trained by the same engine as "
        "`train`. Results: --out/trials.csv, summary.csv and comparison.csv. Axes: " + ", ".join(AXES),
    )
    s.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="an axis and its values (repeat for more axes; every combination is a setting)",
    )
    s.add_argument(
        "--seeds", metavar="LIST", help="seeds crossed with every setting: 0,1,2 or 0-2 (default 0)"
    )
    s.add_argument(
        "--spec",
        metavar="FILE",
        help="the sweep as a TOML file (see the README); options given beside it win",
    )
    s.add_argument(
        "--random", type=int_at_least(1), metavar="N", help="random search: N draws of the --range axes"
    )
    s.add_argument(
        "--range",
        dest="ranges",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH[:log]",
        help="a range to draw from (log: log-uniform), or NAME=A,B,C to draw among choices",
    )
    s.add_argument(
        "--random-seed", type=int_at_least(0), metavar="S", help="seed of the random draws (default 0)"
    )
    s.add_argument("--out", required=True, metavar="DIR", help="the sweep folder (a run folder per trial)")
    s.add_argument(
        "--workers",
        type=int_at_least(1),
        metavar="N",
        help="trials at a time, one thread each (default: the number of cores; on a cluster: its CPUs)",
    )
    s.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="join the Ray cluster whose head listens there (token authentication stays on) instead of "
        "starting a local instance on 127.0.0.1",
    )
    s.add_argument(
        "--scheduler",
        choices=["asha"],
        help="asha: let Tune's ASHA stop clearly worse trials early, on validation nll",
    )
    s.add_argument(
        "--asha-grace", type=int_at_least(1), metavar="EPOCHS", help="epochs before ASHA may stop a trial"
    )
    s.add_argument("--resume", action="store_true", help="run the unfinished trials of the sweep in --out")
    s.add_argument(
        "--max-retries",
        type=int_at_least(0),
        default=2,
        metavar="N",
        help="starts of a trial again after its worker died, from its last.pt (default 2)",
    )
    s.add_argument("--plan", action="store_true", help="print the trials and exit")
    # the base: the usual `train` options, one value each
    add_data_args(s)
    s.add_argument("--limit-train", type=int_at_least(1), metavar="N", help="use the first N training images")
    s.add_argument("--limit-val", type=int_at_least(1), metavar="N", help="use the first N validation images")
    s.add_argument("--preset", choices=list(PRESETS), help="start the base from a named set of settings")
    for ax in AXES.values():
        s.add_argument(
            f"--{ax.name}", dest=f"base_{ax.field}", metavar="VALUE", help=f"{ax.label} of the base"
        )
    s.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    s.add_argument("--no-cuda-graph", dest="cuda_graph", action="store_false", help="as for train")
    s.add_argument(
        "--eval-budget",
        type=non_negative_float,
        metavar="F",
        help="0: no IW-NLL (a sweep gives every trial the same S: --eval-iw-samples)",
    )
    s.add_argument(
        "--eval-iw-samples",
        type=int_at_least(1, MAX_ASKED_IW_SAMPLES),
        metavar="S",
        help=f"importance samples of every trial's IW-NLL (default {SWEEP_IW_SAMPLES})",
    )
    s.set_defaults(func=cmd_sweep, command_parser=s)


def _spec(args: argparse.Namespace):
    """The SweepSpec of the command line over the --spec file (its values are the defaults)."""
    from vae_explorer.core.sweep import (
        SweepSpec,
        base_config,
        parse_grid,
        parse_range,
        parse_seeds,
        spec_from_toml,
    )

    file: dict = {}
    if args.spec:
        text = read_spec(Path(args.spec))
        file = spec_from_toml(text)
    base_options = dict(file.get("base", {}))
    preset = args.preset or base_options.pop("preset", None)
    data = {k: base_options.pop(k) for k in list(base_options) if k.replace("_", "-") in DATA_KEYS}
    run_options = {
        k.replace("_", "-"): base_options.pop(k)
        for k in list(base_options)
        if k.replace("_", "-") in RUN_KEYS
    }
    for ax in AXES.values():
        given = getattr(args, f"base_{ax.field}")
        if given is not None:
            base_options[ax.name] = given
    base = base_config(base_options, preset)
    base = replace(
        base,
        data=_data(args, data),
        train=replace(base.train, device=args.device or run_options.get("device", base.train.device)),
    )
    grid = parse_grid(args.grid) if args.grid else file.get("grid", ())
    ranges = tuple(parse_range(r) for r in args.ranges) or file.get("random", ())
    seeds = parse_seeds(args.seeds) if args.seeds else file.get("seeds", (0,))
    budget = args.eval_budget if args.eval_budget is not None else run_options.get("eval-budget")
    iw = args.eval_iw_samples if args.eval_iw_samples is not None else run_options.get("eval-iw-samples")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget < math.inf
    ):
        raise ConfigError(f"eval-budget: {budget!r} is not a finite number of 0 or more")
    if iw is not None and (
        isinstance(iw, bool) or not isinstance(iw, int) or not 1 <= iw <= MAX_ASKED_IW_SAMPLES
    ):
        raise ConfigError(f"eval-iw-samples: {iw!r} is not a whole number from 1 to {MAX_ASKED_IW_SAMPLES:,}")
    if iw is None and budget is not None and budget != 0:
        raise ConfigError(
            "a sweep evaluates every trial's IW-NLL with the same number of importance samples, so "
            f"that the trials compare: give --eval-iw-samples S (default {SWEEP_IW_SAMPLES}) instead "
            "of --eval-budget, or --eval-budget 0 for no IW-NLL"
        )
    if iw is None and budget is None:
        iw = SWEEP_IW_SAMPLES
    draws = args.random if args.random is not None else file.get("draws", 0)
    if ranges and not draws:
        raise ConfigError("--range needs --random N (the number of draws)")
    if draws and not ranges:
        raise ConfigError("--random needs at least one --range")
    return SweepSpec(
        base=base,
        grid=grid,
        settings=file.get("settings", ()),
        random=ranges,
        draws=draws,
        random_seed=args.random_seed if args.random_seed is not None else file.get("random_seed", 0),
        seeds=seeds,
        eval_budget=0.0 if budget is None else float(budget),
        eval_iw_samples=None if iw is None else int(iw),
    ), file


def check_trials_fit(trials) -> None:
    """train's memory check for every trial, before Ray starts or a folder is made: a trial too
    large for its device would otherwise end its worker process, be retried and fail without
    the reason."""
    from vae_explorer.core.device import resolve_device
    from vae_explorer.core.memory import check_model_fits

    checked = set()
    for trial in trials:
        config = trial.config
        key = (
            config.model,
            config.data,
            config.train.batch_size,
            config.train.prior_init,
            config.train.device,
        )
        if key in checked:  # seeds and rates share a size
            continue
        checked.add(key)
        try:
            check_model_fits(config, resolve_device(config.train.device))
        except ConfigError as exc:
            raise UserError(f"[{trial.id}] {exc}") from None


MAX_SPEC_BYTES = 1024 * 1024


def read_spec(path: Path) -> str:
    """A spec file's text: a regular file (a FIFO would hang the read) of at most 1 MB of UTF-8."""
    import stat

    try:
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise UserError(f"--spec {path} is not a regular file")
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise UserError(f"cannot read --spec {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise UserError(f"--spec {path} is larger than a spec file can be (1 MB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"--spec {path} is not a text file (not UTF-8): give a sweep.toml") from None


DATA_KEYS = ("dataset", "data-root", "limit-train", "limit-val", "limit-test")
RUN_KEYS = ("device", "eval-budget", "eval-iw-samples")


def _data(args: argparse.Namespace, file: dict) -> DataConfig:
    get = lambda key: file.get(key, file.get(key.replace("-", "_")))  # noqa: E731
    root = args.data_root or get("data-root")
    if root is not None and not isinstance(root, str):
        raise ConfigError(f"data-root: give a folder name in quotes, not {root!r}")
    return DataConfig(
        dataset=args.dataset or get("dataset") or "mnist",
        root=str(Path(root).expanduser().absolute()) if root else None,
        download=args.download,
        limit_train=args.limit_train if args.limit_train is not None else get("limit-train"),
        limit_val=args.limit_val if args.limit_val is not None else get("limit-val"),
        limit_test=args.limit_test if args.limit_test is not None else get("limit-test"),
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from vae_explorer import figures
    from vae_explorer.core.sweep import load_spec
    from vae_explorer.core.sweep_ray import SweepError, SweepOptions, SweepRunner, ray_unavailable

    out = Path(args.out)
    if not args.out.strip():
        raise UserError("--out must name a folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    file: dict = {}
    if args.resume:
        # given at all: 0 is a value (0 == False, so `in (None, [], False)` would let it through)
        given = [n for n in SPEC_OPTIONS if getattr(args, n) is not None and getattr(args, n) is not False]
        given = [n for n in given if getattr(args, n) != []]
        given += [f"--{ax.name}" for ax in AXES.values() if getattr(args, f"base_{ax.field}") is not None]
        if given:
            name = given[0] if given[0].startswith("--") else "--" + given[0].replace("_", "-")
            raise UserError(f"--resume continues the sweep saved in {out}; leave out {name}")
        try:
            spec = load_spec(out)
        except ConfigError as exc:
            raise UserError(f"cannot resume: {exc}") from None
    else:
        spec, file = _spec(args)
    workers = args.workers if args.workers is not None else file.get("workers")
    address = args.ray_address or file.get("ray_address")
    options = SweepOptions(
        workers=workers,
        address=address,
        scheduler=args.scheduler or file.get("scheduler"),
        resume=args.resume,
        max_failures=args.max_retries,
        asha_grace=args.asha_grace,
        cuda_graph=args.cuda_graph,
    )
    if options.scheduler not in (None, "asha"):
        raise ConfigError(f"scheduler must be asha, not {options.scheduler!r}")
    printer = SweepPrinter()
    try:
        runner = SweepRunner(spec, out, printer, options, figures=figures.write_run_figures)
    except SweepError as exc:
        raise UserError(str(exc)) from None
    if not options.address:  # a cluster's trials train on its workers, whose devices are not here
        check_trials_fit(runner.trials)
    if args.plan:
        print(spec.plan_text(runner.workers))
        for t in runner.trials:
            print(f"  {t.id}")
        return 0
    if (reason := ray_unavailable()) is not None:
        raise UserError(reason)
    if not args.resume:
        from vae_explorer.core.data import load_splits

        load_splits(runner.trials[0].config.data)  # bad data: an error before any folder or worker
    out.mkdir(parents=True, exist_ok=True)

    from .interrupts import on_stop

    def stop() -> None:  # first Ctrl-C (or SIGTERM, SIGHUP): every trial stops after its batch
        runner.stop()
        with contextlib.suppress(OSError):  # a hung-up terminal
            print(
                "\nstopping every trial after its current batch (Ctrl-C again to abort)",
                file=sys.stderr,
                flush=True,
            )

    try:
        with on_stop(stop):
            results = runner.run()
    except SweepError as exc:
        raise UserError(str(exc)) from None
    if runner.error is not None:
        warn(f"error: the sweep could not finish: {printer.failure}")
        return EXIT_FAILED
    if runner.stopped:
        return EXIT_INTERRUPTED
    if any(r.status == "failed" or r.problem for r in results) or printer.failed:
        return EXIT_FAILED
    return 0


class SweepPrinter:
    """Prints a sweep's events: a line per trial epoch, start, retry and end, then the results."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.failure: str | None = None

    def __call__(self, event: object) -> None:
        from vae_explorer.core import sweep_events as se

        from .console import say, warn

        if isinstance(event, se.SweepStarted):
            where = (
                f"the Ray cluster at {event.address}" if event.address else "a local Ray instance (127.0.0.1)"
            )
            say(f"sweep: {event.plan}, on {where}; trials in {event.out_dir}")
            if event.resumed:
                say(f"resuming: {len(event.pending)} unfinished of {len(event.trials)} trials")
        elif isinstance(event, se.RayReady):
            say(f"ray ready in {event.seconds:.1f}s ({event.address})")
        elif isinstance(event, se.TrialStarted):
            again = f" (start {event.attempt})" if event.attempt > 1 else ""
            say(f"[{event.trial}] started{again}")
        elif isinstance(event, se.TrialEpoch):
            say(
                f"[{event.trial}] epoch {event.epoch}  val nll={event.val_nll:.2f}  "
                f"best={event.best_val:.2f}  {event.seconds:.1f}s"
            )
        elif isinstance(event, se.TrialRetried):
            say(
                f"[{event.trial}] {event.message}; starting it again from its last.pt (start {event.attempt})"
            )
        elif isinstance(event, se.TrialEnded):
            if event.message:
                self.failed.append(event.trial)
                warn(f"error: [{event.trial}] failed: {event.message}")
                return
            test = event.figures.get("test_nll")
            shown = f"test nll={test:.4f}" if test is not None else "no test nll"
            why = f" ({event.reason})" if event.reason and event.reason != event.status else ""
            say(f"[{event.trial}] {event.status}{why}: {shown}")
        elif isinstance(event, se.SweepFinished):
            self.failure = event.failure
            for path in event.written:
                say(f"wrote {path}")
            for line in event.comparison:
                say(f"comparison: {line}")
