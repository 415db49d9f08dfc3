"""Time to quality on this machine: how long each preset trains before its model is good.

`--subset`: 10,000 training images (the full validation and test sets), both the recommended and
the fast preset in one process. The target is the validation nll the recommended preset reaches
at epoch --target-epoch; each preset trains until its validation nll reaches the target (the
recommended one by definition at that epoch). Ends with
`fast_vs_recommended_time_ratio=<fast minutes / recommended minutes to that target>`;
`--more-epochs 60 100` prints the ratios for later epochs of the same two runs first.

Full mode (the default): full MNIST, each preset named by --presets trained as `train` would
(early stopping, its run folder written in --out), timing the wall clock from the start of its
first epoch. At each new best model the test negative ELBO of that model is computed (its time is
left out of the clock), so the table says when it first reached --quality nats (91.0). Then the
best model is evaluated: IW-NLL with --iw-samples, FID and IS, components in use. Ends with a
Markdown table (minutes to quality, minutes and epochs in all, test neg. ELBO, IW-NLL, FID,
components in use) and `fast_minutes_to_quality=<minutes>`.

Threads: torch's default unless --threads; OMP_WAIT_POLICY=PASSIVE as the CLI sets it.

    python benchmarks/time_to_quality.py --subset
    python benchmarks/time_to_quality.py --out runs/ttq --presets fast recommended course
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def train(config, splits, run_dir, stop_when=None, on_best=None):
    """Train `config`; returns (events, wall seconds at each EpochEnd, seconds spent in on_best).
    `stop_when(end_event)` ends the run early; `on_best(new_best_event)` runs at each new best,
    off the clock."""
    from vae_explorer.core import events as ev
    from vae_explorer.core.trainer import Trainer

    seen, walls = [], []
    clock = {"start": None, "excluded": 0.0}
    trainer = None

    def sink(event):
        seen.append(event)
        if isinstance(event, ev.BatchProgress) and clock["start"] is None:
            clock["start"] = time.perf_counter()
        elif isinstance(event, ev.EpochEnd):
            walls.append(time.perf_counter() - clock["start"] - clock["excluded"])
            if stop_when is not None and stop_when(event):
                trainer.stop()
        elif isinstance(event, ev.NewBest) and on_best is not None:
            started = time.perf_counter()
            on_best(event)
            clock["excluded"] += time.perf_counter() - started

    trainer = Trainer(config, splits, run_dir, sink)
    trainer.run()
    return seen, walls


def subset(args) -> None:
    from vae_explorer.core import events as ev
    from vae_explorer.core.config import DataConfig, RunConfig, apply_preset
    from vae_explorer.core.data import load_splits

    data = DataConfig(limit_train=10_000)
    splits = load_splits(data)
    scratch = Path(args.out)
    epochs = sorted({args.target_epoch, *args.more_epochs})
    rec = apply_preset("recommended", RunConfig(data=data))
    rec = replace(rec, train=replace(rec.train, epochs=epochs[-1]))
    events, walls = train(rec, splits, scratch / "recommended")
    ends = [e for e in events if isinstance(e, ev.EpochEnd)]
    # the target at epoch k: the best validation nll the recommended preset has by epoch k
    targets = {k: (min(e.val_nll for e in ends[:k]), walls[k - 1] / 60) for k in epochs if k <= len(ends)}
    if args.target_epoch not in targets:
        raise SystemExit(
            f"the recommended preset stopped early, after {len(ends)} epochs, before epoch {args.target_epoch}"
        )
    for k in sorted(set(epochs) - set(targets)):
        print(f"recommended: stopped early after {len(ends)} epochs, so no target at epoch {k}")
    for k, (value, minutes) in targets.items():
        print(f"recommended: val nll {value:.2f} by epoch {k} in {minutes:.2f} min")
    lowest = min(value for value, _ in targets.values())
    fast = apply_preset("fast", RunConfig(data=data))
    events, walls = train(fast, splits, scratch / "fast", stop_when=lambda e: e.val_nll <= lowest)
    ends = [e for e in events if isinstance(e, ev.EpochEnd)]
    ratios = {}
    for k, (value, rec_minutes) in targets.items():
        reached = next(((e.epoch, w / 60) for e, w in zip(ends, walls) if e.val_nll <= value), None)
        if reached is None:
            best = min(e.val_nll for e in ends)
            print(f"fast: never reached {value:.2f} (best {best:.2f} in {walls[-1] / 60:.2f} min)")
            ratios[k] = math.inf
            continue
        epoch, minutes = reached
        ratios[k] = minutes / rec_minutes
        print(
            f"fast: val nll {value:.2f} (recommended's epoch {k}) at epoch {epoch} in {minutes:.2f} min, ratio {ratios[k]:.3f}"
        )
    print(f"fast_vs_recommended_time_ratio={ratios[args.target_epoch]:.3f}")


def full(args) -> None:
    import torch

    from vae_explorer.core import events as ev
    from vae_explorer.core.config import DataConfig, RunConfig, apply_preset
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.evaluate import negative_elbo
    from vae_explorer.core.evaluation import EvaluationRequest, evaluate_with_notes
    from vae_explorer.core.model import model_for

    splits = load_splits(DataConfig())
    rows = []
    for name in args.presets:
        config = apply_preset(name, RunConfig())
        out = Path(args.out) / name
        test_elbos: dict[int, float] = {}

        def on_best(event, config=config, test_elbos=test_elbos):
            model = model_for(config.model, event.weights)
            test = model_input(splits.test_images, config.model.likelihood, TEST_BINARISE_SEED)
            test_elbos[event.epoch] = negative_elbo(model, test)

        started = time.perf_counter()
        events, walls = train(config, splits, out, on_best=on_best)
        ends = [e for e in events if isinstance(e, ev.EpochEnd)]
        done = next(e for e in events if isinstance(e, ev.RunFinished))
        wall_at = {e.epoch: w for e, w in zip(ends, walls)}
        good = [epoch for epoch, value in sorted(test_elbos.items()) if value <= args.quality]
        to_quality = wall_at[good[0]] / 60 if good else math.nan
        model = model_for(config.model, torch.load(out / "model.pt", weights_only=True)["model"])
        request = EvaluationRequest(iw_samples=args.iw_samples, fid=True, inception=True)
        results = evaluate_with_notes(model, config, splits, request)
        (out / "evaluation.json").write_text(json.dumps(results, indent=2) + "\n")
        row = {
            "preset": name,
            "minutes_to_quality": to_quality,
            "minutes": walls[-1] / 60,
            "epochs": done.epochs,
            "best_epoch": done.best_epoch,
            "test_neg_elbo": done.test_nll,
            "iw_nll": results["iw_nll"],
            "iw_stderr": results["iw_nll_stderr"],
            "fid": results["fid"],
            "components_in_use": results["components_in_use"],
            "components": len(results["components"] or []),
            "seconds_total": time.perf_counter() - started,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\n| preset | minutes to {args.quality} | minutes | epochs | test neg. ELBO | IW-NLL (S={args.iw_samples}) | components in use | FID |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['minutes_to_quality']:.1f} | {r['minutes']:.1f} | {r['epochs']} "
            f"(best {r['best_epoch']}) | {r['test_neg_elbo']:.2f} | {r['iw_nll']:.2f} ± {r['iw_stderr']:.2f} "
            f"| {r['components_in_use']}/{r['components']} | {r['fid']:.1f} |"
        )
    fast = [r for r in rows if r["preset"] == "fast"]
    if fast:
        print(f"fast_minutes_to_quality={fast[0]['minutes_to_quality']:.2f}")


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"an epoch is 1 or more, not {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", action="store_true", help="10,000 training images, recommended vs fast")
    parser.add_argument(
        "--target-epoch", type=positive, default=30, help="subset: the recommended preset's epoch"
    )
    parser.add_argument(
        "--more-epochs",
        type=positive,
        nargs="*",
        default=[],
        help="subset: further epochs whose ratios are printed too",
    )
    parser.add_argument("--presets", nargs="+", default=["fast", "recommended", "course"])
    parser.add_argument("--quality", type=float, default=91.0, help="test negative ELBO to reach (nats)")
    parser.add_argument("--iw-samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="where the run folders go (default: a temporary folder)")
    args = parser.parse_args()
    import tempfile

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    args.out = args.out or tempfile.mkdtemp(prefix="vae-explorer-ttq-")
    subset(args) if args.subset else full(args)


if __name__ == "__main__":
    main()
